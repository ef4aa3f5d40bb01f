namespace MaaS.Portal.Jobs;

/// <summary>
/// One kind of background work. Implementations are resolved per run from DI, read what they need by the ids in
/// <see cref="JobContext.Arguments"/>, report progress through the context, honour the token, and are safe to
/// run again from the start (write to temp, rename when done).
/// </summary>
public interface IPortalJob
{
    /// <summary>Does the work; returns what it made (serialised as the job's result) or null.</summary>
    Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken);
}

/// <summary>Thrown by a job to fail with a message meant for people (no stack trace shown).</summary>
public sealed class JobFailedException(string message) : Exception(message);
