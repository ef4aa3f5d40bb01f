namespace MaaS.Portal.Features.Deployments;

/// <summary>Settings as the API takes them: members left out keep their current (or default) values.</summary>
public sealed record DeploymentSettings(
    int? Instances = null, int? IntraOpThreads = null, string? ExecutionProvider = null, int? MaxBatchSize = null,
    int? BatchingDelayMilliseconds = null, int? RequestTimeoutMilliseconds = null, long? MaxRequestBytes = null);

/// <summary>One version's share of a deployment's traffic.</summary>
public sealed record TrafficShare(int Version, int Weight);

/// <summary>POST /api/deployments.</summary>
public sealed record CreateDeploymentRequest(string? Name, string? ModelId, int? Version, DeploymentSettings? Settings = null);

/// <summary>PATCH /api/deployments/{name}: a new version, a traffic split, new settings, or several at once.</summary>
public sealed record UpdateDeploymentRequest(int? Version = null, IReadOnlyList<TrafficShare>? Traffic = null, DeploymentSettings? Settings = null);

public sealed record DeploymentSettingsView(
    int Instances, int IntraOpThreads, string ExecutionProvider, int MaxBatchSize, int BatchingDelayMilliseconds,
    int RequestTimeoutMilliseconds, long MaxRequestBytes);

/// <summary>A deployment as pages and the API show it, with its live figures when the host has it loaded.</summary>
public sealed record DeploymentView(
    Guid Id, string Name, string OwnerId, Guid ModelId, string ModelSlug, string ModelName, string State, string? Message,
    IReadOnlyList<TrafficShare> Traffic, DeploymentSettingsView Settings, double? ColdStartMilliseconds, long? ResidentMemoryBytes,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, DateTimeOffset? ReadyAt)
{
    public static DeploymentView From(Deployment d) => new(
        d.Id, d.Name, d.OwnerId, d.ModelId, d.Model?.Slug ?? "", d.Model?.Name ?? "", d.State, d.StateMessage,
        d.Targets.OrderBy(t => t.Version).Select(t => new TrafficShare(t.Version, t.Weight)).ToList(),
        new DeploymentSettingsView(d.Instances, d.IntraOpThreads, d.ExecutionProvider, d.MaxBatchSize, d.BatchingDelayMilliseconds,
            d.RequestTimeoutMilliseconds, d.MaxRequestBytes),
        d.ColdStartMilliseconds, d.ResidentMemoryBytes, d.CreatedAt, d.UpdatedAt, d.ReadyAt);
}

/// <summary>The outcome of a change: the deployment and the job that brings the host in line, or why nothing changed.</summary>
public sealed record DeploymentChange(DeploymentView? Deployment, MaaS.Portal.Jobs.JobView? Job, int StatusCode, IReadOnlyList<string> Errors)
{
    public static DeploymentChange Refused(int statusCode, params string[] errors) => new(null, null, statusCode, errors);
}
