using System.IO.Compression;
using Google.Protobuf;
using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>Per layer: each weight loses the same fraction. Global: one magnitude threshold over all prunable weights.</summary>
public enum PruningScope { PerLayer, Global }

/// <summary>
/// Options of <see cref="MagnitudePruningPass"/>: the fraction of weights to zero, the scope, whether the first and last
/// prunable layers (the stem and the classifier, most sensitive) are left alone, and the smallest tensor worth pruning.
/// </summary>
public sealed record PruningOptions(double Sparsity = 0.5, PruningScope Scope = PruningScope.PerLayer, bool SkipFirstAndLast = true, int MinElements = 1024);

/// <summary>
/// Unstructured magnitude pruning (compression-algorithms.md §3.1): the weights of Conv (input 1) and of MatMul/Gemm
/// with a constant B lose their k = floor(s · n) smallest magnitudes, ties broken by position so exactly k are zeroed.
/// Biases, normalisation parameters and embedding tables are never pruned. A pruned initializer moves to
/// graph.sparse_initializer (values + flat INT64 indices) when that is smaller than dense, which for float32 takes
/// about 67% sparsity; otherwise it stays dense and the report gives the size the model takes compressed.
/// </summary>
public sealed class MagnitudePruningPass(PruningOptions? options = null) : ICompressionPass
{
    public const string SpeedNote = "ONNX Runtime on CPU gets no speed from unstructured sparsity (it densifies sparse initializers at load); the gain is storage size, and only with sparse storage or compression.";

    /// <summary>sparse_initializer exists from IR version 6 (ONNX 1.6) on.</summary>
    public const long SparseInitializerMinIrVersion = 6;

    private static readonly HashSet<string> NormalizationOps = new(StringComparer.Ordinal)
    {
        "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization",
    };

    private readonly PruningOptions _options = options ?? new PruningOptions();

    public string Name => "prune";

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        if (!(_options.Sparsity >= 0 && _options.Sparsity < 1)) throw new ArgumentOutOfRangeException(nameof(options), _options.Sparsity, "Sparsity must be in [0, 1).");
        report.Options["sparsity"] = _options.Sparsity.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);
        report.Options["scope"] = _options.Scope.ToString();
        report.Options["skipFirstAndLast"] = _options.SkipFirstAndLast.ToString();
        report.Options["minElements"] = _options.MinElements.ToString(System.Globalization.CultureInfo.InvariantCulture);
        report.Notes.Add(SpeedNote);

        var graph = model.Graph;
        var index = new GraphIndex(graph);
        var weights = SelectWeights(graph, index, report);
        context.Report(0.1, "pruning");
        context.CancellationToken.ThrowIfCancellationRequested();

        var values = weights.Select(w => TensorData.ReadFloats(w.Tensor)).ToList();
        if (_options.Scope == PruningScope.Global) PruneGlobally(values, _options.Sparsity);
        else foreach (var v in values) PruneLayer(v, _options.Sparsity);

        long zeros = 0, total = 0;
        for (var i = 0; i < weights.Count; i++)
        {
            TensorData.WriteFloats(weights[i].Tensor, values[i]);
            var layerZeros = values[i].LongCount(v => v == 0);
            zeros += layerZeros;
            total += values[i].Length;
            report.Figures[$"sparsity.{weights[i].Name}"] = (double)layerZeros / values[i].Length;
            foreach (var node in weights[i].Nodes) report.Rewrote(node);
        }
        report.Figures["prunedTensors"] = weights.Count;
        report.Figures["prunedWeights"] = total;
        report.Figures["sparsity"] = total == 0 ? 0 : (double)zeros / total;
        context.Report(0.6, "choosing storage");

        var sparseCount = 0;
        if (model.IrVersion >= SparseInitializerMinIrVersion)
        {
            for (var i = 0; i < weights.Count; i++)
            {
                if (weights[i].IsInitializer && MoveToSparse(graph, weights[i].Tensor, values[i])) sparseCount++;
            }
        }
        else if (weights.Count > 0)
        {
            report.Notes.Add($"Weights stay dense: sparse initializers need IR version {SparseInitializerMinIrVersion}, the model has {model.IrVersion}.");
        }
        report.Figures["sparseInitializers"] = sparseCount;
        report.Figures["storedBytes"] = OnnxModelFile.SerializedSize(model);
        context.CancellationToken.ThrowIfCancellationRequested();
        context.Report(0.7, "measuring compressed size");
        report.Figures["compressedBytes"] = CompressedSize(model);
        context.Report(1, "pruned");
        return model;
    }

    private sealed record PrunableWeight(string Name, TensorProto Tensor, bool IsInitializer, List<NodeProto> Nodes);

    /// <summary>The constant weights to prune, in graph order; every node considered and left alone says why.</summary>
    private List<PrunableWeight> SelectWeights(GraphProto graph, GraphIndex index, PassReport report)
    {
        var layers = new List<NodeProto>();
        foreach (var node in graph.Node)
        {
            if (OnnxGraphs.Subgraphs(node).Any())
            {
                report.Skip(node, "owns a subgraph; subgraphs are not pruned");
            }
            else if (node.OpType == "Gather" && node.Input.Count > 0 && index.ConstantTensor(node.Input[0]) is { } table && TensorData.IsFloatingPoint(table))
            {
                report.Skip(node, "embedding table (Gather): embeddings are not pruned");
            }
            else if (NormalizationOps.Contains(node.OpType))
            {
                report.Skip(node, "normalisation parameters are not pruned");
            }
            else if (node.OpType is "Conv" or "MatMul" or "Gemm" && node.Input.Count > 1)
            {
                var tensor = index.ConstantTensor(node.Input[1]);
                if (tensor is null) report.Skip(node, "weight is computed, not constant");
                else if (!TensorData.IsFloatingPoint(tensor)) report.Skip(node, $"weight is {OnnxElementTypes.Name(tensor.DataType)}, not floating point");
                else layers.Add(node);
            }
        }
        if (_options.SkipFirstAndLast && layers.Count > 0)
        {
            report.Skip(layers[0], "first prunable layer: left dense by default (SkipFirstAndLast)");
            if (layers.Count > 1) report.Skip(layers[^1], "last prunable layer: left dense by default (SkipFirstAndLast)");
            var skipped = new[] { layers[0], layers[^1] };
            // A weight shared with a skipped layer stays dense for it too.
            var skippedWeights = skipped.Select(n => n.Input[1]).ToHashSet(StringComparer.Ordinal);
            foreach (var node in layers.Where(n => !skipped.Contains(n) && skippedWeights.Contains(n.Input[1])))
                report.Skip(node, "shares its weight with the first or last layer, which is left dense");
            layers = layers.Where(n => !skippedWeights.Contains(n.Input[1])).ToList();
        }

        var result = new List<PrunableWeight>();
        foreach (var group in layers.GroupBy(n => n.Input[1], StringComparer.Ordinal))
        {
            var name = group.Key;
            var nodes = group.ToList();
            var tensor = index.ConstantTensor(name)!;
            var otherReader = index.Consumers(name).FirstOrDefault(c => !nodes.Contains(c) || c.Input.Select((input, i) => (input, i)).Any(p => p.input == name && p.i != 1));
            string? reason = null;
            if (otherReader is not null) reason = $"weight '{name}' is also read by {Nodes.Label(otherReader)}, which is not pruned";
            else if (index.GraphOutputs.Contains(name)) reason = $"weight '{name}' is a graph output";
            else if (TensorData.ElementCount(tensor) < _options.MinElements) reason = $"weight has {TensorData.ElementCount(tensor)} elements, fewer than {_options.MinElements} (MinElements)";
            if (reason is not null)
            {
                foreach (var node in nodes) report.Skip(node, reason);
                continue;
            }
            result.Add(new PrunableWeight(name, tensor, index.Initializers.ContainsKey(name), nodes));
        }
        return result;
    }

    /// <summary>Zeros the k = floor(s · n) smallest |w|; among equal magnitudes at the threshold, the first positions go.</summary>
    public static void PruneLayer(float[] values, double sparsity) => PruneGlobally([values], sparsity);

    /// <summary>One threshold over all tensors: k = floor(s · total) smallest |w| zeroed, ties by (tensor, position).</summary>
    public static void PruneGlobally(IReadOnlyList<float[]> tensors, double sparsity)
    {
        var total = tensors.Sum(t => (long)t.Length);
        var k = (long)Math.Floor(sparsity * total);
        if (k == 0) return;
        var magnitudes = new float[total];
        long offset = 0;
        foreach (var tensor in tensors)
        {
            for (var i = 0; i < tensor.Length; i++) magnitudes[offset + i] = Math.Abs(tensor[i]);
            offset += tensor.Length;
        }
        Array.Sort(magnitudes);
        var threshold = magnitudes[k - 1];
        var belowThreshold = 0L;
        for (long i = 0; i < k; i++) if (magnitudes[i] < threshold) belowThreshold++;
        // Everything below the threshold goes; of the values equal to it, only as many as still make up k.
        var tiesToZero = k - belowThreshold;
        foreach (var tensor in tensors)
        {
            for (var i = 0; i < tensor.Length; i++)
            {
                var magnitude = Math.Abs(tensor[i]);
                if (magnitude < threshold) tensor[i] = 0;
                else if (magnitude == threshold && tiesToZero > 0)
                {
                    tensor[i] = 0;
                    tiesToZero--;
                }
            }
        }
    }

    /// <summary>Moves a pruned initializer to graph.sparse_initializer when values + INT64 indices take fewer bytes than dense.</summary>
    private static bool MoveToSparse(GraphProto graph, TensorProto dense, float[] values)
    {
        var elementBytes = OnnxElementTypes.StorageBytes(dense.DataType, 1) ?? 4;
        var nonZero = values.Count(v => v != 0);
        if (nonZero * (elementBytes + sizeof(long)) >= values.LongLength * elementBytes) return false;

        var positions = new long[nonZero];
        var kept = new float[nonZero];
        for (int i = 0, j = 0; i < values.Length; i++)
        {
            if (values[i] == 0) continue;
            positions[j] = i;
            kept[j++] = values[i];
        }
        var sparseValues = new TensorProto { Name = dense.Name, DataType = dense.DataType };
        sparseValues.Dims.Add(nonZero);
        TensorData.WriteFloats(sparseValues, kept);
        var sparse = new SparseTensorProto
        {
            Values = sparseValues,
            Indices = TensorData.Int64("", [nonZero], positions),
        };
        sparse.Dims.AddRange(dense.Dims);
        graph.Initializer.Remove(dense);
        graph.SparseInitializer.Add(sparse);
        return true;
    }

    /// <summary>Bytes of the serialized model after gzip (deflate), streamed: a model over 2 GB never sits in one buffer.</summary>
    public static long CompressedSize(ModelProto model)
    {
        var counter = new ByteCountingStream();
        using (var gzip = new GZipStream(counter, CompressionLevel.Optimal, leaveOpen: true))
        {
            model.WriteTo(gzip);
        }
        return counter.Length;
    }
}
