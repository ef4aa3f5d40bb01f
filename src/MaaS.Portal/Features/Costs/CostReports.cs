using System.Globalization;
using System.Text.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Costs;

/// <summary>
/// What a cost report covers: [<see cref="From"/>, <see cref="To"/>) in UTC, optionally one owner's usage or one
/// deployment's, with the chart's buckets in <see cref="Zone"/> (buckets are stored in UTC; people read their own zone).
/// </summary>
public sealed record CostQuery(DateTimeOffset From, DateTimeOffset To, string? OwnerId = null, string? DeploymentName = null,
    TimeZoneInfo? Zone = null)
{
    public TimeZoneInfo TimeZone => Zone ?? TimeZoneInfo.Utc;
}

/// <summary>
/// One line of a breakdown table. <see cref="Key"/> is the user id, model id or deployment name; <see cref="Deleted"/>
/// marks a user, model or deployment that is gone (its money still counts); <see cref="OwnerId"/> is the owner of a
/// deployment or model. <see cref="P95Seconds"/> is read from latency histograms (within about ±19%).
/// </summary>
public sealed record CostRow(string Key, string Label, bool Deleted, string? OwnerId, string? OwnerLabel, long Requests, long Errors,
    double? P95Seconds, double VcpuSeconds, double MemoryGbHours, double StorageGbMonths, CostLine Cost, UsageQuantities Usage)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
}

/// <summary>One bucket of the chart: an hour or a day in the report's time zone, starting at <see cref="Start"/> (UTC).</summary>
public sealed record CostPoint(DateTimeOffset Start, string Label, UsageQuantities Usage, CostLine Cost)
{
    public long Requests => Usage.Requests;
}

/// <summary>
/// A period's usage and money: <see cref="Totals"/> by category, <see cref="Usage"/> the metered quantities behind them,
/// tables by user, model and deployment, the chart's buckets, and (for one deployment) its hours.
/// </summary>
public sealed record CostReport(
    DateTimeOffset From, DateTimeOffset To, string Currency, IReadOnlyList<string> Currencies, CostLine Totals, UsageQuantities Usage, long Requests, long Errors,
    double? P95Seconds, IReadOnlyList<CostRow> ByUser, IReadOnlyList<CostRow> ByModel, IReadOnlyList<CostRow> ByDeployment,
    string SeriesUnit, IReadOnlyList<CostPoint> Series, IReadOnlyList<CostRow> Hourly);

/// <summary>
/// Turns metered usage into money (ARCHITECTURE.md, decision 7: priced at query time with the sheet in force then).
/// The period is cut at each price change, then each piece is read from the coarsest data that covers it exactly:
/// day roll-ups for whole UTC days, hour roll-ups for whole hours, minute buckets for the ragged edges and for the
/// time since the last roll-up. Storage comes from hourly samples (and the live sizes since the last one); background
/// jobs from their records.
/// </summary>
public sealed class CostReports(IDbContextFactory<PortalDbContext> dbFactory, PriceSheets prices, TimeProvider clock)
{
    /// <summary>Charts of periods up to this long have hourly buckets; longer ones, daily.</summary>
    public static readonly TimeSpan HourlySeriesUpTo = TimeSpan.FromHours(48);

    public const string SystemOwner = Models.HousekeepingTrigger.SystemOwner;

    /// <summary>Builds the report. <paramref name="hourly"/> adds per-hour rows (the drill-down into one deployment).</summary>
    public async Task<CostReport> BuildAsync(CostQuery query, bool hourly = false, CancellationToken ct = default)
    {
        var from = query.From.ToUniversalTime();
        var to = query.To.ToUniversalTime();
        var now = clock.GetUtcNow();
        var sheets = await prices.LoadAsync(ct);
        var intervals = PriceSheets.Timeline(sheets, from, to);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var marks = await db.RollupMarks.AsNoTracking().ToDictionaryAsync(m => m.Name, m => m.Through, ct);
        var hoursThrough = marks.GetValueOrDefault(CostRollup.HoursMark, DateTimeOffset.MinValue);
        var daysThrough = marks.GetValueOrDefault(CostRollup.DaysMark, DateTimeOffset.MinValue);
        var storageThrough = marks.GetValueOrDefault(CostRollup.StorageMark, DateTimeOffset.MinValue);
        var firstSample = await db.StorageHours.OrderBy(s => s.Hour).Select(s => (DateTimeOffset?)s.Hour).FirstOrDefaultAsync(ct);

        var usage = new List<UsageEntry>();
        var series = new Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)>();
        var storage = new List<StorageEntry>();
        foreach (var interval in intervals)
        {
            foreach (var piece in Pieces(interval.From, interval.To, hoursThrough, hourly ? DateTimeOffset.MinValue : daysThrough))
            {
                usage.AddRange(await ReadUsageAsync(db, piece, interval.Price, query, ct));
            }
            await AddSeriesAsync(db, interval, hoursThrough, query, series, ct);
            if (query.DeploymentName is null) storage.AddRange(await ReadStorageAsync(db, interval, firstSample, storageThrough, now, query, series, ct));
        }
        var jobs = query.DeploymentName is null ? await ReadJobsAsync(db, intervals, now, query, series, ct) : [];

        var labels = await LabelsAsync(db, usage, storage, jobs, ct);
        var byUser = Rows(usage.GroupBy(u => u.OwnerId), storage.GroupBy(s => s.OwnerId), jobs.GroupBy(j => j.OwnerId),
            key => labels.User(key), _ => null);
        var byModel = Rows(usage.GroupBy(u => u.ModelId.ToString()), storage.GroupBy(s => s.ModelId.ToString()),
            jobs.Where(j => j.ModelId is not null).GroupBy(j => j.ModelId!.Value.ToString()), key => labels.Model(key), key => labels.ModelOwner(key));
        var byDeployment = usage.GroupBy(u => (u.DeploymentName, u.OwnerId)).Select(g =>
            {
                var row = Row(g.Key.DeploymentName, labels.Deployment(g.Key.DeploymentName, g.Key.OwnerId), g, [], []);
                return row with { OwnerId = g.Key.OwnerId, OwnerLabel = labels.User(g.Key.OwnerId).Label };
            })
            .OrderByDescending(r => r.Cost.Total).ThenBy(r => r.Label, StringComparer.Ordinal).ToList();
        var hourlyRows = hourly
            ? usage.GroupBy(u => PriceSheets.HourOf(u.Start)).OrderBy(g => g.Key)
                .Select(g => Row(g.Key.ToString("o", CultureInfo.InvariantCulture), (Local(g.Key, query.TimeZone, "yyyy-MM-dd HH:mm"), false), g, [], []))
                .ToList()
            : [];

        var latencies = new LatencyHistogram();
        foreach (var u in usage) latencies.Add(u.Histogram);
        var totals = usage.Aggregate(CostLine.Zero, (sum, u) => sum + u.Cost) + storage.Aggregate(CostLine.Zero, (sum, s) => sum + s.Cost)
            + jobs.Aggregate(CostLine.Zero, (sum, j) => sum + j.Cost);
        var currencies = intervals.Select(i => i.Price.Currency).Distinct().ToList();
        var unit = to - from <= HourlySeriesUpTo ? "hour" : "day";
        var quantities = usage.Aggregate(UsageQuantities.Zero, (sum, u) => sum.Plus(u.Usage));
        return new CostReport(from, to, intervals.Count > 0 ? intervals[^1].Price.Currency : sheets[^1].Currency, currencies, totals, quantities,
            quantities.Requests, quantities.Errors, latencies.Percentile(0.95), byUser, byModel, byDeployment,
            unit, Buckets(series, from, to, unit, query.TimeZone), hourlyRows);
    }

    private sealed record UsageEntry(DateTimeOffset Start, string DeploymentName, string OwnerId, Guid ModelId, UsageQuantities Usage, string Histogram,
        CostLine Cost);

    private static CostLine Price(UsageQuantities q, PriceSheet price) => CostArithmetic.Usage(q.VcpuSeconds, q.MemoryByteSeconds, q.Requests, price);

    private sealed record StorageEntry(string OwnerId, Guid ModelId, double ByteHours, CostLine Cost);

    private sealed record JobEntry(string OwnerId, Guid? ModelId, double Seconds, CostLine Cost);

    private enum Source { Days, Hours, Minutes }

    private sealed record Piece(Source Source, DateTimeOffset From, DateTimeOffset To);

    /// <summary>
    /// Cuts [from, to) into pieces each read from one source: whole UTC days before <paramref name="daysThrough"/> from day
    /// roll-ups, whole hours before <paramref name="hoursThrough"/> from hour roll-ups, everything else from minutes.
    /// </summary>
    private static IEnumerable<Piece> Pieces(DateTimeOffset from, DateTimeOffset to, DateTimeOffset hoursThrough, DateTimeOffset daysThrough)
    {
        var rolled = to < hoursThrough ? to : hoursThrough;
        var cursor = from;
        if (cursor < rolled)
        {
            var firstHour = CeilHour(cursor);
            var lastHour = PriceSheets.HourOf(rolled);
            if (firstHour >= lastHour)
            {
                yield return new Piece(Source.Minutes, cursor, rolled);
            }
            else
            {
                if (cursor < firstHour) yield return new Piece(Source.Minutes, cursor, firstHour);
                var firstDay = CeilDay(firstHour);
                var lastDay = DayOf(daysThrough < lastHour ? daysThrough : lastHour);
                if (firstDay < lastDay)
                {
                    if (firstHour < firstDay) yield return new Piece(Source.Hours, firstHour, firstDay);
                    yield return new Piece(Source.Days, firstDay, lastDay);
                    if (lastDay < lastHour) yield return new Piece(Source.Hours, lastDay, lastHour);
                }
                else
                {
                    yield return new Piece(Source.Hours, firstHour, lastHour);
                }
                if (lastHour < rolled) yield return new Piece(Source.Minutes, lastHour, rolled);
            }
            cursor = rolled;
        }
        if (cursor < to) yield return new Piece(Source.Minutes, cursor, to);
    }

    private static async Task<List<UsageEntry>> ReadUsageAsync(PortalDbContext db, Piece piece, PriceSheet price, CostQuery query, CancellationToken ct)
    {
        if (piece.Source is Source.Days or Source.Hours)
        {
            var hours = piece.Source == Source.Days ? RollupResolutions.Day : RollupResolutions.Hour;
            var rows = db.UsageRollups.AsNoTracking().Where(r => r.Hours == hours && r.Start >= piece.From && r.Start < piece.To);
            if (query.OwnerId is not null) rows = rows.Where(r => r.OwnerId == query.OwnerId);
            if (query.DeploymentName is not null) rows = rows.Where(r => r.DeploymentName == query.DeploymentName);
            var list = await rows.Select(r => new
                {
                    r.Start, r.DeploymentName, r.OwnerId, r.ModelId, r.LatencyHistogram,
                    Usage = new UsageQuantities(r.Requests, r.Errors, r.ComputeSeconds, r.VcpuSeconds, r.BytesIn, r.BytesOut, r.QueueSeconds, r.LatencySeconds, r.MemoryByteSeconds),
                })
                .ToListAsync(ct);
            return list.Select(r => new UsageEntry(r.Start, r.DeploymentName, r.OwnerId, r.ModelId, r.Usage, r.LatencyHistogram, Price(r.Usage, price))).ToList();
        }

        var (minutes, memory) = Minutes(db, piece.From, piece.To, query);
        var usage = await minutes.Select(u => new
            {
                u.Minute, u.DeploymentName, u.OwnerId, u.ModelId, u.LatencyHistogram,
                Usage = new UsageQuantities(u.Requests, u.Errors, u.ComputeSeconds, u.VcpuSeconds, u.BytesIn, u.BytesOut, u.QueueSeconds, u.LatencySeconds, 0),
            })
            .ToListAsync(ct);
        var loaded = await memory.Select(m => new { m.Minute, m.DeploymentName, m.OwnerId, m.ModelId, m.ByteSeconds }).ToListAsync(ct);
        return usage.Select(u => new UsageEntry(u.Minute, u.DeploymentName, u.OwnerId, u.ModelId, u.Usage, u.LatencyHistogram, Price(u.Usage, price)))
            .Concat(loaded.Select(m =>
            {
                var q = UsageQuantities.Zero with { MemoryByteSeconds = m.ByteSeconds };
                return new UsageEntry(m.Minute, m.DeploymentName, m.OwnerId, m.ModelId, q, "", Price(q, price));
            }))
            .ToList();
    }

    /// <summary>Minute buckets and memory minutes in [from, to), narrowed to the query's owner or deployment.</summary>
    private static (IQueryable<UsageMinute> Usage, IQueryable<MemoryMinute> Memory) Minutes(PortalDbContext db, DateTimeOffset from, DateTimeOffset to,
        CostQuery query)
    {
        var usage = db.UsageMinutes.AsNoTracking().Where(u => u.Minute >= from && u.Minute < to);
        var memory = db.MemoryMinutes.AsNoTracking().Where(m => m.Minute >= from && m.Minute < to);
        if (query.OwnerId is not null)
        {
            usage = usage.Where(u => u.OwnerId == query.OwnerId);
            memory = memory.Where(m => m.OwnerId == query.OwnerId);
        }
        if (query.DeploymentName is not null)
        {
            usage = usage.Where(u => u.DeploymentName == query.DeploymentName);
            memory = memory.Where(m => m.DeploymentName == query.DeploymentName);
        }
        return (usage, memory);
    }

    /// <summary>The chart's data: summed per hour in SQL (hour roll-ups; minutes for what is not rolled up yet).</summary>
    private static async Task AddSeriesAsync(PortalDbContext db, PricedInterval interval, DateTimeOffset hoursThrough, CostQuery query,
        Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> series, CancellationToken ct)
    {
        var price = interval.Price;
        var firstHour = CeilHour(interval.From);
        var rolledTo = PriceSheets.HourOf(interval.To < hoursThrough ? interval.To : hoursThrough);
        var minuteRanges = new List<(DateTimeOffset From, DateTimeOffset To)>();
        if (firstHour < rolledTo)
        {
            var rows = db.UsageRollups.AsNoTracking().Where(r => r.Hours == RollupResolutions.Hour && r.Start >= firstHour && r.Start < rolledTo);
            if (query.OwnerId is not null) rows = rows.Where(r => r.OwnerId == query.OwnerId);
            if (query.DeploymentName is not null) rows = rows.Where(r => r.DeploymentName == query.DeploymentName);
            var hours = await rows.GroupBy(r => r.Start)
                .Select(g => new
                {
                    Start = g.Key,
                    Usage = new UsageQuantities(g.Sum(r => r.Requests), g.Sum(r => r.Errors), g.Sum(r => r.ComputeSeconds), g.Sum(r => r.VcpuSeconds),
                        g.Sum(r => r.BytesIn), g.Sum(r => r.BytesOut), g.Sum(r => r.QueueSeconds), g.Sum(r => r.LatencySeconds), g.Sum(r => r.MemoryByteSeconds)),
                })
                .ToListAsync(ct);
            foreach (var h in hours) AddTo(series, h.Start, h.Usage, Price(h.Usage, price));
            if (interval.From < firstHour) minuteRanges.Add((interval.From, firstHour));
            if (rolledTo < interval.To) minuteRanges.Add((rolledTo, interval.To));
        }
        else
        {
            minuteRanges.Add((interval.From, interval.To));
        }
        foreach (var (from, to) in minuteRanges)
        {
            var (minutes, memory) = Minutes(db, from, to, query);
            var perMinute = await minutes.GroupBy(u => u.Minute)
                .Select(g => new
                {
                    Minute = g.Key,
                    Usage = new UsageQuantities(g.Sum(u => u.Requests), g.Sum(u => u.Errors), g.Sum(u => u.ComputeSeconds), g.Sum(u => u.VcpuSeconds),
                        g.Sum(u => u.BytesIn), g.Sum(u => u.BytesOut), g.Sum(u => u.QueueSeconds), g.Sum(u => u.LatencySeconds), 0),
                })
                .ToListAsync(ct);
            foreach (var m in perMinute) AddTo(series, PriceSheets.HourOf(m.Minute), m.Usage, Price(m.Usage, price));
            var memoryPerMinute = await memory.GroupBy(m => m.Minute).Select(g => new { Minute = g.Key, Bytes = g.Sum(m => m.ByteSeconds) }).ToListAsync(ct);
            foreach (var m in memoryPerMinute)
            {
                var q = UsageQuantities.Zero with { MemoryByteSeconds = m.Bytes };
                AddTo(series, PriceSheets.HourOf(m.Minute), q, Price(q, price));
            }
        }
    }

    /// <summary>
    /// Storage in the interval: each hourly sample stands for its hour (counted whole when the hour starts inside the
    /// period). Hours no sample covers (before the first one, and since the last) count what is stored now, from when
    /// each item was made: exact for the present, and the best knowledge for the time before the roll-up first ran.
    /// </summary>
    private static async Task<List<StorageEntry>> ReadStorageAsync(PortalDbContext db, PricedInterval interval, DateTimeOffset? firstSample,
        DateTimeOffset storageThrough, DateTimeOffset now, CostQuery query, Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> series,
        CancellationToken ct)
    {
        var price = interval.Price;
        var entries = new List<StorageEntry>();
        var unsampled = new List<(DateTimeOffset From, DateTimeOffset To)>();
        if (firstSample is { } first)
        {
            var sampledFrom = interval.From > first ? interval.From : first;
            var sampledTo = interval.To < storageThrough ? interval.To : storageThrough;
            if (sampledFrom < sampledTo)
            {
                var samples = db.StorageHours.AsNoTracking().Where(s => s.Hour >= sampledFrom && s.Hour < sampledTo);
                if (query.OwnerId is not null) samples = samples.Where(s => s.OwnerId == query.OwnerId);
                var perOwnerModel = await samples.GroupBy(s => new { s.OwnerId, s.ModelId })
                    .Select(g => new { g.Key.OwnerId, g.Key.ModelId, ByteHours = g.Sum(s => (double)s.Bytes) }).ToListAsync(ct);
                entries.AddRange(perOwnerModel.Select(s => new StorageEntry(s.OwnerId, s.ModelId, s.ByteHours, StorageCost(s.ByteHours, price))));
                var perHour = await samples.GroupBy(s => s.Hour).Select(g => new { Hour = g.Key, Bytes = g.Sum(s => (double)s.Bytes) }).ToListAsync(ct);
                foreach (var h in perHour) AddTo(series, h.Hour, UsageQuantities.Zero, StorageCost(h.Bytes, price));
            }
            unsampled.Add((interval.From, interval.To < first ? interval.To : first));
            unsampled.Add((interval.From > storageThrough ? interval.From : storageThrough, interval.To));
        }
        else
        {
            unsampled.Add((interval.From, interval.To));
        }

        IReadOnlyList<CostRollup.StoredItem>? stored = null;
        foreach (var (rangeFrom, rangeToRaw) in unsampled)
        {
            var rangeTo = rangeToRaw < now ? rangeToRaw : now;
            if (rangeFrom >= rangeTo) continue;
            stored ??= await CostRollup.StoredItemsAsync(db, query.OwnerId, ct);
            foreach (var item in stored)
            {
                var start = item.CreatedAt > rangeFrom ? item.CreatedAt : rangeFrom;
                if (start >= rangeTo) continue;
                var byteHours = item.Bytes * (rangeTo - start).TotalHours;
                entries.Add(new StorageEntry(item.OwnerId, item.ModelId, byteHours, StorageCost(byteHours, price)));
                for (var hour = PriceSheets.HourOf(start); hour < rangeTo; hour = hour.AddHours(1))
                {
                    var from = hour > start ? hour : start;
                    var to = hour.AddHours(1) < rangeTo ? hour.AddHours(1) : rangeTo;
                    AddTo(series, hour, UsageQuantities.Zero, StorageCost(item.Bytes * (to - from).TotalHours, price));
                }
            }
        }
        return entries;
    }

    private static CostLine StorageCost(double byteHours, PriceSheet price) => CostLine.Zero with { Storage = CostArithmetic.Storage(byteHours, price) };

    /// <summary>
    /// Background jobs' compute: the time each ran inside the period × one vCPU (the job runner does not isolate CPU per
    /// job, so elapsed running time is the honest measure), priced per price interval it overlaps.
    /// </summary>
    private static async Task<List<JobEntry>> ReadJobsAsync(PortalDbContext db, IReadOnlyList<PricedInterval> intervals, DateTimeOffset now,
        CostQuery query, Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> series, CancellationToken ct)
    {
        if (intervals.Count == 0) return [];
        var from = intervals[0].From;
        var to = intervals[^1].To;
        var jobs = db.Jobs.AsNoTracking().Where(j => j.StartedAt != null && j.StartedAt < to && (j.FinishedAt == null || j.FinishedAt > from));
        if (query.OwnerId is not null) jobs = jobs.Where(j => j.OwnerId == query.OwnerId);
        var rows = await jobs.Select(j => new { j.OwnerId, j.StartedAt, j.FinishedAt, j.ArgumentsJson, j.State }).ToListAsync(ct);
        var entries = new List<JobEntry>();
        foreach (var job in rows)
        {
            var end = job.FinishedAt ?? (job.State == JobState.Running ? now : job.StartedAt!.Value);
            if (end <= from) continue;
            var modelId = ModelIdOf(job.ArgumentsJson);
            foreach (var interval in intervals)
            {
                var start = job.StartedAt!.Value > interval.From ? job.StartedAt.Value : interval.From;
                var stop = end < interval.To ? end : interval.To;
                if (stop <= start) continue;
                var seconds = (stop - start).TotalSeconds;
                var cost = CostLine.Zero with { JobCompute = CostArithmetic.Compute(seconds, interval.Price) };
                entries.Add(new JobEntry(job.OwnerId, modelId, seconds, cost));
                DrawHourly(series, start, stop, cost.JobCompute, interval.Price);
            }
        }
        return entries;
    }

    /// <summary>
    /// A job's compute in the chart, hour by hour over the time it ran, so a long job shows where it ran rather than all at
    /// its start. The last hour takes what rounding left, so the hours add up to the job's cost exactly.
    /// </summary>
    private static void DrawHourly(Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> series, DateTimeOffset start, DateTimeOffset stop,
        decimal total, PriceSheet price)
    {
        var drawn = 0m;
        for (var from = start; from < stop;)
        {
            var hour = PriceSheets.HourOf(from);
            var to = hour.AddHours(1) < stop ? hour.AddHours(1) : stop;
            var piece = to == stop ? total - drawn : CostArithmetic.Compute((to - from).TotalSeconds, price);
            drawn += piece;
            AddTo(series, hour, UsageQuantities.Zero, CostLine.Zero with { JobCompute = piece });
            from = to;
        }
    }

    private static Guid? ModelIdOf(string? argumentsJson)
    {
        if (string.IsNullOrEmpty(argumentsJson)) return null;
        try
        {
            using var document = JsonDocument.Parse(argumentsJson);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("modelId", out var id) && id.ValueKind == JsonValueKind.String
                && Guid.TryParse(id.GetString(), out var guid) ? guid : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static void AddTo(Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> series, DateTimeOffset hour, UsageQuantities usage, CostLine cost)
    {
        var (sum, money) = series.GetValueOrDefault(hour, (UsageQuantities.Zero, CostLine.Zero));
        series[hour] = (sum.Plus(usage), money + cost);
    }

    /// <summary>Hourly sums into the chart's buckets: every hour (or day) of the period in the zone, empty ones too.</summary>
    private static List<CostPoint> Buckets(Dictionary<DateTimeOffset, (UsageQuantities Usage, CostLine Cost)> hours, DateTimeOffset from, DateTimeOffset to,
        string unit, TimeZoneInfo zone)
    {
        var points = new List<CostPoint>();
        if (unit == "hour")
        {
            for (var hour = PriceSheets.HourOf(from); hour < to; hour = hour.AddHours(1))
            {
                var (usage, cost) = hours.GetValueOrDefault(hour, (UsageQuantities.Zero, CostLine.Zero));
                points.Add(new CostPoint(hour, Local(hour, zone, "ddd HH:mm"), usage, cost));
            }
            return points;
        }
        var byDay = hours.GroupBy(h => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(h.Key, zone).DateTime))
            .ToDictionary(g => g.Key, g => (Usage: g.Aggregate(UsageQuantities.Zero, (sum, h) => sum.Plus(h.Value.Usage)),
                Cost: g.Aggregate(CostLine.Zero, (sum, h) => sum + h.Value.Cost)));
        var first = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(from, zone).DateTime);
        var last = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(to.AddTicks(-1), zone).DateTime);
        for (var day = first; day <= last; day = day.AddDays(1))
        {
            var (usage, cost) = byDay.GetValueOrDefault(day, (UsageQuantities.Zero, CostLine.Zero));
            var start = CostPeriods.StartOfDay(day, zone);
            points.Add(new CostPoint(start, day.ToString("ddd d MMM", CultureInfo.InvariantCulture), usage, cost));
        }
        return points;
    }

    private static string Local(DateTimeOffset utc, TimeZoneInfo zone, string format) =>
        TimeZoneInfo.ConvertTime(utc, zone).ToString(format, CultureInfo.InvariantCulture);

    private static CostRow Row(string key, (string Label, bool Deleted) label, IEnumerable<UsageEntry> usage, IEnumerable<StorageEntry> storage,
        IEnumerable<JobEntry> jobs)
    {
        var histogram = new LatencyHistogram();
        var quantities = UsageQuantities.Zero;
        double byteHours = 0;
        var cost = CostLine.Zero;
        foreach (var u in usage)
        {
            quantities = quantities.Plus(u.Usage);
            histogram.Add(u.Histogram);
            cost += u.Cost;
        }
        var vcpu = quantities.VcpuSeconds;
        foreach (var s in storage)
        {
            byteHours += s.ByteHours;
            cost += s.Cost;
        }
        foreach (var j in jobs)
        {
            vcpu += j.Seconds;
            cost += j.Cost;
        }
        return new CostRow(key, label.Label, label.Deleted, null, null, quantities.Requests, quantities.Errors, histogram.Percentile(0.95), vcpu,
            quantities.MemoryByteSeconds / CostArithmetic.BytesPerGb / 3600, byteHours / CostArithmetic.BytesPerGb / CostArithmetic.HoursPerMonth, cost, quantities);
    }

    private static List<CostRow> Rows(IEnumerable<IGrouping<string, UsageEntry>> usage, IEnumerable<IGrouping<string, StorageEntry>> storage,
        IEnumerable<IGrouping<string, JobEntry>> jobs, Func<string, (string Label, bool Deleted)> label, Func<string, (string Id, string Label)?> owner)
    {
        var u = usage.ToDictionary(g => g.Key, g => g.AsEnumerable());
        var s = storage.ToDictionary(g => g.Key, g => g.AsEnumerable());
        var j = jobs.ToDictionary(g => g.Key, g => g.AsEnumerable());
        return u.Keys.Union(s.Keys).Union(j.Keys)
            .Select(key =>
            {
                var row = Row(key, label(key), u.GetValueOrDefault(key, []), s.GetValueOrDefault(key, []), j.GetValueOrDefault(key, []));
                return owner(key) is { } o ? row with { OwnerId = o.Id, OwnerLabel = o.Label } : row;
            })
            .OrderByDescending(r => r.Cost.Total).ThenBy(r => r.Label, StringComparer.Ordinal).ToList();
    }

    private sealed class Labels
    {
        public Dictionary<string, string> Users { get; } = [];
        public Dictionary<Guid, (string Name, string OwnerId)> Models { get; } = [];
        public HashSet<(string, string)> LiveDeployments { get; } = [];

        public (string Label, bool Deleted) User(string id) =>
            id == SystemOwner ? ("Portal (system jobs)", false)
            : Users.TryGetValue(id, out var email) ? (email, false) : ($"deleted user {Short(id)}", true);

        public (string Label, bool Deleted) Model(string id) =>
            Guid.TryParse(id, out var guid) && guid == Guid.Empty ? ("Sample sets and datasets (no model)", false)
            : Guid.TryParse(id, out guid) && Models.TryGetValue(guid, out var model) ? (model.Name, false)
            : ($"deleted model {Short(id)}", true);

        /// <summary>Playground sessions of versions tried before deployment are metered under their own names; never "deleted".</summary>
        public (string Label, bool Deleted) Deployment(string name, string ownerId) =>
            name.StartsWith(Playground.PlaygroundSessions.NamePrefix, StringComparison.Ordinal)
                ? ($"playground: {name[Playground.PlaygroundSessions.NamePrefix.Length..]}", false)
                : (name, !LiveDeployments.Contains((name, ownerId)));

        public (string Id, string Label)? ModelOwner(string id) =>
            Guid.TryParse(id, out var guid) && Models.TryGetValue(guid, out var model) ? (model.OwnerId, User(model.OwnerId).Label) : null;

        private static string Short(string id) => id.Length > 8 ? id[..8] : id;
    }

    private static async Task<Labels> LabelsAsync(PortalDbContext db, List<UsageEntry> usage, List<StorageEntry> storage, List<JobEntry> jobs,
        CancellationToken ct)
    {
        var labels = new Labels();
        var userIds = usage.Select(u => u.OwnerId).Concat(storage.Select(s => s.OwnerId)).Concat(jobs.Select(j => j.OwnerId)).Distinct().ToList();
        var modelIds = usage.Select(u => u.ModelId).Concat(storage.Select(s => s.ModelId)).Concat(jobs.Where(j => j.ModelId is not null).Select(j => j.ModelId!.Value))
            .Distinct().ToList();
        var models = await db.Models.AsNoTracking().Where(m => modelIds.Contains(m.Id)).Select(m => new { m.Id, m.Name, m.OwnerId }).ToListAsync(ct);
        foreach (var m in models) labels.Models[m.Id] = (m.Name, m.OwnerId);
        userIds.AddRange(models.Select(m => m.OwnerId));
        userIds = userIds.Distinct().ToList();
        foreach (var user in await db.Users.AsNoTracking().Where(u => userIds.Contains(u.Id)).Select(u => new { u.Id, u.Email, u.UserName }).ToListAsync(ct))
        {
            labels.Users[user.Id] = user.Email ?? user.UserName ?? user.Id;
        }
        var names = usage.Select(u => u.DeploymentName).Distinct().ToList();
        foreach (var d in await db.Deployments.AsNoTracking().Where(d => names.Contains(d.Name)).Select(d => new { d.Name, d.OwnerId }).ToListAsync(ct))
        {
            labels.LiveDeployments.Add((d.Name, d.OwnerId));
        }
        return labels;
    }

    private static DateTimeOffset CeilHour(DateTimeOffset t) => PriceSheets.HourOf(t) == t ? t : PriceSheets.HourOf(t).AddHours(1);

    public static DateTimeOffset DayOf(DateTimeOffset t)
    {
        var utc = t.UtcDateTime;
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero);
    }

    private static DateTimeOffset CeilDay(DateTimeOffset t) => DayOf(t) == t ? t : DayOf(t).AddDays(1);
}
