using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Jobs;

/// <summary>
/// At start-up, before the Hangfire server takes work: a record still "Running" belongs to a process that died
/// (one host runs jobs), so it is marked failed with the reason instead of staying "Running" forever. It ends at its
/// last sign of life, not now: the portal may have been down for days, and jobs are charged for their running time.
/// </summary>
public sealed class JobRecovery(IDbContextFactory<PortalDbContext> dbFactory, ILogger<JobRecovery> logger) : IHostedService
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
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
