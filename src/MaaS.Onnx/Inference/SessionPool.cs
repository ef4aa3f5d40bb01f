using System.Collections.Concurrent;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Onnx.Inference;

/// <summary>
/// N ONNX Runtime sessions of one model, each used by one run at a time so each keeps its own thread pool and arena
/// warm. A request rents a free one, waiting asynchronously up to a timeout; past the timeout, or with too many already
/// waiting, it is refused as overloaded rather than queued without bound.
/// </summary>
internal sealed class SessionPool : IDisposable
{
    private readonly InferenceSession[] _sessions;
    private readonly ConcurrentQueue<InferenceSession> _free;
    private readonly SemaphoreSlim _available;
    private readonly string _label;
    private readonly int _maxQueue;
    private int _waiting;
    private int _peakBusy;

    public SessionPool(IReadOnlyList<InferenceSession> sessions, string label, int maxQueue)
    {
        _sessions = sessions.ToArray();
        _free = new ConcurrentQueue<InferenceSession>(_sessions);
        _available = new SemaphoreSlim(_sessions.Length, _sessions.Length);
        _label = label;
        _maxQueue = maxQueue;
    }

    public int Count => _sessions.Length;
    public InferenceSession First => _sessions[0];
    public IReadOnlyList<InferenceSession> All => _sessions;
    public int Busy => _sessions.Length - _available.CurrentCount;
    public int PeakBusy => Volatile.Read(ref _peakBusy);
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>A free session; <see cref="Return"/> it. Throws <see cref="InferenceOverloadedException"/> on timeout or a full queue.</summary>
    public async ValueTask<InferenceSession> RentAsync(TimeSpan timeout, CancellationToken ct)
    {
        if (!_available.Wait(0))
        {
            if (Interlocked.Increment(ref _waiting) > _maxQueue)
            {
                Interlocked.Decrement(ref _waiting);
                throw new InferenceOverloadedException($"Model {_label} has {_maxQueue} requests waiting already; try again later.");
            }
            try
            {
                if (!await _available.WaitAsync(timeout, ct).ConfigureAwait(false))
                {
                    throw new InferenceOverloadedException(
                        $"All {_sessions.Length} instance{(_sessions.Length == 1 ? "" : "s")} of model {_label} stayed busy for {timeout.TotalSeconds:0.###} s; try again later.");
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }
        var busy = Busy;
        int peak;
        while (busy > (peak = Volatile.Read(ref _peakBusy)) && Interlocked.CompareExchange(ref _peakBusy, busy, peak) != peak)
        {
        }
        // The semaphore counts free sessions, so one is always in the queue once a permit is held.
        if (!_free.TryDequeue(out var session)) throw new InvalidOperationException("Session pool out of step with its semaphore.");
        return session;
    }

    public void Return(InferenceSession session)
    {
        _free.Enqueue(session);
        _available.Release();
    }

    public void Dispose()
    {
        foreach (var session in _sessions) session.Dispose();
        _available.Dispose();
    }
}
