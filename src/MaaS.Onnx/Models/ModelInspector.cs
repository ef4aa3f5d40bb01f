using Onnx;

namespace MaaS.Onnx.Models;

/// <summary>
/// Reads what a model declares (signature, opsets, graph statistics, where its weights live) from the parsed protobuf
/// alone: nothing is executed, so it is safe on untrusted models once <see cref="ModelAdmission"/> has parsed them.
/// </summary>
public static class ModelInspector
{
    /// <summary>
    /// Counting conventions: NodeCount and OpHistogram cover the main graph and every nested subgraph (If/Loop/Scan
    /// bodies), but not model-local function bodies, which are templates rather than nodes that run. Histogram keys are
    /// the op type for the default domain ("Conv") and "domain.OpType" otherwise ("ai.onnx.ml.TreeEnsembleRegressor",
    /// "com.microsoft.FusedConv"). ParameterCount, InitializerCount and the byte totals cover subgraph initializers too;
    /// sparse tensors count the values they store.
    /// </summary>
    public static ModelInspection Inspect(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = model.Graph ?? new GraphProto();

        // Old IR versions (< 4) had to list every initializer as a graph input too; those are weights, not inputs.
        var initializerNames = graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !initializerNames.Contains(i.Name)).Select(Signature).ToList();
        var outputs = graph.Output.Select(Signature).ToList();

        var histogram = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var nodeCount = 0;
        var subgraphs = new List<string>();
        foreach (var site in OnnxGraphs.GraphNodes(model.Graph))
        {
            nodeCount++;
            var key = IsDefaultDomain(site.Node.Domain) ? site.Node.OpType : $"{site.Node.Domain}.{site.Node.OpType}";
            histogram[key] = histogram.GetValueOrDefault(key) + 1;
            var names = OnnxGraphs.Subgraphs(site.Node).Select(s => s.Name).ToList();
            if (names.Count > 0)
            {
                var label = site.Node.Name.Length > 0 ? $"{site.Node.OpType} '{site.Node.Name}'" : site.Node.OpType;
                subgraphs.Add($"{label}{site.Where}: {string.Join(", ", names)}");
            }
        }

        long parameters = 0, constantBytes = 0;
        var initializerCount = 0;
        var bytesByType = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var externalFiles = new List<string>();
        foreach (var site in OnnxGraphs.AllTensors(model))
        {
            if (OnnxGraphs.IsExternal(site.Tensor) && OnnxGraphs.ExternalValue(site.Tensor, "location") is { Length: > 0 } location
                && !externalFiles.Contains(location, StringComparer.Ordinal))
            {
                externalFiles.Add(location);
            }
            if (!site.InMainGraph) continue;
            if (site.Role == TensorRole.Initializer)
            {
                initializerCount++;
                var elements = SafeElementCount(site.Tensor);
                parameters = SaturatingAdd(parameters, elements);
                var type = OnnxElementTypes.Name(site.Tensor.DataType);
                bytesByType[type] = SaturatingAdd(bytesByType.GetValueOrDefault(type), TensorBytes(site.Tensor, elements));
            }
            else if (site.Role == TensorRole.ConstantValue)
            {
                var elements = SafeElementCount(site.Tensor);
                parameters = SaturatingAdd(parameters, elements);
                constantBytes = SaturatingAdd(constantBytes, TensorBytes(site.Tensor, elements));
            }
        }
        // Constant nodes can also hold their value as plain attribute lists (value_floats, value_ints).
        foreach (var site in OnnxGraphs.GraphNodes(model.Graph))
        {
            if (site.Node.OpType != "Constant" || !IsDefaultDomain(site.Node.Domain)) continue;
            foreach (var attribute in site.Node.Attribute)
            {
                long elements = attribute.Name switch
                {
                    "value_float" or "value_int" => 1,
                    "value_floats" => attribute.Floats.Count,
                    "value_ints" => attribute.Ints.Count,
                    _ => 0,
                };
                parameters = SaturatingAdd(parameters, elements);
                constantBytes = SaturatingAdd(constantBytes, elements * (attribute.Name.Contains("float") ? 4 : 8));
            }
        }

        var initializerBytes = bytesByType.Values.Aggregate(0L, SaturatingAdd);
        return new ModelInspection(
            IrVersion: model.IrVersion,
            Opsets: model.OpsetImport.Select(o => new OpsetImport(IsDefaultDomain(o.Domain) ? "ai.onnx" : o.Domain, o.Version)).ToList(),
            ProducerName: NullIfEmpty(model.ProducerName),
            ProducerVersion: NullIfEmpty(model.ProducerVersion),
            GraphName: NullIfEmpty(graph.Name),
            DocString: NullIfEmpty(model.DocString) ?? NullIfEmpty(graph.DocString),
            Inputs: inputs,
            Outputs: outputs,
            NodeCount: nodeCount,
            OpHistogram: histogram,
            ParameterCount: parameters,
            InitializerCount: initializerCount,
            InitializerBytesByType: bytesByType,
            ConstantNodeBytes: constantBytes,
            WeightStorage: Storage(initializerBytes, constantBytes),
            Subgraphs: subgraphs,
            ExternalDataFiles: externalFiles);
    }

    /// <summary>The signature of one graph input or output as declared in the model.</summary>
    public static TensorSignature Signature(ValueInfoProto value) =>
        new(value.Name, Describe(value.Type), Shape(value.Type));

    /// <summary>
    /// Where the weight bytes live. Almost every model has a few tiny Constant nodes (shapes, axes), so a side counts
    /// only when it holds at least 5% of the weight bytes.
    /// </summary>
    private static WeightStorage Storage(long initializerBytes, long constantBytes)
    {
        var total = (double)initializerBytes + constantBytes;
        if (total == 0) return WeightStorage.None;
        var inInitializers = initializerBytes / total >= 0.05;
        var inConstants = constantBytes / total >= 0.05;
        return (inInitializers, inConstants) switch
        {
            (true, true) => WeightStorage.Mixed,
            (true, false) => WeightStorage.Initializers,
            _ => WeightStorage.ConstantNodes,
        };
    }

    /// <summary>"float" for tensors; nested types in words: "seq(map(int64,float))", "optional(seq(float))".</summary>
    internal static string Describe(TypeProto? type) => type?.ValueCase switch
    {
        TypeProto.ValueOneofCase.TensorType => OnnxElementTypes.Name(type.TensorType.ElemType),
        TypeProto.ValueOneofCase.SparseTensorType => $"sparse_tensor({OnnxElementTypes.Name(type.SparseTensorType.ElemType)})",
        TypeProto.ValueOneofCase.SequenceType => $"seq({Describe(type.SequenceType.ElemType)})",
        TypeProto.ValueOneofCase.MapType => $"map({OnnxElementTypes.Name(type.MapType.KeyType)},{Describe(type.MapType.ValueType)})",
        TypeProto.ValueOneofCase.OptionalType => $"optional({Describe(type.OptionalType.ElemType)})",
        _ => "unknown",
    };

    private static IReadOnlyList<Dimension>? Shape(TypeProto? type)
    {
        var shape = type?.ValueCase switch
        {
            TypeProto.ValueOneofCase.TensorType => type.TensorType.Shape,
            TypeProto.ValueOneofCase.SparseTensorType => type.SparseTensorType.Shape,
            _ => null,
        };
        return shape?.Dim.Select(d => d.ValueCase switch
        {
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when d.DimValue >= 0 => new Dimension(d.DimValue, null),
            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => new Dimension(null, d.DimParam),
            _ => new Dimension(null, null),
        }).ToList();
    }

    internal static bool IsDefaultDomain(string domain) => domain is "" or "ai.onnx";

    private static long SafeElementCount(TensorProto tensor)
    {
        try { return tensor.Dims.Any(d => d < 0) ? 0 : OnnxGraphs.ElementCount(tensor.Dims); }
        catch (OverflowException) { return long.MaxValue; }
    }

    /// <summary>Bytes the values take once loaded: packed size for fixed-size types, UTF-8 bytes for strings.</summary>
    private static long TensorBytes(TensorProto tensor, long elements)
    {
        if (tensor.DataType == OnnxElementTypes.String) return tensor.StringData.Aggregate(0L, (sum, s) => SaturatingAdd(sum, s.Length));
        try { return OnnxElementTypes.StorageBytes(tensor.DataType, elements) ?? 0; }
        catch (OverflowException) { return long.MaxValue; }
    }

    private static long SaturatingAdd(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
