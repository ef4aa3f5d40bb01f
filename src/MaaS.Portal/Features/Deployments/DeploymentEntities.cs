using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Features.Deployments;

public static class DeploymentStates
{
    public const string Pending = "Pending";
    public const string Loading = "Loading";
    public const string Ready = "Ready";
    public const string Failed = "Failed";
    public const string Stopped = "Stopped";
}

/// <summary>
/// A named endpoint as desired state: which versions of one model should be served, with what weights and settings.
/// The host is brought in line with these rows (at start-up and after every change); <see cref="Generation"/> goes up
/// with every change so a deployment job that started for an older state knows it is stale.
/// </summary>
public sealed class Deployment
{
    public Guid Id { get; set; } = Guid.NewGuid();
    /// <summary>URL-safe and unique: the model name in /v2/models/{name}.</summary>
    public required string Name { get; set; }
    public required string OwnerId { get; set; }
    public Guid ModelId { get; set; }
    public RegisteredModel? Model { get; set; }
    public string State { get; set; } = DeploymentStates.Pending;
    public string? StateMessage { get; set; }
    public int Generation { get; set; } = 1;

    /// <summary>ONNX Runtime sessions per version: concurrent requests beyond this wait (up to the timeout).</summary>
    public int Instances { get; set; } = 1;
    public int IntraOpThreads { get; set; } = 1;
    /// <summary>"cpu", or "cuda" where the machine has a GPU and the GPU package.</summary>
    public string ExecutionProvider { get; set; } = "cpu";
    /// <summary>1 turns dynamic batching off.</summary>
    public int MaxBatchSize { get; set; } = 1;
    public int BatchingDelayMilliseconds { get; set; }
    public int RequestTimeoutMilliseconds { get; set; } = 30_000;
    public long MaxRequestBytes { get; set; } = 64L << 20;

    /// <summary>Measured by the last load: time to load and warm up, and resident memory it added.</summary>
    public double? ColdStartMilliseconds { get; set; }
    public long? ResidentMemoryBytes { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? ReadyAt { get; set; }
    public List<DeploymentTarget> Targets { get; set; } = [];
}

/// <summary>One version a deployment serves and its share of traffic (weights are relative; one target gets all).</summary>
public sealed class DeploymentTarget
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid DeploymentId { get; set; }
    public int Version { get; set; }
    public int Weight { get; set; } = 100;
}
