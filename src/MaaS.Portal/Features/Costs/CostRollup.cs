using Hangfire;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Costs;

public sealed record RollupResult(int Hours, int Days, int StorageHours);

/// <summary>
/// Rolls minute buckets up into hours and hours into UTC days, and samples stored bytes once an hour, so the cost pages
/// read a few thousand rows for a month instead of millions. Every step rebuilds its period (delete, then insert, in one
/// transaction with its mark), so it can be rerun, and it redoes the last two hours and the last day each time to take
/// in minutes written late (a flush after a failed one, or at shutdown).
/// </summary>
public sealed class CostRollup(IDbContextFactory<PortalDbContext> dbFactory, TimeProvider clock, ILogger<CostRollup> logger)
{
    public const string HoursMark = "hours";
    public const string DaysMark = "days";
    public const string StorageMark = "storage";

    /// <summary>Minutes are written up to a flush interval late; an hour is rolled up only this long after it ends.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan Redo = TimeSpan.FromHours(2);
    /// <summary>Hours without a storage sample (the portal was down) are filled with the sizes found now, at most this far back.</summary>
    private static readonly TimeSpan StorageCatchUp = TimeSpan.FromHours(48);

    public async Task<RollupResult> RunAsync(IProgress<double>? progress = null, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        var hours = await RollHoursAsync(PriceSheets.HourOf(now - Grace), progress, ct);
        var days = await RollDaysAsync(ct);
        var storage = await SampleStorageAsync(PriceSheets.HourOf(now), ct);
        logger.LogInformation("Cost roll-up: {Hours} hours, {Days} days, {Storage} storage hours", hours, days, storage);
        return new RollupResult(hours, days, storage);
    }

    private async Task<int> RollHoursAsync(DateTimeOffset through, IProgress<double>? progress, CancellationToken ct)
    {
        DateTimeOffset start;
        await using (var db = await dbFactory.CreateDbContextAsync(ct))
        {
            var mark = await db.RollupMarks.AsNoTracking().SingleOrDefaultAsync(m => m.Name == HoursMark, ct);
            if (mark is not null)
            {
                start = mark.Through - Redo;
            }
            else
            {
                var first = await db.UsageMinutes.OrderBy(u => u.Minute).Select(u => (DateTimeOffset?)u.Minute).FirstOrDefaultAsync(ct);
                var firstMemory = await db.MemoryMinutes.OrderBy(m => m.Minute).Select(m => (DateTimeOffset?)m.Minute).FirstOrDefaultAsync(ct);
                var earliest = new[] { first, firstMemory }.Where(t => t is not null).Select(t => t!.Value).DefaultIfEmpty(through).Min();
                start = PriceSheets.HourOf(earliest);
            }
        }
        var total = Math.Max(1, (through - start).TotalHours);
        var count = 0;
        for (var hour = start; hour < through; hour = hour.AddHours(1))
        {
            ct.ThrowIfCancellationRequested();
            await RollHourAsync(hour, ct);
            count++;
            progress?.Report(count / total);
        }
        return count;
    }

    private sealed record Key(string DeploymentName, string OwnerId, Guid ModelId);

    private async Task RollHourAsync(DateTimeOffset hour, CancellationToken ct)
    {
        var end = hour.AddHours(1);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var minutes = await db.UsageMinutes.AsNoTracking().Where(u => u.Minute >= hour && u.Minute < end)
            .Select(u => new { u.DeploymentName, u.OwnerId, u.ModelId, u.Requests, u.Errors, u.ComputeSeconds, u.VcpuSeconds, u.BytesIn, u.BytesOut, u.QueueSeconds, u.LatencySeconds, u.LatencyHistogram })
            .ToListAsync(ct);
        var memory = await db.MemoryMinutes.AsNoTracking().Where(m => m.Minute >= hour && m.Minute < end)
            .GroupBy(m => new { m.DeploymentName, m.OwnerId, m.ModelId })
            .Select(g => new { g.Key.DeploymentName, g.Key.OwnerId, g.Key.ModelId, ByteSeconds = g.Sum(m => m.ByteSeconds) })
            .ToListAsync(ct);
        var rows = new Dictionary<Key, (UsageRollup Row, LatencyHistogram Latencies)>();
        (UsageRollup Row, LatencyHistogram Latencies) RowFor(Key key)
        {
            if (!rows.TryGetValue(key, out var entry))
            {
                entry = (new UsageRollup { Hours = RollupResolutions.Hour, Start = hour, DeploymentName = key.DeploymentName, OwnerId = key.OwnerId, ModelId = key.ModelId },
                    new LatencyHistogram());
                rows[key] = entry;
            }
            return entry;
        }
        foreach (var m in minutes)
        {
            var (row, latencies) = RowFor(new Key(m.DeploymentName, m.OwnerId, m.ModelId));
            row.Requests += m.Requests;
            row.Errors += m.Errors;
            row.ComputeSeconds += m.ComputeSeconds;
            row.VcpuSeconds += m.VcpuSeconds;
            row.BytesIn += m.BytesIn;
            row.BytesOut += m.BytesOut;
            row.QueueSeconds += m.QueueSeconds;
            row.LatencySeconds += m.LatencySeconds;
            latencies.Add(m.LatencyHistogram);
        }
        foreach (var m in memory) RowFor(new Key(m.DeploymentName, m.OwnerId, m.ModelId)).Row.MemoryByteSeconds += m.ByteSeconds;
        foreach (var (row, latencies) in rows.Values) row.LatencyHistogram = latencies.ToString();

        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await db.UsageRollups.Where(r => r.Hours == RollupResolutions.Hour && r.Start == hour).ExecuteDeleteAsync(ct);
        db.UsageRollups.AddRange(rows.Values.Select(r => r.Row));
        await SetMarkAsync(db, HoursMark, end, ct);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
    }

    private async Task<int> RollDaysAsync(CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var marks = await db.RollupMarks.AsNoTracking().ToDictionaryAsync(m => m.Name, m => m.Through, ct);
        if (!marks.TryGetValue(HoursMark, out var hoursThrough)) return 0;
        var lastDay = CostReports.DayOf(hoursThrough);
        DateTimeOffset start;
        if (marks.TryGetValue(DaysMark, out var daysThrough))
        {
            start = daysThrough.AddDays(-1);
        }
        else
        {
            var first = await db.UsageRollups.Where(r => r.Hours == RollupResolutions.Hour).OrderBy(r => r.Start)
                .Select(r => (DateTimeOffset?)r.Start).FirstOrDefaultAsync(ct);
            start = first is null ? lastDay : CostReports.DayOf(first.Value);
        }
        var count = 0;
        for (var day = start; day < lastDay; day = day.AddDays(1))
        {
            ct.ThrowIfCancellationRequested();
            await RollDayAsync(day, ct);
            count++;
        }
        return count;
    }

    private async Task RollDayAsync(DateTimeOffset day, CancellationToken ct)
    {
        var end = day.AddDays(1);
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var hours = await db.UsageRollups.AsNoTracking().Where(r => r.Hours == RollupResolutions.Hour && r.Start >= day && r.Start < end).ToListAsync(ct);
        var rows = hours.GroupBy(h => new Key(h.DeploymentName, h.OwnerId, h.ModelId)).Select(g =>
        {
            var latencies = new LatencyHistogram();
            foreach (var h in g) latencies.Add(h.LatencyHistogram);
            return new UsageRollup
            {
                Hours = RollupResolutions.Day, Start = day, DeploymentName = g.Key.DeploymentName, OwnerId = g.Key.OwnerId, ModelId = g.Key.ModelId,
                Requests = g.Sum(h => h.Requests), Errors = g.Sum(h => h.Errors), ComputeSeconds = g.Sum(h => h.ComputeSeconds),
                VcpuSeconds = g.Sum(h => h.VcpuSeconds), BytesIn = g.Sum(h => h.BytesIn), BytesOut = g.Sum(h => h.BytesOut),
                QueueSeconds = g.Sum(h => h.QueueSeconds), LatencySeconds = g.Sum(h => h.LatencySeconds), MemoryByteSeconds = g.Sum(h => h.MemoryByteSeconds), LatencyHistogram = latencies.ToString(),
            };
        }).ToList();

        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        await db.UsageRollups.Where(r => r.Hours == RollupResolutions.Day && r.Start == day).ExecuteDeleteAsync(ct);
        db.UsageRollups.AddRange(rows);
        await SetMarkAsync(db, DaysMark, end, ct);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
    }

    private async Task<int> SampleStorageAsync(DateTimeOffset currentHour, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var mark = await db.RollupMarks.AsNoTracking().SingleOrDefaultAsync(m => m.Name == StorageMark, ct);
        // The previous hour again too: it was sampled at five past, and what was stored later in it counts for it.
        var start = mark is null ? currentHour : mark.Through.AddHours(-1) < currentHour ? mark.Through.AddHours(-1) : currentHour;
        if (start < currentHour - StorageCatchUp) start = currentHour - StorageCatchUp;
        var stored = await StoredItemsAsync(db, null, ct);
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        var count = 0;
        for (var hour = start; hour <= currentHour; hour = hour.AddHours(1))
        {
            // An hour counts what existed by its end: a version uploaded at 10:40 is stored for the 10:00 hour. And what an
            // earlier sample of the hour saw still counts: a dataset deleted at 10:55 was stored for that hour too, so a
            // second look never lowers an owner's bytes for it (it would erase what the deletion did not undo).
            var end = hour.AddHours(1);
            var sampled = await db.StorageHours.AsNoTracking().Where(s => s.Hour == hour).ToDictionaryAsync(s => (s.OwnerId, s.ModelId), s => s.Bytes, ct);
            var now = stored.Where(s => s.CreatedAt < end).GroupBy(s => (s.OwnerId, s.ModelId)).ToDictionary(g => g.Key, g => g.Sum(s => s.Bytes));
            await db.StorageHours.Where(s => s.Hour == hour).ExecuteDeleteAsync(ct);
            db.StorageHours.AddRange(sampled.Keys.Union(now.Keys).Select(key => new StorageHour
            {
                Hour = hour, OwnerId = key.OwnerId, ModelId = key.ModelId,
                Bytes = Math.Max(sampled.GetValueOrDefault(key), now.GetValueOrDefault(key)),
            }));
            count++;
        }
        await SetMarkAsync(db, StorageMark, currentHour.AddHours(1), ct);
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
        return count;
    }

    /// <summary>One stored thing: a model version (its files), a sample set or a training dataset (<see cref="Guid.Empty"/> when not attached to a model).</summary>
    public sealed record StoredItem(string OwnerId, Guid ModelId, long Bytes, DateTimeOffset CreatedAt);

    /// <summary>
    /// What is stored now, per version and sample set, with when it was made. A version's files count for it even when
    /// the blob store keeps identical bytes once: each owner pays for what they keep.
    /// </summary>
    public static async Task<IReadOnlyList<StoredItem>> StoredItemsAsync(PortalDbContext db, string? ownerId, CancellationToken ct)
    {
        var versions = db.ModelVersions.AsNoTracking().Join(db.Models, v => v.ModelId, m => m.Id, (v, m) => new { m.OwnerId, v.ModelId, v.SizeBytes, v.CreatedAt });
        var samples = db.SampleSets.AsNoTracking().Select(s => new { s.OwnerId, ModelId = s.ModelId ?? Guid.Empty, s.Length, s.CreatedAt });
        var datasets = db.Datasets.AsNoTracking().Select(d => new { d.OwnerId, d.Length, d.CreatedAt });
        if (ownerId is not null)
        {
            versions = versions.Where(v => v.OwnerId == ownerId);
            samples = samples.Where(s => s.OwnerId == ownerId);
            datasets = datasets.Where(d => d.OwnerId == ownerId);
        }
        var items = await versions.Select(v => new StoredItem(v.OwnerId, v.ModelId, v.SizeBytes, v.CreatedAt)).ToListAsync(ct);
        items.AddRange(await samples.Select(s => new StoredItem(s.OwnerId, s.ModelId, s.Length, s.CreatedAt)).ToListAsync(ct));
        items.AddRange(await datasets.Select(d => new StoredItem(d.OwnerId, Guid.Empty, d.Length, d.CreatedAt)).ToListAsync(ct));
        return items;
    }

    private static async Task SetMarkAsync(PortalDbContext db, string name, DateTimeOffset through, CancellationToken ct)
    {
        var mark = await db.RollupMarks.SingleOrDefaultAsync(m => m.Name == name, ct);
        if (mark is null) db.RollupMarks.Add(new RollupMark { Name = name, Through = through });
        else if (through > mark.Through || name == StorageMark) mark.Through = through;
    }
}

/// <summary>The roll-up as a portal job, so each run shows on the Jobs page with its progress.</summary>
public sealed class CostRollupJob(CostRollup rollup, BudgetService budgets) : IPortalJob
{
    public const string Kind = "cost-rollup";

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        await context.ReportAsync(0, "rolling up usage", cancellationToken);
        var result = await rollup.RunAsync(null, cancellationToken);
        await context.ReportAsync(0.9, "checking budgets", cancellationToken);
        var alerts = await budgets.RaiseAlertsAsync(cancellationToken);
        context.Summary = $"Rolled up {result.Hours} hours and {result.Days} days, sampled storage for {result.StorageHours} hours; {alerts} budget alerts raised.";
        return result;
    }
}

/// <summary>Hangfire's recurring entry: queues a roll-up job record.</summary>
public sealed class CostRollupTrigger(JobService jobs)
{
    // A retry after the record was saved would queue the run twice; the next scheduled run comes soon enough.
    [AutomaticRetry(Attempts = 0)]
    public Task EnqueueAsync() => jobs.EnqueueAsync<CostRollupJob>(CostRollupJob.Kind, CostReports.SystemOwner, "Cost roll-up: usage to hours and days, storage sample");
}

public sealed class CostRollupSchedule(IRecurringJobManager recurringJobs, IOptions<CostsOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurringJobs.AddOrUpdate<CostRollupTrigger>("cost-rollup", trigger => trigger.EnqueueAsync(), options.Value.RollupCron);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
