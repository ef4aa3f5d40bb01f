using MaaS.Onnx.Inference;
using MaaS.Onnx.Samples;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// What a playground page runs against: a deployment (by name), or one version in a temporary session of the user's.
/// <see cref="Signature"/> is the loaded model's own; <see cref="Labels"/> come from the version's labels file and
/// <see cref="Tokenizer"/> from a vocabulary attached to the model (with a text sample set).
/// </summary>
public sealed record PlaygroundTarget(
    PlaygroundTargetKind Kind,
    string Name,
    Guid ModelId,
    string ModelSlug,
    string ModelName,
    int Version,
    bool IsModelOwner,
    ModelSignature Signature,
    IReadOnlyList<string>? Labels,
    TextTokenizer? Tokenizer)
{
    /// <summary>The V2 path people call: the deployment's, or null for a version not deployed yet.</summary>
    public string? EndpointPath => Kind == PlaygroundTargetKind.Deployment ? $"/v2/models/{Name}/infer" : null;

    /// <summary>What history is kept under: the deployment's name, or the model and version tried.</summary>
    public string HistoryKey => Kind == PlaygroundTargetKind.Deployment ? Name : $"{ModelSlug}/v{Version}";

    public string Title => Kind == PlaygroundTargetKind.Deployment ? Name : $"{ModelName} v{Version}";
}

public enum PlaygroundTargetKind { Deployment, Version }

/// <summary>Why a playground cannot open: not found (or not the user's), not ready, or failed to load; in words.</summary>
public sealed record PlaygroundUnavailable(string Message, bool NotFound);

/// <summary>
/// One request made from the playground: the answer's status, the error in words or the outputs, the server's
/// compute time (null when it did not run) and the round trip the page measured.
/// </summary>
public sealed record PlaygroundRun(
    int Status,
    string? Error,
    IReadOnlyList<InferenceTensor> Outputs,
    int Version,
    TimeSpan? ComputeTime,
    TimeSpan? QueueTime,
    TimeSpan RoundTrip,
    bool TargetGone = false)
{
    public bool Succeeded => Status == 200;
}
