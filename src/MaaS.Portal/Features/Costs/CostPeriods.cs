namespace MaaS.Portal.Features.Costs;

public static class CostPeriodPresets
{
    public const string Today = "today";
    public const string Week = "7d";
    public const string Month = "30d";
    public const string Custom = "custom";
}

/// <summary>A period people pick, resolved to UTC instants in their zone.</summary>
public sealed record CostPeriod(DateTimeOffset From, DateTimeOffset To);

/// <summary>
/// The period picker's rules: "today" is from local midnight; "7 days" and "30 days" end now and start at local midnight
/// six (or 29) days before today, so every bar of the chart is a whole day; a custom period runs from the start of its
/// first day to the end of its last, in the zone.
/// </summary>
public static class CostPeriods
{
    public static readonly TimeSpan MaxSpan = TimeSpan.FromDays(731);

    public static (CostPeriod? Period, string? Error) Resolve(string preset, DateOnly? first, DateOnly? last, TimeZoneInfo zone, DateTimeOffset now)
    {
        var today = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(now, zone).DateTime);
        switch (preset)
        {
            case CostPeriodPresets.Today: return (new CostPeriod(StartOfDay(today, zone), now), null);
            case CostPeriodPresets.Week: return (new CostPeriod(StartOfDay(today.AddDays(-6), zone), now), null);
            case CostPeriodPresets.Month: return (new CostPeriod(StartOfDay(today.AddDays(-29), zone), now), null);
            case CostPeriodPresets.Custom:
                if (first is null || last is null) return (null, "Pick the first and the last day of the period.");
                if (last < first) return (null, $"The period ends ({last:yyyy-MM-dd}) before it starts ({first:yyyy-MM-dd}).");
                var period = new CostPeriod(StartOfDay(first.Value, zone), StartOfDay(last.Value.AddDays(1), zone));
                if (period.To - period.From > MaxSpan) return (null, $"A period spans at most {MaxSpan.TotalDays:0} days (two years); pick a shorter one.");
                return (period, null);
            default: return (null, $"Unknown period '{preset}'.");
        }
    }

    /// <summary>The instant a local day begins (for zones whose clocks skip midnight, the first valid time after it).</summary>
    public static DateTimeOffset StartOfDay(DateOnly day, TimeZoneInfo zone)
    {
        var local = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (zone.IsInvalidTime(local)) local = local.AddMinutes(30);
        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    /// <summary>A zone id from the browser (IANA, e.g. "Europe/Berlin"); UTC when it is missing or unknown here.</summary>
    public static TimeZoneInfo Zone(string? id)
    {
        if (string.IsNullOrWhiteSpace(id)) return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(id);
        }
        catch (Exception ex) when (ex is TimeZoneNotFoundException or InvalidTimeZoneException or System.Security.SecurityException
                                   or ArgumentException or IOException or UnauthorizedAccessException)
        {
            return TimeZoneInfo.Utc;
        }
    }
}
