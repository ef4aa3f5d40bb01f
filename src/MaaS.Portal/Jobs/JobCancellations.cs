using System.Collections.Concurrent;

namespace MaaS.Portal.Jobs;

/// <summary>Cancellation sources of the jobs running in this process, so a user's cancel reaches the job's token at once.</summary>
public sealed class JobCancellations
{
    private readonly ConcurrentDictionary<Guid, CancellationTokenSource> _running = new();

    /// <summary>
    /// The job's cancellation source, linked to <paramref name="hostToken"/>; null when the job is already registered
    /// here (a second delivery of the same job, which must leave the first run's source alone).
    /// </summary>
    internal CancellationTokenSource? TryRegister(Guid jobId, CancellationToken hostToken)
    {
        var source = CancellationTokenSource.CreateLinkedTokenSource(hostToken);
        if (_running.TryAdd(jobId, source)) return source;
        source.Dispose();
        return null;
    }

    internal void Unregister(Guid jobId)
    {
        if (_running.TryRemove(jobId, out var source)) source.Dispose();
    }

    /// <summary>Signals the job's token; false when the job is not running here.</summary>
    public bool Cancel(Guid jobId)
    {
        if (!_running.TryGetValue(jobId, out var source)) return false;
        try
        {
            source.Cancel();
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false; // it finished in between
        }
    }
}
