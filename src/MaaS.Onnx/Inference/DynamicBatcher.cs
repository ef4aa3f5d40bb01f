using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Onnx.Inference;

/// <summary>
/// Combines concurrent requests to one model into batches along the first dimension, runs each batch once, and hands
/// every caller exactly its own rows.
/// <para>
/// A batch opens with the oldest waiting request and takes compatible requests (same trailing dimensions on every
/// input) until it holds <see cref="InferenceSettings.MaxBatchSize"/> rows or <see cref="InferenceSettings.BatchingDelay"/>
/// has passed since the oldest arrived; requests that do not fit wait, first in line, for the next batch. The batch
/// then waits for a free instance, and whatever compatible requests arrived meanwhile join it, so under load batches
/// fill up instead of queueing one by one (Triton's dynamic batcher works the same way). Up to
/// <see cref="InferenceSettings.Instances"/> batches run at once.
/// </para>
/// <para>
/// A run that fails fails every caller of that batch, with the runtime's message. A caller that is cancelled or times
/// out before its batch starts leaves the queue; after that its batch runs on for the others and its rows are dropped.
/// </para>
/// </summary>
public sealed class DynamicBatcher
{
    private readonly LoadedModel _model;
    private readonly SessionPool _pool;
    private readonly int _maxBatchSize;
    private readonly long _delayTicks;
    private readonly TimeSpan _queueTimeout;
    private readonly int _maxQueue;
    private readonly Channel<Pending> _channel = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private int _queued;
    private long _batchedRequests;
    private int _largestBatch;

    internal DynamicBatcher(LoadedModel model, SessionPool pool, InferenceSettings settings)
    {
        _model = model;
        _pool = pool;
        _maxBatchSize = settings.MaxBatchSize;
        _delayTicks = (long)(settings.BatchingDelay.TotalSeconds * Stopwatch.Frequency);
        _queueTimeout = settings.QueueTimeout;
        _maxQueue = settings.MaxQueueLength;
        _ = Task.Run(LoopAsync);
    }

    /// <summary>Requests served through the batcher, whether they ended up sharing a run or not.</summary>
    public long BatchedRequests => Interlocked.Read(ref _batchedRequests);

    /// <summary>The most requests one run has served.</summary>
    public int LargestBatch => Volatile.Read(ref _largestBatch);

    /// <summary>Requests waiting for a batch to start.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>
    /// Why a model cannot batch, or null if it can: every input must be a tensor whose first dimension is variable (and
    /// the same symbol, when named), every output a tensor with a variable first dimension or a sequence (ZipMap's
    /// one map per row).
    /// </summary>
    public static string? CannotBatch(ModelSignature signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        if (signature.Inputs.Count == 0) return "the model takes no inputs";
        string? batchSymbol = null;
        foreach (var input in signature.Inputs)
        {
            if (!input.IsTensor) return $"input '{input.Name}' is a {input.OnnxType}, not a tensor";
            if (input.Shape.Length == 0 || input.Shape[0] >= 0) return $"input '{input.Name}' has no variable first dimension ({InferenceTensor.FormatShape(input.Shape)})";
            var symbol = input.SymbolicDims.Count > 0 ? input.SymbolicDims[0] : "";
            if (symbol.Length == 0) continue;
            batchSymbol ??= symbol;
            if (symbol != batchSymbol) return $"inputs name their first dimensions differently ('{batchSymbol}', '{symbol}')";
        }
        foreach (var output in signature.Outputs)
        {
            if (!output.IsTensor)
            {
                if (!output.OnnxType.StartsWith("seq(", StringComparison.Ordinal)) return $"output '{output.Name}' is a {output.OnnxType}";
                continue;
            }
            if (output.Shape.Length == 0 || output.Shape[0] >= 0) return $"output '{output.Name}' has no variable first dimension ({InferenceTensor.FormatShape(output.Shape)})";
        }
        return null;
    }

    internal async Task<InferenceResult> SubmitAsync(BoundRequest request, long rows, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (Interlocked.Increment(ref _queued) > _maxQueue)
        {
            Interlocked.Decrement(ref _queued);
            throw new InferenceOverloadedException($"Model {_model.Key} has {_maxQueue} requests waiting already; try again later.");
        }
        // The item holds its own reference: if its caller gives up after the batch started, the sessions must stay
        // until the batch is done.
        _model.AddReference();
        var pending = new Pending(request, rows);
        if (!_channel.Writer.TryWrite(pending))
        {
            LeaveQueue();
            throw _model.NotLoaded();
        }
        try
        {
            return await pending.Completion.Task.WaitAsync(_queueTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException) when (pending.TryAbandon())
        {
            LeaveQueue();
            throw new InferenceOverloadedException(
                $"Model {_model.Key}: no batch could start within {_queueTimeout.TotalSeconds:0.###} s; every instance stayed busy. Try again later.");
        }
        catch (TimeoutException)
        {
            // Its batch started just in time; the answer is on its way.
            return await pending.Completion.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            if (pending.TryAbandon()) LeaveQueue();
            throw;
        }
    }

    internal void Complete() => _channel.Writer.TryComplete();

    private void LeaveQueue()
    {
        Interlocked.Decrement(ref _queued);
        _model.Release();
    }

    private bool Take(Pending pending)
    {
        if (!pending.TryTake()) return false;
        Interlocked.Decrement(ref _queued);
        return true;
    }

    private sealed class Batch(Pending first)
    {
        public List<Pending> Items { get; } = [first];
        public long Rows { get; set; } = first.Rows;
        public Pending First => Items[0];
    }

    private async Task LoopAsync()
    {
        var reader = _channel.Reader;
        // Requests read while forming a batch they did not fit; they lead the next ones, in arrival order.
        var carried = new LinkedList<Pending>();
        while (true)
        {
            var first = TakeCarried(carried, batch: null);
            if (first is null)
            {
                if (!await reader.WaitToReadAsync().ConfigureAwait(false)) break;
                if (!reader.TryRead(out var next) || !Take(next)) continue;
                first = next;
            }
            var batch = new Batch(first);
            try
            {
                while (batch.Rows < _maxBatchSize && TakeCarried(carried, batch) is { } more) Add(batch, more);
                var deadline = first.Enqueued + _delayTicks;
                while (batch.Rows < _maxBatchSize)
                {
                    if (reader.TryRead(out var item))
                    {
                        Offer(batch, item, carried);
                        continue;
                    }
                    var wait = deadline - Stopwatch.GetTimestamp();
                    if (wait <= 0 || !await WaitForMoreAsync(reader, wait).ConfigureAwait(false)) break;
                }
                var session = await _pool.RentAsync(Timeout.InfiniteTimeSpan, CancellationToken.None).ConfigureAwait(false);
                // Requests that arrived while every instance was busy join now if they fit.
                while (batch.Rows < _maxBatchSize && reader.TryRead(out var late)) Offer(batch, late, carried);
                _ = Task.Run(() => Run(session, batch));
            }
            catch (Exception ex)
            {
                // Only a bug gets here; fail this batch rather than leave its callers waiting for ever.
                Finish(batch.Items, ex);
            }
        }
    }

    private static async Task<bool> WaitForMoreAsync(ChannelReader<Pending> reader, long ticks)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds((double)ticks / Stopwatch.Frequency));
        try
        {
            return await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The first carried request that fits <paramref name="batch"/> (any, when starting one), taken off the list.</summary>
    private Pending? TakeCarried(LinkedList<Pending> carried, Batch? batch)
    {
        for (var node = carried.First; node is not null;)
        {
            var next = node.Next;
            var item = node.Value;
            if (batch is null || Fits(batch, item))
            {
                carried.Remove(node);
                if (Take(item)) return item;
            }
            node = next;
        }
        return null;
    }

    private void Offer(Batch batch, Pending item, LinkedList<Pending> carried)
    {
        if (!Fits(batch, item))
        {
            carried.AddLast(item);
            return;
        }
        if (Take(item)) Add(batch, item);
    }

    private static void Add(Batch batch, Pending item)
    {
        batch.Items.Add(item);
        batch.Rows += item.Rows;
    }

    private bool Fits(Batch batch, Pending item)
    {
        if (batch.Rows + item.Rows > _maxBatchSize) return false;
        var a = batch.First.Request.Inputs;
        var b = item.Request.Inputs;
        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].Shape.AsSpan(1).SequenceEqual(b[i].Shape.AsSpan(1))) return false;
        }
        return true;
    }

    private void Run(InferenceSession session, Batch batch)
    {
        var items = batch.Items;
        var started = Stopwatch.GetTimestamp();
        var results = new InferenceResult[items.Count];
        Exception? failure = null;
        try
        {
            var inputs = items.Count == 1
                ? items[0].Request.Inputs
                : Enumerable.Range(0, items[0].Request.Inputs.Count).Select(i => TensorRows.Concat(items.Select(p => p.Request.Inputs[i]).ToList())).ToList();
            // Every output any caller asked for, in the model's order, in one run.
            var wanted = items.SelectMany(p => p.Request.Outputs).ToHashSet(StringComparer.Ordinal);
            var outputNames = _model.Signature.Outputs.Select(o => o.Name).Where(wanted.Contains).ToList();
            _model.CountRun();
            var (outputs, compute) = _model.Execute(session, inputs, outputNames, CancellationToken.None);
            var byName = outputNames.Select((name, i) => (name, i)).ToDictionary(x => x.name, x => outputs[x.i], StringComparer.Ordinal);
            long offset = 0;
            for (var k = 0; k < items.Count; k++)
            {
                var item = items[k];
                var mine = item.Request.Outputs
                    .Select(name => items.Count == 1 ? byName[name] : TensorRows.Slice(byName[name], offset, item.Rows, batch.Rows))
                    .ToList();
                offset += item.Rows;
                var queued = TimeSpan.FromSeconds((double)(started - item.Enqueued) / Stopwatch.Frequency);
                results[k] = new InferenceResult(mine, item.Request.BinaryOutputs, queued, compute, items.Count, batch.Rows);
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            _pool.Return(session);
        }
        Interlocked.Add(ref _batchedRequests, items.Count);
        int largest;
        while (items.Count > (largest = Volatile.Read(ref _largestBatch)) && Interlocked.CompareExchange(ref _largestBatch, items.Count, largest) != largest)
        {
        }
        if (failure is null)
        {
            for (var k = 0; k < items.Count; k++) items[k].Completion.TrySetResult(results[k]);
            foreach (var item in items) _model.Release();
        }
        else
        {
            Finish(items, failure);
        }
    }

    /// <summary>Fails every caller of a batch (each gets its own exception object, as several threads will throw it) and releases their references.</summary>
    private void Finish(List<Pending> items, Exception failure)
    {
        foreach (var item in items)
        {
            var message = failure is InferenceRuntimeException ? failure.Message : $"Model {_model.Key} failed to run a batch of {items.Count} requests: {failure.Message}";
            item.Completion.TrySetException(new InferenceRuntimeException(message, failure));
            _model.Release();
        }
    }

    private sealed class Pending(BoundRequest request, long rows)
    {
        private const int Waiting = 0, Taken = 1, Abandoned = 2;
        private int _state;

        public BoundRequest Request { get; } = request;
        public long Rows { get; } = rows;
        public long Enqueued { get; } = Stopwatch.GetTimestamp();
        public TaskCompletionSource<InferenceResult> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The batcher claims the item; fails if its caller already left.</summary>
        public bool TryTake() => Interlocked.CompareExchange(ref _state, Taken, Waiting) == Waiting;

        /// <summary>The caller leaves; fails if a batch already claimed the item.</summary>
        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, Abandoned, Waiting) == Waiting;
    }
}

/// <summary>Joining tensors along the first dimension, and taking rows back out.</summary>
internal static class TensorRows
{
    /// <summary>The tensors one after another along dimension 0; all must share element type and trailing dimensions.</summary>
    public static InferenceTensor Concat(IReadOnlyList<InferenceTensor> parts)
    {
        var first = parts[0];
        long rows = 0;
        foreach (var part in parts)
        {
            if (part.ElementType != first.ElementType || !part.Shape.AsSpan(1).SequenceEqual(first.Shape.AsSpan(1)))
                throw new ArgumentException($"Tensor '{first.Name}': {part} does not stack onto {first}.", nameof(parts));
            rows += part.Shape[0];
        }
        long[] shape = [rows, .. first.Shape.AsSpan(1)];
        if (first.Strings is not null) return InferenceTensor.FromStrings(first.Name, shape, parts.SelectMany(p => p.Strings!).ToArray());
        var data = new byte[parts.Sum(p => (long)p.Data.Length)];
        var offset = 0;
        foreach (var part in parts)
        {
            part.Data.Span.CopyTo(data.AsSpan(offset));
            offset += part.Data.Length;
        }
        return InferenceTensor.FromBytes(first.Name, first.ElementType, shape, data);
    }

    /// <summary>Rows [<paramref name="offset"/>, offset + <paramref name="rows"/>) of a batch output with <paramref name="batchRows"/> rows.</summary>
    public static InferenceTensor Slice(InferenceTensor tensor, long offset, long rows, long batchRows)
    {
        if (tensor.Shape.Length == 0 || tensor.Shape[0] != batchRows)
        {
            throw new InferenceRuntimeException(
                $"Output '{tensor.Name}' has shape {InferenceTensor.FormatShape(tensor.Shape)} for a batch of {batchRows} rows: the model does not keep the batch dimension, so its requests cannot be batched. Deploy it with max batch size 1.");
        }
        long[] shape = [rows, .. tensor.Shape.AsSpan(1)];
        var perRow = batchRows == 0 ? 0 : tensor.ElementCount / batchRows;
        if (tensor.Strings is not null)
            return InferenceTensor.FromStrings(tensor.Name, shape, tensor.Strings.AsSpan((int)(offset * perRow), (int)(rows * perRow)).ToArray());
        var rowBytes = perRow * V2Datatypes.ElementSize(tensor.ElementType);
        return InferenceTensor.FromBytes(tensor.Name, tensor.ElementType, shape, tensor.Data.Slice((int)(offset * rowBytes), (int)(rows * rowBytes)));
    }
}
