using Hangfire;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Jobs;

public enum CancelOutcome { NotFound, AlreadyFinished, Cancelled, CancelRequested }

/// <summary>Creates job records and their Hangfire jobs, lists them and cancels them. Used by pages and the API alike.</summary>
public sealed class JobService(
    IDbContextFactory<PortalDbContext> dbFactory,
    IBackgroundJobClient backgroundJobs,
    JobNotifier notifier,
    JobCancellations cancellations)
{
    public async Task<JobView> EnqueueAsync<TJob>(string kind, string ownerId, string title, object? arguments = null)
        where TJob : IPortalJob
    {
        var record = new JobRecord { Kind = kind, OwnerId = ownerId, Title = title, ArgumentsJson = JobView.ToJson(arguments) };
        await using var db = await dbFactory.CreateDbContextAsync();
        db.Jobs.Add(record);
        await db.SaveChangesAsync();
        // Announced before Hangfire has it: once it does, a worker may claim the record and announce Running or even
        // Succeeded at once, and a Queued announced after those would leave pages showing a finished job as queued.
        var view = JobView.From(record);
        await notifier.PublishAsync(view);

        try
        {
            record.HangfireJobId = backgroundJobs.Enqueue<JobRunner<TJob>>(runner => runner.RunAsync(record.Id, CancellationToken.None));
        }
        catch (Exception ex)
        {
            record.State = JobState.Failed;
            record.Message = $"Could not be queued: {ex.Message}";
            record.FinishedAt = DateTimeOffset.UtcNow;
        }
        // The runner may already have claimed the record; write only the Hangfire id, never over its state.
        await db.Jobs.Where(j => j.Id == record.Id).ExecuteUpdateAsync(s => s.SetProperty(j => j.HangfireJobId, record.HangfireJobId));
        if (record.State == JobState.Failed)
        {
            await db.Jobs.Where(j => j.Id == record.Id).ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Failed).SetProperty(j => j.Message, record.Message).SetProperty(j => j.FinishedAt, record.FinishedAt));
            view = JobView.From(record);
            await notifier.PublishAsync(view);
        }
        return view;
    }

    /// <summary>The user's jobs, newest first; admins may ask for everyone's.</summary>
    public async Task<IReadOnlyList<JobView>> ListAsync(string userId, bool everyone = false, int take = 200)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var jobs = await db.Jobs.AsNoTracking()
            .Where(j => everyone || j.OwnerId == userId)
            .OrderByDescending(j => j.CreatedAt)
            .Take(take)
            .ToListAsync();
        return jobs.Select(JobView.From).ToList();
    }

    /// <summary>One job, or null when it does not exist or belongs to someone else (unless the caller is an admin).</summary>
    public async Task<JobView?> GetAsync(Guid jobId, string userId, bool isAdmin)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var job = await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == jobId && (isAdmin || j.OwnerId == userId));
        return job is null ? null : JobView.From(job);
    }

    /// <summary>
    /// A queued job is cancelled at once (it will never start); a running one is asked to stop through its
    /// CancellationToken and records Cancelled when it does.
    /// </summary>
    public async Task<(CancelOutcome Outcome, JobView? Job)> CancelAsync(Guid jobId, string userId, bool isAdmin)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var job = await db.Jobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == jobId && (isAdmin || j.OwnerId == userId));
        if (job is null) return (CancelOutcome.NotFound, null);

        var now = DateTimeOffset.UtcNow;
        var cancelledWhileQueued = await db.Jobs
            .Where(j => j.Id == jobId && j.State == JobState.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(j => j.State, JobState.Cancelled)
                .SetProperty(j => j.CancelRequested, true)
                .SetProperty(j => j.Message, "Cancelled before it started.")
                .SetProperty(j => j.FinishedAt, now));
        if (cancelledWhileQueued == 1)
        {
            if (job.HangfireJobId is not null) backgroundJobs.Delete(job.HangfireJobId);
            return (CancelOutcome.Cancelled, await PublishCurrentAsync(db, jobId));
        }

        var markedRunning = await db.Jobs
            .Where(j => j.Id == jobId && j.State == JobState.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.CancelRequested, true));
        if (markedRunning == 1)
        {
            cancellations.Cancel(jobId);
            return (CancelOutcome.CancelRequested, await PublishCurrentAsync(db, jobId));
        }
        return (CancelOutcome.AlreadyFinished, JobView.From(await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == jobId)));
    }

    private async Task<JobView> PublishCurrentAsync(PortalDbContext db, Guid jobId)
    {
        var view = JobView.From(await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == jobId));
        await notifier.PublishAsync(view);
        return view;
    }
}
