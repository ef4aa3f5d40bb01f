using System.ComponentModel.DataAnnotations;
using MaaS.Training;

namespace MaaS.Portal.Features.Training;

public sealed class TrainingOptions
{
    public const string Section = "Training";

    /// <summary>Largest CSV, in bytes. Beyond it the upload gets 413.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxDatasetBytes { get; set; } = 200L * 1024 * 1024;

    /// <summary>Most data rows a dataset may have.</summary>
    [Range(10, 100_000_000)]
    public long MaxRows { get; set; } = 5_000_000;

    /// <summary>Most columns a dataset may have.</summary>
    [Range(2, 10_000)]
    public int MaxColumns { get; set; } = 500;

    /// <summary>Longest single value, in characters.</summary>
    [Range(16, 10_000_000)]
    public int MaxFieldChars { get; set; } = 64 * 1024;

    /// <summary>How long "auto" may keep starting trainers when a request names no budget.</summary>
    [Range(1, 86_400)]
    public int DefaultTimeBudgetSeconds { get; set; } = 300;

    /// <summary>The largest budget a request may ask for.</summary>
    [Range(1, 86_400)]
    public int MaxTimeBudgetSeconds { get; set; } = 3600;

    public CsvLimits CsvLimits => CsvLimits.Default with { MaxColumns = MaxColumns, MaxRows = MaxRows, MaxFieldChars = MaxFieldChars };
}
