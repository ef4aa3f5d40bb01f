using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Metering;

/// <summary>
/// Writes the meter's buckets to <see cref="UsageMinute"/> rows every <see cref="MeteringOptions.FlushInterval"/> and
/// once more at shutdown, and samples loaded deployments' memory into <see cref="MemoryMinute"/> rows. A flush is one
/// transaction; each bucket adds to its row when there is one (a minute is flushed in parts while it runs, and again
/// after a restart), so no row is duplicated and nothing is overwritten. A flush that fails puts its totals back.
/// </summary>
public sealed class UsageFlusher(
    UsageMeter meter,
    LoadedMemory loadedMemory,
    IDbContextFactory<PortalDbContext> dbFactory,
    TimeProvider clock,
    IOptions<MeteringOptions> options,
    ILogger<UsageFlusher> logger) : BackgroundService
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    // Memory is accrued from one sample to the next; byte-seconds not yet written wait here (across a failed flush too).
    private readonly Dictionary<(DateTimeOffset Minute, string Deployment), MemoryMinute> _memory = [];
    private DateTimeOffset _sampledAt = clock.GetUtcNow();
    private HashSet<string> _loadedAtLastSample = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.FlushInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await TryFlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The last seconds before a shutdown are usage too: they are written before the host goes.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await TryFlushAsync(CancellationToken.None);
    }

    private async Task TryFlushAsync(CancellationToken ct)
    {
        try
        {
            await FlushAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            logger.LogWarning(ex, "Writing usage failed; it is kept in memory for the next flush");
        }
    }

    /// <summary>Writes everything metered so far (the current minute included) in one transaction.</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await SampleMemoryAsync(ct);
            var drained = meter.Drain();
            try
            {
                await WriteAsync(drained, ct);
                _memory.Clear();
            }
            catch
            {
                meter.Restore(drained);
                throw;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Adds resident bytes × seconds since the last sample for every loaded version, split at minute boundaries. A
    /// deployment that was not loaded at the last sample is counted from when it became ready, if that was since; one
    /// unloaded since is not counted for the time between the last sample and its unload (at most one interval).
    /// </summary>
    private async Task SampleMemoryAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var loaded = await loadedMemory.ListAsync(ct);
        var since = _sampledAt;
        var before = _loadedAtLastSample;
        _sampledAt = now;
        _loadedAtLastSample = loaded.Select(l => l.Deployment).ToHashSet(StringComparer.Ordinal);
        foreach (var deployment in loaded.GroupBy(l => l.Deployment))
        {
            var first = deployment.First();
            var bytes = deployment.Sum(l => l.Bytes);
            var from = !before.Contains(first.Deployment) && first.ReadyAt is { } ready && ready > since && ready < now ? ready : since;
            foreach (var (minute, seconds) in SplitByMinute(from, now))
            {
                if (!_memory.TryGetValue((minute, first.Deployment), out var row))
                {
                    row = new MemoryMinute { Minute = minute, DeploymentName = first.Deployment, OwnerId = first.OwnerId, ModelId = first.ModelId };
                    _memory[(minute, first.Deployment)] = row;
                }
                row.ByteSeconds += bytes * seconds;
                row.ResidentBytes = Math.Max(row.ResidentBytes, bytes);
            }
        }
    }

    internal static IEnumerable<(DateTimeOffset Minute, double Seconds)> SplitByMinute(DateTimeOffset from, DateTimeOffset to)
    {
        var minute = UsageMeter.MinuteOf(from);
        while (from < to)
        {
            var end = minute.AddMinutes(1) < to ? minute.AddMinutes(1) : to;
            if (end > from) yield return (minute, (end - from).TotalSeconds);
            from = end;
            minute = minute.AddMinutes(1);
        }
    }

    private async Task WriteAsync(IReadOnlyList<KeyValuePair<UsageKey, UsageTotals>> drained, CancellationToken ct)
    {
        if (drained.Count == 0 && _memory.Count == 0) return;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        await using var transaction = await db.Database.BeginTransactionAsync(ct);
        foreach (var (key, t) in drained)
        {
            // Read, add, write: the histogram merges in code, and the flusher is the only writer of minute rows (its gate).
            var row = await db.UsageMinutes.FirstOrDefaultAsync(u => u.Minute == key.Minute && u.DeploymentName == key.Deployment
                && u.Version == key.Version && u.ApiKeyId == key.ApiKeyId && u.OwnerId == key.OwnerId && u.ModelId == key.ModelId, ct);
            if (row is null)
            {
                row = new UsageMinute
                {
                    Minute = key.Minute, DeploymentName = key.Deployment, Version = key.Version, ApiKeyId = key.ApiKeyId,
                    OwnerId = key.OwnerId, ModelId = key.ModelId,
                };
                db.UsageMinutes.Add(row);
            }
            row.Requests += t.Requests;
            row.Errors += t.Errors;
            row.ComputeSeconds += t.ComputeSeconds;
            row.VcpuSeconds += t.VcpuSeconds;
            row.BytesIn += t.BytesIn;
            row.BytesOut += t.BytesOut;
            row.QueueSeconds += t.QueueSeconds;
            row.LatencySeconds += t.LatencySeconds;
            row.LatencyHistogram = LatencyHistogram.Merge(row.LatencyHistogram, t.LatencyHistogram);
        }
        foreach (var m in _memory.Values)
        {
            var updated = await db.MemoryMinutes
                .Where(r => r.Minute == m.Minute && r.DeploymentName == m.DeploymentName)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(r => r.ByteSeconds, r => r.ByteSeconds + m.ByteSeconds)
                    .SetProperty(r => r.ResidentBytes, r => r.ResidentBytes > m.ResidentBytes ? r.ResidentBytes : m.ResidentBytes), ct);
            if (updated == 0)
            {
                db.MemoryMinutes.Add(new MemoryMinute
                {
                    Minute = m.Minute, DeploymentName = m.DeploymentName, OwnerId = m.OwnerId, ModelId = m.ModelId,
                    ResidentBytes = m.ResidentBytes, ByteSeconds = m.ByteSeconds,
                });
            }
        }
        await db.SaveChangesAsync(ct);
        await transaction.CommitAsync(ct);
    }
}
