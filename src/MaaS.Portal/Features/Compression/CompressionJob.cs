using System.Diagnostics;
using System.Text.Json;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Models;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Features.SampleSets;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Portal.Features.Compression;

/// <summary>What a compression job reads from its record: ids and the request, checked when it was queued.</summary>
public sealed record CompressionArguments(
    Guid ModelId, int Version, string Recipe, JsonElement? Options, Guid? CalibrationSetId, QualityGate Gate, bool OwnerIsAdmin);

/// <summary>What a successful compression job made (the contract's job result).</summary>
public sealed record CompressionResult(Guid ModelId, string ModelSlug, int Version, string Status);

/// <summary>
/// Compresses one version into a new one: preparing (copy the files out of the store), loading samples, rewriting
/// (the recipe's passes), evaluating (latency and agreement against the parent), saving (probe, then register).
/// Everything is written under a work folder named after the job and deleted at the end, so a cancelled or failed
/// run leaves nothing behind and a re-run starts clean; a version this job already registered is returned as is.
/// </summary>
public sealed class CompressionJob(
    ModelRegistry registry,
    SampleSetService sampleSets,
    BlobStore blobs,
    DataPaths paths,
    ILogger<CompressionJob> logger) : IPortalJob
{
    public const string Kind = "compress";

    // Evaluation samples taken from a sample set beyond those calibration reads; generated inputs otherwise.
    private const int EvaluationSamples = 16;

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        var args = context.Arguments<CompressionArguments>();
        var started = Stopwatch.StartNew();
        await context.ReportAsync(0.01, "preparing", cancellationToken);

        var found = await registry.GetForJobAsync(args.ModelId, args.Version, cancellationToken)
            ?? throw new JobFailedException($"Version {args.Version} of the model no longer exists; it was deleted after the job was queued.");
        var (model, parent) = found;
        if (await registry.FindMadeByJobAsync(args.ModelId, context.JobId, cancellationToken) is { } already)
        {
            return new CompressionResult(model.Id, model.Slug, already.Version, already.Status);
        }

        var inspection = JsonSerializer.Deserialize<ModelInspection>(parent.InspectionJson, ModelMapping.Json)!;
        ResolvedRecipe recipe;
        try
        {
            recipe = CompressionRecipes.Resolve(args.Recipe, args.Options, inspection.OpHistogram);
        }
        catch (RecipeOptionsException ex)
        {
            throw new JobFailedException(ex.Message);
        }
        if (CompressionRecipes.WhyNotApplicable(recipe.Recipe, inspection) is { } notApplicable) throw new JobFailedException(notApplicable);

        var work = Path.Combine(paths.Temp, $"{context.JobId:N}.compress");
        try
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            var originalDirectory = Directory.CreateDirectory(Path.Combine(work, "original")).FullName;
            var candidateDirectory = Directory.CreateDirectory(Path.Combine(work, "candidate")).FullName;
            var scratch = Directory.CreateDirectory(Path.Combine(work, "scratch")).FullName;
            foreach (var file in parent.Files.Where(f => f.Role != FileRoles.Labels))
            {
                await using var source = blobs.OpenRead(file.Sha256);
                await using var target = File.Create(Path.Combine(originalDirectory, file.FileName));
                await source.CopyToAsync(target, cancellationToken);
            }
            var originalPath = Path.Combine(originalDirectory, parent.ModelFileName);

            var (calibration, evaluation) = await LoadSamplesAsync(args, context, recipe, inspection, cancellationToken);

            await context.ReportAsync(0.12, "rewriting", cancellationToken);
            var report = new CompressionReport();
            var progress = new ThrottledProgress(context, 0.12, 0.70);
            var compressed = await Task.Run(() =>
            {
                var proto = OnnxModelFile.Load(originalPath);
                return CompressionPipeline.Run(proto, recipe.Passes, new CompressionContext
                {
                    Samples = calibration,
                    WorkDirectory = scratch,
                    CancellationToken = cancellationToken,
                    Progress = progress.Report,
                }, report);
            }, cancellationToken);
            if (report.Passes.All(p => p.Rewritten == 0) && recipe.Passes.All(p => p is not GraphOptimizationPass))
            {
                throw new JobFailedException(NothingRewritten(recipe.Recipe, report));
            }

            await context.ReportAsync(0.72, "evaluating", cancellationToken);
            var candidateFileName = Path.GetFileNameWithoutExtension(parent.ModelFileName) + $".{recipe.Recipe}.onnx";
            var candidatePath = Path.Combine(candidateDirectory, candidateFileName);
            await Task.Run(() => OnnxModelFile.Save(compressed, candidatePath), cancellationToken);
            compressed = null!; // the candidate is on disk; let the proto go before two sessions load
            report.Evaluation = await Task.Run(() => Evaluate(originalPath, candidatePath, evaluation, cancellationToken), cancellationToken);
            report.Gate = report.Evaluation.Check(args.Gate);

            await context.ReportAsync(0.90, "saving", cancellationToken);
            var status = report.Gate.Passed ? VersionStatuses.Ready : VersionStatuses.RejectedByGate;
            var view = CompressionReportView.From(recipe.Recipe, parent.Number, recipe.Options, report, args.Gate, started.Elapsed.TotalSeconds);
            var lineage = JsonSerializer.Serialize(new
            {
                recipe = recipe.Recipe,
                options = recipe.Options,
                passes = recipe.Passes.Select(p => p.Name),
                calibrationSetId = args.CalibrationSetId,
                gate = args.Gate,
                jobId = context.JobId,
            }, JsonSerializerOptions.Web);
            var title = CompressionRecipes.Find(recipe.Recipe)!.Title;
            var registered = await registry.RegisterDerivedVersionAsync(model.Id, parent.Number, candidateDirectory, candidateFileName,
                new DerivedVersion(VersionOperations.Compress, $"{title} ({string.Join(" → ", recipe.Passes.Select(p => p.Name))})",
                    lineage, view.ToReportJson(), status, context.OwnerId), cancellationToken);
            if (!registered.Succeeded)
            {
                throw new JobFailedException($"The compressed model was refused by the same checks uploads pass ({registered.FailedCheck}): {registered.Message}");
            }

            var version = registered.Version!.Version;
            var evaluated = report.Evaluation;
            context.Summary = $"v{version}: {report.SizeRatio:P0} of the size, latency ×{evaluated.LatencyRatio:0.00}, " +
                              $"lowest output cosine {evaluated.MinMeanCosine:0.0000}" +
                              (report.Gate.Passed ? "." : $". Rejected by gate: {string.Join(" ", report.Gate.Failures)}");
            logger.LogInformation("Compressed {Slug} v{Parent} with {Recipe} into v{Version} ({Status})", model.Slug, parent.Number, recipe.Recipe, version, status);
            return new CompressionResult(model.Id, model.Slug, version, status);
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

    private async Task<(IReadOnlyList<ModelSample> Calibration, IReadOnlyList<ModelSample>? Evaluation)> LoadSamplesAsync(
        CompressionArguments args, JobContext context, ResolvedRecipe recipe, ModelInspection inspection, CancellationToken cancellationToken)
    {
        if (args.CalibrationSetId is not { } setId) return ([], null);
        await context.ReportAsync(0.05, "loading samples", cancellationToken);
        var calibrationCount = CompressionRecipes.CalibrationSamples(recipe);
        IReadOnlyList<ModelSample> samples;
        try
        {
            samples = await sampleSets.LoadSamplesAsync(setId, context.OwnerId, args.OwnerIsAdmin,
                inspection.Inputs.Select(SignatureTensor.From).ToList(), calibrationCount + EvaluationSamples, cancellationToken);
        }
        catch (SampleSetException ex)
        {
            throw new JobFailedException($"The sample set cannot be used: {ex.Message}");
        }
        if (samples.Count == 0) throw new JobFailedException("The sample set holds no samples.");
        // Agreement is measured on samples calibration did not see, when the set has enough of them.
        var calibration = samples.Take(Math.Max(calibrationCount, 1)).ToList();
        var heldOut = samples.Skip(calibration.Count).ToList();
        return (calibrationCount == 0 ? [] : calibration, heldOut.Count > 0 ? heldOut : samples);
    }

    private static EvaluationResult Evaluate(string originalPath, string candidatePath, IReadOnlyList<ModelSample>? samples, CancellationToken cancellationToken)
    {
        try
        {
            return Evaluator.Evaluate(originalPath, candidatePath, samples, new EvaluationOptions(), cancellationToken);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new JobFailedException($"The compressed model does not run in ONNX Runtime: {ex.Message}");
        }
        catch (Exception ex) when (ex is InvalidDataException or NotSupportedException or ArgumentException)
        {
            throw new JobFailedException($"The compressed model could not be evaluated: {ex.Message}");
        }
    }

    private static string NothingRewritten(string recipe, CompressionReport report)
    {
        var reasons = report.Passes.SelectMany(p => p.Nodes).Where(n => n.Reason is not null)
            .GroupBy(n => n.Reason!).OrderByDescending(g => g.Count()).Take(3)
            .Select(g => $"{g.Count()} × {g.First().OpType}: {g.Key}").ToList();
        var notes = report.Passes.SelectMany(p => p.Notes).Take(2).ToList();
        return $"Recipe '{recipe}' changed nothing in this model, so no version was made." +
               (reasons.Count > 0 ? $" Skipped: {string.Join("; ", reasons)}." : "") +
               (notes.Count > 0 ? $" {string.Join(" ", notes)}" : "");
    }

    /// <summary>
    /// Passes report progress synchronously from the worker thread, often; this writes at most every half second,
    /// mapping the pipeline's 0..1 into the job's share for rewriting.
    /// </summary>
    private sealed class ThrottledProgress(JobContext context, double from, double to)
    {
        private readonly Stopwatch _since = Stopwatch.StartNew();

        public void Report(double fraction, string stage)
        {
            if (_since.ElapsedMilliseconds < 500) return;
            _since.Restart();
            // Stage text stays "rewriting" so the record is not rewritten for every node; the pass name goes with it.
            var pass = stage.Split(':', 2)[0];
            context.ReportAsync(from + (to - from) * fraction, $"rewriting ({pass})").GetAwaiter().GetResult();
        }
    }
}
