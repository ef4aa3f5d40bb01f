using Hangfire;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Jobs;

/// <summary>
/// At start-up, before the Hangfire server takes work: a record still "Running" belongs to a process that died
/// (one host runs jobs), so it is marked failed with the reason instead of staying "Running" forever. It ends at its
/// last sign of life, not now: the portal may have been down for days, and jobs are charged for their running time.
/// A record still "Queued" whose Hangfire job is gone or over (the process died between saving the record and queueing
/// it, the job storage was reset, or the runner failed before it could claim the record) would wait for ever: it is
/// marked failed too.
/// </summary>
public sealed class JobRecovery(IDbContextFactory<PortalDbContext> dbFactory, JobStorage storage, ILogger<JobRecovery> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var interrupted = await db.Jobs
            .Where(j => j.State == JobState.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Failed)
                .SetProperty(j => j.Message, j => "Interrupted: the portal stopped while this job was running (at stage '" + j.Stage + "'). Start it again.")
                .SetProperty(j => j.FinishedAt, j => j.LastReportAt ?? j.StartedAt ?? now), cancellationToken);
        if (interrupted > 0)
        {
            logger.LogWarning("Marked {Count} interrupted job(s) as failed", interrupted);
        }

        var queued = await db.Jobs.Where(j => j.State == JobState.Queued).Select(j => new { j.Id, j.HangfireJobId }).ToListAsync(cancellationToken);
        if (queued.Count == 0) return;
        List<Guid> lost;
        using (var connection = storage.GetConnection())
        {
            lost = queued.Where(j => j.HangfireJobId is null || connection.GetJobData(j.HangfireJobId)?.State is not ("Enqueued" or "Scheduled" or "Processing" or "Awaiting"))
                .Select(j => j.Id).ToList();
        }
        if (lost.Count == 0) return;
        await db.Jobs
            .Where(j => lost.Contains(j.Id) && j.State == JobState.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Failed)
                .SetProperty(j => j.Message, "Lost from the job queue before it started (the portal stopped while queueing it, or the queue was reset). Start it again.")
                .SetProperty(j => j.FinishedAt, now), cancellationToken);
        logger.LogWarning("Marked {Count} queued job(s) that the job queue no longer holds as failed", lost.Count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
