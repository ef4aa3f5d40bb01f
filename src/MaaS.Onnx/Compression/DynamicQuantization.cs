using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Options of <see cref="DynamicQuantizationPass"/>. Defaults follow ORT quantize_dynamic's except per-channel weights,
/// which we turn on: all-MiniLM-L6-v2's embedding cosine is about 0.99 per channel but 0.97 per tensor, for the same
/// size and speed. No reduce range, embedding tables quantized, convolutions left float.
/// </summary>
public sealed record DynamicQuantizationOptions(bool PerChannel = true, bool ReduceRange = false, bool QuantizeGather = true, bool QuantizeConv = false);

/// <summary>
/// INT8 dynamic quantization (compression-algorithms.md §2.1), the IntegerOps pattern of ORT's quantize_dynamic:
/// MatMul with a constant 2-D float32 weight becomes DynamicQuantizeLinear(A) → MatMulInteger → Cast → Mul(A_scale ×
/// W_scale), named as ORT names it, which ORT fuses into DynamicQuantizeMatMul at load. Gemm (transA=0) is first
/// rewritten to MatMul (+ Add for C), as ORT's replace_gemm_with_matmul does. Embedding tables read by Gather become
/// uint8 with a DequantizeLinear after the Gather. Conv becomes ConvInteger only when asked (slow on CPU).
/// Nodes inside If/Loop/Scan subgraphs are left alone; models below opset 11 (no DynamicQuantizeLinear) are left alone.
/// </summary>
public sealed class DynamicQuantizationPass(DynamicQuantizationOptions? options = null) : ICompressionPass
{
    private static readonly HashSet<string> CandidateOps = new(StringComparer.Ordinal) { "MatMul", "Gemm", "Gather", "Conv" };

    private readonly DynamicQuantizationOptions _options = options ?? new DynamicQuantizationOptions();

    public string Name => "int8-dynamic";

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        report.Options["perChannel"] = _options.PerChannel.ToString();
        report.Options["reduceRange"] = _options.ReduceRange.ToString();
        report.Options["quantizeGather"] = _options.QuantizeGather.ToString();
        report.Options["quantizeConv"] = _options.QuantizeConv.ToString();
        report.Options["weightType"] = "int8 symmetric";
        report.Options["activationType"] = "uint8 asymmetric (per call)";

        model = model.Clone();
        var graph = model.Graph;
        foreach (var node in graph.Node)
        {
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var inner in OnnxGraphs.GraphNodes(subgraph).Where(s => CandidateOps.Contains(s.Node.OpType)))
                {
                    report.Skip(inner.Node, "inside an If/Loop/Scan subgraph, which this pass leaves untouched");
                }
            }
        }

        var candidates = graph.Node.Where(n => CandidateOps.Contains(n.OpType) && ModelInspector.IsDefaultDomain(n.Domain)).ToList();
        var opset = Opsets.Version(model);
        if (opset < 11)
        {
            foreach (var node in candidates) report.Skip(node, $"the model is opset {opset}; DynamicQuantizeLinear needs opset 11 or later (upgrade the opset first)");
            report.Figures["quantizedWeights"] = 0;
            return model;
        }

        var rewriter = new Rewriter(graph, _options, report);
        context.Report(0.05, "rewriting Gemm as MatMul + Add");
        foreach (var gemm in candidates.Where(n => n.OpType == "Gemm")) rewriter.ReplaceGemm(gemm);

        context.Report(0.2, "quantizing weights");
        var nodes = graph.Node.Where(n => CandidateOps.Contains(n.OpType) && ModelInspector.IsDefaultDomain(n.Domain)).ToList();
        for (var i = 0; i < nodes.Count; i++)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var node = nodes[i];
            switch (node.OpType)
            {
                case "MatMul":
                    rewriter.QuantizeMatMul(node);
                    break;
                case "Gather" when _options.QuantizeGather:
                    rewriter.QuantizeGather(node);
                    break;
                case "Gather":
                    report.Skip(node, "Gather quantization is turned off (QuantizeGather=false)");
                    break;
                case "Conv" when _options.QuantizeConv:
                    rewriter.QuantizeConv(node);
                    break;
                case "Conv":
                    report.Skip(node, "dynamic ConvInteger is slow on CPU; use static INT8 for convolutions");
                    break;
            }
            context.Report(0.2 + 0.7 * (i + 1) / nodes.Count, "quantizing weights");
        }

        var index = new GraphIndex(graph);
        foreach (var name in rewriter.ReplacedWeights) index.RemoveIfUnused(name);
        Nodes.TopologicalSort(graph);
        if (!_options.PerChannel && report.Rewritten > 0) report.Notes.Add("Weights were quantized per tensor; per-channel weights (the default) keep transformer encoders closer to float (all-MiniLM-L6-v2: embedding cosine about 0.99 instead of 0.97).");
        if (rewriter.ActivationCount > 0) report.Notes.Add("DynamicQuantizeLinear computes one scale over the whole input tensor, so results depend slightly on batch mates and padding.");
        report.Figures["quantizedWeights"] = rewriter.QuantizedWeightCount;
        report.Figures["quantizedNodes"] = report.Rewritten;
        report.Figures["dynamicQuantizeLinearNodes"] = rewriter.ActivationCount;
        context.Report(1, "done");
        return model;
    }

    /// <summary>The rewriting state of one graph: quantized weights and activations are shared by all their readers.</summary>
    private sealed class Rewriter(GraphProto graph, DynamicQuantizationOptions options, PassReport report)
    {
        private const long CastToFloat = 1;
        private readonly GraphIndex _index = new(graph);
        private readonly Dictionary<string, (string Quantized, string Scale, string ZeroPoint)> _activations = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (string Quantized, string Scale, string ZeroPoint)> _weights = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (string Quantized, string Scale, string ZeroPoint)> _tables = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _scaleProducts = new(StringComparer.Ordinal);
        private readonly Dictionary<NodeProto, NodeProto> _gemmOrigins = [];

        public HashSet<string> ReplacedWeights { get; } = new(StringComparer.Ordinal);
        public int QuantizedWeightCount => _weights.Count + _tables.Count;
        public int ActivationCount => _activations.Count;

        /// <summary>
        /// Gemm(A, B, C; alpha, beta, transB) → MatMul(A, alpha·B or its transpose) + Add(beta·C), so the MatMul can be
        /// quantized. Only the constant weight changes; a weight also read elsewhere is copied, not changed in place.
        /// </summary>
        public void ReplaceGemm(NodeProto gemm)
        {
            if (Nodes.IntAttribute(gemm, "transA") is 1)
            {
                report.Skip(gemm, "transA=1 is not rewritten to MatMul (as in ORT's replace_gemm_with_matmul)");
                return;
            }
            var weight = WeightProblem(gemm, out var b);
            if (weight is not null)
            {
                report.Skip(gemm, weight);
                return;
            }
            var alpha = Nodes.FloatAttribute(gemm, "alpha") ?? 1f;
            var beta = Nodes.FloatAttribute(gemm, "beta") ?? 1f;
            var transB = Nodes.IntAttribute(gemm, "transB") is 1;
            var biasName = gemm.Input.Count > 2 && gemm.Input[2].Length > 0 ? gemm.Input[2] : null;
            TensorProto? bias = null;
            if (biasName is not null && beta != 1f)
            {
                bias = _index.ConstantTensor(biasName);
                if (bias is not { DataType: OnnxElementTypes.Float })
                {
                    report.Skip(gemm, $"beta={beta} with a bias C that is not a constant float32 tensor");
                    return;
                }
            }

            var weightName = gemm.Input[1];
            if (transB || alpha != 1f) weightName = ReplaceConstant(gemm, weightName, b!, Transform(b!, transB, alpha), transB ? [b!.Dims[1], b.Dims[0]] : b!.Dims.ToArray(), transB ? "_transposed" : "_scaled");
            if (bias is not null)
            {
                var scaled = TensorData.ReadFloats(bias).Select(v => v * beta).ToArray();
                biasName = ReplaceConstant(gemm, biasName!, bias, scaled, bias.Dims.ToArray(), "_scaled");
            }

            var output = gemm.Output[0];
            var matMulOutput = biasName is null ? output : _index.UniqueName(output + "_MatMul");
            var matMul = Nodes.Create("MatMul", gemm.Name.Length > 0 ? _index.UniqueName(gemm.Name + "_MatMul") : "", [gemm.Input[0], weightName], [matMulOutput]);
            var replacement = new List<NodeProto> { matMul };
            if (biasName is not null) replacement.Add(Nodes.Create("Add", gemm.Name.Length > 0 ? _index.UniqueName(gemm.Name + "_Add") : "", [matMulOutput, biasName], [output]));
            Replace(gemm, replacement);
            _gemmOrigins[matMul] = gemm;
        }

        private static float[] Transform(TensorProto weight, bool transpose, float alpha)
        {
            var values = TensorData.ReadFloats(weight);
            if (!transpose) return values.Select(v => v * alpha).ToArray();
            int rows = (int)weight.Dims[0], columns = (int)weight.Dims[1];
            var result = new float[values.Length];
            for (var r = 0; r < rows; r++) for (var c = 0; c < columns; c++) result[c * rows + r] = values[r * columns + c] * alpha;
            return result;
        }

        /// <summary>New values for a constant: in place when only <paramref name="reader"/> reads it, else as a new initializer.</summary>
        private string ReplaceConstant(NodeProto reader, string name, TensorProto tensor, float[] values, long[] dims, string suffix)
        {
            if (_index.Consumers(name).All(c => c == reader) && !_index.GraphOutputs.Contains(name))
            {
                TensorData.WriteFloats(tensor, values);
                tensor.Dims.Clear();
                tensor.Dims.AddRange(dims);
                return name;
            }
            var copy = TensorData.Float(_index.UniqueName(name + suffix), dims, values);
            graph.Initializer.Add(copy);
            _index.Initializers[copy.Name] = copy;
            return copy.Name;
        }

        /// <summary>Why input 1 of the node cannot be dynamically quantized, or null with the weight.</summary>
        private string? WeightProblem(NodeProto node, out TensorProto? weight)
        {
            weight = null;
            if (node.Input.Count < 2 || node.Input[1].Length == 0) return "has no weight input";
            if (node.Input[0].Length == 0 || _index.ConstantTensor(node.Input[0]) is not null) return "the first input is constant too (constant folding removes this node)";
            weight = _index.ConstantTensor(node.Input[1]);
            if (weight is null) return "the weight (input B) is computed, not constant (e.g. attention QK^T); only constant weights are quantized";
            return weight.DataType switch
            {
                OnnxElementTypes.Float when node.OpType == "Conv" || weight.Dims.Count == 2 => null,
                OnnxElementTypes.Float => $"the weight has rank {weight.Dims.Count}; only 2-D weights are quantized",
                OnnxElementTypes.Float16 => "the weight is float16; DynamicQuantizeLinear takes float32 only (quantize the float32 model instead)",
                _ => $"the weight is {OnnxElementTypes.Name(weight.DataType)}, not float32",
            };
        }

        public void QuantizeMatMul(NodeProto node)
        {
            var origin = _gemmOrigins.GetValueOrDefault(node) ?? node;
            var problem = WeightProblem(node, out var weight);
            if (problem is not null)
            {
                report.Skip(origin, problem);
                return;
            }
            var (aQuantized, aScale, aZeroPoint) = QuantizeActivation(node.Input[0]);
            var (wQuantized, wScale, wZeroPoint) = QuantizeWeight(node.Input[1], weight!, options.PerChannel ? 1 : null);
            var replacement = IntegerPattern(node, "MatMulInteger", [aQuantized, wQuantized, aZeroPoint, wZeroPoint], aScale, wScale, node.Output[0]);
            Replace(node, replacement);
            report.Rewrote(origin);
        }

        /// <summary>
        /// The shared tail of MatMulInteger/ConvInteger: integer op → Cast(float) → Mul by (A_scale × W_scale), with
        /// ORT's names (operators/matmul.py): "n_quant", "Y_output_quantized_cast", "n_quant_scales_mul".
        /// </summary>
        private List<NodeProto> IntegerPattern(NodeProto node, string opType, string[] inputs, string aScale, string wScale, string output)
        {
            var integerOutput = _index.UniqueName(node.Output[0] + "_output_quantized");
            var integerName = node.Name.Length > 0 ? _index.UniqueName(node.Name + "_quant") : "";
            var integer = Nodes.Create(opType, integerName, inputs, [integerOutput]);
            if (opType == "ConvInteger") integer.Attribute.AddRange(node.Attribute.Select(a => a.Clone()));
            var castOutput = _index.UniqueName(integerOutput + "_cast_output");
            var cast = Nodes.Create("Cast", _index.UniqueName(integerOutput + "_cast"), [integerOutput], [castOutput]).WithInt("to", CastToFloat);
            var nodes = new List<NodeProto> { integer, cast };

            var scalesMulName = integerName.Length > 0 ? integerName + "_scales_mul" : $"{aScale}_{wScale}_mul";
            if (!_scaleProducts.TryGetValue(scalesMulName, out var scalesProduct))
            {
                scalesProduct = _index.UniqueName(scalesMulName + ":0");
                nodes.Add(Nodes.Create("Mul", _index.UniqueName(scalesMulName), [aScale, wScale], [scalesProduct]));
                _scaleProducts[scalesMulName] = scalesProduct;
            }
            var outputMulName = node.Name.Length > 0 ? _index.UniqueName(integerName + "_output_scale_mul") : "";
            nodes.Add(Nodes.Create("Mul", outputMulName, [castOutput, scalesProduct], [output]));
            return nodes;
        }

        /// <summary>One DynamicQuantizeLinear per activation tensor ("A_QuantizeLinear"), shared by all its readers.</summary>
        private (string Quantized, string Scale, string ZeroPoint) QuantizeActivation(string activation)
        {
            if (_activations.TryGetValue(activation, out var existing)) return existing;
            var names = (_index.UniqueName(activation + "_quantized"), _index.UniqueName(activation + "_scale"), _index.UniqueName(activation + "_zero_point"));
            graph.Node.Add(Nodes.Create("DynamicQuantizeLinear", _index.UniqueName(activation + "_QuantizeLinear"), [activation], [names.Item1, names.Item2, names.Item3]));
            _activations[activation] = names;
            return names;
        }

        /// <summary>int8 symmetric weights (ORT's weight default), per tensor or per slice along <paramref name="axis"/>.</summary>
        private (string Quantized, string Scale, string ZeroPoint) QuantizeWeight(string name, TensorProto weight, int? axis)
        {
            if (_weights.TryGetValue(name, out var existing)) return existing;
            var range = options.ReduceRange ? QuantRange.Int8Reduced : QuantRange.Int8Symmetric;
            var values = TensorData.ReadFloats(weight);
            QuantParams[] parameters;
            int[] quantized;
            if (axis is { } a)
            {
                (parameters, quantized) = QuantizationMath.QuantizePerChannel(values, weight.Dims, a, range, symmetric: true);
            }
            else
            {
                var (p, q) = QuantizationMath.QuantizePerTensor(values, range, symmetric: true);
                (parameters, quantized) = ([p], q);
            }
            long[] paramDims = axis is null ? [] : [parameters.Length];
            var names = (Quantized: _index.UniqueName(name + "_quantized"), Scale: _index.UniqueName(name + "_scale"), ZeroPoint: _index.UniqueName(name + "_zero_point"));
            graph.Initializer.Add(TensorData.Int8(names.Quantized, weight.Dims, QuantizationMath.ToSBytes(quantized)));
            graph.Initializer.Add(TensorData.Float(names.Scale, paramDims, parameters.Select(p => p.Scale).ToArray()));
            graph.Initializer.Add(TensorData.Int8(names.ZeroPoint, paramDims, parameters.Select(p => (sbyte)p.ZeroPoint).ToArray()));
            _weights[name] = names;
            ReplacedWeights.Add(name);
            return names;
        }

        /// <summary>
        /// An embedding table read by Gather becomes uint8 asymmetric per tensor (ORT's GatherQuant); the Gather reads it
        /// and a DequantizeLinear ("&lt;out&gt;_DequantizeLinear") gives the float rows back under the original name.
        /// </summary>
        public void QuantizeGather(NodeProto node)
        {
            var table = node.Input.Count > 0 ? _index.ConstantTensor(node.Input[0]) : null;
            if (table is null || !TensorData.IsFloatingPoint(table))
            {
                report.Skip(node, "its data is not a constant float table (only embedding tables are quantized)");
                return;
            }
            if (table.DataType != OnnxElementTypes.Float)
            {
                report.Skip(node, $"the table is {OnnxElementTypes.Name(table.DataType)}; only float32 tables are quantized");
                return;
            }
            var name = node.Input[0];
            if (!_tables.TryGetValue(name, out var names))
            {
                var (p, q) = QuantizationMath.QuantizePerTensor(TensorData.ReadFloats(table), QuantRange.UInt8, symmetric: false);
                names = (_index.UniqueName(name + "_quantized"), _index.UniqueName(name + "_scale"), _index.UniqueName(name + "_zero_point"));
                graph.Initializer.Add(TensorData.UInt8(names.Quantized, table.Dims, QuantizationMath.ToBytes(q)));
                graph.Initializer.Add(TensorData.ScalarFloat(names.Scale, p.Scale));
                graph.Initializer.Add(TensorData.UInt8(names.ZeroPoint, [], [(byte)p.ZeroPoint]));
                _tables[name] = names;
                ReplacedWeights.Add(name);
            }
            var output = node.Output[0];
            var quantizedOutput = _index.UniqueName(output + "_quantized");
            node.Input[0] = names.Quantized;
            node.Output[0] = quantizedOutput;
            var dequantize = Nodes.Create("DequantizeLinear", _index.UniqueName(output + "_DequantizeLinear"), [quantizedOutput, names.Scale, names.ZeroPoint], [output]);
            graph.Node.Insert(graph.Node.IndexOf(node) + 1, dequantize);
            report.Rewrote(node);
        }

        /// <summary>ConvInteger with per-tensor int8 weights (ORT never uses per-channel here), bias added in float after.</summary>
        public void QuantizeConv(NodeProto node)
        {
            var problem = WeightProblem(node, out var weight);
            if (problem is not null)
            {
                report.Skip(node, problem);
                return;
            }
            var biasName = node.Input.Count > 2 && node.Input[2].Length > 0 ? node.Input[2] : null;
            var (xQuantized, xScale, xZeroPoint) = QuantizeActivation(node.Input[0]);
            var (wQuantized, wScale, wZeroPoint) = QuantizeWeight(node.Input[1], weight!, axis: null);
            var output = node.Output[0];
            var scaledOutput = biasName is null ? output : _index.UniqueName(output + "_output_scaled");
            var replacement = IntegerPattern(node, "ConvInteger", [xQuantized, wQuantized, xZeroPoint, wZeroPoint], xScale, wScale, scaledOutput);
            if (biasName is not null)
            {
                // The bias [M] broadcasts over [N, M, spatial...] once reshaped to [1, -1, 1, ...].
                var shape = new long[weight!.Dims.Count];
                Array.Fill(shape, 1L);
                shape[1] = -1;
                var shapeName = _index.UniqueName(output + "_bias_reshape_shape");
                graph.Initializer.Add(TensorData.Int64(shapeName, [shape.Length], shape));
                var reshaped = _index.UniqueName(output + "_bias_reshape_output");
                replacement.Add(Nodes.Create("Reshape", _index.UniqueName(output + "_bias_reshape"), [biasName, shapeName], [reshaped]));
                replacement.Add(Nodes.Create("Add", _index.UniqueName(output + "_bias_add"), [scaledOutput, reshaped], [output]));
            }
            Replace(node, replacement);
            report.Rewrote(node);
        }

        private void Replace(NodeProto node, IReadOnlyList<NodeProto> replacement)
        {
            var position = graph.Node.IndexOf(node);
            graph.Node.RemoveAt(position);
            for (var i = 0; i < replacement.Count; i++) graph.Node.Insert(position + i, replacement[i]);
        }
    }
}
