namespace MaaS.Onnx.Models;

/// <summary>One dimension of a tensor shape: a fixed size, or a symbolic/unknown one (Value null, Symbol its name if any).</summary>
public sealed record Dimension(long? Value, string? Symbol)
{
    public override string ToString() => Value?.ToString() ?? Symbol ?? "?";
}

/// <summary>
/// A graph input or output. ElementType uses ONNX's lower-case names: "float", "float16", "double", "int8", "int16",
/// "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "string", "bfloat16"; for non-tensor types a
/// description such as "map(string,float)" or "seq(map(int64,float))". Shape is null when the rank is unknown.
/// </summary>
public sealed record TensorSignature(string Name, string ElementType, IReadOnlyList<Dimension>? Shape);

public sealed record OpsetImport(string Domain, long Version);

public enum WeightStorage { None, Initializers, ConstantNodes, Mixed }

/// <summary>What the managed protobuf reader learns about a model, without running it.</summary>
public sealed record ModelInspection(
    long IrVersion,
    IReadOnlyList<OpsetImport> Opsets,
    string? ProducerName,
    string? ProducerVersion,
    string? GraphName,
    string? DocString,
    IReadOnlyList<TensorSignature> Inputs,
    IReadOnlyList<TensorSignature> Outputs,
    int NodeCount,
    IReadOnlyDictionary<string, int> OpHistogram,
    long ParameterCount,
    int InitializerCount,
    IReadOnlyDictionary<string, long> InitializerBytesByType,
    long ConstantNodeBytes,
    WeightStorage WeightStorage,
    IReadOnlyList<string> Subgraphs,
    IReadOnlyList<string> ExternalDataFiles);

/// <summary>
/// The verdict of MaaS.ModelProbe on one model: admitted (with what it saw) or rejected, with the check that failed
/// and a message for people naming the offending value.
/// </summary>
public sealed record ProbeReport(
    bool Admitted,
    string? FailedCheck,
    string? Message,
    ModelInspection? Inspection,
    IReadOnlyList<TensorSignature>? RuntimeInputs,
    IReadOnlyList<TensorSignature>? RuntimeOutputs,
    double LoadMilliseconds,
    double RunMilliseconds,
    long PeakMemoryBytes)
{
    /// <summary>A verdict against the model; <paramref name="check"/> is one of <see cref="AdmissionChecks"/>.</summary>
    public static ProbeReport Rejected(string check, string message, ModelInspection? inspection = null) =>
        new(false, check, message, inspection, null, null, 0, 0, 0);
}

/// <summary>Limits the probe process runs under.</summary>
public sealed record ProbeLimits(long MemoryBytes, TimeSpan Timeout, long MaxModelBytes);
