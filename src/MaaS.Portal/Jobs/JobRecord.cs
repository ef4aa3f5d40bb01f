namespace MaaS.Portal.Jobs;

public enum JobState { Queued, Running, Succeeded, Failed, Cancelled }

/// <summary>
/// The portal's own view of a background job: what users and the API see. Hangfire only carries the id;
/// this row holds state, progress and outcome, and is claimed atomically so one job never runs twice.
/// </summary>
public sealed class JobRecord
{
    public Guid Id { get; set; } = Guid.NewGuid();
    /// <summary>What the job does, e.g. "verify-blobs", "compress", "deploy".</summary>
    public required string Kind { get; set; }
    public required string OwnerId { get; set; }
    /// <summary>A short line people read in lists, e.g. "Compress resnet18 v1 to INT8".</summary>
    public required string Title { get; set; }
    public JobState State { get; set; } = JobState.Queued;
    public double Progress { get; set; }
    public string? Stage { get; set; }
    public string? Message { get; set; }
    /// <summary>JSON naming what the job made (e.g. {"modelId":"…","version":2}); null until it succeeds.</summary>
    public string? ResultJson { get; set; }
    /// <summary>JSON arguments for the job kind; jobs take ids, so this stays small.</summary>
    public string? ArgumentsJson { get; set; }
    public string? HangfireJobId { get; set; }
    public bool CancelRequested { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    /// <summary>
    /// When the running job last gave a sign of life (its start, then each progress report written). A job whose
    /// process died ends here at the next start-up, so it is not charged for the time the portal was down.
    /// </summary>
    public DateTimeOffset? LastReportAt { get; set; }

    public bool IsFinished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;
}
