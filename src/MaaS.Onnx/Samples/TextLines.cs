using System.Text;

namespace MaaS.Onnx.Samples;

/// <summary>One text sample: its line number in the file (from 1) and its text, trimmed.</summary>
public sealed record TextLine(int Number, string Text);

/// <summary>
/// Reads a text sample file: UTF-8 (a byte-order mark is allowed), one sample per non-empty line. Lines longer than the
/// limit, bytes that are not UTF-8 and NUL characters are refused with the line number, and no line is ever held
/// beyond the limit, so a file without line breaks cannot take memory.
/// </summary>
public sealed class TextLines : IDisposable
{
    private readonly StreamReader _reader;
    private readonly int _maxLineChars;
    private readonly char[] _buffer = new char[8192];
    private readonly StringBuilder _line = new();
    private int _position, _filled, _lineNumber;
    private bool _ended;

    public TextLines(Stream stream, int maxLineChars)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineChars, 1);
        _reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        _maxLineChars = maxLineChars;
    }

    /// <summary>The next non-empty line, or null at the end of the file.</summary>
    public TextLine? Next()
    {
        while (ReadLine() is { } line)
        {
            var text = line.Trim();
            if (text.Length > 0) return new TextLine(_lineNumber, text);
        }
        return null;
    }

    /// <summary>Every non-empty line; throws <see cref="SampleFormatException"/> at the first bad one.</summary>
    public static IEnumerable<TextLine> Read(Stream stream, int maxLineChars)
    {
        using var lines = new TextLines(stream, maxLineChars);
        while (lines.Next() is { } line) yield return line;
    }

    private string? ReadLine()
    {
        if (_ended) return null;
        _line.Clear();
        _lineNumber++;
        while (true)
        {
            if (_position == _filled && !Fill())
            {
                _ended = true;
                if (_line.Length > _maxLineChars)
                {
                    throw new SampleFormatException($"Line {_lineNumber} is longer than {_maxLineChars:N0} characters, the limit for one text sample.");
                }
                return _line.Length > 0 ? _line.ToString() : null;
            }
            var span = _buffer.AsSpan(_position, _filled - _position);
            var newline = span.IndexOf('\n');
            var take = newline < 0 ? span : span[..newline];
            if (take.Contains('\0')) throw new SampleFormatException($"Line {_lineNumber} contains a NUL character: this is not a text file.");
            if (_line.Length + take.Length > _maxLineChars + 1)
            {
                throw new SampleFormatException($"Line {_lineNumber} is longer than {_maxLineChars:N0} characters, the limit for one text sample.");
            }
            _line.Append(take);
            if (newline >= 0)
            {
                _position += newline + 1;
                if (_line.Length > 0 && _line[^1] == '\r') _line.Length--;
                if (_line.Length > _maxLineChars)
                {
                    throw new SampleFormatException($"Line {_lineNumber} is longer than {_maxLineChars:N0} characters, the limit for one text sample.");
                }
                return _line.ToString();
            }
            _position = _filled;
        }
    }

    private bool Fill()
    {
        try
        {
            _filled = _reader.Read(_buffer, 0, _buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            // The reader decodes ahead in blocks, so the bad bytes are at or after this line.
            throw new SampleFormatException($"The file is not UTF-8 text (at or after line {_lineNumber}); save it as UTF-8.");
        }
        _position = 0;
        return _filled > 0;
    }

    public void Dispose() => _reader.Dispose();
}
