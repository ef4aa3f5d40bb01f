using System.Text.Json;

namespace MaaS.Onnx.Inference;

/// <summary>
/// Bounds on one inference request, whatever it declares. The caller (the web host) picks them per deployment;
/// <see cref="MaxRequestBytes"/> should match the body limit the host enforces before reading, so a body that slips
/// past it (chunked, no Content-Length) still ends in 413, not in memory.
/// </summary>
public sealed record V2RequestLimits(
    long MaxRequestBytes = 64L * 1024 * 1024,
    long MaxElementsPerTensor = 16L * 1024 * 1024,
    long MaxTotalElements = 32L * 1024 * 1024,
    int MaxInputs = 64,
    int MaxOutputs = 64,
    int MaxRank = 16,
    int MaxDepth = 64,
    int MaxNameLength = 256,
    bool AllowNonFiniteFloats = false)
{
    public static V2RequestLimits Default { get; } = new();
}

/// <summary>
/// An output the caller asked for. <see cref="BinaryData"/> is the output's own <c>binary_data</c> parameter (null
/// when absent: the request-level <c>binary_data_output</c> decides).
/// </summary>
public sealed record RequestedOutput(string Name, bool? BinaryData, IReadOnlyDictionary<string, JsonElement> Parameters);

/// <summary>
/// A parsed V2 inference request. <see cref="Outputs"/> is null when the request names none (all outputs, in the model's
/// order). Parameter values are strings, numbers or booleans, as the protocol allows.
/// </summary>
public sealed record InferenceRequest(
    string? Id,
    IReadOnlyDictionary<string, JsonElement> Parameters,
    IReadOnlyList<InferenceTensor> Inputs,
    IReadOnlyList<RequestedOutput>? Outputs,
    bool BinaryDataOutput)
{
    /// <summary>A request with these inputs, every output, JSON answers: what tests and warm-up need.</summary>
    public static InferenceRequest Of(params InferenceTensor[] inputs) =>
        new(null, EmptyParameters, inputs, null, false);

    internal static readonly IReadOnlyDictionary<string, JsonElement> EmptyParameters = new Dictionary<string, JsonElement>();

    /// <summary>Whether the answer should carry <paramref name="output"/> in binary after the JSON header.</summary>
    public bool WantsBinary(string output)
    {
        var requested = Outputs?.FirstOrDefault(o => o.Name == output);
        return requested?.BinaryData ?? BinaryDataOutput;
    }
}

/// <summary>
/// A V2 inference response before encoding. Outputs named in <see cref="BinaryOutputs"/> go after the JSON header in the
/// binary extension's layout; the rest carry JSON <c>data</c>.
/// </summary>
public sealed record InferenceResponse(
    string ModelName,
    string? ModelVersion,
    string? Id,
    IReadOnlyList<InferenceTensor> Outputs,
    IReadOnlySet<string>? BinaryOutputs = null,
    IReadOnlyDictionary<string, JsonElement>? Parameters = null);

/// <summary>
/// An encoded V2 body (a response, or a request a client sends). With binary tensors, <see cref="HeaderLength"/> is the
/// JSON header's length for the <c>Inference-Header-Content-Length</c> header; null means the whole body is JSON.
/// </summary>
public sealed record V2Body(ReadOnlyMemory<byte> Body, int? HeaderLength)
{
    public const string JsonContentType = "application/json";
    public const string BinaryContentType = "application/octet-stream";
    public const string HeaderLengthHeader = "Inference-Header-Content-Length";

    /// <summary>application/json for plain JSON, application/octet-stream once binary tensors follow the header.</summary>
    public string ContentType => HeaderLength is null ? JsonContentType : BinaryContentType;
}

/// <summary>
/// What a run gave back: the outputs in the order asked for, which of them the caller wants in binary, how long the
/// request waited for an instance (or for its batch to start) and how long the model computed. <see cref="BatchRequests"/>
/// and <see cref="BatchRows"/> describe the run it shared: 1 request means it ran alone.
/// </summary>
public sealed record InferenceResult(
    IReadOnlyList<InferenceTensor> Outputs,
    IReadOnlySet<string> BinaryOutputs,
    TimeSpan QueueTime,
    TimeSpan ComputeTime,
    int BatchRequests,
    long BatchRows)
{
    /// <summary>The V2 response for this result; the id comes from the request, as the protocol requires.</summary>
    public InferenceResponse ToResponse(string modelName, string? modelVersion, string? id) =>
        new(modelName, modelVersion, id, Outputs, BinaryOutputs);
}
