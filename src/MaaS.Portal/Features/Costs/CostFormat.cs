using System.Globalization;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Features.Costs;

/// <summary>How money and latency read on the cost pages: small amounts keep enough digits to be told apart from zero.</summary>
public static class CostFormat
{
    public static string Money(decimal amount, string currency) => Amount(amount) + " " + currency;

    /// <summary>The amount alone, for tables that name the currency in their headers.</summary>
    public static string Amount(decimal amount)
    {
        if (amount is > 0 and < 0.000001m) return "< 0.000001";
        var digits = amount == 0 || Math.Abs(amount) >= 1 ? 2 : Math.Abs(amount) >= 0.01m ? 4 : 6;
        return amount.ToString("N" + digits, CultureInfo.InvariantCulture);
    }

    public static string Latency(double? seconds) => seconds is { } s ? Format.Duration(TimeSpan.FromSeconds(s)) : "–";
}
