using System.Runtime.InteropServices;
using Google.Protobuf;
using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Options of <see cref="Float16ConversionPass"/>. <paramref name="KeepIoTypes"/>: graph inputs and outputs stay
/// float32 (Cast nodes at the edges), so callers see the same contract. <paramref name="OpBlockList"/>: op types that
/// stay float32 (null: <see cref="DefaultOpBlockList"/>); <paramref name="NodeBlockList"/>: node names that do.
/// </summary>
public sealed record Float16Options(bool KeepIoTypes = true, IReadOnlyList<string>? OpBlockList = null, IReadOnlyList<string>? NodeBlockList = null)
{
    /// <summary>ONNX Runtime transformers/float16.py DEFAULT_OP_BLOCK_LIST: ops without (sound) float16 kernels.</summary>
    public static readonly IReadOnlyList<string> DefaultOpBlockList =
    [
        "ArrayFeatureExtractor", "Binarizer", "CastMap", "CategoryMapper", "DictVectorizer", "FeatureVectorizer", "Imputer",
        "LabelEncoder", "LinearClassifier", "LinearRegressor", "Normalizer", "OneHotEncoder", "RandomUniformLike",
        "SVMClassifier", "SVMRegressor", "Scaler", "TreeEnsembleClassifier", "TreeEnsembleRegressor", "TreeEnsemble",
        "ZipMap", "NonMaxSuppression", "TopK", "RoiAlign", "Range", "CumSum", "Min", "Max", "Upsample",
    ];
}

/// <summary>
/// Converts weights and compute to float16 with ONNX Runtime's transformers/float16.py semantics
/// (compression-algorithms.md §2.5(b)): float initializers used by float16 nodes become float16, clamped to the
/// float16 range; Constant values and Cast(to=FLOAT) inside the float16 region follow; blocked ops, inputs that must
/// stay float (Resize scales) and nodes owning subgraphs keep float32 and get Casts around them; graph inputs and
/// outputs stay float32 by default. Each float tensor keeps its name in the type its producer makes and gets at most
/// one Cast for the other type, so back-to-back Cast pairs are rare; those that remain and cancel are removed.
/// Element types of intermediate tensors come from ONNX Runtime's own type inference (the model it writes at
/// ORT_DISABLE_ALL), not guessed. Float value_info entries are dropped: ORT infers them again.
/// </summary>
public sealed class Float16ConversionPass(Float16Options? options = null) : ICompressionPass
{
    public const string CpuNote = "ONNX Runtime's CPU provider has few float16 kernels: expect it slower on CPU; the gain is size (0.5×) and GPU speed.";

    /// <summary>float16.py's clamping range: the largest finite float16 and its smallest subnormal.</summary>
    public const float MaxFinite = 65504f, MinPositive = 5.96e-08f;

    /// <summary>Inputs that must stay float32 even in a float16 node (float16.py ALWAYS_FLOAT_INPUTS).</summary>
    private static readonly Dictionary<string, int[]> AlwaysFloatInputs = new(StringComparer.Ordinal)
    {
        ["Resize"] = [2],
        ["GroupNorm"] = [1, 2],
        ["SkipGroupNorm"] = [1, 2],
    };

    private static readonly HashSet<string> DtypeOps = new(StringComparer.Ordinal)
    {
        "EyeLike", "Multinomial", "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "SequenceEmpty", "Bernoulli",
    };

    private readonly Float16Options _options = options ?? new Float16Options();

    public string Name => "fp16";

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        var blockedOps = (_options.OpBlockList ?? Float16Options.DefaultOpBlockList).ToHashSet(StringComparer.Ordinal);
        var blockedNodes = (_options.NodeBlockList ?? []).ToHashSet(StringComparer.Ordinal);
        report.Options["keepIoTypes"] = _options.KeepIoTypes.ToString();
        report.Options["opBlockList"] = string.Join(",", blockedOps.Order(StringComparer.Ordinal));
        if (blockedNodes.Count > 0) report.Options["nodeBlockList"] = string.Join(",", blockedNodes);
        report.Notes.Add(CpuNote);

        if (AlreadyHalf(model) is { } why)
        {
            report.Notes.Add($"Not converted: {why}");
            return model;
        }

        context.Report(0, "inferring element types with ONNX Runtime");
        var sizeBefore = OnnxModelFile.SerializedSize(model);
        var original = model.Clone();
        var types = InferElementTypes(model);
        context.CancellationToken.ThrowIfCancellationRequested();
        context.Report(0.4, "converting");

        var converter = new Converter(model.Graph, types, blockedOps, blockedNodes, _options.KeepIoTypes, report);
        if (converter.MissingType() is { } missing)
        {
            report.Notes.Add($"Not converted: ONNX Runtime could not tell the element type of tensor '{missing}'.");
            return original;
        }
        converter.Run();
        context.Report(0.8, "checking the converted model with ONNX Runtime");

        try
        {
            using var checkOptions = new SessionOptions();
            using var session = OnnxModelFile.CreateSession(model, checkOptions);
        }
        catch (OnnxRuntimeException e)
        {
            report.Nodes.Clear();
            report.Notes.Add($"Not converted: ONNX Runtime rejects the converted model ({e.Message}).");
            return original;
        }
        var sizeAfter = OnnxModelFile.SerializedSize(model);
        report.Figures["sizeBefore"] = sizeBefore;
        report.Figures["sizeAfter"] = sizeAfter;
        report.Figures["sizeRatio"] = sizeBefore == 0 ? 0 : (double)sizeAfter / sizeBefore;
        context.Report(1, "converted");
        return model;
    }

    /// <summary>float16.py refuses a model that already holds float16 (check_fp16_ready); so do we, with the place.</summary>
    private static string? AlreadyHalf(ModelProto model)
    {
        var graph = model.Graph;
        foreach (var value in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (value.Type?.TensorType?.ElemType == OnnxElementTypes.Float16) return $"the model is already float16 (tensor '{value.Name}' is float16).";
        }
        foreach (var site in OnnxGraphs.AllTensors(model))
        {
            if (site.Tensor.DataType == OnnxElementTypes.Float16) return $"the model is already float16 ({site.Where} is float16).";
        }
        foreach (var site in OnnxGraphs.AllNodes(model))
        {
            if (site.Node.OpType == "Cast" && Nodes.IntAttribute(site.Node, "to") == OnnxElementTypes.Float16)
                return $"the model is already float16 ({Nodes.Label(site.Node)}{site.Where} casts to float16).";
        }
        return null;
    }

    /// <summary>
    /// Element types of every tensor of the main graph, as ONNX Runtime infers them: each node output is declared a
    /// graph output without a type on a copy of the model, and the session's output metadata says what ORT inferred.
    /// </summary>
    public static Dictionary<string, int> InferElementTypes(ModelProto model)
    {
        var probe = model.Clone();
        var graph = probe.Graph;
        var declared = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0 && declared.Add(o)))
        {
            graph.Output.Add(new ValueInfoProto { Name = name });
        }
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        using (var sessionOptions = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL })
        using (var session = OnnxModelFile.CreateSession(probe, sessionOptions))
        {
            foreach (var (name, metadata) in session.OutputMetadata.Concat(session.InputMetadata))
            {
                if (metadata.OnnxValueType == OnnxValueType.ONNX_TYPE_TENSOR) types[name] = (int)metadata.ElementDataType;
            }
        }
        foreach (var initializer in model.Graph.Initializer) types[initializer.Name] = initializer.DataType;
        return types;
    }

    /// <summary>A float32 tensor in float16, clamped to ±65504 and with tiny values raised to ±5.96e-8 (float16.py).</summary>
    public static TensorProto ToHalf(TensorProto tensor)
    {
        var values = TensorData.ReadFloats(tensor);
        var halves = new Half[values.Length];
        for (var i = 0; i < values.Length; i++) halves[i] = (Half)Clamp(values[i]);
        var converted = new TensorProto { Name = tensor.Name, DataType = OnnxElementTypes.Float16, DocString = tensor.DocString, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(halves.AsSpan())) };
        converted.Dims.AddRange(tensor.Dims);
        return converted;
    }

    /// <summary>convert_np_to_float16: 0, ±inf and NaN kept; (0, 5.96e-8) → 5.96e-8; beyond 65504 → 65504; same for negatives.</summary>
    public static float Clamp(float value)
    {
        if (value > 0 && value < MinPositive) return MinPositive;
        if (value < 0 && value > -MinPositive) return -MinPositive;
        if (value > MaxFinite && !float.IsPositiveInfinity(value)) return MaxFinite;
        if (value < -MaxFinite && !float.IsNegativeInfinity(value)) return -MaxFinite;
        return value;
    }

    /// <summary>The rewrite of one (main) graph.</summary>
    private sealed class Converter(GraphProto graph, Dictionary<string, int> types, HashSet<string> blockedOps, HashSet<string> blockedNodes, bool keepIoTypes, PassReport report)
    {
        private readonly GraphIndex _index = new(graph);
        private readonly List<NodeProto> _nodes = graph.Node.ToList();
        // By reference: protobuf messages compare by value, and the nodes change while the set is in use.
        private readonly HashSet<NodeProto> _halfNodes = new(ReferenceEqualityComparer.Instance);
        /// <summary>For each float tensor that exists in float16: the name of that version; likewise for float32.</summary>
        private readonly Dictionary<string, string> _halfName = new(StringComparer.Ordinal), _floatName = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int> _finalTypes = new(StringComparer.Ordinal);
        private readonly List<NodeProto> _casts = [];

        private bool IsFloat(string name) => name.Length > 0 && types.GetValueOrDefault(name) == OnnxElementTypes.Float;

        public string? MissingType() =>
            _nodes.SelectMany(n => n.Output).Concat(_nodes.SelectMany(n => n.Input))
                .FirstOrDefault(name => name.Length > 0 && !types.ContainsKey(name) && _index.Consumers(name).Count + (_index.GraphOutputs.Contains(name) ? 1 : 0) > 0);

        public void Run()
        {
            foreach (var node in _nodes)
            {
                if (BlockReason(node) is { } reason)
                {
                    if (node.Input.Any(IsFloat) || node.Output.Any(IsFloat) || OnnxGraphs.Subgraphs(node).Any()) report.Skip(node, reason);
                }
                else
                {
                    _halfNodes.Add(node);
                }
            }

            ConvertInitializers();
            DecideHomes();
            foreach (var node in _nodes) RewireInputs(node);
            foreach (var node in _halfNodes) ConvertAttributes(node);

            graph.Node.Clear();
            graph.Node.AddRange(_nodes);
            graph.Node.AddRange(_casts);
            Nodes.TopologicalSort(graph);
            var removed = RemoveCastPairs();
            report.Figures["castNodes"] = graph.Node.Count(n => n.OpType == "Cast");
            report.Figures["castPairsRemoved"] = removed;
            report.Figures["float16Nodes"] = _halfNodes.Count(n => n.Input.Any(IsFloat) || n.Output.Any(IsFloat));

            // Intermediate float types changed; rather than guess each one, let ONNX Runtime infer them again.
            var stale = graph.ValueInfo.Where(v => v.Type?.TensorType?.ElemType is OnnxElementTypes.Float or OnnxElementTypes.Float16).ToList();
            foreach (var value in stale) graph.ValueInfo.Remove(value);
            foreach (var value in graph.Input.Concat(graph.Output))
            {
                if (value.Type?.TensorType is { } tensor && _finalTypes.TryGetValue(value.Name, out var type)) tensor.ElemType = type;
            }
        }

        private string? BlockReason(NodeProto node)
        {
            if (OnnxGraphs.Subgraphs(node).Any()) return "owns a subgraph, which is not converted: the node stays float32 between Casts";
            if (blockedOps.Contains(node.OpType)) return $"op type {node.OpType} is on the float16 block list: stays float32 between Casts";
            if (blockedNodes.Contains(node.Name)) return "node is on the float16 block list: stays float32 between Casts";
            return null;
        }

        /// <summary>float16.py: a float initializer becomes float16 when at least one float16 node reads it as float16.</summary>
        private void ConvertInitializers()
        {
            for (var i = 0; i < graph.Initializer.Count; i++)
            {
                var initializer = graph.Initializer[i];
                if (initializer.DataType != OnnxElementTypes.Float) continue;
                if (_index.GraphOutputs.Contains(initializer.Name)) continue;
                var halfUse = _index.Consumers(initializer.Name).Any(c => _halfNodes.Contains(c)
                    && c.Input.Select((name, position) => (name, position)).Any(p => p.name == initializer.Name && !MustStayFloat(c, p.position)));
                if (!halfUse) continue;
                graph.Initializer[i] = ToHalf(initializer);
                _halfName[initializer.Name] = initializer.Name;
                // Before IR 4 initializers are listed as graph inputs too, with their type.
                if (graph.Input.FirstOrDefault(v => v.Name == initializer.Name)?.Type?.TensorType is { } tensor) tensor.ElemType = OnnxElementTypes.Float16;
            }
            foreach (var initializer in graph.Initializer.Where(t => t.DataType == OnnxElementTypes.Float)) _floatName[initializer.Name] = initializer.Name;
        }

        private static bool MustStayFloat(NodeProto node, int position) =>
            AlwaysFloatInputs.TryGetValue(node.OpType, out var positions) && positions.Contains(position);

        /// <summary>
        /// Where each float tensor lives under its own name: in float16 when a float16 node makes it, in float32 when
        /// a blocked node or a kept graph input does. A graph output must carry its name in the type the caller sees,
        /// so its producer writes a renamed tensor and an edge Cast writes the output.
        /// </summary>
        private void DecideHomes()
        {
            for (var i = 0; i < graph.Input.Count; i++)
            {
                var name = graph.Input[i].Name;
                if (!IsFloat(name) || !_index.IsGraphInput(name)) continue;
                if (keepIoTypes) _floatName[name] = name;
                else _halfName[name] = name;
            }
            foreach (var node in _nodes)
            {
                var half = _halfNodes.Contains(node);
                foreach (var output in node.Output.Where(IsFloat))
                {
                    if (half) _halfName[output] = output;
                    else _floatName[output] = output;
                }
            }
            for (var i = 0; i < graph.Output.Count; i++)
            {
                var name = graph.Output[i].Name;
                if (!IsFloat(name) || _index.Initializers.ContainsKey(name) || _index.IsGraphInput(name)) continue;
                var producer = _index.Producer(name);
                if (producer is null) continue;
                var wantHalf = !keepIoTypes;
                var isHalf = _halfName.ContainsKey(name);
                if (wantHalf == isHalf) continue;
                // The producer writes a renamed tensor in its own type; the edge Cast writes the output's name.
                var inner = _index.UniqueName(wantHalf ? $"{name}_fp32" : $"graph_output_cast_{i}");
                for (var o = 0; o < producer.Output.Count; o++) if (producer.Output[o] == name) producer.Output[o] = inner;
                var cast = Nodes.Create("Cast", _index.UniqueName(wantHalf ? $"{name}_cast_to_fp16" : $"graph_output_cast{i}"), [inner], [name])
                    .WithInt("to", wantHalf ? OnnxElementTypes.Float16 : OnnxElementTypes.Float);
                _casts.Add(cast);
                if (isHalf)
                {
                    _halfName[name] = inner;
                    _floatName[name] = name;
                }
                else
                {
                    _floatName[name] = inner;
                    _halfName[name] = name;
                }
            }
            foreach (var (_, version) in _halfName) _finalTypes[version] = OnnxElementTypes.Float16;
            foreach (var (_, version) in _floatName) _finalTypes[version] = OnnxElementTypes.Float;
        }

        /// <summary>The name of a float tensor in the wanted type, made by one shared Cast the first time it is asked for.</summary>
        private string Version(string name, bool half)
        {
            var versions = half ? _halfName : _floatName;
            if (versions.TryGetValue(name, out var existing)) return existing;
            var source = (half ? _floatName : _halfName).GetValueOrDefault(name) ?? name;
            var isInput = _index.IsGraphInput(name);
            var inputPosition = graph.Input.Select(v => v.Name).ToList().IndexOf(name);
            var castName = half && isInput ? $"graph_input_cast{inputPosition}" : $"{name}_cast_to_{(half ? "fp16" : "fp32")}";
            var outputName = half && isInput ? $"graph_input_cast_{inputPosition}" : $"{name}_{(half ? "fp16" : "fp32")}";
            var output = _index.UniqueName(outputName);
            _casts.Add(Nodes.Create("Cast", _index.UniqueName(castName), [source], [output]).WithInt("to", half ? OnnxElementTypes.Float16 : OnnxElementTypes.Float));
            versions[name] = output;
            _finalTypes[output] = half ? OnnxElementTypes.Float16 : OnnxElementTypes.Float;
            return output;
        }

        private void RewireInputs(NodeProto node)
        {
            var half = _halfNodes.Contains(node);
            for (var i = 0; i < node.Input.Count; i++)
            {
                var name = node.Input[i];
                if (!IsFloat(name)) continue;
                node.Input[i] = Version(name, half && !MustStayFloat(node, i));
            }
            // A subgraph reads outer tensors by name; it was built for float32, so it reads the float32 versions.
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var outer in GraphIndex.OuterNamesUsedBy(subgraph).Where(IsFloat))
                {
                    var version = Version(outer, half: false);
                    if (version != outer) RenameOuter(subgraph, outer, version);
                }
            }
            if (half && (node.Input.Any(_finalTypes.ContainsKey) || node.Output.Any(IsFloat))) report.Rewrote(node);
        }

        private static void RenameOuter(GraphProto subgraph, string from, string to)
        {
            foreach (var inner in subgraph.Node)
            {
                for (var i = 0; i < inner.Input.Count; i++) if (inner.Input[i] == from) inner.Input[i] = to;
                foreach (var (_, nested) in OnnxGraphs.Subgraphs(inner))
                {
                    if (GraphIndex.OuterNamesUsedBy(nested).Contains(from)) RenameOuter(nested, from, to);
                }
            }
            foreach (var output in subgraph.Output) if (output.Name == from) output.Name = to;
        }

        /// <summary>Attribute tensors (Constant values and the like), Cast targets and dtype attributes go float16.</summary>
        private static void ConvertAttributes(NodeProto node)
        {
            if (node.OpType == "Cast")
            {
                foreach (var attribute in node.Attribute.Where(a => a.Name == "to" && a.I == OnnxElementTypes.Float)) attribute.I = OnnxElementTypes.Float16;
            }
            if (DtypeOps.Contains(node.OpType))
            {
                var dtype = node.Attribute.FirstOrDefault(a => a.Name == "dtype");
                if (dtype is null && node.OpType is "RandomNormal" or "RandomUniform" or "SequenceEmpty") node.WithInt("dtype", OnnxElementTypes.Float16);
                else if (dtype is not null && dtype.I == OnnxElementTypes.Float) dtype.I = OnnxElementTypes.Float16;
            }
            if (AlwaysFloatInputs.ContainsKey(node.OpType)) return;
            if (node.OpType == "Constant" && node.Attribute.FirstOrDefault(a => a.Name is "value_float" or "value_floats") is { } scalar)
            {
                // value_float(s) always means float32; restate it as a float16 tensor.
                float[] values = scalar.Name == "value_float" ? [scalar.F] : scalar.Floats.ToArray();
                var tensor = ToHalf(TensorData.Float("", scalar.Name == "value_float" ? [] : [values.Length], values));
                node.Attribute.Remove(scalar);
                node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
            }
            foreach (var attribute in node.Attribute)
            {
                if (attribute.T is { DataType: OnnxElementTypes.Float } tensor) attribute.T = ToHalf(tensor);
                for (var i = 0; i < attribute.Tensors.Count; i++)
                {
                    if (attribute.Tensors[i].DataType == OnnxElementTypes.Float) attribute.Tensors[i] = ToHalf(attribute.Tensors[i]);
                }
            }
        }

        /// <summary>
        /// X → Cast → Y → Cast → Z where Z has X's own type (float32 → float16 → float32, or float16 → float32 →
        /// float16): readers of Z read X instead; the Casts go once nothing else reads them. Not where Z is a graph
        /// output or a subgraph reads it by name.
        /// </summary>
        private int RemoveCastPairs()
        {
            var removed = 0;
            var index = new GraphIndex(graph);
            foreach (var second in graph.Node.Where(n => n.OpType == "Cast").ToList())
            {
                var first = index.Producer(second.Input[0]);
                if (first is null || first.OpType != "Cast" || !graph.Node.Contains(first)) continue;
                var x = first.Input[0];
                var z = second.Output[0];
                int? xType = _finalTypes.TryGetValue(x, out var t) ? t : null;
                var firstTo = Nodes.IntAttribute(first, "to");
                var secondTo = Nodes.IntAttribute(second, "to");
                var floats = new long?[] { OnnxElementTypes.Float, OnnxElementTypes.Float16 };
                if (xType is null || !floats.Contains(firstTo) || !floats.Contains(secondTo) || firstTo == secondTo || secondTo != xType) continue;
                if (index.GraphOutputs.Contains(z) || index.Consumers(z).Any(c => OnnxGraphs.Subgraphs(c).Any())) continue;
                foreach (var reader in index.Consumers(z))
                {
                    for (var i = 0; i < reader.Input.Count; i++) if (reader.Input[i] == z) reader.Input[i] = x;
                }
                graph.Node.Remove(second);
                removed++;
                index = new GraphIndex(graph);
                if (index.Consumers(first.Output[0]).Count == 0 && !index.GraphOutputs.Contains(first.Output[0]))
                {
                    graph.Node.Remove(first);
                    index = new GraphIndex(graph);
                }
            }
            return removed;
        }
    }
}
