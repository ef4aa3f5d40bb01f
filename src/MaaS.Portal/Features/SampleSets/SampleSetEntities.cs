namespace MaaS.Portal.Features.SampleSets;

public static class SampleSetKinds
{
    /// <summary>A .zip of .png/.jpg/.jpeg/.bmp/.webp files.</summary>
    public const string Images = "images";
    /// <summary>UTF-8 text, one sample per non-empty line.</summary>
    public const string Text = "text";
    /// <summary>V2-style JSON inputs.</summary>
    public const string Tensors = "tensors";

    public static readonly IReadOnlyList<string> All = [Images, Text, Tensors];
}

/// <summary>
/// Sample inputs a user uploaded for calibration and evaluation: one file in the blob store, checked when it came in,
/// optionally attached to a model (and deleted with it).
/// </summary>
public sealed class SampleSet
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    /// <summary>One of <see cref="SampleSetKinds"/>.</summary>
    public required string Kind { get; set; }
    public required string OwnerId { get; set; }
    public Guid? ModelId { get; set; }
    public int SampleCount { get; set; }
    /// <summary>The uploaded file's name, made safe; for people only.</summary>
    public required string FileName { get; set; }
    /// <summary>SHA-256 of the uploaded file in the blob store.</summary>
    public required string Sha256 { get; set; }
    public long Length { get; set; }
    /// <summary>A BERT vocab.txt in the blob store, for text sets.</summary>
    public string? VocabularySha256 { get; set; }
    public long? VocabularyLength { get; set; }
    /// <summary>How image sets normalise pixels: imagenet, zero-one, minus-one-one or raw; null for other kinds.</summary>
    public string? Normalization { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}
