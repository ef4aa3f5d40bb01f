namespace MaaS.Onnx.Inference;

/// <summary>Where a model runs. CUDA needs the GPU build of ONNX Runtime and a GPU; loading says clearly when either is missing.</summary>
public enum ExecutionProviderKind { Cpu, Cuda }

/// <summary>
/// How a model is served: <see cref="Instances"/> ONNX Runtime sessions (each with its own <see cref="IntraOpThreads"/>
/// threads), a request waits at most <see cref="QueueTimeout"/> for a free one (then 503), and at most
/// <see cref="MaxQueueLength"/> requests wait at once. <see cref="MaxBatchSize"/> above 1 turns dynamic batching on for
/// models whose every input and output has a variable first dimension: concurrent requests arriving within
/// <see cref="BatchingDelay"/> of the first are run as one. Batching assumes rows do not affect each other, which holds
/// for nearly every inference graph but not for one that reduces over the batch dimension; it is the deployer's choice.
/// </summary>
public sealed record InferenceSettings
{
    public int Instances { get; init; } = 1;
    public int IntraOpThreads { get; init; } = 1;
    public ExecutionProviderKind ExecutionProvider { get; init; } = ExecutionProviderKind.Cpu;
    public int CudaDeviceId { get; init; }
    public int MaxBatchSize { get; init; } = 1;
    public TimeSpan BatchingDelay { get; init; } = TimeSpan.FromMilliseconds(2);
    public TimeSpan QueueTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxQueueLength { get; init; } = 1024;

    /// <summary>Run generated inputs through every instance once after loading (and a full batch when batching).</summary>
    public bool WarmUp { get; init; } = true;

    public void Validate()
    {
        if (Instances is < 1 or > 64) throw new ArgumentOutOfRangeException(nameof(Instances), Instances, "Instances must be 1 to 64.");
        if (IntraOpThreads is < 1 or > 256) throw new ArgumentOutOfRangeException(nameof(IntraOpThreads), IntraOpThreads, "Intra-op threads must be 1 to 256.");
        if (MaxBatchSize is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(MaxBatchSize), MaxBatchSize, "Max batch size must be 1 to 4096.");
        if (BatchingDelay < TimeSpan.Zero || BatchingDelay > TimeSpan.FromSeconds(10))
            throw new ArgumentOutOfRangeException(nameof(BatchingDelay), BatchingDelay, "Batching delay must be 0 to 10 s.");
        if (QueueTimeout <= TimeSpan.Zero && QueueTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(QueueTimeout), QueueTimeout, "Queue timeout must be positive (or infinite).");
        if (MaxQueueLength < 0) throw new ArgumentOutOfRangeException(nameof(MaxQueueLength), MaxQueueLength, "Max queue length cannot be negative.");
        if (CudaDeviceId < 0) throw new ArgumentOutOfRangeException(nameof(CudaDeviceId), CudaDeviceId, "CUDA device id cannot be negative.");
    }
}

/// <summary>A model's place in the host: a deployment and the version it serves.</summary>
public readonly record struct ModelKey(string Deployment, string Version)
{
    public override string ToString() => $"{Deployment}/{Version}";
}

/// <summary>
/// What loading cost. <see cref="MemoryGrowthBytes"/> is the process's working set after loading and warm-up minus before:
/// approximate, because anything else the process does meanwhile (other loads, requests, the garbage collector) counts
/// too, and the allocator may keep freed pages. <see cref="WarmUpSkipped"/> says why warm-up did not run, when it did not.
/// </summary>
public sealed record ModelLoadReport(
    TimeSpan LoadTime,
    TimeSpan WarmUpTime,
    long WorkingSetBefore,
    long WorkingSetAfter,
    int Instances,
    string ExecutionProvider,
    bool Batching,
    string? WarmUpSkipped)
{
    public long MemoryGrowthBytes => WorkingSetAfter - WorkingSetBefore;
    public TimeSpan ColdStart => LoadTime + WarmUpTime;
}

/// <summary>Counters since load, for metrics: requests served and failed, runs, and the batches dynamic batching formed.</summary>
public sealed record ModelStatistics(
    long Requests,
    long Failures,
    long Runs,
    long BatchedRequests,
    int LargestBatch,
    int BusyInstances,
    int PeakBusyInstances,
    int QueuedRequests);
