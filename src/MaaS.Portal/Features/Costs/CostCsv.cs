using System.Globalization;
using System.Text;

namespace MaaS.Portal.Features.Costs;

/// <summary>
/// Breakdown tables as CSV (RFC 4180, invariant culture). Labels come from users (e-mails, model and deployment names),
/// so a cell that a spreadsheet would run as a formula (=, +, -, @, tab, carriage return first) is prefixed with a quote.
/// </summary>
public static class CostCsv
{
    public static string Write(IEnumerable<CostRow> rows, string keyTitle, string currency)
    {
        var text = new StringBuilder();
        Line(text, keyTitle, "owner", "deleted", "requests", "errors", "error_rate", "p95_latency_ms", "vcpu_seconds", "memory_gb_hours",
            "storage_gb_months", $"compute_{currency}", $"memory_{currency}", $"storage_{currency}", $"requests_{currency}", $"total_{currency}");
        foreach (var r in rows)
        {
            Line(text, r.Label, r.OwnerLabel ?? "", r.Deleted ? "yes" : "no", Number(r.Requests), Number(r.Errors), Number(Math.Round(r.ErrorRate, 6)),
                r.P95Seconds is { } p95 ? Number(Math.Round(p95 * 1000, 3)) : "", Number(Math.Round(r.VcpuSeconds, 3)), Number(Math.Round(r.MemoryGbHours, 6)),
                Number(Math.Round(r.StorageGbMonths, 9)), Money(r.Cost.Compute), Money(r.Cost.Memory), Money(r.Cost.Storage), Money(r.Cost.Requests),
                Money(r.Cost.Total));
        }
        return text.ToString();
    }

    public static string Cell(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        return value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
    }

    private static void Line(StringBuilder text, params string[] cells) => text.Append(string.Join(',', cells.Select(Cell))).Append("\r\n");

    private static string Number(double value) => value.ToString("0.############", CultureInfo.InvariantCulture);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Money(decimal value) => Math.Round(value, 6).ToString("0.######", CultureInfo.InvariantCulture);
}
