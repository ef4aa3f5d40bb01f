using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Metering;

public static class UsageGroupings
{
    public const string User = "user";
    public const string Model = "model";
    public const string Deployment = "deployment";
    public const string Day = "day";
    public static readonly IReadOnlyList<string> All = [User, Model, Deployment, Day];
}

/// <summary>
/// Metered quantities over a period, before any price: requests and errors; model compute in seconds and in vCPU-seconds
/// (compute × intra-op threads); bytes received and sent; summed queue and handling time (÷ requests = means); and
/// loaded memory in byte-seconds (÷ 3.6e12 = GB-hours).
/// </summary>
public sealed record UsageQuantities(
    long Requests, long Errors, double ComputeSeconds, double VcpuSeconds, long BytesIn, long BytesOut,
    double QueueSeconds, double LatencySeconds, double MemoryByteSeconds)
{
    public static UsageQuantities Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0);

    public UsageQuantities Plus(UsageQuantities o) => new(Requests + o.Requests, Errors + o.Errors, ComputeSeconds + o.ComputeSeconds,
        VcpuSeconds + o.VcpuSeconds, BytesIn + o.BytesIn, BytesOut + o.BytesOut, QueueSeconds + o.QueueSeconds,
        LatencySeconds + o.LatencySeconds, MemoryByteSeconds + o.MemoryByteSeconds);
}

/// <summary>
/// One group of a usage report. <see cref="Key"/> is the user id, model id, deployment name or UTC date (yyyy-MM-dd);
/// <see cref="Label"/> is what a person reads (e-mail, model name, deployment name, date). <see cref="Deleted"/> says the
/// user, model or deployment is gone: its usage still counts. <see cref="OwnerId"/> is set when grouping by deployment
/// (a name freed by a deletion can be taken again by someone else; their usage stays apart).
/// </summary>
public sealed record UsageGroup(string Key, string Label, bool Deleted, string? OwnerId, UsageQuantities Usage);

public sealed record UsageReport(DateTimeOffset From, DateTimeOffset To, string GroupBy, bool AllUsers, UsageQuantities Totals,
    IReadOnlyList<UsageGroup> Groups);

/// <summary>Reads the minute buckets back, grouped, for <c>GET /api/usage</c> (and, with prices, the cost pages).</summary>
public sealed class UsageReports(IDbContextFactory<PortalDbContext> dbFactory)
{
    /// <summary>
    /// Usage in [<paramref name="from"/>, <paramref name="to"/>) grouped by <paramref name="groupBy"/>, of
    /// <paramref name="userId"/> or, when <paramref name="everyone"/>, of all users. Groups come largest first
    /// (vCPU-seconds, then requests); days in date order.
    /// </summary>
    public async Task<UsageReport> ReportAsync(DateTimeOffset from, DateTimeOffset to, string groupBy, string userId, bool everyone,
        CancellationToken ct = default)
    {
        from = from.ToUniversalTime();
        to = to.ToUniversalTime();
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var usage = db.UsageMinutes.AsNoTracking().Where(u => u.Minute >= from && u.Minute < to);
        var memory = db.MemoryMinutes.AsNoTracking().Where(m => m.Minute >= from && m.Minute < to);
        if (!everyone)
        {
            usage = usage.Where(u => u.OwnerId == userId);
            memory = memory.Where(m => m.OwnerId == userId);
        }

        List<UsageGroup> groups = groupBy switch
        {
            UsageGroupings.User => await ByUserAsync(db, usage, memory, ct),
            UsageGroupings.Model => await ByModelAsync(db, usage, memory, ct),
            UsageGroupings.Deployment => await ByDeploymentAsync(db, usage, memory, ct),
            UsageGroupings.Day => await ByDayAsync(usage, memory, ct),
            _ => throw new ArgumentOutOfRangeException(nameof(groupBy), groupBy, $"Group by one of: {string.Join(", ", UsageGroupings.All)}."),
        };
        if (groupBy != UsageGroupings.Day)
        {
            groups = groups.OrderByDescending(g => g.Usage.VcpuSeconds).ThenByDescending(g => g.Usage.Requests).ThenBy(g => g.Label, StringComparer.Ordinal).ToList();
        }
        var totals = groups.Aggregate(UsageQuantities.Zero, (sum, g) => sum.Plus(g.Usage));
        return new UsageReport(from, to, groupBy, everyone, totals, groups);
    }

    private sealed record DeploymentKey(string Name, string Owner);

    private sealed record Sums<TKey>(TKey Key, long Requests, long Errors, double ComputeSeconds, double VcpuSeconds, long BytesIn, long BytesOut,
        double QueueSeconds, double LatencySeconds);

    private static UsageQuantities Quantities<TKey>(Sums<TKey>? s, double memoryByteSeconds) => s is null
        ? UsageQuantities.Zero with { MemoryByteSeconds = memoryByteSeconds }
        : new(s.Requests, s.Errors, s.ComputeSeconds, s.VcpuSeconds, s.BytesIn, s.BytesOut, s.QueueSeconds, s.LatencySeconds, memoryByteSeconds);

    private static async Task<List<UsageGroup>> ByUserAsync(PortalDbContext db, IQueryable<UsageMinute> usage, IQueryable<MemoryMinute> memory, CancellationToken ct)
    {
        var sums = await usage.GroupBy(u => u.OwnerId).Select(g => new Sums<string>(g.Key, g.Sum(u => u.Requests), g.Sum(u => u.Errors),
            g.Sum(u => u.ComputeSeconds), g.Sum(u => u.VcpuSeconds), g.Sum(u => u.BytesIn), g.Sum(u => u.BytesOut), g.Sum(u => u.QueueSeconds),
            g.Sum(u => u.LatencySeconds))).ToListAsync(ct);
        var bytes = await memory.GroupBy(m => m.OwnerId).Select(g => new { g.Key, ByteSeconds = g.Sum(m => m.ByteSeconds) }).ToDictionaryAsync(m => m.Key, m => m.ByteSeconds, ct);
        var ids = sums.Select(s => s.Key).Union(bytes.Keys).ToList();
        var emails = await db.Users.Where(u => ids.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.Email ?? u.UserName ?? u.Id, ct);
        return ids.Select(id => new UsageGroup(id, emails.GetValueOrDefault(id) ?? $"deleted user {Short(id)}", !emails.ContainsKey(id), null,
            Quantities(sums.Find(s => s.Key == id), bytes.GetValueOrDefault(id)))).ToList();
    }

    private static async Task<List<UsageGroup>> ByModelAsync(PortalDbContext db, IQueryable<UsageMinute> usage, IQueryable<MemoryMinute> memory, CancellationToken ct)
    {
        var sums = await usage.GroupBy(u => u.ModelId).Select(g => new Sums<Guid>(g.Key, g.Sum(u => u.Requests), g.Sum(u => u.Errors),
            g.Sum(u => u.ComputeSeconds), g.Sum(u => u.VcpuSeconds), g.Sum(u => u.BytesIn), g.Sum(u => u.BytesOut), g.Sum(u => u.QueueSeconds),
            g.Sum(u => u.LatencySeconds))).ToListAsync(ct);
        var bytes = await memory.GroupBy(m => m.ModelId).Select(g => new { g.Key, ByteSeconds = g.Sum(m => m.ByteSeconds) }).ToDictionaryAsync(m => m.Key, m => m.ByteSeconds, ct);
        var ids = sums.Select(s => s.Key).Union(bytes.Keys).ToList();
        var names = await db.Models.Where(m => ids.Contains(m.Id)).ToDictionaryAsync(m => m.Id, m => m.Name, ct);
        return ids.Select(id => new UsageGroup(id.ToString(), names.GetValueOrDefault(id) ?? $"deleted model {Short(id.ToString())}",
            !names.ContainsKey(id), null, Quantities(sums.Find(s => s.Key == id), bytes.GetValueOrDefault(id)))).ToList();
    }

    private static async Task<List<UsageGroup>> ByDeploymentAsync(PortalDbContext db, IQueryable<UsageMinute> usage, IQueryable<MemoryMinute> memory, CancellationToken ct)
    {
        var sums = await usage.GroupBy(u => new { u.DeploymentName, u.OwnerId }).Select(g => new Sums<DeploymentKey>(new DeploymentKey(g.Key.DeploymentName, g.Key.OwnerId),
            g.Sum(u => u.Requests), g.Sum(u => u.Errors), g.Sum(u => u.ComputeSeconds), g.Sum(u => u.VcpuSeconds), g.Sum(u => u.BytesIn),
            g.Sum(u => u.BytesOut), g.Sum(u => u.QueueSeconds), g.Sum(u => u.LatencySeconds))).ToListAsync(ct);
        var bytes = (await memory.GroupBy(m => new { m.DeploymentName, m.OwnerId })
                .Select(g => new { g.Key.DeploymentName, g.Key.OwnerId, ByteSeconds = g.Sum(m => m.ByteSeconds) }).ToListAsync(ct))
            .ToDictionary(m => new DeploymentKey(m.DeploymentName, m.OwnerId), m => m.ByteSeconds);
        var keys = sums.Select(s => s.Key).Union(bytes.Keys).ToList();
        var names = keys.Select(k => k.Name).Distinct().ToList();
        var live = (await db.Deployments.Where(d => names.Contains(d.Name)).Select(d => new { d.Name, d.OwnerId }).ToListAsync(ct))
            .Select(d => new DeploymentKey(d.Name, d.OwnerId)).ToHashSet();
        return keys.Select(k => new UsageGroup(k.Name, k.Name, !live.Contains(k), k.Owner,
            Quantities(sums.Find(s => s.Key == k), bytes.GetValueOrDefault(k)))).ToList();
    }

    private static async Task<List<UsageGroup>> ByDayAsync(IQueryable<UsageMinute> usage, IQueryable<MemoryMinute> memory, CancellationToken ct)
    {
        // Minutes are stored as sortable integers, not dates SQL can truncate: sum per minute in SQL, per day here.
        var minutes = await usage.GroupBy(u => u.Minute).Select(g => new Sums<DateTimeOffset>(g.Key, g.Sum(u => u.Requests), g.Sum(u => u.Errors),
            g.Sum(u => u.ComputeSeconds), g.Sum(u => u.VcpuSeconds), g.Sum(u => u.BytesIn), g.Sum(u => u.BytesOut), g.Sum(u => u.QueueSeconds),
            g.Sum(u => u.LatencySeconds))).ToListAsync(ct);
        var memoryMinutes = await memory.GroupBy(m => m.Minute).Select(g => new { g.Key, ByteSeconds = g.Sum(m => m.ByteSeconds) }).ToListAsync(ct);
        var days = minutes.GroupBy(m => DateOnly.FromDateTime(m.Key.UtcDateTime))
            .ToDictionary(g => g.Key, g => g.Aggregate(UsageQuantities.Zero, (sum, m) => sum.Plus(Quantities(m, 0))));
        foreach (var day in memoryMinutes.GroupBy(m => DateOnly.FromDateTime(m.Key.UtcDateTime)))
        {
            days[day.Key] = days.GetValueOrDefault(day.Key, UsageQuantities.Zero) with
            {
                MemoryByteSeconds = day.Sum(m => m.ByteSeconds),
            };
        }
        return days.OrderBy(d => d.Key).Select(d =>
        {
            var date = d.Key.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
            return new UsageGroup(date, date, false, null, d.Value);
        }).ToList();
    }

    private static string Short(string id) => id.Length > 8 ? id[..8] : id;
}
