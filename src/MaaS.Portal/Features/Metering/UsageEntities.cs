namespace MaaS.Portal.Features.Metering;

/// <summary>
/// One minute of inference on one deployment version, through one key: the metered quantities cost is computed from.
/// Rows carry the deployment's name, owner and model id as plain values, not foreign keys, so usage (and the money it
/// stands for) outlives the deployment, the key, the model and the user. Flushes add to a row; they never replace it.
/// </summary>
public sealed class UsageMinute
{
    public long Id { get; set; }
    /// <summary>Start of the minute, UTC.</summary>
    public DateTimeOffset Minute { get; set; }
    public required string DeploymentName { get; set; }
    /// <summary>The model version that served; 0 when the request failed before a version was chosen.</summary>
    public int Version { get; set; }
    /// <summary>The API key that called; null for calls without one.</summary>
    public Guid? ApiKeyId { get; set; }
    public required string OwnerId { get; set; }
    public Guid ModelId { get; set; }

    public long Requests { get; set; }
    /// <summary>Requests answered with a status of 400 or more (rate-limited ones included).</summary>
    public long Errors { get; set; }
    /// <summary>Model compute time attributed to these requests (a batched run is shared by rows), in seconds.</summary>
    public double ComputeSeconds { get; set; }
    /// <summary><see cref="ComputeSeconds"/> × the deployment's intra-op threads: what compute is priced by.</summary>
    public double VcpuSeconds { get; set; }
    public long BytesIn { get; set; }
    public long BytesOut { get; set; }
    /// <summary>Sum of time waited for an instance or a batch, for mean queue time.</summary>
    public double QueueSeconds { get; set; }
    /// <summary>Sum of end-to-end handling time, for mean latency.</summary>
    public double LatencySeconds { get; set; }
    /// <summary>Handling times counted in <see cref="Metering.LatencyHistogram"/> buckets, for percentiles.</summary>
    public string LatencyHistogram { get; set; } = "";
}

/// <summary>
/// One minute of one loaded deployment's memory: <see cref="ByteSeconds"/> is resident bytes × seconds loaded within
/// the minute (60 × bytes for a whole minute), so GB-hours over any period are a sum and a division. Sampled by the
/// usage flusher each time it runs; a minute with the portal down has no row, which is right: nothing was loaded.
/// </summary>
public sealed class MemoryMinute
{
    public long Id { get; set; }
    public DateTimeOffset Minute { get; set; }
    public required string DeploymentName { get; set; }
    public required string OwnerId { get; set; }
    public Guid ModelId { get; set; }
    /// <summary>The largest resident size sampled in the minute, in bytes (all loaded versions together).</summary>
    public long ResidentBytes { get; set; }
    public double ByteSeconds { get; set; }
}

/// <summary>
/// Metered quantities over a period, before any price: requests and errors; model compute in seconds and in vCPU-seconds
/// (compute × intra-op threads); bytes received and sent; summed queue and handling time (÷ requests = means); and
/// loaded memory in byte-seconds (÷ 3.6e12 = GB-hours).
/// </summary>
public sealed record UsageQuantities(
    long Requests, long Errors, double ComputeSeconds, double VcpuSeconds, long BytesIn, long BytesOut,
    double QueueSeconds, double LatencySeconds, double MemoryByteSeconds)
{
    public static UsageQuantities Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0, 0);

    public UsageQuantities Plus(UsageQuantities o) => new(Requests + o.Requests, Errors + o.Errors, ComputeSeconds + o.ComputeSeconds,
        VcpuSeconds + o.VcpuSeconds, BytesIn + o.BytesIn, BytesOut + o.BytesOut, QueueSeconds + o.QueueSeconds,
        LatencySeconds + o.LatencySeconds, MemoryByteSeconds + o.MemoryByteSeconds);
}
