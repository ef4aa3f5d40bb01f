using Hangfire;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Jobs;

/// <summary>
/// The Hangfire entry point for every portal job: it takes only the job record's id, claims the record with a
/// compare-and-set on its state (Hangfire's SQLite storage can hand one job to two workers), runs
/// <typeparamref name="TJob"/> and records the outcome in words.
/// </summary>
public sealed class JobRunner<TJob>(
    TJob job,
    IDbContextFactory<PortalDbContext> dbFactory,
    JobNotifier notifier,
    JobCancellations cancellations,
    IHostApplicationLifetime lifetime,
    ILogger<JobRunner<TJob>> logger) where TJob : IPortalJob
{
    /// <param name="jobId">The job record's id.</param>
    /// <param name="hangfireToken">
    /// Not used. Hangfire's token fires on shutdown, but also when Hangfire decides the job was aborted: when its state
    /// moved on, which is what a second delivery of the same job does (the duplicate takes it to Processing, loses the
    /// claim and returns, so Hangfire marks it done). That would stop the real run part-way. Only the portal shutting
    /// down (<see cref="IHostApplicationLifetime.ApplicationStopping"/>) or a user's cancel stops a job. The parameter
    /// stays so jobs queued by earlier versions keep their signature.
    /// </param>
    // The portal records failures itself and says why; a blind retry would repeat the same failure.
    [AutomaticRetry(Attempts = 0)]
    public async Task RunAsync(Guid jobId, CancellationToken hangfireToken)
    {
        var stopping = lifetime.ApplicationStopping;
        // Registered before the claim, so a cancel that comes the moment the job turns Running finds it.
        var source = cancellations.TryRegister(jobId, stopping);
        if (source is null)
        {
            logger.LogInformation("Job {JobId} is already running here (a second delivery); skipping", jobId);
            return;
        }
        try
        {
            await RunClaimedAsync(jobId, source, stopping);
        }
        finally
        {
            cancellations.Unregister(jobId);
        }
    }

    private async Task RunClaimedAsync(Guid jobId, CancellationTokenSource source, CancellationToken stopping)
    {
        var record = await ClaimAsync(jobId);
        if (record is null)
        {
            logger.LogInformation("Job {JobId} was not queued any more (claimed elsewhere, cancelled or finished); skipping", jobId);
            return;
        }
        await notifier.PublishAsync(JobView.From(record));

        var context = new JobContext(record, dbFactory, notifier);
        try
        {
            var result = await job.ExecuteAsync(context, source.Token);
            await FinishAsync(jobId, JobState.Succeeded, context.Summary, JobView.ToJson(result));
        }
        catch (OperationCanceledException) when (source.IsCancellationRequested)
        {
            if (stopping.IsCancellationRequested)
            {
                await FinishAsync(jobId, JobState.Failed, "Interrupted: the portal shut down while this job was running. Start it again.", null);
            }
            else
            {
                await FinishAsync(jobId, JobState.Cancelled, "Cancelled by request.", null);
            }
        }
        catch (JobFailedException ex)
        {
            await FinishAsync(jobId, JobState.Failed, ex.Message, null);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Job {JobId} ({Kind}) failed", jobId, record.Kind);
            await FinishAsync(jobId, JobState.Failed, $"Failed unexpectedly: {ex.Message}", null);
        }
    }

    private async Task<JobRecord?> ClaimAsync(Guid jobId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var now = DateTimeOffset.UtcNow;
        var claimed = await db.Jobs
            .Where(j => j.Id == jobId && j.State == JobState.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Running)
                .SetProperty(j => j.StartedAt, now)
                .SetProperty(j => j.LastReportAt, now)
                .SetProperty(j => j.Stage, "starting"));
        return claimed == 1 ? await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == jobId) : null;
    }

    private async Task FinishAsync(Guid jobId, JobState state, string? message, string? resultJson)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var now = DateTimeOffset.UtcNow;
        await db.Jobs
            .Where(j => j.Id == jobId && j.State == JobState.Running)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, state)
                .SetProperty(j => j.Message, message)
                .SetProperty(j => j.ResultJson, resultJson)
                .SetProperty(j => j.Progress, j => state == JobState.Succeeded ? 1 : j.Progress)
                .SetProperty(j => j.Stage, j => state == JobState.Succeeded ? "done" : j.Stage)
                .SetProperty(j => j.FinishedAt, now));
        var record = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == jobId);
        logger.LogInformation("Job {JobId} ({Kind}) ended {State}: {Message}", jobId, record.Kind, record.State, record.Message);
        await notifier.PublishAsync(JobView.From(record));
    }
}
