namespace MaaS.Training;

/// <summary>Bounds on what one CSV may make the reader hold; each guards against a file built to exhaust memory.</summary>
public sealed record CsvLimits
{
    public static readonly CsvLimits Default = new();

    /// <summary>Most columns the header may name.</summary>
    public int MaxColumns { get; init; } = 500;

    /// <summary>Longest single field, in characters; an unclosed quote runs into this instead of reading the whole file.</summary>
    public int MaxFieldChars { get; init; } = 64 * 1024;

    /// <summary>Most data rows read.</summary>
    public long MaxRows { get; init; } = 5_000_000;

    /// <summary>How much of the file's start is read to detect the delimiter.</summary>
    public int SniffChars { get; init; } = 64 * 1024;
}
