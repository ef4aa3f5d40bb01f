using System.Security.Cryptography;
using System.Text.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;
using MaaS.Training;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Training;

/// <summary>
/// Datasets: receives a CSV (streamed to tmp/, refused past the size limit), reads it in full to profile it (nothing
/// is stored if it is not a usable CSV), stores it in the blob store, and lists, shows, retypes and deletes datasets.
/// Each call opens its own DbContext, so pages, API handlers and jobs can share the one instance.
/// </summary>
public sealed class DatasetService(
    IDbContextFactory<PortalDbContext> dbFactory,
    BlobStore blobs,
    IOptions<TrainingOptions> options,
    ILogger<DatasetService> logger)
{
    private const int BufferSize = 1 << 20;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public long MaxBytes => options.Value.MaxDatasetBytes;

    /// <summary>Receives, profiles and stores a CSV; throws <see cref="DatasetRequestException"/> with the status to answer.</summary>
    public async Task<DatasetView> CreateAsync(Stream content, string? clientFileName, string? name, string userId, CancellationToken cancellationToken)
    {
        var tempPath = blobs.NewTempPath(".csv");
        try
        {
            var (sha, length) = await ReceiveAsync(content, tempPath, cancellationToken);
            if (length == 0) throw new DatasetRequestException(422, "Not a CSV", "The file is empty (0 bytes); upload a CSV with a header row and data rows.");
            DatasetProfile profile;
            try
            {
                profile = await Task.Run(() =>
                {
                    using var stream = File.OpenRead(tempPath);
                    return DatasetProfiler.Profile(stream, options.Value.CsvLimits, cancellationToken);
                }, cancellationToken);
            }
            catch (DatasetException ex)
            {
                throw new DatasetRequestException(422, "Not a usable CSV", ex.Message, ex.Row, ex.Column);
            }

            using var references = await blobs.LockReferencesAsync(cancellationToken);
            blobs.AdoptTempFile(tempPath, new BlobRef(sha, length));
            var fileName = ModelRegistry.SafeFileName(clientFileName, "dataset.csv");
            var dataset = new Dataset
            {
                Name = Clean(name) ?? Clean(Path.GetFileNameWithoutExtension(fileName)) ?? "dataset",
                OwnerId = userId,
                FileName = fileName,
                Sha256 = sha,
                Length = length,
                RowCount = profile.RowCount,
                ColumnCount = profile.Columns.Count,
                ProfileJson = JsonSerializer.Serialize(profile, Json),
            };
            await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
            db.Datasets.Add(dataset);
            await db.SaveChangesAsync(cancellationToken);
            logger.LogInformation("Dataset {Id} ({Rows} rows, {Columns} columns, {Bytes} bytes) created by {User}", dataset.Id, profile.RowCount, profile.Columns.Count, length, userId);
            return View(dataset);
        }
        finally
        {
            File.Delete(tempPath); // no-op once adopted into the store
        }
    }

    public async Task<IReadOnlyList<DatasetSummary>> ListAsync(string userId, bool everyone, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var datasets = await db.Datasets.AsNoTracking().Where(d => everyone || d.OwnerId == userId)
            .OrderByDescending(d => d.CreatedAt).Take(500).ToListAsync(cancellationToken);
        return datasets.Select(d => new DatasetSummary(d.Id, d.Name, d.FileName, d.Length, d.RowCount, d.ColumnCount, d.CreatedAt)).ToList();
    }

    public async Task<DatasetView?> GetAsync(Guid id, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var dataset = await FindAsync(id, userId, isAdmin, cancellationToken);
        return dataset is null ? null : View(dataset);
    }

    /// <summary>The entity, for jobs that checked access when they were queued.</summary>
    public async Task<Dataset?> GetForJobAsync(Guid id, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == id, cancellationToken);
    }

    /// <summary>Sets the types of some columns (the rest keep theirs); a type equal to the inferred one clears the override.</summary>
    public async Task<DatasetView?> SetColumnTypesAsync(Guid id, IReadOnlyDictionary<string, string> requested, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var dataset = await FindAsync(id, userId, isAdmin, cancellationToken);
        if (dataset is null) return null;
        var profile = ProfileOf(dataset);
        var types = TypesOf(dataset);
        foreach (var (name, typeName) in requested)
        {
            var column = profile.Column(name) ?? throw new DatasetRequestException(400, "Unknown column", $"The dataset has no column '{name}'.", column: name);
            if (!TryParseType(typeName, out var type))
            {
                throw new DatasetRequestException(400, "Unknown column type", $"'{typeName}' is not a column type; use numeric, categorical, text or boolean.", column: name);
            }
            if (type == column.Type) types.Remove(column.Name);
            else types[column.Name] = type;
        }
        var json = types.Count == 0 ? null : JsonSerializer.Serialize(types, Json);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        await db.Datasets.Where(d => d.Id == id).ExecuteUpdateAsync(s => s.SetProperty(d => d.ColumnTypesJson, json), cancellationToken);
        dataset.ColumnTypesJson = json;
        return View(dataset);
    }

    /// <summary>Deletes a dataset (and its training records); the CSV goes too unless something else holds the same bytes.</summary>
    /// <summary>Deletes a dataset and its file (false: no such dataset of the caller's); 409 while a training job uses it.</summary>
    public async Task<bool> DeleteAsync(Guid id, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var dataset = await FindAsync(id, userId, isAdmin, cancellationToken);
        if (dataset is null) return false;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        // A training job still reading the CSV would fail part-way, and its run record would go with the dataset. Queued
        // jobs have no run record yet: the dataset's id is in their arguments.
        var datasetId = id.ToString();
        var training = await db.Jobs.AnyAsync(j => j.Kind == TrainingJob.Kind
            && (j.State == MaaS.Portal.Jobs.JobState.Queued || j.State == MaaS.Portal.Jobs.JobState.Running)
            && j.ArgumentsJson != null && j.ArgumentsJson.Contains(datasetId), cancellationToken);
        if (training)
            throw new DatasetRequestException(409, "Dataset in use", $"'{dataset.Name}' is being trained on; cancel the training job or wait for it to finish, then delete it.");
        await db.Datasets.Where(d => d.Id == id).ExecuteDeleteAsync(cancellationToken);
        await BlobReferences.DeleteUnreferencedAsync(db, blobs, [dataset.Sha256], cancellationToken);
        return true;
    }

    public Stream OpenCsv(Dataset dataset) => blobs.OpenRead(dataset.Sha256);

    public static DatasetProfile ProfileOf(Dataset dataset) => JsonSerializer.Deserialize<DatasetProfile>(dataset.ProfileJson, Json)!;

    /// <summary>The owner's type overrides, by column name.</summary>
    public static Dictionary<string, ColumnType> TypesOf(Dataset dataset) =>
        dataset.ColumnTypesJson is null
            ? new(StringComparer.OrdinalIgnoreCase)
            : new(JsonSerializer.Deserialize<Dictionary<string, ColumnType>>(dataset.ColumnTypesJson, Json)!, StringComparer.OrdinalIgnoreCase);

    /// <summary>A column type by its name (numbers are not names, though Enum.TryParse takes them).</summary>
    public static bool TryParseType(string? name, out ColumnType type)
    {
        type = default;
        var match = Enum.GetNames<ColumnType>().FirstOrDefault(n => n.Equals(name?.Trim(), StringComparison.OrdinalIgnoreCase));
        return match is not null && Enum.TryParse(match, out type);
    }

    public static DatasetView View(Dataset dataset)
    {
        var profile = ProfileOf(dataset);
        var types = TypesOf(dataset);
        var columns = profile.Columns.Select(c =>
        {
            var suggestion = DatasetProfiler.SuggestTask(profile, c.Name);
            return new DatasetColumnView(c.Name, c.InputName, types.GetValueOrDefault(c.Name, c.Type), c.Type, c.Missing, c.DistinctValues, c.DistinctCapped,
                c.Min, c.Max, c.Mean, c.TopValues, c.Warning, suggestion.Task, suggestion.Reason);
        }).ToList();
        return new DatasetView(dataset.Id, dataset.Name, dataset.OwnerId, dataset.FileName, dataset.Length, dataset.Sha256, dataset.RowCount,
            dataset.ColumnCount, profile.Delimiter, dataset.CreatedAt, columns, profile.Preview, profile.Warnings);
    }

    private async Task<(string Sha256, long Length)> ReceiveAsync(Stream content, string tempPath, CancellationToken cancellationToken)
    {
        long length = 0;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
        var buffer = new byte[BufferSize];
        int read;
        while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
        {
            length += read;
            if (length > MaxBytes) throw TooLarge(MaxBytes);
            hash.AppendData(buffer, 0, read);
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
        file.Flush(flushToDisk: true);
        return (Convert.ToHexStringLower(hash.GetHashAndReset()), length);
    }

    public static DatasetRequestException TooLarge(long limit) =>
        new(413, "Dataset too large", $"The CSV is larger than the limit of {Format.Bytes(limit)} (setting {TrainingOptions.Section}:{nameof(TrainingOptions.MaxDatasetBytes)}).");

    private async Task<Dataset?> FindAsync(Guid id, string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.Id == id && (isAdmin || d.OwnerId == userId), cancellationToken);
    }

    private static string? Clean(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var clean = new string(text.Where(c => !char.IsControl(c)).ToArray()).Trim();
        return clean.Length == 0 ? null : clean.Length > 200 ? clean[..200] : clean;
    }
}
