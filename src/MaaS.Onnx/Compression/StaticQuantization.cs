using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>Options of <see cref="StaticQuantizationPass"/>; <see cref="OpTypes"/> null means <see cref="StaticQuantizationOptions.DefaultOpTypes"/>.</summary>
public sealed record StaticQuantizationOptions(
    CalibrationMethod Method = CalibrationMethod.MinMax,
    bool PerChannel = true,
    bool ReduceRange = false,
    double Percentile = 99.999,
    IReadOnlyList<string>? OpTypes = null)
{
    /// <summary>The compute ops, plus what ONNX Runtime fuses around them in a CNN (residual Add, pooling, Concat, Relu/Clip).</summary>
    public static readonly IReadOnlyList<string> DefaultOpTypes =
        ["Conv", "MatMul", "Gemm", "Add", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "Clip"];
}

/// <summary>
/// INT8 static quantization in QDQ format (compression-algorithms.md §2.2): activations get calibrated int8 asymmetric
/// QuantizeLinear→DequantizeLinear pairs (one pair per tensor, shared by its consumers), weights are stored as int8
/// symmetric (per output channel by default) behind a DequantizeLinear with an explicit axis, Conv/Gemm biases as int32
/// with scale = input scale × weight scale, and a Relu/Clip right after a quantized node is folded into that node's
/// output range. ONNX Runtime fuses the result into QLinearConv, QLinearMatMul, QLinearAdd... at load. Models below
/// opset 13 are upgraded first; BatchNormalization after Conv is folded into the Conv so the pattern can fuse.
/// Graph inputs and outputs stay float32 under their names. Nodes inside If/Loop/Scan subgraphs are left alone.
/// </summary>
public sealed class StaticQuantizationPass(StaticQuantizationOptions? options = null) : ICompressionPass
{
    private readonly StaticQuantizationOptions _options = options ?? new StaticQuantizationOptions();

    public string Name => "int8-static";

    private sealed class NodePlan(NodeProto node)
    {
        public NodeProto Node { get; } = node;
        public List<string> Activations { get; } = [];
        public string? Output { get; set; }
        public bool OutputSharesInputParams { get; init; }
        public (string Name, TensorProto Tensor, int? Axis)? Weight { get; init; }
        public (string Name, TensorProto Tensor, float Beta)? Bias { get; init; }
    }

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        var ops = (_options.OpTypes ?? StaticQuantizationOptions.DefaultOpTypes).ToHashSet(StringComparer.Ordinal);
        report.Options["method"] = _options.Method.ToString();
        report.Options["perChannel"] = _options.PerChannel.ToString();
        report.Options["reduceRange"] = _options.ReduceRange.ToString();
        if (_options.Method == CalibrationMethod.Percentile) report.Options["percentile"] = _options.Percentile.ToString(System.Globalization.CultureInfo.InvariantCulture);
        report.Options["opTypes"] = string.Join(",", ops);

        model = model.Clone();
        var graph = model.Graph;
        foreach (var node in graph.Node)
        {
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var inner in OnnxGraphs.GraphNodes(subgraph).Where(s => ops.Contains(s.Node.OpType)))
                {
                    report.Skip(inner.Node, "inside an If/Loop/Scan subgraph, which this pass leaves untouched");
                }
            }
        }

        if (Opsets.Version(model) < 13) OpsetUpgrade.UpgradeTo(model, 13, report);
        context.Report(0.05, "folding BatchNormalization into Conv");
        FoldBatchNormalization(graph, report);

        var types = ElementTypes(graph);
        var index = new GraphIndex(graph);
        var plans = new List<NodePlan>();
        foreach (var node in graph.Node.Where(n => ops.Contains(n.OpType) && ModelInspector.IsDefaultDomain(n.Domain) && n.OpType is not ("Relu" or "Clip")))
        {
            var plan = Plan(node, index, types, out var reason);
            if (plan is null) report.Skip(node, reason!);
            else plans.Add(plan);
        }

        // Calibrate every activation the plans touch, and the outputs of the Relu/Clip that may fold into them.
        var tensors = plans.SelectMany(p => p.Activations.Append(p.Output!)).ToHashSet(StringComparer.Ordinal);
        // Only float32 activations get Q/DQ pairs: DequantizeLinear makes float32, which a double or float16 graph cannot take.
        var activations = graph.Node.Where(n => n.OpType is "Relu" or "Clip" && ops.Contains(n.OpType)
            && types.GetValueOrDefault(n.Input[0]) == OnnxElementTypes.Float).ToList();
        foreach (var activation in activations) tensors.Add(activation.Output[0]);
        context.Report(0.1, $"calibrating {tensors.Count} tensors ({_options.Method})");
        report.Figures["calibrationSamples"] = context.Samples.Count;
        if (context.Samples.Count == 0) report.Notes.Add("No calibration samples were given: ranges come from generated random inputs and fit real inputs poorly.");
        var ranges = Calibrator.Calibrate(model, tensors, context.Samples, _options.Method, _options.Percentile, context.CancellationToken);
        context.Report(0.8, "writing QuantizeLinear/DequantizeLinear nodes");

        FoldActivations(activations, plans, index, ranges, report);

        var parameters = new Dictionary<string, QuantParams>(StringComparer.Ordinal);
        var accepted = new List<NodePlan>();
        foreach (var plan in plans)
        {
            var missing = plan.Activations.Append(plan.Output!).FirstOrDefault(t => !ranges.ContainsKey(t));
            if (missing is not null)
            {
                report.Skip(plan.Node, $"tensor '{missing}' has no calibration range");
                continue;
            }
            accepted.Add(plan);
            foreach (var tensor in plan.Activations.Append(plan.Output!))
            {
                var range = ranges[tensor];
                parameters.TryAdd(tensor, QuantizationMath.ComputeScaleZeroPoint(range.Min, range.Max, QuantRange.Int8, symmetric: false));
            }
        }
        // MaxPool runs on int8 directly only when its output keeps its input's scale and zero point.
        foreach (var plan in accepted.Where(p => p.OutputSharesInputParams)) parameters[plan.Output!] = parameters[plan.Activations[0]];

        index = new GraphIndex(graph);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        var weightOutputs = new Dictionary<(string, int?), string>();
        foreach (var plan in accepted)
        {
            if (plan.Weight is { } weight)
            {
                if (!weightOutputs.TryGetValue((weight.Name, weight.Axis), out var dequantized))
                {
                    dequantized = QuantizeWeight(graph, index, weight.Name, weight.Tensor, weight.Axis, out _);
                    weightOutputs[(weight.Name, weight.Axis)] = dequantized;
                }
                plan.Node.Input[1] = dequantized;
                replaced.Add(weight.Name);
            }
            if (plan.Bias is { } bias && plan.Weight is { } w)
            {
                var weightScales = WeightScales(graph, weightOutputs[(w.Name, w.Axis)]);
                plan.Node.Input[2] = QuantizeBias(graph, index, bias.Name, bias.Tensor, parameters[plan.Activations[0]].Scale, weightScales, bias.Beta);
                replaced.Add(bias.Name);
            }
            report.Rewrote(plan.Node);
        }
        foreach (var (tensor, p) in parameters) InsertQdq(graph, index, tensor, p);

        index = new GraphIndex(graph);
        foreach (var name in replaced) index.RemoveIfUnused(name);
        Nodes.TopologicalSort(graph);
        if (!_options.ReduceRange && System.Runtime.Intrinsics.X86.Avx2.IsSupported && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported)
        {
            report.Notes.Add("This CPU has AVX2 but no VNNI: ONNX Runtime's int8 kernels can saturate with full-range weights; if outputs disagree, quantize again with ReduceRange.");
        }
        report.Figures["quantizedNodes"] = accepted.Count;
        report.Figures["quantizedActivations"] = parameters.Count;
        context.Report(1, "done");
        return model;
    }

    private NodePlan? Plan(NodeProto node, GraphIndex index, IReadOnlyDictionary<string, int> types, out string? reason)
    {
        reason = null;
        bool IsFloatActivation(string name) => name.Length > 0 && index.ConstantTensor(name) is null && types.GetValueOrDefault(name) == OnnxElementTypes.Float;
        string? FloatWeight(string name, out TensorProto? tensor)
        {
            tensor = index.ConstantTensor(name);
            if (tensor is null) return "weight is computed, not constant";
            return tensor.DataType == OnnxElementTypes.Float ? null : $"weight is {OnnxElementTypes.Name(tensor.DataType)}; only float32 models are quantized";
        }
        var output = node.Output.FirstOrDefault() ?? "";
        if (types.GetValueOrDefault(output) != OnnxElementTypes.Float)
        {
            reason = "output is not known to be float32 (float16/double models are not handled)";
            return null;
        }
        if (index.IsGraphInput(output))
        {
            reason = "output is also a graph input";
            return null;
        }
        switch (node.OpType)
        {
            case "Conv" or "MatMul" or "Gemm":
            {
                if (!IsFloatActivation(node.Input[0]))
                {
                    reason = "first input is not a float32 activation";
                    return null;
                }
                TensorProto? weight = null;
                reason = node.Input.Count < 2 ? "has no weight input" : FloatWeight(node.Input[1], out weight);
                if (reason is not null) return null;
                var rank = weight!.Dims.Count;
                int? axis = node.OpType switch
                {
                    "Conv" => 0,
                    "MatMul" => rank == 2 ? 1 : null,
                    _ => Nodes.IntAttribute(node, "transB") is 1 ? 0 : 1,
                };
                if (!_options.PerChannel) axis = null;
                var channels = node.OpType switch
                {
                    "Conv" => weight.Dims[0],
                    "Gemm" => Nodes.IntAttribute(node, "transB") is 1 ? weight.Dims[0] : weight.Dims[^1],
                    _ => -1,
                };
                (string, TensorProto, float)? bias = null;
                if (node.OpType is "Conv" or "Gemm" && node.Input.Count > 2 && node.Input[2].Length > 0
                    && index.ConstantTensor(node.Input[2]) is { DataType: OnnxElementTypes.Float } b && b.Dims.Count == 1 && b.Dims[0] == channels)
                {
                    bias = (node.Input[2], b, node.OpType == "Gemm" ? Nodes.FloatAttribute(node, "beta") ?? 1f : 1f);
                }
                var plan = new NodePlan(node) { Output = output, Weight = (node.Input[1], weight, axis), Bias = bias };
                plan.Activations.Add(node.Input[0]);
                return plan;
            }
            case "Add" or "Concat" or "MaxPool" or "AveragePool" or "GlobalAveragePool":
            {
                var inputs = node.Input.Where(i => i.Length > 0).ToList();
                if (inputs.Any(i => index.ConstantTensor(i) is not null))
                {
                    reason = "has a constant operand; left float";
                    return null;
                }
                if (!inputs.All(IsFloatActivation))
                {
                    reason = "an input is not known to be a float32 activation";
                    return null;
                }
                if (node.Output.Count > 1 && node.Output.Skip(1).Any(o => o.Length > 0))
                {
                    reason = "uses its second output (indices)";
                    return null;
                }
                var plan = new NodePlan(node) { Output = output, OutputSharesInputParams = node.OpType == "MaxPool" };
                plan.Activations.AddRange(inputs.Distinct());
                return plan;
            }
            default:
                reason = $"{node.OpType} is not supported by static quantization";
                return null;
        }
    }

    /// <summary>
    /// A Relu (or Clip) whose input comes only from a quantized node is removed: the node's output takes the Relu's
    /// name and calibrated range, and the int8 saturation at that range's zero does the Relu's work (ORT's
    /// QDQRemovableActivation).
    /// </summary>
    private static void FoldActivations(List<NodeProto> activations, List<NodePlan> plans, GraphIndex index, Dictionary<string, TensorRange> ranges, PassReport report)
    {
        var byOutput = plans.ToDictionary(p => p.Output!, StringComparer.Ordinal);
        foreach (var activation in activations)
        {
            var input = activation.Input[0];
            if (!byOutput.TryGetValue(input, out var plan))
            {
                report.Skip(activation, "its input is not the output of a quantized node; left float");
                continue;
            }
            if (index.Consumers(input).Count != 1 || index.GraphOutputs.Contains(input) || plan.OutputSharesInputParams)
            {
                report.Skip(activation, "its input has other readers; left float");
                continue;
            }
            if (activation.OpType == "Clip" && activation.Input.Skip(1).Any(i => i.Length > 0 && index.ConstantTensor(i) is null))
            {
                report.Skip(activation, "its bounds are computed; left float");
                continue;
            }
            var output = activation.Output[0];
            if (!ranges.ContainsKey(output)) continue;
            plan.Node.Output[0] = output;
            plan.Output = output;
            byOutput.Remove(input);
            byOutput[output] = plan;
            index.Graph.Node.Remove(activation);
            report.Rewrote(activation);
        }
    }

    /// <summary>Conv → BatchNormalization with constant parameters becomes one Conv with scaled weights and bias.</summary>
    private static void FoldBatchNormalization(GraphProto graph, PassReport report)
    {
        var index = new GraphIndex(graph);
        var folded = 0;
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var bn in graph.Node.Where(n => n.OpType == "BatchNormalization" && ModelInspector.IsDefaultDomain(n.Domain)).ToList())
        {
            var conv = index.Producer(bn.Input[0]);
            if (conv is not { OpType: "Conv" } || index.Consumers(bn.Input[0]).Count != 1 || index.GraphOutputs.Contains(bn.Input[0])) continue;
            if (bn.Output.Skip(1).Any(o => o.Length > 0) || conv.Input.Count < 2) continue;
            var parameters = bn.Input.Skip(1).Select(index.ConstantTensor).ToList();
            var weight = index.ConstantTensor(conv.Input[1]);
            var bias = conv.Input.Count > 2 && conv.Input[2].Length > 0 ? index.ConstantTensor(conv.Input[2]) : null;
            if (parameters.Count != 4 || parameters.Any(p => p is not { DataType: OnnxElementTypes.Float }) || weight is not { DataType: OnnxElementTypes.Float }) continue;
            if (conv.Input.Count > 2 && conv.Input[2].Length > 0 && bias is not { DataType: OnnxElementTypes.Float }) continue;
            var gamma = TensorData.ReadFloats(parameters[0]!);
            var beta = TensorData.ReadFloats(parameters[1]!);
            var mean = TensorData.ReadFloats(parameters[2]!);
            var variance = TensorData.ReadFloats(parameters[3]!);
            var epsilon = Nodes.FloatAttribute(bn, "epsilon") ?? 1e-5f;
            var channels = (int)weight.Dims[0];
            if (gamma.Length != channels) continue;
            var w = TensorData.ReadFloats(weight);
            var b = bias is null ? new float[channels] : TensorData.ReadFloats(bias);
            var inner = w.Length / channels;
            for (var c = 0; c < channels; c++)
            {
                var factor = gamma[c] / Math.Sqrt(variance[c] + (double)epsilon);
                for (var i = 0; i < inner; i++) w[c * inner + i] = (float)(w[c * inner + i] * factor);
                b[c] = (float)((b[c] - mean[c]) * factor + beta[c]);
            }
            var weightName = index.UniqueName($"{conv.Input[1]}_bn_folded");
            var biasName = index.UniqueName($"{(conv.Name.Length > 0 ? conv.Name : conv.Output[0])}_bias_bn_folded");
            graph.Initializer.Add(TensorData.Float(weightName, weight.Dims, w));
            graph.Initializer.Add(TensorData.Float(biasName, [channels], b));
            replaced.Add(conv.Input[1]);
            if (bias is not null) replaced.Add(conv.Input[2]);
            replaced.UnionWith(bn.Input.Skip(1));
            conv.Input[1] = weightName;
            if (conv.Input.Count > 2) conv.Input[2] = biasName;
            else conv.Input.Add(biasName);
            conv.Output[0] = bn.Output[0];
            graph.Node.Remove(bn);
            report.Rewrote(bn);
            folded++;
        }
        if (folded == 0) return;
        index = new GraphIndex(graph);
        foreach (var name in replaced) index.RemoveIfUnused(name);
        report.Notes.Add($"Folded {folded} BatchNormalization node(s) into the Conv before them, so ONNX Runtime can fuse the quantized Conv.");
    }

    /// <summary>int8 symmetric weights (per channel along <paramref name="axis"/>, or per tensor when null) behind a DequantizeLinear.</summary>
    private string QuantizeWeight(GraphProto graph, GraphIndex index, string name, TensorProto weight, int? axis, out float[] scales)
    {
        var range = _options.ReduceRange ? QuantRange.Int8Reduced : QuantRange.Int8Symmetric;
        var values = TensorData.ReadFloats(weight);
        var quantizedName = index.UniqueName($"{name}_quantized");
        var scaleName = index.UniqueName($"{name}_scale");
        var zeroPointName = index.UniqueName($"{name}_zero_point");
        var output = index.UniqueName($"{name}_DequantizeLinear_Output");
        var node = Nodes.Create("DequantizeLinear", index.UniqueName($"{name}_DequantizeLinear"), [quantizedName, scaleName, zeroPointName], [output]);
        if (axis is { } a)
        {
            var (parameters, q) = QuantizationMath.QuantizePerChannel(values, weight.Dims, a, range, symmetric: true);
            scales = parameters.Select(p => p.Scale).ToArray();
            graph.Initializer.Add(TensorData.Int8(quantizedName, weight.Dims, QuantizationMath.ToSBytes(q)));
            graph.Initializer.Add(TensorData.Float(scaleName, [scales.Length], scales));
            graph.Initializer.Add(TensorData.Int8(zeroPointName, [scales.Length], parameters.Select(p => (sbyte)p.ZeroPoint).ToArray()));
            // DequantizeLinear's axis defaults to 1: a Conv weight's axis 0 must be written out.
            node.WithInt("axis", a);
        }
        else
        {
            var (parameters, q) = QuantizationMath.QuantizePerTensor(values, range, symmetric: true);
            scales = [parameters.Scale];
            graph.Initializer.Add(TensorData.Int8(quantizedName, weight.Dims, QuantizationMath.ToSBytes(q)));
            graph.Initializer.Add(TensorData.ScalarFloat(scaleName, parameters.Scale));
            graph.Initializer.Add(TensorData.Int8(zeroPointName, [], [(sbyte)parameters.ZeroPoint]));
        }
        graph.Node.Add(node);
        return output;
    }

    private static float[] WeightScales(GraphProto graph, string dequantizedWeight)
    {
        var node = graph.Node.First(n => n.OpType == "DequantizeLinear" && n.Output[0] == dequantizedWeight);
        return TensorData.ReadFloats(graph.Initializer.First(i => i.Name == node.Input[1]));
    }

    /// <summary>int32 bias with scale = input scale × weight scale × beta and zero point 0 (§1.4), behind a DequantizeLinear.</summary>
    private static string QuantizeBias(GraphProto graph, GraphIndex index, string name, TensorProto bias, float inputScale, float[] weightScales, float beta)
    {
        var values = TensorData.ReadFloats(bias);
        var scales = weightScales.Select(s => inputScale * s * beta).ToArray();
        var quantized = new int[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            var scale = scales[weightScales.Length == 1 ? 0 : i];
            var q = scale == 0 ? 0 : Math.Round(values[i] / (double)scale, MidpointRounding.ToEven);
            quantized[i] = (int)Math.Clamp(q, int.MinValue, int.MaxValue);
        }
        var quantizedName = index.UniqueName($"{name}_quantized");
        var scaleName = index.UniqueName($"{name}_quantized_scale");
        var zeroPointName = index.UniqueName($"{name}_quantized_zero_point");
        var output = index.UniqueName($"{name}_DequantizeLinear_Output");
        graph.Initializer.Add(TensorData.Int32(quantizedName, bias.Dims, quantized));
        var node = Nodes.Create("DequantizeLinear", index.UniqueName($"{name}_DequantizeLinear"), [quantizedName, scaleName, zeroPointName], [output]);
        if (weightScales.Length > 1)
        {
            graph.Initializer.Add(TensorData.Float(scaleName, [scales.Length], scales));
            graph.Initializer.Add(TensorData.Int32(zeroPointName, [scales.Length], new int[scales.Length]));
            node.WithInt("axis", 0);
        }
        else
        {
            graph.Initializer.Add(TensorData.ScalarFloat(scaleName, scales[0]));
            graph.Initializer.Add(TensorData.Int32(zeroPointName, [], [0]));
        }
        graph.Node.Add(node);
        return output;
    }

    /// <summary>
    /// A QuantizeLinear→DequantizeLinear pair on an activation for each reader, moved to its output. A graph
    /// output keeps its name: its producer writes "_QuantizeLinear_Input" and the DequantizeLinear writes the name.
    /// </summary>
    private static void InsertQdq(GraphProto graph, GraphIndex index, string tensor, QuantParams p)
    {
        var scale = index.UniqueName($"{tensor}_scale");
        var zeroPoint = index.UniqueName($"{tensor}_zero_point");
        graph.Initializer.Add(TensorData.ScalarFloat(scale, p.Scale));
        graph.Initializer.Add(TensorData.Int8(zeroPoint, [], [(sbyte)p.ZeroPoint]));
        var quantized = index.UniqueName($"{tensor}_QuantizeLinear_Output");
        if (index.GraphOutputs.Contains(tensor) && index.Producer(tensor) is { } producer)
        {
            // Readers inside the graph keep reading the name, now the dequantized values, as for any quantized tensor.
            var input = index.UniqueName($"{tensor}_QuantizeLinear_Input");
            for (var i = 0; i < producer.Output.Count; i++) if (producer.Output[i] == tensor) producer.Output[i] = input;
            graph.Node.Add(Nodes.Create("QuantizeLinear", index.UniqueName($"{tensor}_QuantizeLinear"), [input, scale, zeroPoint], [quantized]));
            graph.Node.Add(Nodes.Create("DequantizeLinear", index.UniqueName($"{tensor}_DequantizeLinear"), [quantized, scale, zeroPoint], [tensor]));
            return;
        }
        // One pair per reader (ORT's DedicatedQDQPair): ORT's x86 int8→uint8 rewrite only converts a
        // QuantizeLinear that feeds a single DequantizeLinear, and an unconverted int8 pair keeps its readers in float.
        var readers = index.Consumers(tensor).ToList();
        if (readers.Count == 0) return;
        for (var r = 0; r < readers.Count; r++)
        {
            var reader = readers[r];
            var quantizedOutput = r == 0 ? quantized : index.UniqueName($"{tensor}_QuantizeLinear_Output");
            if (r > 0)
            {
                // Own copies of scale and zero point, or ORT's common-subexpression elimination merges the pairs again.
                scale = index.UniqueName($"{tensor}_scale");
                zeroPoint = index.UniqueName($"{tensor}_zero_point");
                graph.Initializer.Add(TensorData.ScalarFloat(scale, p.Scale));
                graph.Initializer.Add(TensorData.Int8(zeroPoint, [], [(sbyte)p.ZeroPoint]));
            }
            var dequantized = index.UniqueName($"{tensor}_DequantizeLinear_Output");
            graph.Node.Add(Nodes.Create("QuantizeLinear", index.UniqueName($"{tensor}_QuantizeLinear"), [tensor, scale, zeroPoint], [quantizedOutput]));
            graph.Node.Add(Nodes.Create("DequantizeLinear", index.UniqueName($"{tensor}_DequantizeLinear"), [quantizedOutput, scale, zeroPoint], [dequantized]));
            Rename(reader, tensor, dequantized);
        }
    }

    private static void Rename(NodeProto node, string from, string to)
    {
        for (var i = 0; i < node.Input.Count; i++) if (node.Input[i] == from) node.Input[i] = to;
    }

    private static readonly HashSet<string> SameTypeOps = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Conv", "ConvTranspose", "MatMul", "Gemm", "MaxPool", "AveragePool",
        "GlobalAveragePool", "GlobalMaxPool", "Concat", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
        "BatchNormalization", "Softmax", "LogSoftmax", "Sigmoid", "Tanh", "Identity", "Dropout", "Pad", "Slice", "Split",
        "Max", "Min", "Sum", "Mean", "Neg", "Abs", "Exp", "Log", "Sqrt", "Pow", "Erf", "LeakyRelu", "PRelu", "ReduceMean",
        "ReduceSum", "ReduceMax", "ReduceMin", "Expand", "Tile", "LRN", "InstanceNormalization", "LayerNormalization",
        "Resize", "Gather", "Elu", "HardSigmoid", "Softplus", "Reciprocal", "Floor", "Ceil",
    };

    /// <summary>
    /// Element types of the main graph's tensors: declared ones, initializers and Constant values, then carried
    /// forward through ops whose output has their first input's type. Unknown tensors are left out (and not quantized).
    /// </summary>
    private static Dictionary<string, int> ElementTypes(GraphProto graph)
    {
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var value in graph.Input.Concat(graph.ValueInfo).Concat(graph.Output))
        {
            if (value.Type?.TensorType is { ElemType: > 0 } tensorType) types[value.Name] = tensorType.ElemType;
        }
        foreach (var initializer in graph.Initializer) types[initializer.Name] = initializer.DataType;
        foreach (var node in graph.Node)
        {
            int? type = node.OpType switch
            {
                "Constant" => node.Attribute.FirstOrDefault(a => a.Name == "value")?.T?.DataType,
                "Cast" => (int?)Nodes.IntAttribute(node, "to"),
                "Shape" or "Size" or "NonZero" or "ArgMax" or "ArgMin" => OnnxElementTypes.Int64,
                "Equal" or "Less" or "Greater" or "Not" or "And" or "Or" => OnnxElementTypes.Bool,
                "Where" => node.Input.Count > 1 ? types.GetValueOrDefault(node.Input[1]) : null,
                _ when SameTypeOps.Contains(node.OpType) && ModelInspector.IsDefaultDomain(node.Domain) && node.Input.Count > 0 => types.GetValueOrDefault(node.Input[0]),
                _ => null,
            };
            if (type is not > 0) continue;
            var outputs = node.OpType is "MaxPool" or "Dropout" or "BatchNormalization" ? node.Output.Take(1) : node.Output;
            foreach (var output in outputs.Where(o => o.Length > 0)) types.TryAdd(output, type.Value);
        }
        return types;
    }
}
