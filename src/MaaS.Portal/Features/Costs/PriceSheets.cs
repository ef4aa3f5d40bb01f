using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.RegularExpressions;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Costs;

public sealed class CostsOptions
{
    public const string Section = "Costs";

    /// <summary>The sheet in force before any admin change (and on a fresh portal): roughly a public cloud's list prices.</summary>
    [Required, RegularExpression("^[A-Z]{3}$")] public string Currency { get; set; } = "USD";
    [Range(0, 100)] public decimal VcpuHour { get; set; } = 0.048m;
    [Range(0, 100)] public decimal MemoryGbHour { get; set; } = 0.0064m;
    [Range(0, 1000)] public decimal StorageGbMonth { get; set; } = 0.023m;
    [Range(0, 100)] public decimal PerThousandRequests { get; set; } = 0.0004m;

    /// <summary>How often the roll-up runs, as a cron expression (default: five minutes past every hour).</summary>
    [Required] public string RollupCron { get; set; } = "5 * * * *";
}

/// <summary>A change to the price sheet as the API and the page send it. Null effectiveFrom: from the next whole hour.</summary>
public sealed record PriceChange(string? Currency, decimal? VcpuHour, decimal? MemoryGbHour, decimal? StorageGbMonth,
    decimal? PerThousandRequests, DateTimeOffset? EffectiveFrom, string? Note);

public sealed record PriceSheetView(DateTimeOffset? EffectiveFrom, string Currency, decimal VcpuHour, decimal MemoryGbHour,
    decimal StorageGbMonth, decimal PerThousandRequests, string ChangedBy, DateTimeOffset? ChangedAt, string? Note)
{
    public static PriceSheetView From(PriceSheet p) => new(p.EffectiveFrom == DateTimeOffset.MinValue ? null : p.EffectiveFrom, p.Currency,
        p.VcpuHour, p.MemoryGbHour, p.StorageGbMonth, p.PerThousandRequests, p.ChangedBy, p.ChangedAt == DateTimeOffset.MinValue ? null : p.ChangedAt, p.Note);
}

/// <summary>The sheet in force now, the one scheduled next (if any), and every change, newest first.</summary>
public sealed record PriceSheetsView(PriceSheetView Current, PriceSheetView? Scheduled, IReadOnlyList<PriceSheetView> History);

/// <summary>One stretch of time with one price sheet.</summary>
public sealed record PricedInterval(DateTimeOffset From, DateTimeOffset To, PriceSheet Price);

/// <summary>
/// The price sheet with history. Changes take effect on a whole UTC hour, never in the past: past costs keep the prices
/// in force then, and hour roll-ups never straddle two sheets.
/// </summary>
public sealed partial class PriceSheets(IDbContextFactory<PortalDbContext> dbFactory, IOptions<CostsOptions> options, TimeProvider clock)
{
    /// <summary>Upper bounds that catch a slipped decimal point (a vCPU-hour at 4,800 instead of 0.048), not real prices.</summary>
    public const decimal MaxVcpuHour = 100, MaxMemoryGbHour = 100, MaxStorageGbMonth = 1000, MaxPerThousandRequests = 100;

    /// <summary>The configured defaults, in force from the beginning of time until the first change.</summary>
    public PriceSheet Default => new()
    {
        EffectiveFrom = DateTimeOffset.MinValue,
        Currency = options.Value.Currency,
        VcpuHour = options.Value.VcpuHour,
        MemoryGbHour = options.Value.MemoryGbHour,
        StorageGbMonth = options.Value.StorageGbMonth,
        PerThousandRequests = options.Value.PerThousandRequests,
        ChangedBy = "configuration",
        ChangedAt = DateTimeOffset.MinValue,
    };

    public async Task<PriceSheetsView> GetAsync(CancellationToken ct = default)
    {
        var sheets = await LoadAsync(ct);
        var now = clock.GetUtcNow();
        var current = sheets.Last(s => s.EffectiveFrom <= now);
        var scheduled = sheets.FirstOrDefault(s => s.EffectiveFrom > now);
        return new PriceSheetsView(PriceSheetView.From(current), scheduled is null ? null : PriceSheetView.From(scheduled),
            sheets.AsEnumerable().Reverse().Select(PriceSheetView.From).ToList());
    }

    /// <summary>The sheets in force over [from, to), in order, each cut to the period.</summary>
    public async Task<IReadOnlyList<PricedInterval>> TimelineAsync(DateTimeOffset from, DateTimeOffset to, CancellationToken ct = default) =>
        Timeline(await LoadAsync(ct), from, to);

    public static IReadOnlyList<PricedInterval> Timeline(IReadOnlyList<PriceSheet> sheets, DateTimeOffset from, DateTimeOffset to)
    {
        var intervals = new List<PricedInterval>();
        for (var i = 0; i < sheets.Count; i++)
        {
            var start = sheets[i].EffectiveFrom > from ? sheets[i].EffectiveFrom : from;
            var end = i + 1 < sheets.Count && sheets[i + 1].EffectiveFrom < to ? sheets[i + 1].EffectiveFrom : to;
            if (end > start) intervals.Add(new PricedInterval(start, end, sheets[i]));
        }
        return intervals;
    }

    /// <summary>Every sheet by effective time, the configured default first; of two changes for one time the later made wins.</summary>
    public async Task<IReadOnlyList<PriceSheet>> LoadAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var rows = await db.PriceSheets.AsNoTracking().ToListAsync(ct);
        var sheets = rows.GroupBy(r => r.EffectiveFrom).Select(g => g.OrderBy(r => r.ChangedAt).ThenBy(r => r.Id).Last())
            .OrderBy(r => r.EffectiveFrom).ToList();
        if (sheets.Count == 0 || sheets[0].EffectiveFrom > DateTimeOffset.MinValue) sheets.Insert(0, Default);
        return sheets;
    }

    /// <summary>Validates and records a change; the errors say what is wrong with each refused value.</summary>
    public async Task<(PriceSheetView? Sheet, IReadOnlyList<string> Errors)> ChangeAsync(PriceChange change, string changedBy, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        var nextHour = HourOf(now).AddHours(1);
        var effective = change.EffectiveFrom?.ToUniversalTime() ?? nextHour;
        // Omitted prices stay as they will be at that time: taken from the sheet in force then, so a change scheduled
        // for later does not undo one scheduled before it (the sheet in force now would).
        var current = (await LoadAsync(ct)).Last(s => s.EffectiveFrom <= (effective > now ? effective : now));
        var errors = new List<string>();
        var currency = (change.Currency ?? current.Currency).Trim().ToUpperInvariant();
        if (!CurrencyPattern().IsMatch(currency)) errors.Add($"'currency' is a three-letter ISO 4217 code such as USD or EUR; '{change.Currency}' is not.");
        var vcpu = Check("vcpuHour", change.VcpuHour ?? current.VcpuHour, MaxVcpuHour, errors);
        var memory = Check("memoryGbHour", change.MemoryGbHour ?? current.MemoryGbHour, MaxMemoryGbHour, errors);
        var storage = Check("storageGbMonth", change.StorageGbMonth ?? current.StorageGbMonth, MaxStorageGbMonth, errors);
        var requests = Check("perThousandRequests", change.PerThousandRequests ?? current.PerThousandRequests, MaxPerThousandRequests, errors);
        if (effective != HourOf(effective))
            errors.Add($"'effectiveFrom' must be a whole hour in UTC (e.g. {nextHour:yyyy-MM-ddTHH:00:00Z}), so hourly usage is never split between two sheets.");
        else if (effective < now)
            errors.Add($"'effectiveFrom' ({effective:u}) is in the past; a change cannot rewrite past costs. The earliest is {nextHour:yyyy-MM-ddTHH:00:00Z}.");
        else if (effective > now.AddYears(2))
            errors.Add("'effectiveFrom' is more than two years ahead.");
        if (change.Note is { Length: > 500 }) errors.Add("'note' is at most 500 characters.");
        if (errors.Count > 0) return (null, errors);

        var sheet = new PriceSheet
        {
            EffectiveFrom = effective, Currency = currency, VcpuHour = vcpu, MemoryGbHour = memory, StorageGbMonth = storage,
            PerThousandRequests = requests, ChangedBy = changedBy, ChangedAt = now, Note = string.IsNullOrWhiteSpace(change.Note) ? null : change.Note.Trim(),
        };
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.PriceSheets.Add(sheet);
        await db.SaveChangesAsync(ct);
        return (PriceSheetView.From(sheet), []);
    }

    public static DateTimeOffset HourOf(DateTimeOffset t)
    {
        var utc = t.UtcDateTime;
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, 0, 0, TimeSpan.Zero);
    }

    private static decimal Check(string name, decimal value, decimal max, List<string> errors)
    {
        if (value < 0) errors.Add($"'{name}' cannot be negative ({value.ToString(CultureInfo.InvariantCulture)}).");
        else if (value > max) errors.Add($"'{name}' of {value.ToString(CultureInfo.InvariantCulture)} is beyond the sanity limit of {max.ToString(CultureInfo.InvariantCulture)}; check the decimal point.");
        return value;
    }

    [GeneratedRegex("^[A-Z]{3}$")]
    private static partial Regex CurrencyPattern();
}
