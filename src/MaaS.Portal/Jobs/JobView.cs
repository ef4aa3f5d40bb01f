using System.Text.Json;
using System.Text.Json.Nodes;

namespace MaaS.Portal.Jobs;

/// <summary>A job as pages, notifications and the REST API show it (the contract's job object).</summary>
public sealed record JobView(
    Guid Id,
    string Kind,
    string Title,
    string OwnerId,
    JobState State,
    double Progress,
    string? Stage,
    string? Message,
    JsonNode? Result,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt)
{
    public bool IsFinished => State is JobState.Succeeded or JobState.Failed or JobState.Cancelled;

    public static JobView From(JobRecord job) => new(
        job.Id, job.Kind, job.Title, job.OwnerId, job.State, job.Progress, job.Stage, job.Message,
        job.ResultJson is null ? null : JsonNode.Parse(job.ResultJson),
        job.CreatedAt, job.StartedAt, job.FinishedAt);

    public static string? ToJson(object? value) => value is null ? null : JsonSerializer.Serialize(value, JsonSerializerOptions.Web);
}
