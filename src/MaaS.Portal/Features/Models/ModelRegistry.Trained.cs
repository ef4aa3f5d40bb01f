using System.Text.Json;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Models;

/// <summary>Where a trained version went: its model and number.</summary>
public sealed record TrainedVersionRef(Guid ModelId, string ModelSlug, int Version);

public sealed partial class ModelRegistry
{
    /// <summary>
    /// Registers a model the portal trained, from the files in <paramref name="workDirectory"/>: through the same probe
    /// as uploads, with its labels file, as version 1 of a new model (<paramref name="modelId"/> null) or as the next
    /// version of the owner's model. Files are moved into the blob store; nothing is recorded if the probe refuses it.
    /// </summary>
    public async Task<RegistrationResult> RegisterTrainedVersionAsync(Guid? modelId, string newModelName, string? description, string workDirectory,
        string modelFileName, string? labels, DerivedVersion made, CancellationToken cancellationToken)
    {
        var report = await probe.ProbeAsync(Path.Combine(workDirectory, modelFileName), ProbeLimitsFor(workDirectory), cancellationToken);
        if (!report.Admitted || report.Inspection is null)
        {
            return RegistrationResult.Rejected(report.FailedCheck ?? "probe", report.Message ?? "The trained model could not be opened by ONNX Runtime.");
        }
        using var references = await blobs.LockReferencesAsync(cancellationToken);
        var files = await StoreFilesAsync(workDirectory, modelFileName, null, NormaliseLabels(labels), cancellationToken);
        var modelFile = files.Single(f => f.Role == FileRoles.Model);

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (modelId is null)
        {
            var name = CleanName(newModelName) ?? "trained model";
            var model = new RegisteredModel
            {
                Name = name,
                Slug = await UniqueSlugAsync(db, name, cancellationToken),
                Description = CleanText(description, 4000),
                Tags = NormaliseTags("tabular,trained"),
                OwnerId = made.CreatedById,
            };
            db.Models.Add(model);
            await db.SaveChangesAsync(CancellationToken.None);
            modelId = model.Id;
        }

        // Two jobs for one model may finish together: the unique (model, number) index makes the loser take the next number.
        for (var attempt = 1; ; attempt++)
        {
            var number = await db.ModelVersions.Where(v => v.ModelId == modelId).MaxAsync(v => (int?)v.Number, CancellationToken.None) + 1 ?? 1;
            db.ModelVersions.Add(new ModelVersion
            {
                ModelId = modelId.Value,
                Number = number,
                Operation = made.Operation,
                OperationDetail = made.Detail,
                OptionsJson = made.OptionsJson,
                Status = made.Status,
                ModelFileName = modelFile.FileName,
                Sha256 = modelFile.Sha256,
                SizeBytes = files.Where(f => f.Role != FileRoles.Labels).Sum(f => f.Length),
                InspectionJson = JsonSerializer.Serialize(report.Inspection, ModelMapping.Json),
                RuntimeSignatureJson = JsonSerializer.Serialize(new { inputs = report.RuntimeInputs, outputs = report.RuntimeOutputs }, ModelMapping.Json),
                ReportJson = made.ReportJson,
                CreatedById = made.CreatedById,
                Files = files.Select(f => new VersionFile { FileName = f.FileName, Role = f.Role, Sha256 = f.Sha256, Length = f.Length }).ToList(),
            });
            try
            {
                await db.SaveChangesAsync(CancellationToken.None);
            }
            catch (DbUpdateException) when (attempt < 5)
            {
                db.ChangeTracker.Clear();
                continue;
            }
            await db.Models.Where(m => m.Id == modelId).ExecuteUpdateAsync(s => s.SetProperty(m => m.UpdatedAt, DateTimeOffset.UtcNow), CancellationToken.None);
            logger.LogInformation("Registered trained version v{Version} of model {ModelId} ({Detail})", number, modelId, made.Detail);
            var saved = await db.Models.AsNoTracking().Include(m => m.Versions).ThenInclude(v => v.Files).SingleAsync(m => m.Id == modelId, CancellationToken.None);
            return new RegistrationResult(ModelMapping.Detail(saved), ModelMapping.Summary(saved.Versions.Single(v => v.Number == number)), null, null);
        }
    }

    /// <summary>The version a training job already registered (its id is in the lineage), so a re-run does not make another.</summary>
    public async Task<TrainedVersionRef?> FindTrainedByJobAsync(Guid jobId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var marker = $"%\"jobId\":\"{jobId}\"%";
        return await db.ModelVersions.AsNoTracking()
            .Where(v => v.Operation == VersionOperations.Train && v.OptionsJson != null && EF.Functions.Like(v.OptionsJson, marker))
            .Select(v => new TrainedVersionRef(v.ModelId, v.Model!.Slug, v.Number))
            .FirstOrDefaultAsync(cancellationToken);
    }

    /// <summary>Whether the owner (or an admin) has this model; for checking a training request before its job is queued.</summary>
    public async Task<(Guid Id, string Slug)?> FindOwnModelAsync(string modelIdOrSlug, string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        return model is null ? null : (model.Id, model.Slug);
    }
}
