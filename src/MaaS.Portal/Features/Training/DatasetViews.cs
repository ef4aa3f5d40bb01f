using MaaS.Training;

namespace MaaS.Portal.Features.Training;

/// <summary>A column as the API and UI show it: the type in force (the owner's or the inferred one) and what it suggests as a label.</summary>
public sealed record DatasetColumnView(
    string Name, string InputName, ColumnType Type, ColumnType InferredType, long Missing, int DistinctValues, bool DistinctCapped,
    double? Min, double? Max, double? Mean, IReadOnlyList<string> TopValues, string? Warning, TrainingTask? SuggestedTask, string Suggestion);

/// <summary>A dataset in lists.</summary>
public sealed record DatasetSummary(Guid Id, string Name, string FileName, long SizeBytes, long RowCount, int ColumnCount, DateTimeOffset CreatedAt);

/// <summary>A dataset with its profile: columns, the first rows, warnings.</summary>
public sealed record DatasetView(
    Guid Id, string Name, string OwnerId, string FileName, long SizeBytes, string Sha256, long RowCount, int ColumnCount, string Delimiter,
    DateTimeOffset CreatedAt, IReadOnlyList<DatasetColumnView> Columns, IReadOnlyList<IReadOnlyList<string>> Preview, IReadOnlyList<string> Warnings)
{
    public DatasetSummary Summary => new(Id, Name, FileName, SizeBytes, RowCount, ColumnCount, CreatedAt);
}

/// <summary>The body of PUT /api/datasets/{id}/column-types: type names by column (numeric, categorical, text, boolean).</summary>
public sealed record ColumnTypesRequest(Dictionary<string, string>? ColumnTypes);

/// <summary>A dataset upload or change refused: a bad field (400), unknown (404), too large (413), not a usable CSV (422).</summary>
public sealed class DatasetRequestException(int statusCode, string title, string message, long? row = null, string? column = null) : Exception(message)
{
    public int StatusCode { get; } = statusCode;
    public string Title { get; } = title;
    public long? Row { get; } = row;
    public string? Column { get; } = column;
}
