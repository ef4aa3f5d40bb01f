using System.Globalization;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Tests;

public sealed class FormatTests
{
    [Theory]
    [InlineData(0.018, "18 µs")]
    [InlineData(0.25, "250 µs")]
    [InlineData(2.82, "2.8 ms")]
    [InlineData(45.64, "45.6 ms")]
    [InlineData(999.94, "999.9 ms")]
    [InlineData(1254, "1.25 s")]
    public void Durations_KeepEnoughDigits_ToTellASmallOneFromZero(double milliseconds, string expected)
    {
        var culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            Assert.Equal(expected, Format.Milliseconds(milliseconds));
            Assert.Equal(expected, Format.Duration(TimeSpan.FromMilliseconds(milliseconds)));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}
