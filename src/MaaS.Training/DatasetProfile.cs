using System.Text.Json.Serialization;

namespace MaaS.Training;

[JsonConverter(typeof(JsonStringEnumConverter<ColumnType>))]
public enum ColumnType
{
    /// <summary>Numbers: missing values replaced by the mean, then scaled to [0, 1]. ONNX input: float.</summary>
    Numeric,
    /// <summary>A small set of values: one-hot encoded. ONNX input: string.</summary>
    Categorical,
    /// <summary>Free text: too many distinct values to one-hot; not used as a feature.</summary>
    Text,
    /// <summary>true/false, yes/no: 1 and 0, as a number. ONNX input: float (1 for true, 0 for false).</summary>
    Boolean,
}

[JsonConverter(typeof(JsonStringEnumConverter<TrainingTask>))]
public enum TrainingTask { Binary, Multiclass, Regression }

/// <summary>
/// One column as profiling found it. <see cref="InputName"/> is the name the trained ONNX model gives the column's
/// input: the header name made safe for tensor names (letters, digits, underscores).
/// </summary>
public sealed record ColumnProfile(
    string Name,
    string InputName,
    ColumnType Type,
    long Missing,
    int DistinctValues,
    bool DistinctCapped,
    double? Min,
    double? Max,
    double? Mean,
    IReadOnlyList<string> TopValues,
    string? Warning)
{
    public bool AllMissing(long rows) => Missing == rows;
}

/// <summary>What a task suggestion says for a label column, and why.</summary>
public sealed record TaskSuggestion(TrainingTask? Task, string Reason);

/// <summary>A dataset as profiling found it: format, columns with inferred types, counts and the first rows.</summary>
public sealed record DatasetProfile(
    string Delimiter,
    long RowCount,
    IReadOnlyList<ColumnProfile> Columns,
    IReadOnlyList<IReadOnlyList<string>> Preview,
    IReadOnlyList<string> Warnings)
{
    public ColumnProfile? Column(string name) => Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase));
}
