using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Options of <see cref="WeightOnlyQuantizationPass"/> (ORT's DefaultWeightOnlyQuantConfig: 4 bits, block 128,
/// asymmetric, accuracy level 4 = activations quantized to int8 inside the kernel). <see cref="QuantizeGather"/> also
/// stores embedding tables read by Gather in 4 bits (com.microsoft.GatherBlockQuantized), where half of a BERT-style
/// model's weights sit.
/// </summary>
public sealed record WeightOnlyOptions(int BlockSize = 128, bool Symmetric = false, int AccuracyLevel = 4, bool QuantizeGather = true);

/// <summary>
/// 4-bit weight-only quantization (compression-algorithms.md §2.4): MatMul with a constant 2-D float32 weight B [K, N]
/// becomes com.microsoft.MatMulNBits with blocks of <see cref="WeightOnlyOptions.BlockSize"/> along K for each output
/// column, computed as MLAS does (range2scalezp / range2scale, roundf). Activations stay float. Embedding tables read by
/// Gather become GatherBlockQuantized with the same blocks along each row. Nodes inside If/Loop/Scan subgraphs are left alone.
/// </summary>
public sealed class WeightOnlyQuantizationPass(WeightOnlyOptions? options = null) : ICompressionPass
{
    public const string MicrosoftDomain = "com.microsoft";

    private readonly WeightOnlyOptions _options = options ?? new WeightOnlyOptions();

    public string Name => "int4-weight-only";

    /// <summary>One weight matrix in MatMulNBits layout: packed 4-bit values, scales and (asymmetric) packed zero points.</summary>
    public sealed record BlockQuantized(byte[] Data, float[] Scales, byte[]? ZeroPoints, int BlockCount);

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        var blockSize = _options.BlockSize;
        if (blockSize < 16 || (blockSize & (blockSize - 1)) != 0) throw new ArgumentException($"Block size {blockSize} must be a power of two of at least 16 (32, 64 and 128 are usual).");
        if (_options.AccuracyLevel is < 0 or > 4) throw new ArgumentException($"Accuracy level {_options.AccuracyLevel} must be 0..4.");
        report.Options["bits"] = "4";
        report.Options["blockSize"] = blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture);
        report.Options["symmetric"] = _options.Symmetric.ToString();
        report.Options["accuracyLevel"] = _options.AccuracyLevel.ToString(System.Globalization.CultureInfo.InvariantCulture);
        report.Options["quantizeGather"] = _options.QuantizeGather.ToString();

        model = model.Clone();
        var graph = model.Graph;
        foreach (var node in graph.Node)
        {
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var inner in OnnxGraphs.GraphNodes(subgraph).Where(s => s.Node.OpType is "MatMul" or "Gather"))
                {
                    report.Skip(inner.Node, "inside an If/Loop/Scan subgraph, which this pass leaves untouched");
                }
            }
        }

        var index = new GraphIndex(graph);
        var matMuls = new Dictionary<string, (string Data, string Scales, string? ZeroPoints, long K, long N)>(StringComparer.Ordinal);
        var tables = new Dictionary<string, (string Data, string Scales, string? ZeroPoints)>(StringComparer.Ordinal);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        var candidates = graph.Node.Where(n => n.OpType is "MatMul" or "Gather" && ModelInspector.IsDefaultDomain(n.Domain)).ToList();
        for (var i = 0; i < candidates.Count; i++)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var node = candidates[i];
            if (node.OpType == "Gather")
            {
                if (!_options.QuantizeGather) report.Skip(node, "Gather quantization is turned off (QuantizeGather=false)");
                else QuantizeGather(graph, index, node, tables, replaced, report);
                continue;
            }
            var problem = WeightProblem(index, node, out var weight);
            if (problem is not null)
            {
                report.Skip(node, problem);
                continue;
            }
            var name = node.Input[1];
            if (!matMuls.TryGetValue(name, out var names))
            {
                long k = weight!.Dims[0], n = weight.Dims[1];
                var q = QuantizeColumns(TensorData.ReadFloats(weight), (int)k, (int)n, blockSize, _options.Symmetric);
                names = (index.UniqueName(name + "_Q4"), index.UniqueName(name + "_scales"), q.ZeroPoints is null ? null : index.UniqueName(name + "_zero_points"), k, n);
                graph.Initializer.Add(TensorData.UInt8(names.Data, [n, q.BlockCount, blockSize / 2], q.Data));
                graph.Initializer.Add(TensorData.Float(names.Scales, [n * q.BlockCount], q.Scales));
                if (q.ZeroPoints is not null) graph.Initializer.Add(TensorData.UInt8(names.ZeroPoints!, [q.ZeroPoints.Length], q.ZeroPoints));
                matMuls[name] = names;
                replaced.Add(name);
            }
            List<string> inputs = [node.Input[0], names.Data, names.Scales];
            if (names.ZeroPoints is not null) inputs.Add(names.ZeroPoints);
            var nbits = Nodes.Create("MatMulNBits", node.Name.Length > 0 ? index.UniqueName(node.Name + "_Q4") : "", inputs, [node.Output[0]], MicrosoftDomain)
                .WithInt("K", names.K).WithInt("N", names.N).WithInt("bits", 4).WithInt("block_size", blockSize).WithInt("accuracy_level", _options.AccuracyLevel);
            var position = graph.Node.IndexOf(node);
            graph.Node[position] = nbits;
            report.Rewrote(node);
            context.Report((i + 1.0) / candidates.Count, "quantizing weights");
        }

        if (matMuls.Count + tables.Count > 0) Opsets.Require(model, MicrosoftDomain, 1);
        index = new GraphIndex(graph);
        foreach (var name in replaced) index.RemoveIfUnused(name);
        report.Figures["quantizedWeights"] = matMuls.Count + tables.Count;
        report.Figures["quantizedTables"] = tables.Count;
        context.Report(1, "done");
        return model;
    }

    private static string? WeightProblem(GraphIndex index, NodeProto node, out TensorProto? weight)
    {
        weight = null;
        if (node.Input.Count < 2) return "has no weight input";
        if (index.ConstantTensor(node.Input[0]) is not null) return "the first input is constant too (constant folding removes this node)";
        weight = index.ConstantTensor(node.Input[1]);
        if (weight is null) return "the weight (input B) is computed, not constant (e.g. attention QK^T); only constant weights are quantized";
        if (weight.DataType == OnnxElementTypes.Float16) return "the weight is float16; this pass writes float32 scales and needs a float32 model";
        if (weight.DataType != OnnxElementTypes.Float) return $"the weight is {OnnxElementTypes.Name(weight.DataType)}, not float32";
        if (weight.Dims.Count != 2) return $"the weight has rank {weight.Dims.Count}; MatMulNBits takes a 2-D weight";
        return null;
    }

    /// <summary>
    /// An embedding table [rows, columns] read by Gather (axis 0) becomes GatherBlockQuantized: blocks along each row,
    /// packed two per byte, the layout and default zero point (8) of MatMulNBits.
    /// </summary>
    private void QuantizeGather(GraphProto graph, GraphIndex index, NodeProto node, Dictionary<string, (string Data, string Scales, string? ZeroPoints)> tables, HashSet<string> replaced, PassReport report)
    {
        var table = node.Input.Count > 0 ? index.ConstantTensor(node.Input[0]) : null;
        if (table is null || !TensorData.IsFloatingPoint(table))
        {
            report.Skip(node, "its data is not a constant float table (only embedding tables are quantized)");
            return;
        }
        if (table.DataType != OnnxElementTypes.Float || table.Dims.Count != 2)
        {
            report.Skip(node, $"the table is {OnnxElementTypes.Name(table.DataType)} of rank {table.Dims.Count}; only 2-D float32 tables are quantized");
            return;
        }
        if ((Nodes.IntAttribute(node, "axis") ?? 0) != 0)
        {
            report.Skip(node, "gathers along axis 1; only row lookups (axis 0) are quantized");
            return;
        }
        var blockSize = _options.BlockSize;
        long rows = table.Dims[0], columns = table.Dims[1];
        if (columns % blockSize != 0)
        {
            report.Skip(node, $"row length {columns} is not a multiple of the block size {blockSize}");
            return;
        }
        var name = node.Input[0];
        if (!tables.TryGetValue(name, out var names))
        {
            // A row of the table is one "column" of MatMulNBits' [K, N] weight: quantize the transpose's columns.
            var q = QuantizeColumns(Transpose(TensorData.ReadFloats(table), (int)rows, (int)columns), (int)columns, (int)rows, blockSize, _options.Symmetric);
            names = (index.UniqueName(name + "_Q4"), index.UniqueName(name + "_scales"), q.ZeroPoints is null ? null : index.UniqueName(name + "_zero_points"));
            graph.Initializer.Add(TensorData.UInt8(names.Data, [rows, columns / 2], q.Data));
            graph.Initializer.Add(TensorData.Float(names.Scales, [rows, q.BlockCount], q.Scales));
            if (q.ZeroPoints is not null) graph.Initializer.Add(TensorData.UInt8(names.ZeroPoints!, [rows, (q.BlockCount + 1) / 2], q.ZeroPoints));
            tables[name] = names;
            replaced.Add(name);
        }
        List<string> inputs = [names.Data, node.Input[1], names.Scales];
        if (names.ZeroPoints is not null) inputs.Add(names.ZeroPoints);
        var gather = Nodes.Create("GatherBlockQuantized", node.Name.Length > 0 ? index.UniqueName(node.Name + "_Q4") : "", inputs, [node.Output[0]], MicrosoftDomain)
            .WithInt("gather_axis", 0).WithInt("quantize_axis", 1).WithInt("block_size", blockSize).WithInt("bits", 4);
        graph.Node[graph.Node.IndexOf(node)] = gather;
        report.Rewrote(node);
    }

    private static float[] Transpose(float[] values, int rows, int columns)
    {
        var result = new float[values.Length];
        for (var r = 0; r < rows; r++) for (var c = 0; c < columns; c++) result[c * rows + r] = values[r * columns + c];
        return result;
    }

    /// <summary>
    /// Quantizes a row-major [K, N] matrix column by column in blocks of <paramref name="blockSize"/> along K (K padded
    /// with zeros), as MLAS's BlockwiseQuantizer does for MatMulNBits: data [N, blocks, blockSize/2] with the first value
    /// of each pair in the low nibble, scales [N × blocks], zero points packed two per byte per column (null if symmetric).
    /// </summary>
    public static BlockQuantized QuantizeColumns(ReadOnlySpan<float> values, int k, int n, int blockSize, bool symmetric)
    {
        var blocks = (k + blockSize - 1) / blockSize;
        var blobSize = blockSize / 2;
        var zeroPointBytes = (blocks + 1) / 2;
        var data = new byte[n * blocks * blobSize];
        var scales = new float[n * blocks];
        byte[]? zeroPoints = symmetric ? null : new byte[n * zeroPointBytes];
        if (zeroPoints is not null) Array.Fill(zeroPoints, (byte)0x88); // MLAS fills unused nibbles with the mid value 8
        var block = new float[blockSize];
        for (var column = 0; column < n; column++)
        {
            for (var b = 0; b < blocks; b++)
            {
                Array.Clear(block);
                var start = b * blockSize;
                for (var j = 0; j < blockSize && start + j < k; j++) block[j] = values[(start + j) * n + column];
                var (scale, zeroPoint) = symmetric ? (SymmetricScale(block), 8) : AsymmetricScaleZeroPoint(block);
                scales[column * blocks + b] = scale;
                if (zeroPoints is not null)
                {
                    var at = column * zeroPointBytes + b / 2;
                    zeroPoints[at] = (byte)(b % 2 == 0 ? (zeroPoints[at] & 0xF0) | zeroPoint : (zeroPoints[at] & 0x0F) | (zeroPoint << 4));
                }
                var reciprocal = scale != 0f ? 1f / scale : 0f;
                var offset = (column * blocks + b) * blobSize;
                for (var j = 0; j < blockSize; j++)
                {
                    // MLAS rounds with roundf (half away from zero), unlike QuantizeLinear's half-to-even.
                    var q = (byte)Math.Clamp(MathF.Round(block[j] * reciprocal + zeroPoint, MidpointRounding.AwayFromZero), 0f, 15f);
                    data[offset + j / 2] |= (byte)(j % 2 == 0 ? q : q << 4);
                }
            }
        }
        return new BlockQuantized(data, scales, zeroPoints, blocks);
    }

    /// <summary>MLAS range2scalezp for 4 bits: the range always holds 0; zp = clamp(roundf(-min/scale), 0, 15).</summary>
    public static (float Scale, int ZeroPoint) AsymmetricScaleZeroPoint(ReadOnlySpan<float> block)
    {
        var (min, max) = QuantizationMath.MinMax(block);
        min = Math.Min(min, 0f);
        max = Math.Max(max, 0f);
        var scale = (max - min) / 15f;
        var zeroPointFp = scale != 0f ? 0f - min / scale : min;
        var zeroPoint = zeroPointFp < 0f ? 0 : zeroPointFp > 15f ? 15 : (int)MathF.Round(zeroPointFp, MidpointRounding.AwayFromZero);
        return (scale, zeroPoint);
    }

    /// <summary>MLAS range2scale for 4 bits: the value of largest magnitude, sign kept, over -8 (the scale may be negative).</summary>
    public static float SymmetricScale(ReadOnlySpan<float> block)
    {
        var (min, max) = QuantizationMath.MinMax(block);
        var extreme = Math.Abs(max) > Math.Abs(min) ? max : min;
        return extreme / -8f;
    }
}
