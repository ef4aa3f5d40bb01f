using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// One model input or output as ONNX Runtime reports it. <see cref="Shape"/> uses -1 for variable dimensions (V2
/// metadata does the same); <see cref="SymbolicDims"/> holds each dimension's symbol ("batch") or "" when it has none.
/// <see cref="OnnxType"/> describes it in ONNX's words: "float", or "seq(map(int64,float))" for a ZipMap output.
/// </summary>
public sealed record TensorSpec(
    string Name,
    bool IsTensor,
    TensorElementType ElementType,
    long[] Shape,
    IReadOnlyList<string> SymbolicDims,
    string OnnxType)
{
    /// <summary>
    /// The V2 datatype. Non-tensor outputs (sequences and maps) are served as BYTES (see <see cref="OnnxOutputs"/>);
    /// a non-tensor input, or a tensor type V2 cannot carry, reports its ONNX type so metadata still says what it is.
    /// </summary>
    public string Datatype => IsTensor ? V2Datatypes.NameOf(ElementType) ?? OnnxType : V2Datatypes.Bytes;

    /// <summary>The shape V2 metadata shows: a non-tensor output is a BYTES vector of any length.</summary>
    public long[] MetadataShape => IsTensor ? Shape : [-1];

    public override string ToString() => $"{Name} {Datatype} {InferenceTensor.FormatShape(MetadataShape)}";
}

/// <summary>A request checked against a model: every input once, in the model's order, and the outputs to return.</summary>
public sealed record BoundRequest(IReadOnlyList<InferenceTensor> Inputs, IReadOnlyList<string> Outputs, IReadOnlySet<string> BinaryOutputs)
{
    /// <summary>The rows of the first dimension when every input has one and they agree; else null (cannot batch).</summary>
    public long? Rows
    {
        get
        {
            long? rows = null;
            foreach (var input in Inputs)
            {
                if (input.Shape.Length == 0) return null;
                if (rows is { } r && r != input.Shape[0]) return null;
                rows = input.Shape[0];
            }
            return rows;
        }
    }
}

/// <summary>What a loaded model takes and gives, and the checks every request passes before it reaches ONNX Runtime.</summary>
public sealed record ModelSignature(IReadOnlyList<TensorSpec> Inputs, IReadOnlyList<TensorSpec> Outputs)
{
    public static ModelSignature FromSession(InferenceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return new ModelSignature(
            session.InputNames.Select(n => Spec(n, session.InputMetadata[n])).ToList(),
            session.OutputNames.Select(n => Spec(n, session.OutputMetadata[n])).ToList());
    }

    public TensorSpec? Input(string name) => Inputs.FirstOrDefault(i => i.Name == name);
    public TensorSpec? Output(string name) => Outputs.FirstOrDefault(o => o.Name == name);

    /// <summary>
    /// Checks <paramref name="request"/> against the model: every input present and known, datatypes equal, ranks
    /// equal, fixed dimensions equal (variable ones take any size, but a symbol shared between inputs, such as
    /// "sequence", must get one size), every requested output known. Throws <see cref="InferenceRequestException"/>.
    /// </summary>
    public BoundRequest Bind(InferenceRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var given = new Dictionary<string, InferenceTensor>(StringComparer.Ordinal);
        foreach (var input in request.Inputs)
        {
            if (Input(input.Name) is null)
                throw new InferenceRequestException($"input '{input.Name}' is not an input of this model; it takes {NameList(Inputs)}.");
            if (!given.TryAdd(input.Name, input)) throw new InferenceRequestException($"input '{input.Name}' appears twice.");
        }
        var missing = Inputs.Where(i => !given.ContainsKey(i.Name)).ToList();
        if (missing.Count > 0)
        {
            throw new InferenceRequestException(missing.Count == 1
                ? $"missing input '{missing[0].Name}' ({missing[0].Datatype} {InferenceTensor.FormatShape(missing[0].Shape)})."
                : $"missing inputs {NameList(missing)}; the model takes {Inputs.Count}, the request gives {given.Count}.");
        }

        var symbols = new Dictionary<string, (long Size, string Input)>(StringComparer.Ordinal);
        var ordered = new List<InferenceTensor>(Inputs.Count);
        foreach (var spec in Inputs)
        {
            var tensor = given[spec.Name];
            Check(spec, tensor, symbols);
            ordered.Add(tensor);
        }

        List<string> outputs;
        // An empty list asks for nothing in particular, as an absent one does (Triton reads it the same way).
        if (request.Outputs is null || request.Outputs.Count == 0)
        {
            outputs = Outputs.Select(o => o.Name).ToList();
        }
        else
        {
            outputs = new List<string>(request.Outputs.Count);
            foreach (var requested in request.Outputs)
            {
                if (Output(requested.Name) is null)
                    throw new InferenceRequestException($"output '{requested.Name}' is not an output of this model; it has {NameList(Outputs)}.");
                outputs.Add(requested.Name);
            }
        }
        var binary = outputs.Where(request.WantsBinary).ToHashSet(StringComparer.Ordinal);
        return new BoundRequest(ordered, outputs, binary);
    }

    private static void Check(TensorSpec spec, InferenceTensor tensor, Dictionary<string, (long Size, string Input)> symbols)
    {
        var label = $"input '{spec.Name}'";
        if (!spec.IsTensor || V2Datatypes.NameOf(spec.ElementType) is null)
            throw new InferenceRequestException($"{label}: the model takes a {spec.OnnxType} here, which the V2 API cannot carry.");
        if (tensor.ElementType != spec.ElementType)
            throw new InferenceRequestException($"{label}: datatype {tensor.Datatype} does not match the model's {spec.Datatype}.");
        var expected = InferenceTensor.FormatShape(spec.Shape);
        if (tensor.Shape.Length != spec.Shape.Length)
        {
            throw new InferenceRequestException(
                $"{label}: shape {InferenceTensor.FormatShape(tensor.Shape)} has {Dimensions(tensor.Shape.Length)}; the model expects {Dimensions(spec.Shape.Length)} ({expected}).");
        }
        for (var d = 0; d < spec.Shape.Length; d++)
        {
            var size = tensor.Shape[d];
            if (spec.Shape[d] >= 0)
            {
                if (size != spec.Shape[d])
                    throw new InferenceRequestException($"{label}: dimension {d} is {size}; the model expects {spec.Shape[d]} ({expected}).");
                continue;
            }
            var symbol = spec.SymbolicDims.Count > d ? spec.SymbolicDims[d] : "";
            if (symbol.Length == 0) continue;
            if (symbols.TryGetValue(symbol, out var first) && first.Size != size)
                throw new InferenceRequestException($"{label}: dimension {d} ('{symbol}') is {size}, but input '{first.Input}' gave '{symbol}' as {first.Size}.");
            symbols.TryAdd(symbol, (size, spec.Name));
        }
    }

    private static string Dimensions(int rank) => rank == 1 ? "1 dimension" : $"{rank} dimensions";

    private static string NameList(IReadOnlyList<TensorSpec> specs)
    {
        const int shown = 10;
        var names = string.Join(", ", specs.Take(shown).Select(s => $"'{s.Name}'"));
        return specs.Count > shown ? $"{names} and {specs.Count - shown} more" : names.Length == 0 ? "none" : names;
    }

    private static TensorSpec Spec(string name, NodeMetadata metadata)
    {
        if (metadata.IsTensor)
        {
            return new TensorSpec(name, true, metadata.ElementDataType, metadata.Dimensions.Select(d => (long)d).ToArray(),
                metadata.SymbolicDimensions.Select(s => s ?? "").ToArray(), Describe(metadata));
        }
        return new TensorSpec(name, false, TensorElementType.DataTypeMax, [], [], Describe(metadata));
    }

    /// <summary>ONNX's way of writing a type: "float", "seq(map(string,float))", "map(int64,double)", "optional(float)".</summary>
    internal static string Describe(NodeMetadata metadata) => metadata.OnnxValueType switch
    {
        OnnxValueType.ONNX_TYPE_TENSOR or OnnxValueType.ONNX_TYPE_SPARSETENSOR => OnnxElementTypes.Name((int)metadata.ElementDataType),
        OnnxValueType.ONNX_TYPE_SEQUENCE => $"seq({Describe(metadata.AsSequenceMetadata().ElementMeta)})",
        OnnxValueType.ONNX_TYPE_MAP => MapDescription(metadata.AsMapMetadata()),
        OnnxValueType.ONNX_TYPE_OPTIONAL => $"optional({Describe(metadata.AsOptionalMetadata().ElementMeta)})",
        _ => metadata.OnnxValueType.ToString(),
    };

    private static string MapDescription(MapMetadata map) =>
        $"map({OnnxElementTypes.Name((int)map.KeyDataType)},{Describe(map.ValueMetadata)})";
}
