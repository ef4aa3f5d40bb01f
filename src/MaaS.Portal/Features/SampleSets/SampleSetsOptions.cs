using System.ComponentModel.DataAnnotations;

namespace MaaS.Portal.Features.SampleSets;

public sealed class SampleSetsOptions
{
    public const string Section = "SampleSets";

    /// <summary>Largest sample file (.zip, .txt or .json), in bytes. Beyond it the upload gets 413.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUploadBytes { get; set; } = 100L * 1024 * 1024;

    /// <summary>Most samples (images, lines, JSON samples) one set may hold.</summary>
    [Range(1, 1_000_000)]
    public int MaxSamples { get; set; } = 1000;

    /// <summary>Largest image, in pixels, by the size its header declares; checked before decoding.</summary>
    [Range(1, 1L << 31)]
    public long MaxImagePixels { get; set; } = 50_000_000;

    /// <summary>Largest single image inside a .zip, unpacked.</summary>
    [Range(1024, 1L << 31)]
    public long MaxImageBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Most a .zip may unpack to in all (guards against zip bombs).</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUnpackedBytes { get; set; } = 1024L * 1024 * 1024;

    /// <summary>Most entries (files and folders) a .zip may list.</summary>
    [Range(1, 1_000_000)]
    public int MaxZipEntries { get; set; } = 10_000;

    /// <summary>Longest line of a text set, in characters.</summary>
    [Range(16, 10_000_000)]
    public int MaxLineChars { get; set; } = 10_000;

    /// <summary>Largest vocab.txt attached to a text set.</summary>
    [Range(1024, 1L << 30)]
    public long MaxVocabularyBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Most values one tensor of a JSON set may hold.</summary>
    [Range(1, 1L << 31)]
    public long MaxTensorElements { get; set; } = 16L * 1024 * 1024;
}
