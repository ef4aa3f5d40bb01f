using System.Globalization;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Features.Costs;

/// <summary>How money and latency read on the cost pages: small amounts keep enough digits to be told apart from zero.</summary>
public static class CostFormat
{
    public static string Money(decimal amount, string currency)
    {
        if (amount is > 0 and < 0.000001m) return "< 0.000001 " + currency;
        var digits = amount == 0 || Math.Abs(amount) >= 1 ? 2 : Math.Abs(amount) >= 0.01m ? 4 : 6;
        return amount.ToString("N" + digits, CultureInfo.InvariantCulture) + " " + currency;
    }

    public static string Latency(double? seconds) => seconds is { } s ? Format.Duration(TimeSpan.FromSeconds(s)) : "–";
}
