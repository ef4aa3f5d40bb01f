using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MaaS.Onnx.Models;
using MaaS.Portal.Data;
using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Models;

/// <summary>What the uploader says about a model; all of it untrusted text.</summary>
public sealed record UploadMetadata(string? Name, string? Description, string? Tags, string? Labels);

/// <summary>The outcome of an upload: a new version, or the check that refused it and why.</summary>
/// <summary>What a delete did: nothing (not found, or refused because a deployment serves it) or deleted.</summary>
public sealed record DeleteOutcome(bool Found, bool Done, string? DeployedAs)
{
    public static readonly DeleteOutcome NotFound = new(false, false, null);
    public static readonly DeleteOutcome Deleted = new(true, true, null);
    public static DeleteOutcome Deployed(string deployment) => new(true, false, deployment);
}

/// <summary>How a version the portal made came about: lineage, report and status, already serialised.</summary>
public sealed record DerivedVersion(string Operation, string Detail, string OptionsJson, string ReportJson, string Status, string CreatedById);

public sealed record RegistrationResult(ModelDetail? Model, VersionSummary? Version, string? FailedCheck, string? Message)
{
    public bool Succeeded => Version is not null;
    public static RegistrationResult Rejected(string check, string message) => new(null, null, check, message);
}

/// <summary>
/// The model registry: admits uploads (through the probe process), stores versions and their files, lists,
/// finds and deletes them. Each call opens its own DbContext, so pages and API handlers can share it.
/// </summary>
public sealed partial class ModelRegistry(
    IDbContextFactory<PortalDbContext> dbFactory,
    BlobStore blobs,
    DataPaths paths,
    ModelProbeClient probe,
    IOptions<ModelsOptions> options,
    ILogger<ModelRegistry> logger)
{
    /// <summary>
    /// Admits an upload as version 1 of a new model (modelId null) or the next version of one the owner has.
    /// Consumes <paramref name="upload"/>: its temp file is gone afterwards, admitted or not.
    /// </summary>
    public async Task<RegistrationResult?> RegisterUploadAsync(ReceivedFile upload, UploadMetadata metadata, string ownerId, bool isAdmin,
        string? modelIdOrSlug, CancellationToken cancellationToken)
    {
        var workDirectory = Path.Combine(paths.Temp, $"{Guid.NewGuid():N}.admit");
        try
        {
            RegisteredModel? existing = null;
            if (modelIdOrSlug is not null)
            {
                existing = await FindEntityAsync(modelIdOrSlug, ownerId, isAdmin, cancellationToken);
                if (existing is null) return null;
            }
            if (upload.Length == 0) return RegistrationResult.Rejected("empty", "The file is empty (0 bytes); choose an .onnx file or a .zip bundle.");
            var labels = NormaliseLabels(metadata.Labels);
            if (labels is not null && Encoding.UTF8.GetByteCount(labels) > options.Value.MaxLabelsBytes)
            {
                return RegistrationResult.Rejected("labels", $"The labels file is larger than {Format.Bytes(options.Value.MaxLabelsBytes)}.");
            }

            Directory.CreateDirectory(workDirectory);
            string modelPath;
            try
            {
                modelPath = upload.IsZip
                    ? ModelBundle.ExtractZip(upload.TempPath, workDirectory, options.Value.MaxBundleBytes)
                    : MoveSingleFile(upload, workDirectory);
            }
            catch (ModelRejectedException rejected)
            {
                return RegistrationResult.Rejected(rejected.Check, rejected.Message);
            }

            var report = await probe.ProbeAsync(modelPath, ProbeLimitsFor(workDirectory), cancellationToken);
            if (!report.Admitted || report.Inspection is null)
            {
                logger.LogInformation("Upload '{File}' rejected by check {Check}: {Message}", upload.ClientFileName, report.FailedCheck, report.Message);
                return RegistrationResult.Rejected(report.FailedCheck ?? "probe", report.Message ?? "The model could not be opened safely.");
            }

            using var references = await blobs.LockReferencesAsync(cancellationToken);
            var files = await StoreFilesAsync(workDirectory, Path.GetFileName(modelPath), upload.IsZip ? null : upload.Sha256, labels, cancellationToken);
            return await SaveVersionAsync(existing, metadata, upload.ClientFileName, ownerId, report, files, cancellationToken);
        }
        finally
        {
            upload.Dispose();
            if (Directory.Exists(workDirectory)) Directory.Delete(workDirectory, recursive: true);
        }
    }

    private ProbeLimits ProbeLimitsFor(string workDirectory)
    {
        // Parsing holds the whole model in the probe's memory; give it room for that plus ORT's copy, within the cap.
        var modelBytes = Directory.EnumerateFiles(workDirectory).Sum(f => new FileInfo(f).Length);
        var memory = Math.Min(options.Value.ProbeMaxMemoryBytes, Math.Max(1L << 30, 4 * modelBytes + (512L << 20)));
        return new ProbeLimits(memory, options.Value.ProbeTimeout, options.Value.MaxBundleBytes);
    }

    private static string MoveSingleFile(ReceivedFile upload, string workDirectory)
    {
        var target = Path.Combine(workDirectory, SafeFileName(upload.ClientFileName, "model.onnx"));
        File.Move(upload.TempPath, target);
        return target;
    }

    /// <summary>Moves every file of the admitted folder into the blob store by rename; identical bytes are kept once.</summary>
    private async Task<List<VersionFile>> StoreFilesAsync(string workDirectory, string modelFileName, string? knownModelSha,
        string? labels, CancellationToken cancellationToken)
    {
        var stored = new List<VersionFile>();
        foreach (var path in Directory.EnumerateFiles(workDirectory))
        {
            var name = Path.GetFileName(path);
            var length = new FileInfo(path).Length;
            var sha = name == modelFileName && knownModelSha is not null ? knownModelSha : await HashFileAsync(path, cancellationToken);
            blobs.AdoptTempFile(path, new BlobRef(sha, length));
            stored.Add(new VersionFile { FileName = name, Role = name == modelFileName ? FileRoles.Model : FileRoles.ExternalData, Sha256 = sha, Length = length });
        }
        if (labels is not null)
        {
            var blob = await blobs.PutAsync(new MemoryStream(Encoding.UTF8.GetBytes(labels)), cancellationToken);
            stored.Add(new VersionFile { FileName = "labels.txt", Role = FileRoles.Labels, Sha256 = blob.Sha256, Length = blob.Length });
        }
        return stored;
    }

    private async Task<RegistrationResult> SaveVersionAsync(RegisteredModel? existing, UploadMetadata metadata, string clientFileName,
        string ownerId, ProbeReport report, List<VersionFile> files, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var now = DateTimeOffset.UtcNow;
        RegisteredModel model;
        if (existing is null)
        {
            var name = CleanName(metadata.Name) ?? CleanName(Path.GetFileNameWithoutExtension(SafeFileName(clientFileName, "model"))) ?? "model";
            model = new RegisteredModel
            {
                Name = name,
                Slug = await UniqueSlugAsync(db, name, cancellationToken),
                Description = CleanText(metadata.Description, 4000),
                Tags = NormaliseTags(metadata.Tags),
                OwnerId = ownerId,
            };
            db.Models.Add(model);
        }
        else
        {
            model = await db.Models.SingleAsync(m => m.Id == existing.Id, cancellationToken);
            model.UpdatedAt = now;
        }

        var number = existing is null ? 1 : await db.ModelVersions.Where(v => v.ModelId == model.Id).MaxAsync(v => (int?)v.Number, cancellationToken) + 1 ?? 1;
        var modelFile = files.Single(f => f.Role == FileRoles.Model);
        var version = new ModelVersion
        {
            ModelId = model.Id,
            Number = number,
            Operation = VersionOperations.Upload,
            OperationDetail = CleanText(Path.GetFileName(clientFileName.Replace('\\', '/')), 255),
            ModelFileName = modelFile.FileName,
            Sha256 = modelFile.Sha256,
            SizeBytes = files.Where(f => f.Role != FileRoles.Labels).Sum(f => f.Length),
            InspectionJson = JsonSerializer.Serialize(report.Inspection, ModelMapping.Json),
            RuntimeSignatureJson = JsonSerializer.Serialize(new { inputs = report.RuntimeInputs, outputs = report.RuntimeOutputs }, ModelMapping.Json),
            ReportJson = JsonSerializer.Serialize(new { probe = new { loadMilliseconds = report.LoadMilliseconds, runMilliseconds = report.RunMilliseconds, peakMemoryBytes = report.PeakMemoryBytes } }, ModelMapping.Json),
            CreatedById = ownerId,
            Files = files,
        };
        db.ModelVersions.Add(version);
        await db.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Registered {Slug} v{Version} ({Bytes} bytes, sha256 {Sha})", model.Slug, number, version.SizeBytes, version.Sha256);

        var saved = await db.Models.AsNoTracking().Include(m => m.Versions).ThenInclude(v => v.Files).SingleAsync(m => m.Id == model.Id, cancellationToken);
        return new RegistrationResult(ModelMapping.Detail(saved), ModelMapping.Summary(saved.Versions.Single(v => v.Number == number)), null, null);
    }

    /// <summary>
    /// Registers a version made by the portal itself (compression) from the files in <paramref name="workDirectory"/>:
    /// the output goes through the same probe as uploads (it must open and run in ONNX Runtime under the memory cap),
    /// keeps the parent's labels, and gets the next number. Files are moved into the blob store.
    /// </summary>
    public async Task<RegistrationResult> RegisterDerivedVersionAsync(Guid modelId, int parentNumber, string workDirectory, string modelFileName,
        DerivedVersion made, CancellationToken cancellationToken)
    {
        var modelPath = Path.Combine(workDirectory, modelFileName);
        var report = await probe.ProbeAsync(modelPath, ProbeLimitsFor(workDirectory), cancellationToken);
        if (!report.Admitted || report.Inspection is null)
        {
            return RegistrationResult.Rejected(report.FailedCheck ?? "probe", report.Message ?? "The new model could not be opened by ONNX Runtime.");
        }
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var parentLabels = await db.ModelVersions.AsNoTracking()
            .Where(v => v.ModelId == modelId && v.Number == parentNumber)
            .SelectMany(v => v.Files).Where(f => f.Role == FileRoles.Labels).FirstOrDefaultAsync(cancellationToken);

        // Until the version's rows are written (or this fails): the parent's labels blob is reused too.
        using var references = await blobs.LockReferencesAsync(cancellationToken);
        var files = await StoreFilesAsync(workDirectory, modelFileName, null, null, cancellationToken);
        if (parentLabels is not null)
        {
            files.Add(new VersionFile { FileName = parentLabels.FileName, Role = FileRoles.Labels, Sha256 = parentLabels.Sha256, Length = parentLabels.Length });
        }
        return await SaveNextVersionAsync(db, modelId, parentNumber, files, report, made);
    }

    /// <summary>
    /// Writes a job's version (compression or training) under the model's next number. Two jobs of one model may finish
    /// together: the unique (model, number) index makes the loser take the next number.
    /// </summary>
    private async Task<RegistrationResult> SaveNextVersionAsync(PortalDbContext db, Guid modelId, int? parentNumber, List<VersionFile> files,
        ProbeReport report, DerivedVersion made)
    {
        var modelFile = files.Single(f => f.Role == FileRoles.Model);
        for (var attempt = 1; ; attempt++)
        {
            var number = await db.ModelVersions.Where(v => v.ModelId == modelId).MaxAsync(v => (int?)v.Number, CancellationToken.None) + 1 ?? 1;
            db.ModelVersions.Add(new ModelVersion
            {
                ModelId = modelId,
                Number = number,
                ParentNumber = parentNumber,
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
            logger.LogInformation("Registered version v{Version} of model {ModelId} ({Operation}: {Detail})", number, modelId, made.Operation, made.Detail);
            var saved = await db.Models.AsNoTracking().Include(m => m.Versions).ThenInclude(v => v.Files).SingleAsync(m => m.Id == modelId, CancellationToken.None);
            return new RegistrationResult(ModelMapping.Detail(saved), ModelMapping.Summary(saved.Versions.Single(v => v.Number == number)), null, null);
        }
    }

    /// <summary>A version with its files, for jobs that already checked access when they were queued.</summary>
    public async Task<(RegisteredModel Model, ModelVersion Version)?> GetForJobAsync(Guid modelId, int number, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Id == modelId, cancellationToken);
        var version = await db.ModelVersions.AsNoTracking().Include(v => v.Files).SingleOrDefaultAsync(v => v.ModelId == modelId && v.Number == number, cancellationToken);
        return model is null || version is null ? null : (model, version);
    }

    /// <summary>The version a job already made (its id is in the lineage), so a re-run does not make a second one.</summary>
    public async Task<VersionSummary?> FindMadeByJobAsync(Guid modelId, Guid jobId, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var marker = $"%\"jobId\":\"{jobId}\"%";
        var version = await db.ModelVersions.AsNoTracking().Include(v => v.Files)
            .FirstOrDefaultAsync(v => v.ModelId == modelId && v.OptionsJson != null && EF.Functions.Like(v.OptionsJson, marker), cancellationToken);
        return version is null ? null : ModelMapping.Summary(version);
    }

    public async Task<IReadOnlyList<ModelSummary>> ListAsync(string userId, bool everyone, string? search = null, string? tag = null, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var query = db.Models.AsNoTracking().Include(m => m.Versions).Where(m => everyone || m.OwnerId == userId);
        if (!string.IsNullOrWhiteSpace(search))
        {
            var pattern = $"%{search.Trim().ToLowerInvariant()}%";
            query = query.Where(m => EF.Functions.Like(m.Name.ToLower(), pattern) || EF.Functions.Like(m.Slug, pattern));
        }
        if (!string.IsNullOrWhiteSpace(tag))
        {
            var pattern = $"%,{tag.Trim().ToLowerInvariant()},%";
            query = query.Where(m => EF.Functions.Like(m.Tags, pattern));
        }
        var models = await query.OrderByDescending(m => m.UpdatedAt).ToListAsync(cancellationToken);
        return models.Select(ModelMapping.Summary).ToList();
    }

    public async Task<ModelDetail?> GetAsync(string modelIdOrSlug, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        return model is null ? null : ModelMapping.Detail(model);
    }

    public async Task<VersionDetail?> GetVersionAsync(string modelIdOrSlug, int number, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        var version = model?.Versions.SingleOrDefault(v => v.Number == number);
        return version is null ? null : ModelMapping.Detail(model!, version);
    }

    /// <summary>The files of a version (for download); null when the caller may not see it.</summary>
    public async Task<(string ModelSlug, ModelVersion Version)?> GetFilesAsync(string modelIdOrSlug, int number, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        var version = model?.Versions.SingleOrDefault(v => v.Number == number);
        return version is null ? null : (model!.Slug, version);
    }

    /// <summary>Deletes a model with all its versions; blob files no other version uses go too.</summary>
    public async Task<DeleteOutcome> DeleteModelAsync(string modelIdOrSlug, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        if (model is null) return DeleteOutcome.NotFound;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (await DeployedAsAsync(db, model.Id, null, cancellationToken) is { } deployment) return DeleteOutcome.Deployed(deployment);
        var hashes = model.Versions.SelectMany(v => v.Files).Select(f => f.Sha256).Distinct().ToList();
        await db.Models.Where(m => m.Id == model.Id).ExecuteDeleteAsync(cancellationToken);
        await DeleteUnreferencedAsync(db, hashes, cancellationToken);
        logger.LogInformation("Deleted model {Slug} ({Versions} versions)", model.Slug, model.Versions.Count);
        return DeleteOutcome.Deleted;
    }

    /// <summary>Deletes one version. Versions are immutable, so the numbers of the others do not change.</summary>
    public async Task<DeleteOutcome> DeleteVersionAsync(string modelIdOrSlug, int number, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var model = await FindEntityAsync(modelIdOrSlug, userId, isAdmin, cancellationToken);
        var version = model?.Versions.SingleOrDefault(v => v.Number == number);
        if (version is null) return DeleteOutcome.NotFound;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (await DeployedAsAsync(db, model!.Id, number, cancellationToken) is { } deployment) return DeleteOutcome.Deployed(deployment);
        await db.ModelVersions.Where(v => v.Id == version.Id).ExecuteDeleteAsync(cancellationToken);
        await db.Models.Where(m => m.Id == model!.Id).ExecuteUpdateAsync(s => s.SetProperty(m => m.UpdatedAt, DateTimeOffset.UtcNow), cancellationToken);
        await DeleteUnreferencedAsync(db, version.Files.Select(f => f.Sha256).Distinct().ToList(), cancellationToken);
        return DeleteOutcome.Deleted;
    }

    /// <summary>The name of a deployment serving the model (or that version of it), if any.</summary>
    private static Task<string?> DeployedAsAsync(PortalDbContext db, Guid modelId, int? version, CancellationToken cancellationToken) =>
        db.Deployments.Where(d => d.ModelId == modelId && (version == null || d.Targets.Any(t => t.Version == version)))
            .Select(d => d.Name).FirstOrDefaultAsync(cancellationToken);

    private Task DeleteUnreferencedAsync(PortalDbContext db, List<string> hashes, CancellationToken cancellationToken) =>
        BlobReferences.DeleteUnreferencedAsync(db, blobs, hashes, cancellationToken);

    private async Task<RegisteredModel?> FindEntityAsync(string modelIdOrSlug, string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var query = db.Models.AsNoTracking().Include(m => m.Versions).ThenInclude(v => v.Files).Where(m => isAdmin || m.OwnerId == userId);
        return Guid.TryParse(modelIdOrSlug, out var id)
            ? await query.SingleOrDefaultAsync(m => m.Id == id, cancellationToken)
            : await query.SingleOrDefaultAsync(m => m.Slug == modelIdOrSlug.ToLowerInvariant(), cancellationToken);
    }

    private static async Task<string> UniqueSlugAsync(PortalDbContext db, string name, CancellationToken cancellationToken)
    {
        var baseSlug = SlugChars().Replace(name.ToLowerInvariant(), "-").Trim('-');
        if (baseSlug.Length > 60) baseSlug = baseSlug[..60].Trim('-');
        if (baseSlug.Length == 0 || Guid.TryParse(baseSlug, out _)) baseSlug = "model";
        var slug = baseSlug;
        for (var n = 2; await db.Models.AnyAsync(m => m.Slug == slug, cancellationToken); n++) slug = $"{baseSlug}-{n}";
        return slug;
    }

    /// <summary>A client file name reduced to a plain, safe file name (no folders, no odd characters), or the fallback.</summary>
    public static string SafeFileName(string? clientFileName, string fallback)
    {
        var name = Path.GetFileName((clientFileName ?? "").Replace('\\', '/'));
        name = UnsafeFileChars().Replace(name, "_").Trim('.', '_');
        if (name.Length > 100) name = name[^100..];
        return name.Length == 0 ? fallback : name;
    }

    private static string? CleanName(string? name) => CleanText(name, 200);

    private static string? CleanText(string? text, int max)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var clean = new string(text.Where(c => !char.IsControl(c) || c is '\n').ToArray()).Trim();
        return clean.Length == 0 ? null : clean.Length > max ? clean[..max] : clean;
    }

    public static string NormaliseTags(string? tags)
    {
        var list = (tags ?? "").Split([',', ';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(t => SlugChars().Replace(t.ToLowerInvariant(), "-").Trim('-'))
            .Where(t => t.Length is > 0 and <= 40).Distinct().Take(20);
        return "," + string.Join(",", list) + (list.Any() ? "," : "");
    }

    private static string? NormaliseLabels(string? labels)
    {
        if (string.IsNullOrWhiteSpace(labels)) return null;
        var lines = labels.Replace("\r\n", "\n").Split('\n').Select(l => l.TrimEnd('\r'));
        return string.Join("\n", lines).TrimEnd('\n') + "\n";
    }

    private static async Task<string> HashFileAsync(string path, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
    }

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex SlugChars();

    [GeneratedRegex("[^A-Za-z0-9._-]")]
    private static partial Regex UnsafeFileChars();
}
