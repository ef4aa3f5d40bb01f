using System.Text.Json;
using MaaS.Onnx.Compression;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;

namespace MaaS.Portal.Features.Compression;

/// <summary>The limits a compressed version must meet; members left out are not checked.</summary>
public sealed record GateRequest(double? MinCosine = null, double? MaxTop1Disagreement = null, double? MaxLatencyRatio = null);

/// <summary>The body of POST /api/models/{id}/versions/{v}/compress, and what the dialog sends.</summary>
public sealed record CompressRequest(string? Recipe, JsonElement? Options = null, string? CalibrationSetId = null, GateRequest? Gate = null);

/// <summary>The job that was queued, or why none was: 404 (no such version of yours) or 400 with the problems.</summary>
public sealed record CompressionStart(JobView? Job, int StatusCode, IReadOnlyList<string> Errors)
{
    public static CompressionStart Refused(int statusCode, params string[] errors) => new(null, statusCode, errors);
}

/// <summary>Checks a compression request and queues its job; used by the API and the compress dialog alike.</summary>
public sealed class CompressionService(ModelRegistry registry, JobService jobs, SampleSets.SampleSetService sampleSets)
{
    /// <summary>The gate used when a request names none: outputs must keep a mean cosine similarity of 0.99.</summary>
    public static readonly QualityGate DefaultGate = new(MinCosine: 0.99);

    public async Task<CompressionStart> StartAsync(string modelIdOrSlug, int version, CompressRequest request, string userId, bool isAdmin,
        CancellationToken cancellationToken = default)
    {
        var detail = await registry.GetVersionAsync(modelIdOrSlug, version, userId, isAdmin, cancellationToken);
        if (detail is null) return CompressionStart.Refused(404, $"Model '{modelIdOrSlug}' has no version {version} of yours.");

        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(request.Recipe))
        {
            errors.Add($"Name a recipe: one of {string.Join(", ", CompressionRecipes.All.Select(r => r.Name))}.");
        }
        else
        {
            try
            {
                CompressionRecipes.Resolve(request.Recipe, request.Options, detail.OpHistogram);
            }
            catch (RecipeOptionsException ex)
            {
                errors.AddRange(ex.Errors);
            }
        }
        Guid? calibrationSetId = null;
        if (!string.IsNullOrWhiteSpace(request.CalibrationSetId))
        {
            if (Guid.TryParse(request.CalibrationSetId, out var id)) calibrationSetId = id;
            else errors.Add("'calibrationSetId' must be the id of one of your sample sets.");
        }
        var gate = request.Gate is null ? DefaultGate : new QualityGate(request.Gate.MinCosine, request.Gate.MaxTop1Disagreement, request.Gate.MaxLatencyRatio);
        errors.AddRange(CheckGate(gate));
        if (errors.Count > 0) return CompressionStart.Refused(400, [.. errors]);
        // Whether the set fits the model is the job's to find out (it loads the samples); whether it exists is not.
        if (calibrationSetId is { } setId && await sampleSets.GetAsync(setId, userId, isAdmin, cancellationToken) is null)
            return CompressionStart.Refused(404, $"There is no sample set {setId} of yours to calibrate with.");

        var recipe = CompressionRecipes.Find(request.Recipe)!;
        var arguments = new CompressionArguments(detail.ModelId, version, recipe.Name, request.Options, calibrationSetId, gate, isAdmin);
        var job = await jobs.EnqueueAsync<CompressionJob>(CompressionJob.Kind, userId, $"Compress {detail.ModelSlug} v{version}: {recipe.Title}", arguments);
        return new CompressionStart(job, 202, []);
    }

    /// <summary>Gate limits that mean something: cosine in [-1, 1], disagreement in [0, 1], latency ratio in (0, 100].</summary>
    public static IEnumerable<string> CheckGate(QualityGate gate)
    {
        if (gate.MinCosine is { } cosine && (!double.IsFinite(cosine) || cosine is < -1 or > 1))
            yield return "Gate 'minCosine' must be between -1 and 1 (0.99 is a common choice).";
        if (gate.MaxTop1Disagreement is { } disagreement && (!double.IsFinite(disagreement) || disagreement is < 0 or > 1))
            yield return "Gate 'maxTop1Disagreement' is a share between 0 and 1 (0.01 = 1% of samples may change their top class).";
        if (gate.MaxLatencyRatio is { } ratio && (!double.IsFinite(ratio) || ratio <= 0 || ratio > 100))
            yield return "Gate 'maxLatencyRatio' must be above 0 and at most 100 (1.0 = no slower than the parent).";
    }

    /// <summary>The recipe the portal suggests for a version, from its operators.</summary>
    public static RecipeSuggestion Suggest(VersionDetail version) => CompressionRecipes.Suggest(version.OpHistogram);
}
