using System.Text;

namespace MaaS.Training;

/// <summary>
/// Reads an untrusted CSV: UTF-8 text, a header row, fields separated by commas, semicolons or tabs (detected from
/// the file's start), fields optionally in double quotes with "" for a quote and line breaks inside. Every row must
/// have as many fields as the header. Rows are numbered as a spreadsheet shows them: the header is row 1, and a row
/// is the line it starts on.
/// </summary>
public sealed class CsvReader : IDisposable
{
    public static readonly IReadOnlyList<char> Delimiters = [',', ';', '\t'];

    private readonly TextReader _reader;
    private readonly CsvLimits _limits;
    private readonly char _delimiter;
    private readonly StringBuilder _field = new();
    private readonly List<string> _fields = [];
    private readonly char[] _buffer = new char[64 * 1024];
    private int _position;
    private int _length;
    private long _line = 1;
    private long _rowsRead;

    private CsvReader(TextReader reader, char delimiter, CsvLimits limits, bool readHeader = true)
    {
        _reader = reader;
        _delimiter = delimiter;
        _limits = limits;
        if (!readHeader) return;
        var header = ReadRecord() ?? throw new DatasetException("The file is empty: upload a CSV with a header row and data rows.");
        Header = CheckHeader(header);
    }

    public char Delimiter => _delimiter;

    public IReadOnlyList<string> Header { get; } = [];

    /// <summary>The row of the record last read (header = 1).</summary>
    public long Row { get; private set; }

    /// <summary>A readable name for the delimiter ("comma", "semicolon", "tab").</summary>
    public static string DelimiterName(char delimiter) => delimiter switch { ',' => "comma", ';' => "semicolon", '\t' => "tab", _ => $"'{delimiter}'" };

    /// <summary>Detects the delimiter from the start of <paramref name="stream"/> (which must be seekable) and reads the header.</summary>
    public static CsvReader Open(Stream stream, CsvLimits? limits = null)
    {
        limits ??= CsvLimits.Default;
        if (!stream.CanSeek) throw new ArgumentException("The CSV stream must be seekable: the delimiter is detected from its start.", nameof(stream));
        var start = stream.Position;
        var sample = ReadSample(stream, limits.SniffChars);
        if (sample.Trim().Length == 0) throw new DatasetException("The file is empty: upload a CSV with a header row and data rows.");
        if (sample.Contains('\0')) throw new DatasetException("This is not a CSV file: it holds binary data (NUL bytes). Upload UTF-8 text with a header row.");
        var delimiter = DetectDelimiter(sample, limits);
        stream.Position = start;
        var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 64 * 1024, leaveOpen: true);
        return new CsvReader(reader, delimiter, limits);
    }

    /// <summary>Reads the next data row; false at the end. Throws <see cref="DatasetException"/> for a row that is not like the header.</summary>
    public bool TryReadRow(out string[] fields)
    {
        while (true)
        {
            var record = ReadRecord();
            if (record is null)
            {
                fields = [];
                return false;
            }
            if (record.Count == 1 && record[0].Length == 0) continue; // a blank line
            if (record.Count != Header.Count)
            {
                throw new DatasetException(
                    $"Row {Row} has {record.Count} field{(record.Count == 1 ? "" : "s")} but the header has {Header.Count} columns " +
                    $"(separated by {DelimiterName(_delimiter)}s). Every row needs one value per column; quote values that contain a {DelimiterName(_delimiter)}.",
                    Row);
            }
            if (++_rowsRead > _limits.MaxRows)
            {
                throw new DatasetException($"The CSV has more than {_limits.MaxRows:N0} data rows, the most one dataset may hold.", Row);
            }
            fields = [.. record];
            return true;
        }
    }

    public void Dispose() => _reader.Dispose();

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string ReadSample(Stream stream, int chars)
    {
        using var reader = new StreamReader(stream, StrictUtf8, detectEncodingFromByteOrderMarks: true, bufferSize: 16 * 1024, leaveOpen: true);
        var buffer = new char[chars];
        try
        {
            var read = reader.ReadBlock(buffer, 0, chars);
            return new string(buffer, 0, read);
        }
        catch (DecoderFallbackException)
        {
            throw new DatasetException("This is not a CSV file this portal can read: it is not UTF-8 text. Save it as \"CSV UTF-8\" and upload it again.");
        }
    }

    /// <summary>
    /// The candidate that splits the header into two or more columns and keeps the most following rows at the same
    /// width; ties go to the one with more columns. Sampled rows that fail to parse simply do not count.
    /// </summary>
    private static char DetectDelimiter(string sample, CsvLimits limits)
    {
        // The sample may end inside a row: that last row is not counted.
        var complete = sample.Length < limits.SniffChars ? sample : sample[..(sample.LastIndexOf('\n') is var cut and > 0 ? cut : sample.Length)];
        var best = (Delimiter: '\0', Columns: 0, Consistent: -1);
        foreach (var candidate in Delimiters)
        {
            var reader = new CsvReader(new StringReader(complete), candidate, limits, readHeader: false);
            int columns = 0, consistent = 0;
            try
            {
                var header = reader.ReadRecord();
                if (header is null) continue;
                columns = header.Count;
                for (var i = 0; i < 50 && reader.ReadRecord() is { } row; i++)
                {
                    if (row.Count == 1 && row[0].Length == 0) continue;
                    if (row.Count == columns) consistent++;
                }
            }
            catch (DatasetException)
            {
                // A candidate that cannot even read the sample is scored by what it read before failing.
            }
            if (columns < 2) continue;
            if (consistent > best.Consistent || (consistent == best.Consistent && columns > best.Columns)) best = (candidate, columns, consistent);
        }
        if (best.Delimiter == '\0')
        {
            throw new DatasetException("This does not look like a CSV file: its first row has no commas, semicolons or tabs, so it names one column at most. " +
                                       "A dataset needs a header row naming at least two columns (a label and a feature).", 1);
        }
        return best.Delimiter;
    }

    private IReadOnlyList<string> CheckHeader(List<string> header)
    {
        if (header.Count < 2)
        {
            throw new DatasetException("The header row names one column only; a dataset needs at least two (a label and a feature).", 1);
        }
        var names = new List<string>(header.Count);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < header.Count; i++)
        {
            var name = header[i].Trim();
            if (name.Length == 0) throw new DatasetException($"Column {i + 1} has no name in the header row (row 1). Give every column a name.", 1);
            if (name.Length > 200) throw new DatasetException($"Column {i + 1}'s name is longer than 200 characters. Is row 1 really a header row?", 1);
            if (!seen.Add(name)) throw new DatasetException($"Two columns are named '{name}' in the header row. Column names must differ.", 1, name);
            names.Add(name);
        }
        return names;
    }

    /// <summary>One record as fields, or null at the end of the text.</summary>
    private List<string>? ReadRecord()
    {
        _fields.Clear();
        _field.Clear();
        var c = Read();
        if (c < 0) return null;
        Row = _line;
        bool inQuotes = false, wasQuoted = false;
        while (true)
        {
            if (c < 0)
            {
                if (inQuotes) throw new DatasetException($"Row {Row}: a quoted field is never closed (a \" with no matching \").", Row);
                EndField();
                return _fields;
            }
            if (inQuotes)
            {
                if (c == '"')
                {
                    if (Peek() == '"')
                    {
                        Read();
                        Append('"', inQuotes);
                    }
                    else
                    {
                        inQuotes = false;
                    }
                }
                else
                {
                    if (c == '\n') _line++;
                    Append((char)c, inQuotes);
                }
            }
            else if (c == '"' && _field.Length == 0 && !wasQuoted)
            {
                inQuotes = wasQuoted = true;
            }
            else if (c == _delimiter)
            {
                EndField();
                wasQuoted = false;
            }
            else if (c is '\r' or '\n')
            {
                if (c == '\r' && Peek() == '\n') Read();
                _line++;
                EndField();
                return _fields;
            }
            else
            {
                Append((char)c, inQuotes);
            }
            c = Read();
        }
    }

    private void Append(char c, bool inQuotes)
    {
        if (_field.Length >= _limits.MaxFieldChars)
        {
            throw new DatasetException(inQuotes
                ? $"Row {Row}: a quoted field runs past {_limits.MaxFieldChars:N0} characters; probably a \" that is never closed."
                : $"Row {Row}: a field is longer than {_limits.MaxFieldChars:N0} characters, the most one value may hold.", Row);
        }
        _field.Append(c);
    }

    private void EndField()
    {
        if (_fields.Count >= _limits.MaxColumns)
        {
            throw new DatasetException($"Row {Row} has more than {_limits.MaxColumns:N0} fields, the most a dataset may have.", Row);
        }
        _fields.Add(_field.ToString());
        _field.Clear();
    }

    private int Read()
    {
        if (_position >= _length && !Fill()) return -1;
        return _buffer[_position++];
    }

    private int Peek()
    {
        if (_position >= _length && !Fill()) return -1;
        return _buffer[_position];
    }

    private bool Fill()
    {
        try
        {
            _length = _reader.Read(_buffer, 0, _buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw new DatasetException($"Near row {_line}: the file is not UTF-8 text there. Save it as \"CSV UTF-8\" and upload it again.", _line);
        }
        _position = 0;
        return _length > 0;
    }
}
