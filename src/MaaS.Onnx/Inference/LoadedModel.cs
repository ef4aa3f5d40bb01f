using System.Diagnostics;
using MaaS.Onnx.Compression;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// One model file loaded into <see cref="InferenceSettings.Instances"/> ONNX Runtime sessions, with its signature, its
/// load report and, when it can batch, a <see cref="DynamicBatcher"/>. Requests run on a free instance.
/// <para>
/// Lifetime is reference-counted so that a swap never fails a request: the owner (the host's slot, or whoever loaded it)
/// holds one reference, every request holds one while it runs. <see cref="Retire"/> drops the owner's; the sessions are
/// disposed when the last request finishes, and <see cref="Drained"/> completes then. A retired model refuses new
/// requests with <see cref="ModelNotLoadedException"/> before doing anything, so a router holding a stale reference can
/// simply pick again.
/// </para>
/// </summary>
public sealed class LoadedModel : IAsyncDisposable
{
    private readonly SessionPool _pool;
    private readonly PrePackedWeightsContainer _prepacked;
    private readonly DynamicBatcher? _batcher;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _references = 1;
    private int _retired;
    private long _requests, _failures, _runs;

    private LoadedModel(ModelKey key, string path, InferenceSettings settings, ModelSignature signature, SessionPool pool,
        PrePackedWeightsContainer prepacked, string? cannotBatch)
    {
        Key = key;
        Path = path;
        Settings = settings;
        Signature = signature;
        _pool = pool;
        _prepacked = prepacked;
        BatchingUnavailable = cannotBatch;
        if (settings.MaxBatchSize > 1 && cannotBatch is null) _batcher = new DynamicBatcher(this, pool, settings);
        LoadReport = new ModelLoadReport(TimeSpan.Zero, TimeSpan.Zero, 0, 0, settings.Instances, "", false, null);
    }

    public ModelKey Key { get; }
    public string Path { get; }
    public InferenceSettings Settings { get; }
    public ModelSignature Signature { get; }
    public ModelLoadReport LoadReport { get; private set; }

    /// <summary>Whether concurrent requests are combined into batches.</summary>
    public bool Batching => _batcher is not null;

    /// <summary>Why the model cannot batch (a fixed first dimension, a non-tensor input…), or null if it can.</summary>
    public string? BatchingUnavailable { get; }

    public bool IsRetired => Volatile.Read(ref _retired) == 1;

    /// <summary>Completes once the model is retired and its last request has finished: the sessions are released.</summary>
    public Task Drained => _drained.Task;

    public ModelStatistics Statistics => new(
        Interlocked.Read(ref _requests), Interlocked.Read(ref _failures), Interlocked.Read(ref _runs),
        _batcher?.BatchedRequests ?? 0, _batcher?.LargestBatch ?? 1, IsDisposed ? 0 : _pool.Busy, _pool.PeakBusy,
        _pool.Waiting + (_batcher?.Queued ?? 0));

    private bool IsDisposed => _drained.Task.IsCompleted;

    /// <summary>
    /// Loads <paramref name="path"/> into the configured number of sessions and warms them up, on a thread-pool thread.
    /// Throws <see cref="ModelLoadException"/> with the reason when ONNX Runtime refuses the model, the execution
    /// provider is missing, or warm-up fails; nothing stays allocated then.
    /// </summary>
    public static Task<LoadedModel> LoadAsync(ModelKey key, string path, InferenceSettings settings, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        return Task.Run(() => Load(key, path, settings, ct), ct);
    }

    /// <summary>The execution providers this ONNX Runtime build offers ("CPUExecutionProvider", "CUDAExecutionProvider"…).</summary>
    public static IReadOnlyList<string> AvailableExecutionProviders() => OrtEnv.Instance().GetAvailableProviders();

    /// <summary>
    /// Checks the request against the signature, then runs it: in a batch when the model batches and the request's
    /// rows fit, else alone on a free instance. Cancelling stops waiting; a request running alone is also stopped
    /// inside ONNX Runtime, while a batch runs on for its other callers.
    /// </summary>
    public async Task<InferenceResult> InferAsync(InferenceRequest request, CancellationToken ct = default)
    {
        if (!TryAcquire()) throw NotLoaded();
        try
        {
            return await InferAcquiredAsync(request, ct).ConfigureAwait(false);
        }
        finally
        {
            Release();
        }
    }

    /// <summary>Retires the model and waits until its last request has finished and its sessions are released.</summary>
    public async ValueTask DisposeAsync()
    {
        Retire();
        await Drained.ConfigureAwait(false);
    }

    /// <summary>Drops the owner's reference: new requests are refused, and the sessions go once in-flight ones finish.</summary>
    public void Retire()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0) Release();
    }

    internal async Task<InferenceResult> InferAcquiredAsync(InferenceRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        Interlocked.Increment(ref _requests);
        var bound = Signature.Bind(request);
        try
        {
            if (_batcher is not null && bound.Rows is { } rows && rows > 0 && rows <= Settings.MaxBatchSize)
                return await _batcher.SubmitAsync(bound, rows, ct).ConfigureAwait(false);
            return await RunAloneAsync(bound, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Interlocked.Increment(ref _failures);
            throw;
        }
    }

    private async Task<InferenceResult> RunAloneAsync(BoundRequest bound, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var session = await _pool.RentAsync(Settings.QueueTimeout, ct).ConfigureAwait(false);
        var queued = Stopwatch.GetElapsedTime(started);
        try
        {
            CountRun();
            var (outputs, compute) = Execute(session, bound.Inputs, bound.Outputs, ct);
            return new InferenceResult(outputs, bound.BinaryOutputs, queued, compute, 1, bound.Rows ?? 0);
        }
        finally
        {
            _pool.Return(session);
        }
    }

    /// <summary>Counts a run that serves requests (warm-up runs are not counted), failed or not.</summary>
    internal void CountRun() => Interlocked.Increment(ref _runs);

    /// <summary>
    /// One ONNX Runtime run on <paramref name="session"/>, which the caller has rented. Cancellation sets the run's
    /// terminate flag, so a long run stops inside ONNX Runtime instead of holding the instance.
    /// </summary>
    internal (IReadOnlyList<InferenceTensor> Outputs, TimeSpan Compute) Execute(InferenceSession session,
        IReadOnlyList<InferenceTensor> inputs, IReadOnlyList<string> outputNames, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var values = new List<OrtValue>(inputs.Count);
        try
        {
            foreach (var input in inputs) values.Add(input.ToOrtValue());
            var names = inputs.Select(i => i.Name).ToArray();
            using var runOptions = new RunOptions();
            using var registration = ct.CanBeCanceled ? ct.Register(() => runOptions.Terminate = true) : default;
            var started = Stopwatch.GetTimestamp();
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = session.Run(runOptions, names, values, outputNames.ToArray());
            }
            catch (OnnxRuntimeException ex)
            {
                if (ct.IsCancellationRequested) throw new OperationCanceledException("The request was cancelled while it ran.", ex, ct);
                throw new InferenceRuntimeException($"Model {Key} failed to run: {ex.Message}", ex);
            }
            var compute = Stopwatch.GetElapsedTime(started);
            using (results)
            {
                var outputs = new InferenceTensor[outputNames.Count];
                try
                {
                    for (var i = 0; i < outputs.Length; i++) outputs[i] = OnnxOutputs.ToTensor(outputNames[i], results[i]);
                }
                catch (Exception ex) when (ex is NotSupportedException or InvalidDataException or OnnxRuntimeException)
                {
                    throw new InferenceRuntimeException($"Model {Key} returned an output the V2 API cannot carry: {ex.Message}", ex);
                }
                return (outputs, compute);
            }
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>The sessions, for tests that hold an instance busy without racing a run against the clock.</summary>
    internal SessionPool Pool => _pool;

    internal bool TryAcquire()
    {
        if (Volatile.Read(ref _retired) == 1) return false;
        while (true)
        {
            var count = Volatile.Read(ref _references);
            if (count == 0) return false;
            if (Interlocked.CompareExchange(ref _references, count + 1, count) == count) return true;
        }
    }

    /// <summary>Another reference for work that may outlive its caller (a queued batch item); only while holding one.</summary>
    internal void AddReference() => Interlocked.Increment(ref _references);

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) DisposeSessions();
    }

    internal ModelNotLoadedException NotLoaded() => new($"Model {Key} was unloaded or replaced; it takes no new requests.");

    private void DisposeSessions()
    {
        _batcher?.Complete();
        _pool.Dispose();
        _prepacked.Dispose();
        _drained.TrySetResult();
    }

    private static LoadedModel Load(ModelKey key, string path, InferenceSettings settings, CancellationToken ct)
    {
        if (!File.Exists(path)) throw new ModelLoadException($"Model file '{path}' does not exist.");
        CheckProvider(settings);
        var before = WorkingSet();
        var clock = Stopwatch.StartNew();
        var sessions = new List<InferenceSession>(settings.Instances);
        var prepacked = new PrePackedWeightsContainer();
        LoadedModel model;
        try
        {
            using var options = CreateOptions(settings);
            for (var i = 0; i < settings.Instances; i++)
            {
                ct.ThrowIfCancellationRequested();
                // One container for all instances: weights that kernels pre-pack (GEMM, conv) are then held once.
                sessions.Add(new InferenceSession(path, options, prepacked));
            }
            var signature = ModelSignature.FromSession(sessions[0]);
            model = new LoadedModel(key, path, settings, signature, new SessionPool(sessions, key.ToString(), settings.MaxQueueLength),
                prepacked, DynamicBatcher.CannotBatch(signature));
        }
        catch (Exception ex)
        {
            foreach (var session in sessions) session.Dispose();
            prepacked.Dispose();
            if (ex is OperationCanceledException or ModelLoadException) throw;
            throw new ModelLoadException($"ONNX Runtime could not load model {key}: {ex.Message}", ex);
        }

        var loadTime = clock.Elapsed;
        TimeSpan warmUpTime;
        string? skipped;
        try
        {
            clock.Restart();
            skipped = settings.WarmUp ? model.WarmUp(ct) : "warm-up is turned off";
            warmUpTime = clock.Elapsed;
        }
        catch (Exception ex)
        {
            model.Retire();
            if (ex is OperationCanceledException) throw;
            throw new ModelLoadException($"Model {key} loaded but failed its warm-up run on generated inputs: {ex.Message}", ex);
        }
        model.LoadReport = new ModelLoadReport(loadTime, warmUpTime, before, WorkingSet(), settings.Instances,
            settings.ExecutionProvider == ExecutionProviderKind.Cuda ? "CUDAExecutionProvider" : "CPUExecutionProvider",
            model.Batching, skipped);
        return model;
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private static void CheckProvider(InferenceSettings settings)
    {
        if (settings.ExecutionProvider != ExecutionProviderKind.Cuda) return;
        var available = AvailableExecutionProviders();
        if (!available.Contains("CUDAExecutionProvider"))
        {
            throw new ModelLoadException(
                $"CUDA was requested, but this ONNX Runtime build offers only {string.Join(", ", available)}. Serve it on the CPU, or run the portal with the GPU build of ONNX Runtime (Microsoft.ML.OnnxRuntime.Gpu) on a machine with an NVIDIA GPU.");
        }
    }

    private static SessionOptions CreateOptions(InferenceSettings settings)
    {
        var options = new SessionOptions
        {
            IntraOpNumThreads = settings.IntraOpThreads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        try
        {
            if (settings.ExecutionProvider == ExecutionProviderKind.Cuda) options.AppendExecutionProvider_CUDA(settings.CudaDeviceId);
            return options;
        }
        catch (OnnxRuntimeException ex)
        {
            options.Dispose();
            throw new ModelLoadException($"CUDA device {settings.CudaDeviceId} could not be used: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Runs generated inputs (see <see cref="SampleGenerator"/>) once through every instance, and a full batch too when
    /// batching, so the first real requests do not pay for lazy initialisation and arena growth. Returns why it was
    /// skipped, or null.
    /// </summary>
    private string? WarmUp(CancellationToken ct)
    {
        if (Signature.Inputs.FirstOrDefault(i => !i.IsTensor || V2Datatypes.NameOf(i.ElementType) is null) is { } odd)
            return $"input '{odd.Name}' is a {odd.OnnxType}, which warm-up cannot generate";
        var inputs = GeneratedInputs();
        var outputs = Signature.Outputs.Select(o => o.Name).ToArray();
        foreach (var session in _pool.All) Execute(session, inputs, outputs, ct);
        if (_batcher is not null && Settings.MaxBatchSize > 1)
        {
            // A full batch grows the arenas to their working size now rather than under the first burst; capped so a
            // generous max batch size on a large input cannot make warm-up itself the memory problem.
            const long maxWarmUpBytes = 64L * 1024 * 1024;
            var rowBytes = Math.Max(1, inputs.Sum(t => t.Strings is null ? t.Data.Length : t.ElementCount * 16));
            var rows = (int)Math.Clamp(maxWarmUpBytes / rowBytes, 1, Settings.MaxBatchSize);
            var batch = inputs.Select(t => TensorRows.Concat(Enumerable.Repeat(t, rows).ToList())).ToList();
            foreach (var session in _pool.All) Execute(session, batch, outputs, ct);
        }
        return null;
    }

    private List<InferenceTensor> GeneratedInputs()
    {
        try
        {
            var sample = SampleGenerator.Generate(_pool.First.InputMetadata, 1)[0];
            var byName = sample.Inputs.ToDictionary(t => t.Name, StringComparer.Ordinal);
            return Signature.Inputs.Select(spec => InferenceTensor.FromArray(spec.Name, byName[spec.Name].Shape, byName[spec.Name].Values)).ToList();
        }
        catch (NotSupportedException)
        {
            // The generator knows the common types only (uint16/32/64 and int16 it does not fill): zeros are valid
            // for every type, and warm-up only needs the kernels to run, not meaningful values.
            return Signature.Inputs.Select(Zeros).ToList();
        }
    }

    private static InferenceTensor Zeros(TensorSpec spec)
    {
        var shape = spec.Shape.Select(d => d < 0 ? 1 : d).ToArray();
        var count = InferenceTensor.CheckedCount(shape);
        return spec.ElementType == TensorElementType.String
            ? InferenceTensor.FromStrings(spec.Name, shape, Enumerable.Repeat("", (int)count).ToArray())
            : InferenceTensor.FromBytes(spec.Name, spec.ElementType, shape, new byte[count * V2Datatypes.ElementSize(spec.ElementType)]);
    }

    public override string ToString() => $"{Key} ({Settings.Instances} instance{(Settings.Instances == 1 ? "" : "s")}{(Batching ? $", batches up to {Settings.MaxBatchSize}" : "")})";
}
