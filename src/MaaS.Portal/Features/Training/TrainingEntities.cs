namespace MaaS.Portal.Features.Training;

/// <summary>
/// An uploaded CSV: the file in the blob store (checked and profiled when it came in), its profile as JSON, and the
/// column types the owner changed.
/// </summary>
public sealed class Dataset
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string Name { get; set; }
    public required string OwnerId { get; set; }
    /// <summary>The uploaded file's name, made safe; for people only.</summary>
    public required string FileName { get; set; }
    public required string Sha256 { get; set; }
    public long Length { get; set; }
    public long RowCount { get; set; }
    public int ColumnCount { get; set; }
    /// <summary>The <see cref="MaaS.Training.DatasetProfile"/> as JSON: delimiter, columns with inferred types, preview.</summary>
    public required string ProfileJson { get; set; }
    /// <summary>Types the owner set, by column name, as JSON ({"age": "Numeric"}); they override the inferred ones.</summary>
    public string? ColumnTypesJson { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

/// <summary>
/// One training job's own record beside its job row: what was asked, each trainer's result as it finished (so pages
/// show them live), the final report and the version it made. Keyed by the job's id.
/// </summary>
public sealed class TrainingRun
{
    public Guid JobId { get; set; }
    public Guid DatasetId { get; set; }
    public required string OwnerId { get; set; }
    public required string LabelColumn { get; set; }
    public required string Task { get; set; }
    public required string Trainer { get; set; }
    public required string RequestJson { get; set; }
    /// <summary>Each trainer's <see cref="MaaS.Training.TrainerRun"/> as it finished, as a JSON array.</summary>
    public string TrainerRunsJson { get; set; } = "[]";
    public Guid? ModelId { get; set; }
    public string? ModelSlug { get; set; }
    public int? Version { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}
