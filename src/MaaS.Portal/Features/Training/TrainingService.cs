using System.Text.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Training;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Training;

/// <summary>The body of POST /api/training, and what the training form sends. Only datasetId and labelColumn are required.</summary>
public sealed record TrainingStartRequest(
    string? DatasetId,
    string? LabelColumn,
    string? Task = null,
    string? Trainer = null,
    IReadOnlyList<string>? Features = null,
    Dictionary<string, string>? ColumnTypes = null,
    double? ValidationFraction = null,
    int? Seed = null,
    int? TimeBudgetSeconds = null,
    string? ModelId = null,
    string? ModelName = null);

/// <summary>What a training job reads from its record: ids and the request, checked when it was queued.</summary>
public sealed record TrainingArguments(
    Guid DatasetId, string LabelColumn, TrainingTask Task, string Trainer, IReadOnlyList<string>? Features,
    Dictionary<string, ColumnType> ColumnTypes, double ValidationFraction, int Seed, int TimeBudgetSeconds, Guid? ModelId, string? ModelName);

/// <summary>What a successful training job made (the contract's job result).</summary>
public sealed record TrainingResult(Guid ModelId, string ModelSlug, int Version, string Trainer);

/// <summary>The job that was queued, or why none was: 404 (no such dataset or model of yours) or 400 with the problems.</summary>
public sealed record TrainingStart(JobView? Job, int StatusCode, IReadOnlyList<string> Errors)
{
    public static TrainingStart Refused(int statusCode, params string[] errors) => new(null, statusCode, errors);
}

/// <summary>A training job as pages and GET /api/training/{jobId} show it: the request, each trainer as it finishes, the result.</summary>
public sealed record TrainingRunView(
    Guid JobId, Guid DatasetId, string LabelColumn, string Task, string Trainer, IReadOnlyList<TrainerRun> TrainerRuns,
    Guid? ModelId, string? ModelSlug, int? Version, DateTimeOffset CreatedAt);

/// <summary>Checks a training request and queues its job; reads training records. Used by the API and the Training page alike.</summary>
public sealed class TrainingService(
    DatasetService datasets,
    ModelRegistry registry,
    JobService jobs,
    IDbContextFactory<PortalDbContext> dbFactory,
    IOptions<TrainingOptions> options)
{
    public const double DefaultValidationFraction = 0.2;

    public async Task<TrainingStart> StartAsync(TrainingStartRequest request, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        if (!Guid.TryParse(request.DatasetId, out var datasetId))
        {
            return TrainingStart.Refused(400, "'datasetId' must be the id of one of your datasets (POST /api/datasets returns it).");
        }
        var dataset = await datasets.GetAsync(datasetId, userId, isAdmin, cancellationToken);
        if (dataset is null) return TrainingStart.Refused(404, $"There is no dataset {datasetId} of yours.");

        var errors = new List<string>();
        var label = dataset.Columns.FirstOrDefault(c => string.Equals(c.Name, request.LabelColumn?.Trim(), StringComparison.OrdinalIgnoreCase));
        if (label is null)
        {
            errors.Add(string.IsNullOrWhiteSpace(request.LabelColumn)
                ? "Name the column to predict in 'labelColumn'."
                : $"The dataset has no column '{request.LabelColumn}'. Its columns: {string.Join(", ", dataset.Columns.Select(c => c.Name))}.");
        }

        TrainingTask? task = null;
        if (!string.IsNullOrWhiteSpace(request.Task))
        {
            // By name only: Enum.TryParse would also take "1".
            if (Enum.GetNames<TrainingTask>().FirstOrDefault(n => n.Equals(request.Task.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name)
                task = Enum.Parse<TrainingTask>(name);
            else errors.Add("'task' is one of binary, multiclass, regression.");
        }
        else if (label is not null)
        {
            task = label.SuggestedTask;
            if (task is null) errors.Add($"No task can be suggested for '{label.Name}' ({label.Suggestion}); name one in 'task'.");
        }

        var trainer = string.IsNullOrWhiteSpace(request.Trainer) ? Trainers.Auto : request.Trainer.Trim().ToLowerInvariant();
        if (!Trainers.IsKnown(trainer)) errors.Add($"'trainer' is one of {Trainers.Auto}, {string.Join(", ", Trainers.Names)}.");

        var types = new Dictionary<string, ColumnType>(StringComparer.OrdinalIgnoreCase);
        foreach (var column in dataset.Columns.Where(c => c.Type != c.InferredType)) types[column.Name] = column.Type;
        foreach (var (name, typeName) in request.ColumnTypes ?? [])
        {
            if (dataset.Columns.All(c => !string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase))) errors.Add($"'columnTypes' names '{name}', which is not a column.");
            else if (!DatasetService.TryParseType(typeName, out var type)) errors.Add($"'columnTypes.{name}': '{typeName}' is not numeric, categorical, text or boolean.");
            else types[name] = type;
        }
        foreach (var feature in request.Features ?? [])
        {
            if (dataset.Columns.All(c => !string.Equals(c.Name, feature, StringComparison.OrdinalIgnoreCase))) errors.Add($"'features' names '{feature}', which is not a column.");
        }
        if (request.Features is { Count: 0 }) errors.Add("'features' is empty; leave it out to use every other column.");

        var fraction = request.ValidationFraction ?? DefaultValidationFraction;
        if (!double.IsFinite(fraction) || fraction < 0.05 || fraction > 0.5) errors.Add("'validationFraction' is between 0.05 and 0.5 (0.2 is usual).");
        var budget = request.TimeBudgetSeconds ?? options.Value.DefaultTimeBudgetSeconds;
        if (budget < 1 || budget > options.Value.MaxTimeBudgetSeconds) errors.Add($"'timeBudgetSeconds' is between 1 and {options.Value.MaxTimeBudgetSeconds}.");

        Guid? modelId = null;
        string? modelSlug = null;
        if (!string.IsNullOrWhiteSpace(request.ModelId))
        {
            var model = await registry.FindOwnModelAsync(request.ModelId.Trim(), userId, isAdmin, cancellationToken);
            if (model is null) return TrainingStart.Refused(404, $"There is no model '{request.ModelId}' of yours to add the trained version to.");
            (modelId, modelSlug) = (model.Value.Id, model.Value.Slug);
        }
        if (errors.Count > 0) return TrainingStart.Refused(400, [.. errors]);

        var arguments = new TrainingArguments(dataset.Id, label!.Name, task!.Value, trainer, request.Features?.ToList(), types, fraction,
            request.Seed ?? 1, budget, modelId, string.IsNullOrWhiteSpace(request.ModelName) ? null : request.ModelName.Trim());
        var title = $"Train {Trainers.Title(trainer, task.Value)} on {dataset.Name} → {label.Name} ({task.Value.ToString().ToLowerInvariant()})" +
                    (modelSlug is null ? "" : $" as a new version of {modelSlug}");
        var job = await jobs.EnqueueAsync<TrainingJob>(TrainingJob.Kind, userId, title.Length > 300 ? title[..300] : title, arguments);
        return new TrainingStart(job, 202, []);
    }

    /// <summary>A training job's record (with the trainers finished so far), or null when there is none of the caller's.</summary>
    public async Task<TrainingRunView?> GetRunAsync(Guid jobId, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var run = await db.TrainingRuns.AsNoTracking().SingleOrDefaultAsync(r => r.JobId == jobId && (isAdmin || r.OwnerId == userId), cancellationToken);
        return run is null ? null : View(run);
    }

    /// <summary>The training records of a dataset, newest first.</summary>
    public async Task<IReadOnlyList<TrainingRunView>> ListRunsAsync(Guid datasetId, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var runs = await db.TrainingRuns.AsNoTracking().Where(r => r.DatasetId == datasetId && (isAdmin || r.OwnerId == userId))
            .OrderByDescending(r => r.CreatedAt).Take(50).ToListAsync(cancellationToken);
        return runs.Select(View).ToList();
    }

    private static TrainingRunView View(TrainingRun run) => new(
        run.JobId, run.DatasetId, run.LabelColumn, run.Task, run.Trainer,
        JsonSerializer.Deserialize<List<TrainerRun>>(run.TrainerRunsJson, TrainingReportView.Json) ?? [],
        run.ModelId, run.ModelSlug, run.Version, run.CreatedAt);
}
