using System.Diagnostics;
using System.Text.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using MaaS.Training;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Training;

/// <summary>
/// Trains a model from a dataset: reading (every value checked against its column's type), training (each trainer
/// reported as it finishes), exporting to ONNX and checking it against ML.NET, then registering it through the same
/// probe as uploads. The ONNX file is written under a work folder named after the job and deleted at the end; a re-run
/// of a job that already registered its version returns that version.
/// </summary>
public sealed class TrainingJob(
    DatasetService datasets,
    ModelRegistry registry,
    IDbContextFactory<PortalDbContext> dbFactory,
    DataPaths paths,
    IOptions<TrainingOptions> options,
    ILogger<TrainingJob> logger) : IPortalJob
{
    public const string Kind = "train";

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        var args = context.Arguments<TrainingArguments>();
        var started = Stopwatch.StartNew();
        await context.ReportAsync(0.01, "preparing", cancellationToken);
        if (await registry.FindTrainedByJobAsync(context.JobId, cancellationToken) is { } already)
        {
            return new TrainingResult(already.ModelId, already.ModelSlug, already.Version, args.Trainer);
        }
        var dataset = await datasets.GetForJobAsync(args.DatasetId, cancellationToken)
            ?? throw new JobFailedException("The dataset no longer exists; it was deleted after the job was queued.");
        await SaveRunAsync(context, args, cancellationToken);

        var request = new TrainingRequest
        {
            LabelColumn = args.LabelColumn,
            Task = args.Task,
            Trainer = args.Trainer,
            Features = args.Features,
            ColumnTypes = args.ColumnTypes,
            ValidationFraction = args.ValidationFraction,
            Seed = args.Seed,
            TimeBudget = TimeSpan.FromSeconds(args.TimeBudgetSeconds),
        };

        await context.ReportAsync(0.02, "reading the dataset", cancellationToken);
        var profile = DatasetService.ProfileOf(dataset);
        TabularData data;
        try
        {
            data = await Task.Run(() =>
            {
                using var csv = datasets.OpenCsv(dataset);
                return TabularData.Load(csv, profile, request, options.Value.CsvLimits, cancellationToken);
            }, cancellationToken);
        }
        catch (DatasetException ex)
        {
            throw new JobFailedException(ex.Message);
        }

        var runs = new List<TrainerRun>();
        TrainingOutcome outcome;
        try
        {
            outcome = await Task.Run(() => TabularTrainer.Train(data, request, progress =>
            {
                // Called on the training thread between steps; each call is a new stage, so it is written at once.
                if (progress.Finished is { } finished)
                {
                    runs.Add(finished);
                    UpdateRunAsync(context.JobId, r => r.SetProperty(x => x.TrainerRunsJson, JsonSerializer.Serialize(runs, TrainingReportView.Json))).GetAwaiter().GetResult();
                }
                context.ReportAsync(0.05 + 0.85 * progress.Fraction, progress.Stage, cancellationToken).GetAwaiter().GetResult();
            }, cancellationToken), cancellationToken);
        }
        catch (TrainingException ex)
        {
            throw new JobFailedException(ex.Message);
        }
        data = null!; // the columns can go before the model is registered

        await context.ReportAsync(0.92, "registering the model", cancellationToken);
        var work = Path.Combine(paths.Temp, $"{context.JobId:N}.train");
        try
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            Directory.CreateDirectory(work);
            var fileName = ModelRegistry.SafeFileName($"{outcome.Label}-{outcome.Trainer}.onnx", "model.onnx");
            await File.WriteAllBytesAsync(Path.Combine(work, fileName), outcome.Onnx, cancellationToken);

            var report = TrainingReportView.From(dataset, request, outcome, started.Elapsed.TotalSeconds);
            var lineage = JsonSerializer.Serialize(new
            {
                datasetId = dataset.Id,
                dataset = dataset.Name,
                datasetSha256 = dataset.Sha256,
                label = outcome.Label,
                task = args.Task,
                trainer = outcome.Trainer,
                requestedTrainer = args.Trainer,
                features = outcome.Inputs.Select(i => i.Column),
                columnTypes = args.ColumnTypes,
                validationFraction = args.ValidationFraction,
                seed = args.Seed,
                jobId = context.JobId,
            }, TrainingReportView.Json);
            var labels = outcome.Classes.Count > 0 ? string.Join("\n", outcome.Classes) : null;
            var registered = await registry.RegisterTrainedVersionAsync(args.ModelId, args.ModelName ?? $"{dataset.Name} {outcome.Label}",
                $"Predicts '{outcome.Label}' ({args.Task.ToString().ToLowerInvariant()}) from dataset {dataset.Name}.", work, fileName, labels,
                new DerivedVersion(VersionOperations.Train, $"trained from dataset {dataset.Name} with {outcome.TrainerTitle}", lineage,
                    report.ToReportJson(), VersionStatuses.Ready, context.OwnerId), cancellationToken);
            if (!registered.Succeeded)
            {
                throw new JobFailedException($"The trained model was refused by the same checks uploads pass ({registered.FailedCheck}): {registered.Message}");
            }

            var model = registered.Model!;
            var version = registered.Version!.Version;
            await UpdateRunAsync(context.JobId, r => r
                .SetProperty(x => x.ModelId, model.Id).SetProperty(x => x.ModelSlug, model.Slug).SetProperty(x => x.Version, version));
            context.Summary = $"{model.Slug} v{version}: {outcome.TrainerTitle}, validation {outcome.Metrics.LossName} {outcome.Metrics.Loss:0.####}" +
                              (outcome.Metrics.Classification is { } c ? $", accuracy {c.Accuracy:P1}." : $", R² {outcome.Metrics.Regression!.RSquared:0.###}.");
            logger.LogInformation("Trained {Slug} v{Version} from dataset {Dataset} with {Trainer}", model.Slug, version, dataset.Id, outcome.Trainer);
            return new TrainingResult(model.Id, model.Slug, version, outcome.Trainer);
        }
        finally
        {
            try
            {
                if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            }
            catch (IOException ex)
            {
                // Housekeeping sweeps data/tmp later; the outcome of the job does not depend on this.
                logger.LogWarning(ex, "Could not delete the work folder {Work}", work);
            }
        }
    }

    /// <summary>Creates the job's training record, or resets it for a re-run.</summary>
    private async Task SaveRunAsync(JobContext context, TrainingArguments args, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var run = await db.TrainingRuns.SingleOrDefaultAsync(r => r.JobId == context.JobId, cancellationToken);
        if (run is null)
        {
            db.TrainingRuns.Add(new TrainingRun
            {
                JobId = context.JobId,
                DatasetId = args.DatasetId,
                OwnerId = context.OwnerId,
                LabelColumn = args.LabelColumn,
                Task = args.Task.ToString().ToLowerInvariant(),
                Trainer = args.Trainer,
                RequestJson = context.ArgumentsJson ?? "{}",
            });
        }
        else
        {
            run.TrainerRunsJson = "[]";
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    private async Task UpdateRunAsync(Guid jobId, Action<Microsoft.EntityFrameworkCore.Query.UpdateSettersBuilder<TrainingRun>> set)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        await db.TrainingRuns.Where(r => r.JobId == jobId).ExecuteUpdateAsync(set);
    }
}
