using System.Collections.Concurrent;
using MaaS.Onnx.Inference;

namespace MaaS.Portal.Features.Metering;

/// <summary>
/// One finished inference request as metering sees it. <see cref="Version"/> is 0 when the request failed before a
/// version was chosen; <see cref="Result"/> is null for failures.
/// </summary>
public sealed record MeteredRequest(
    string Deployment,
    int Version,
    Guid? ApiKeyId,
    string OwnerId,
    Guid ModelId,
    int Status,
    TimeSpan Latency,
    long BytesIn,
    long BytesOut,
    int Threads = 1,
    InferenceResult? Result = null,
    long Rows = 0)
{
    public bool IsError => Status >= 400;

    /// <summary>
    /// This request's share of the run's compute: all of it when it ran alone, its rows' share of a batched run (equal
    /// shares when rows are unknown), so the compute of one batch is billed once across its callers, not once each.
    /// </summary>
    public double ComputeSeconds => Result is not { } r ? 0
        : r.BatchRequests <= 1 ? r.ComputeTime.TotalSeconds
        : r.BatchRows > 0 && Rows > 0 ? r.ComputeTime.TotalSeconds * Math.Min(1, (double)Rows / r.BatchRows)
        : r.ComputeTime.TotalSeconds / r.BatchRequests;

    /// <summary>Compute × intra-op threads: the vCPU-seconds that compute is priced by.</summary>
    public double VcpuSeconds => ComputeSeconds * Math.Max(1, Threads);
}

/// <summary>What a usage bucket is kept per: a minute of one version of one deployment, through one key.</summary>
public readonly record struct UsageKey(DateTimeOffset Minute, string Deployment, int Version, Guid? ApiKeyId, string OwnerId, Guid ModelId);

/// <summary>The sums of one bucket, as drained for a flush.</summary>
public sealed record UsageTotals(long Requests, long Errors, double ComputeSeconds, double VcpuSeconds, long BytesIn, long BytesOut,
    double QueueSeconds, double LatencySeconds, string LatencyHistogram = "");

/// <summary>
/// The hot-path half of metering (ARCHITECTURE.md, decision 7): each request adds to an in-memory bucket per
/// <see cref="UsageKey"/> under a lock on that bucket alone (a few additions), never a database write.
/// <see cref="UsageFlusher"/> drains the buckets into <see cref="UsageMinute"/> rows.
/// <para>
/// No count is lost between a request and a drain: a drained past minute's bucket is taken out of the dictionary and
/// marked retired under its lock, so a request that still holds it sees the mark and adds to a fresh bucket instead;
/// the current minute's bucket is read and zeroed under the same lock.
/// </para>
/// </summary>
public sealed class UsageMeter(TimeProvider clock)
{
    private readonly ConcurrentDictionary<UsageKey, Bucket> _buckets = new();

    public void Record(MeteredRequest request)
    {
        var minute = MinuteOf(clock.GetUtcNow());
        var key = new UsageKey(minute, request.Deployment, request.Version, request.ApiKeyId, request.OwnerId, request.ModelId);
        var compute = request.ComputeSeconds;
        var vcpu = request.VcpuSeconds;
        var queue = request.Result?.QueueTime.TotalSeconds ?? 0;
        while (true)
        {
            var bucket = _buckets.GetOrAdd(key, static _ => new Bucket());
            lock (bucket)
            {
                if (bucket.Retired) continue;
                bucket.Requests++;
                if (request.IsError) bucket.Errors++;
                bucket.ComputeSeconds += compute;
                bucket.VcpuSeconds += vcpu;
                bucket.BytesIn += request.BytesIn;
                bucket.BytesOut += request.BytesOut;
                bucket.QueueSeconds += queue;
                bucket.LatencySeconds += request.Latency.TotalSeconds;
                bucket.Latencies.Add(request.Latency.TotalSeconds);
                return;
            }
        }
    }

    /// <summary>
    /// Takes everything recorded so far: finished minutes leave the meter, the current minute's buckets are zeroed and
    /// stay. Empty buckets are not returned.
    /// </summary>
    public IReadOnlyList<KeyValuePair<UsageKey, UsageTotals>> Drain()
    {
        var current = MinuteOf(clock.GetUtcNow());
        var drained = new List<KeyValuePair<UsageKey, UsageTotals>>();
        foreach (var (key, bucket) in _buckets)
        {
            var finished = key.Minute < current;
            if (finished && !_buckets.TryRemove(new KeyValuePair<UsageKey, Bucket>(key, bucket))) continue;
            UsageTotals totals;
            lock (bucket)
            {
                if (bucket.Retired) continue;
                if (finished) bucket.Retired = true;
                if (bucket.Requests == 0) continue;
                totals = bucket.Take();
            }
            drained.Add(new(key, totals));
        }
        return drained;
    }

    /// <summary>Puts drained totals back (a flush that could not write them), to go with the next flush.</summary>
    public void Restore(IEnumerable<KeyValuePair<UsageKey, UsageTotals>> drained)
    {
        foreach (var (key, totals) in drained)
        {
            while (true)
            {
                var bucket = _buckets.GetOrAdd(key, static _ => new Bucket());
                lock (bucket)
                {
                    if (bucket.Retired) continue;
                    bucket.Add(totals);
                    break;
                }
            }
        }
    }

    public static DateTimeOffset MinuteOf(DateTimeOffset t)
    {
        var utc = t.UtcDateTime;
        return new DateTimeOffset(utc.Year, utc.Month, utc.Day, utc.Hour, utc.Minute, 0, TimeSpan.Zero);
    }

    private sealed class Bucket
    {
        public bool Retired;
        public long Requests, Errors, BytesIn, BytesOut;
        public double ComputeSeconds, VcpuSeconds, QueueSeconds, LatencySeconds;
        public LatencyHistogram Latencies = new();

        public UsageTotals Take()
        {
            var totals = new UsageTotals(Requests, Errors, ComputeSeconds, VcpuSeconds, BytesIn, BytesOut, QueueSeconds, LatencySeconds,
                Latencies.ToString());
            Requests = Errors = BytesIn = BytesOut = 0;
            ComputeSeconds = VcpuSeconds = QueueSeconds = LatencySeconds = 0;
            Latencies = new LatencyHistogram();
            return totals;
        }

        public void Add(UsageTotals t)
        {
            Requests += t.Requests;
            Errors += t.Errors;
            ComputeSeconds += t.ComputeSeconds;
            VcpuSeconds += t.VcpuSeconds;
            BytesIn += t.BytesIn;
            BytesOut += t.BytesOut;
            QueueSeconds += t.QueueSeconds;
            LatencySeconds += t.LatencySeconds;
            Latencies.Add(t.LatencyHistogram);
        }
    }
}
