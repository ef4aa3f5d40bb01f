namespace MaaS.Training;

/// <summary>
/// Input a person must fix: not a CSV, ragged rows, a label that cannot be learned, a value that is not what its
/// column says. The message names the row and column where there is one, and says what to do.
/// </summary>
public sealed class DatasetException(string message, long? row = null, string? column = null) : Exception(message)
{
    /// <summary>The file's row (the header is row 1), when one row is at fault.</summary>
    public long? Row { get; } = row;

    /// <summary>The column at fault, by its header name.</summary>
    public string? Column { get; } = column;
}
