using System.Globalization;
using System.Linq.Expressions;
using System.Security.Cryptography;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Models;
using MaaS.Onnx.Samples;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Portal.Features.SampleSets;

/// <summary>
/// Sample sets: takes uploads (checked in full before anything is stored), lists, previews and deletes them, and loads
/// their samples shaped for a model's inputs for the compression and evaluation jobs. Each call opens its own
/// DbContext, so pages, API handlers and jobs can share the one instance.
/// </summary>
public sealed class SampleSetService(
    IDbContextFactory<PortalDbContext> dbFactory,
    BlobStore blobs,
    ModelRegistry models,
    IOptions<SampleSetsOptions> options,
    ILogger<SampleSetService> logger)
{
    private const int BufferSize = 1 << 20;
    private SampleSetsOptions Limits => options.Value;

    /// <summary>
    /// Streams <paramref name="content"/> to tmp/, hashing it on the way, and refuses it (413, naming the setting) once it
    /// passes <paramref name="limit"/>. A partial file never stays behind.
    /// </summary>
    public async Task<ReceivedSampleFile> ReceiveAsync(Stream content, string? clientFileName, long limit, string limitSetting, CancellationToken cancellationToken)
    {
        var tempPath = blobs.NewTempPath(".sample");
        try
        {
            long length = 0;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    length += read;
                    if (length > limit) throw TooLarge(limit, limitSetting);
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                file.Flush(flushToDisk: true);
            }
            return new ReceivedSampleFile(tempPath, Convert.ToHexStringLower(hash.GetHashAndReset()), length, clientFileName ?? "");
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }

    public static SampleSetUploadException TooLarge(long limit, string setting) =>
        new(413, "Upload too large", $"The file is larger than the limit of {Format.Bytes(limit)} (setting SampleSets:{setting}).");

    /// <summary>Receives and creates in one go: the browser's upload path (no multipart in between).</summary>
    public async Task<SampleSetView> CreateAsync(Stream content, string? clientFileName, Stream? vocabulary, SampleSetUpload upload,
        string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        var file = await ReceiveAsync(content, clientFileName, Limits.MaxUploadBytes, nameof(SampleSetsOptions.MaxUploadBytes), cancellationToken);
        ReceivedSampleFile? vocab = null;
        try
        {
            if (vocabulary is not null)
            {
                vocab = await ReceiveAsync(vocabulary, "vocab.txt", Limits.MaxVocabularyBytes, nameof(SampleSetsOptions.MaxVocabularyBytes), cancellationToken);
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return await CreateAsync(file, vocab, upload, userId, isAdmin, cancellationToken);
    }

    /// <summary>
    /// Checks a received file in full (and its vocabulary), stores it in the blob store and records the set.
    /// Consumes both files: their temp files are gone afterwards, stored or not. Throws
    /// <see cref="SampleSetUploadException"/> for bad fields and an unknown model, <see cref="SampleSetException"/> for
    /// content that cannot be used.
    /// </summary>
    public async Task<SampleSetView> CreateAsync(ReceivedSampleFile file, ReceivedSampleFile? vocabulary, SampleSetUpload upload,
        string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        using var consumedFile = file;
        using var consumedVocabulary = vocabulary;
        var kind = KindOf(upload.Kind, file);
        string? normalization = null;
        if (kind == SampleSetKinds.Images)
        {
            normalization = string.IsNullOrWhiteSpace(upload.Normalization) ? ImageNormalizations.Default : upload.Normalization.Trim().ToLowerInvariant();
            if (!ImageNormalizations.TryParse(normalization, out _))
            {
                throw new SampleSetUploadException(400, "Unknown normalization",
                    $"'normalization' is one of {string.Join(", ", ImageNormalizations.Names)}.");
            }
        }
        if (vocabulary is not null && kind != SampleSetKinds.Text)
        {
            throw new SampleSetUploadException(400, "Vocabulary for a non-text set", "A vocabulary goes with text sets only; leave it out for images and tensors.");
        }
        ModelDetail? model = null;
        if (!string.IsNullOrWhiteSpace(upload.ModelIdOrSlug))
        {
            model = await models.GetAsync(upload.ModelIdOrSlug.Trim(), userId, isAdmin, cancellationToken)
                ?? throw new SampleSetUploadException(404, "Model not found", $"There is no model '{Clean(upload.ModelIdOrSlug, 100)}' of yours to attach the set to.");
        }
        if (file.Length == 0) throw new SampleSetException("The file is empty (0 bytes).");

        var count = await Task.Run(() => CountSamples(kind, file.TempPath), cancellationToken);
        if (vocabulary is not null)
        {
            await using var stream = File.OpenRead(vocabulary.TempPath);
            try
            {
                TextTokenizer.Load(stream);
            }
            catch (SampleFormatException ex)
            {
                throw new SampleSetException(ex.Message);
            }
        }

        using var references = await blobs.LockReferencesAsync(cancellationToken);
        blobs.AdoptTempFile(file.TempPath, new BlobRef(file.Sha256, file.Length));
        if (vocabulary is not null) blobs.AdoptTempFile(vocabulary.TempPath, new BlobRef(vocabulary.Sha256, vocabulary.Length));
        var clientName = ModelRegistry.SafeFileName(file.ClientFileName, kind switch
        {
            SampleSetKinds.Images => "images.zip",
            SampleSetKinds.Text => "samples.txt",
            _ => "samples.json",
        });
        var set = new SampleSet
        {
            Name = Clean(upload.Name, 200) ?? Clean(Path.GetFileNameWithoutExtension(file.ClientFileName.Replace('\\', '/')), 200) ?? kind,
            Kind = kind,
            OwnerId = userId,
            ModelId = model?.Id,
            SampleCount = count,
            FileName = clientName,
            Sha256 = file.Sha256,
            Length = file.Length,
            VocabularySha256 = vocabulary?.Sha256,
            VocabularyLength = vocabulary?.Length,
            Normalization = normalization,
        };
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        db.SampleSets.Add(set);
        await db.SaveChangesAsync(cancellationToken);
        logger.LogInformation("Sample set {Id} ({Kind}, {Count} samples, {Bytes} bytes) created by {User}", set.Id, kind, count, file.Length, userId);
        return View(set, model?.Slug);
    }

    private static string KindOf(string? requested, ReceivedSampleFile file)
    {
        if (!string.IsNullOrWhiteSpace(requested))
        {
            var kind = requested.Trim().ToLowerInvariant();
            return SampleSetKinds.All.Contains(kind)
                ? kind
                : throw new SampleSetUploadException(400, "Unknown kind", $"'kind' is one of {string.Join(", ", SampleSetKinds.All)}.");
        }
        var extension = Path.GetExtension(file.ClientFileName).ToLowerInvariant();
        switch (extension)
        {
            case ".zip": return SampleSetKinds.Images;
            case ".txt": return SampleSetKinds.Text;
            case ".json": return SampleSetKinds.Tensors;
        }
        throw new SampleSetUploadException(400, "Unknown kind",
            "Say what the file holds with 'kind' (images, text or tensors), or name it .zip (images), .txt (text lines) or .json (tensors).");
    }

    /// <summary>Reads the whole file as the kind says, and counts its samples; throws <see cref="SampleSetException"/> at the first problem.</summary>
    private int CountSamples(string kind, string path)
    {
        try
        {
            switch (kind)
            {
                case SampleSetKinds.Images:
                {
                    if (!LooksLikeZip(path)) throw new SampleSetException($"An image set is a .zip of images ({string.Join(", ", ImagePreprocessor.Extensions)}); this file is not a .zip.");
                    using var archive = ImageArchive.Open(path, Limits);
                    foreach (var entry in archive.Images)
                    {
                        var bytes = ImageArchive.Read(entry, Limits.MaxImageBytes);
                        try
                        {
                            ImagePreprocessor.Validate(bytes, Limits.MaxImagePixels);
                        }
                        catch (SampleFormatException ex)
                        {
                            throw new SampleSetException($"Image '{ImageArchive.Shown(entry.FullName)}': {ex.Message}");
                        }
                    }
                    return archive.Images.Count;
                }
                case SampleSetKinds.Text:
                {
                    using var stream = File.OpenRead(path);
                    var count = 0;
                    foreach (var _ in TextLines.Read(stream, Limits.MaxLineChars))
                    {
                        if (++count > Limits.MaxSamples) throw TooManySamples();
                    }
                    return count > 0 ? count : throw new SampleSetException("The file has no text; put one sample per line.");
                }
                default:
                {
                    var parsed = JsonTensorSamples.Parse(File.ReadAllBytes(path), JsonLimits(), keep: 0);
                    return parsed.Count;
                }
            }
        }
        catch (SampleFormatException ex)
        {
            throw new SampleSetException(ex.Message);
        }
    }

    private SampleSetException TooManySamples() =>
        new($"The set has more than {Limits.MaxSamples:N0} samples, the limit per set (setting SampleSets:MaxSamples).");

    private JsonTensorLimits JsonLimits() => new(MaxSamples: Limits.MaxSamples, MaxElementsPerTensor: Limits.MaxTensorElements);

    private static bool LooksLikeZip(string path)
    {
        using var file = File.OpenRead(path);
        Span<byte> header = stackalloc byte[4];
        return file.Read(header) == 4 && header is [0x50, 0x4B, 0x03 or 0x05, 0x04 or 0x06];
    }

    public async Task<IReadOnlyList<SampleSetView>> ListAsync(string userId, bool isAdmin, string? modelIdOrSlug = null, CancellationToken cancellationToken = default)
    {
        Guid? modelId = null;
        if (!string.IsNullOrWhiteSpace(modelIdOrSlug))
        {
            var model = await models.GetAsync(modelIdOrSlug.Trim(), userId, isAdmin, cancellationToken);
            if (model is null) return [];
            modelId = model.Id;
        }
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = await FindAsync(db, userId, isAdmin, s => modelId == null || s.ModelId == modelId, cancellationToken);
        return rows.Select(r => View(r.Set, r.Slug)).ToList();
    }

    public async Task<SampleSetView?> GetAsync(Guid id, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = (await FindAsync(db, userId, isAdmin, s => s.Id == id, cancellationToken)).SingleOrDefault();
        return row is null ? null : View(row.Set, row.Slug);
    }

    /// <summary>Deletes the set; its files go too unless another set or a model version uses the same bytes.</summary>
    public async Task<bool> DeleteAsync(Guid id, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var set = await db.SampleSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == id && (isAdmin || s.OwnerId == userId), cancellationToken);
        if (set is null) return false;
        await db.SampleSets.Where(s => s.Id == id).ExecuteDeleteAsync(cancellationToken);
        await BlobReferences.DeleteUnreferencedAsync(db, blobs, [set.Sha256, set.VocabularySha256], cancellationToken);
        logger.LogInformation("Sample set {Id} deleted by {User}", id, userId);
        return true;
    }

    /// <summary>The first <paramref name="count"/> samples, for people: thumbnails, lines, tensor shapes. Null when not the caller's.</summary>
    public async Task<SampleSetPreview?> PreviewAsync(Guid id, string userId, bool isAdmin, int count = 6, CancellationToken cancellationToken = default)
    {
        count = Math.Clamp(count, 1, 24);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = (await FindAsync(db, userId, isAdmin, s => s.Id == id, cancellationToken)).SingleOrDefault();
        if (row is null) return null;
        var set = row.Set;
        var samples = await Task.Run(() => set.Kind switch
        {
            SampleSetKinds.Images => PreviewImages(set, count),
            SampleSetKinds.Text => PreviewText(set, count),
            _ => PreviewTensors(set, count),
        }, cancellationToken);
        return new SampleSetPreview(View(set, row.Slug), samples);
    }

    private List<SamplePreview> PreviewImages(SampleSet set, int count)
    {
        using var archive = ImageArchive.Open(blobs.PathOf(set.Sha256), Limits);
        return archive.Images.Take(count).Select((entry, i) =>
        {
            var label = ImageArchive.Shown(entry.FullName);
            try
            {
                var bytes = ImageArchive.Read(entry, Limits.MaxImageBytes);
                var size = ImagePreprocessor.ReadSize(bytes, Limits.MaxImagePixels);
                var png = ImagePreprocessor.Thumbnail(bytes, 96, Limits.MaxImagePixels);
                return new SamplePreview(i + 1, label, ImageDataUrl: "data:image/png;base64," + Convert.ToBase64String(png), Width: size.Width, Height: size.Height);
            }
            catch (Exception ex) when (ex is SampleFormatException or SampleSetException)
            {
                return new SamplePreview(i + 1, label, Problem: ex.Message);
            }
        }).ToList();
    }

    private List<SamplePreview> PreviewText(SampleSet set, int count)
    {
        var tokenizer = LoadTokenizerOrNull(set);
        using var stream = blobs.OpenRead(set.Sha256);
        return TextLines.Read(stream, Limits.MaxLineChars).Take(count).Select((line, i) => new SamplePreview(
            i + 1, $"line {line.Number}",
            Text: line.Text.Length > 300 ? line.Text[..300] + "…" : line.Text,
            TokenCount: tokenizer?.EncodeIds(line.Text, int.MaxValue).Count)).ToList();
    }

    private List<SamplePreview> PreviewTensors(SampleSet set, int count)
    {
        var parsed = JsonTensorSamples.Parse(File.ReadAllBytes(blobs.PathOf(set.Sha256)), JsonLimits(), keep: count);
        return parsed.Samples.Select((sample, i) => new SamplePreview(i + 1, $"sample {i + 1}",
            Tensors: sample.Inputs.Select(t => new TensorPreview(t.Name, JsonTensorSamples.DatatypeOf(t.ElementType), t.Shape, FirstValues(t.Values))).ToList())).ToList();
    }

    private static string FirstValues(Array values)
    {
        var shown = values.Cast<object>().Take(8).Select(v => v switch
        {
            float f => f.ToString("G5", CultureInfo.InvariantCulture),
            double d => d.ToString("G5", CultureInfo.InvariantCulture),
            bool b => b ? "true" : "false",
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
        });
        return string.Join(", ", shown) + (values.Length > 8 ? $", … ({values.Length:N0} values)" : "");
    }

    /// Loads up to maxSamples samples shaped for a model whose inputs are `inputs`; throws SampleSetException with a sentence for people when the set is not the caller's, or cannot be made to fit (names the input, the sample, the reason).
    public async Task<IReadOnlyList<ModelSample>> LoadSamplesAsync(Guid sampleSetId, string userId, bool isAdmin, IReadOnlyList<SignatureTensor> inputs, int maxSamples, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSamples, 1);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var set = await db.SampleSets.AsNoTracking().SingleOrDefaultAsync(s => s.Id == sampleSetId && (isAdmin || s.OwnerId == userId), cancellationToken)
            ?? throw new SampleSetException($"There is no sample set {sampleSetId} of yours.");
        if (!blobs.Exists(set.Sha256)) throw new SampleSetException($"The file of sample set '{set.Name}' is missing from the store; upload the set again.");
        var modelInputs = inputs.Select(ToSampleInput).ToList();
        if (modelInputs.Count == 0) throw new SampleSetException("The model has no inputs for samples to fill.");
        try
        {
            return await Task.Run(() => set.Kind switch
            {
                SampleSetKinds.Images => LoadImages(set, modelInputs, maxSamples, cancellationToken),
                SampleSetKinds.Text => LoadText(set, modelInputs, maxSamples, cancellationToken),
                _ => LoadTensors(set, modelInputs, maxSamples),
            }, cancellationToken);
        }
        catch (SampleFormatException ex)
        {
            throw new SampleSetException($"Sample set '{set.Name}' does not fit the model: {ex.Message}");
        }
    }

    private IReadOnlyList<ModelSample> LoadImages(SampleSet set, List<SampleInput> inputs, int maxSamples, CancellationToken cancellationToken)
    {
        if (inputs.Count != 1)
        {
            throw new SampleSetException($"Image set '{set.Name}' fits models with one image input; this model has {inputs.Count} inputs ({string.Join(", ", inputs.Select(i => i.Name))}).");
        }
        var spec = ImageInputSpec.For(inputs[0]);
        ImageNormalizations.TryParse(set.Normalization ?? ImageNormalizations.Default, out var normalization);
        using var archive = ImageArchive.Open(blobs.PathOf(set.Sha256), Limits);
        var samples = new List<ModelSample>();
        foreach (var (entry, i) in archive.Images.Take(maxSamples).Select((e, i) => (e, i)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var bytes = ImageArchive.Read(entry, Limits.MaxImageBytes);
                samples.Add(new ModelSample([ImagePreprocessor.ToTensor(bytes, spec, normalization, Limits.MaxImagePixels)]));
            }
            catch (SampleFormatException ex)
            {
                throw new SampleSetException($"Image '{ImageArchive.Shown(entry.FullName)}' (sample {i + 1}) of set '{set.Name}' cannot fill input '{spec.Name}': {ex.Message}");
            }
        }
        return samples;
    }

    private IReadOnlyList<ModelSample> LoadText(SampleSet set, List<SampleInput> inputs, int maxSamples, CancellationToken cancellationToken)
    {
        var tokenizer = LoadTokenizerOrNull(set)
            ?? throw new SampleSetException($"Text set '{set.Name}' has no vocabulary; attach a vocab.txt (the model's WordPiece vocabulary) when you upload it.");
        using var stream = blobs.OpenRead(set.Sha256);
        var samples = new List<ModelSample>();
        foreach (var line in TextLines.Read(stream, Limits.MaxLineChars).Take(maxSamples))
        {
            cancellationToken.ThrowIfCancellationRequested();
            samples.Add(tokenizer.Encode(line.Text, inputs));
        }
        return samples;
    }

    private IReadOnlyList<ModelSample> LoadTensors(SampleSet set, List<SampleInput> inputs, int maxSamples)
    {
        var parsed = JsonTensorSamples.Parse(File.ReadAllBytes(blobs.PathOf(set.Sha256)), JsonLimits(), keep: maxSamples);
        var byName = inputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var wanted = string.Join(", ", inputs.Select(i => $"{i.Name} {JsonTensorSamples.DatatypeOf(i.ElementType)} {i.ShapeText}"));
        return parsed.Samples.Select((sample, index) =>
        {
            var number = index + 1;
            foreach (var tensor in sample.Inputs)
            {
                if (!byName.TryGetValue(tensor.Name, out var input))
                {
                    throw new SampleSetException($"Sample {number} has input '{tensor.Name}', which the model does not have (it takes {wanted}).");
                }
                if (tensor.ElementType != input.ElementType)
                {
                    throw new SampleSetException($"Sample {number}, input '{tensor.Name}': the values are {JsonTensorSamples.DatatypeOf(tensor.ElementType)} but the model takes {JsonTensorSamples.DatatypeOf(input.ElementType)}.");
                }
                if (!Fits(tensor.Shape, input.Shape))
                {
                    throw new SampleSetException($"Sample {number}, input '{tensor.Name}': shape [{string.Join(", ", tensor.Shape)}] does not fit the model's {input.ShapeText}.");
                }
            }
            var missing = inputs.Where(i => sample.Inputs.All(t => t.Name != i.Name)).Select(i => i.Name).ToList();
            if (missing.Count > 0) throw new SampleSetException($"Sample {number} lacks input(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} that the model needs.");
            // The model's input order, so every sample lists its tensors the same way.
            return new ModelSample(inputs.Select(i => sample.Inputs.Single(t => t.Name == i.Name)).ToList());
        }).ToList();
    }

    private static bool Fits(long[] shape, IReadOnlyList<long>? wanted) =>
        wanted is null || (shape.Length == wanted.Count && shape.Zip(wanted).All(p => p.Second < 0 || p.First == p.Second));

    private TextTokenizer? LoadTokenizerOrNull(SampleSet set)
    {
        if (set.VocabularySha256 is null || !blobs.Exists(set.VocabularySha256)) return null;
        using var stream = blobs.OpenRead(set.VocabularySha256);
        return TextTokenizer.Load(stream);
    }

    private static SampleInput ToSampleInput(SignatureTensor tensor)
    {
        var type = Enumerable.Range(0, 32).FirstOrDefault(i => OnnxElementTypes.Name(i) == tensor.ElementType, -1);
        if (type <= 0) throw new SampleSetException($"Input '{tensor.Name}' has element type {tensor.ElementType}, which samples cannot fill.");
        return new SampleInput(tensor.Name, (TensorElementType)type, tensor.Shape?.ToList());
    }

    private sealed record Row(SampleSet Set, string? Slug);

    /// <summary>The caller's sets (admins: all) that match <paramref name="filter"/>, newest first, with the attached model's slug.</summary>
    private static async Task<List<Row>> FindAsync(PortalDbContext db, string userId, bool isAdmin, Expression<Func<SampleSet, bool>> filter,
        CancellationToken cancellationToken)
    {
        var rows = await (
            from set in db.SampleSets.AsNoTracking().Where(filter)
            where isAdmin || set.OwnerId == userId
            join model in db.Models on set.ModelId equals model.Id into attached
            from model in attached.DefaultIfEmpty()
            orderby set.CreatedAt descending
            select new { set, Slug = model == null ? null : model.Slug }).ToListAsync(cancellationToken);
        return rows.Select(r => new Row(r.set, r.Slug)).ToList();
    }

    private static SampleSetView View(SampleSet s, string? modelSlug) => new(
        s.Id, s.Name, s.Kind, s.OwnerId, s.ModelId, modelSlug, s.SampleCount, s.FileName, s.Length, s.Sha256,
        s.VocabularySha256 is not null, s.Normalization, s.CreatedAt);

    private static string? Clean(string? text, int max)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        var clean = new string(text.Where(c => !char.IsControl(c)).ToArray()).Trim();
        return clean.Length == 0 ? null : clean.Length > max ? clean[..max] : clean;
    }
}
