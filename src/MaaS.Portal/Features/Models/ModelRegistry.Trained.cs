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

        return await SaveNextVersionAsync(db, modelId.Value, null, files, report, made);
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
