using System.Text;

namespace MaaS.Training.Tests;

public class CsvReaderTests
{
    private static (CsvReader Reader, List<string[]> Rows) ReadAll(string text, CsvLimits? limits = null)
    {
        var reader = CsvReader.Open(new MemoryStream(Encoding.UTF8.GetBytes(text)), limits);
        var rows = new List<string[]>();
        while (reader.TryReadRow(out var fields)) rows.Add(fields);
        return (reader, rows);
    }

    [Theory]
    [InlineData("a,b,c\n1,2,3\n4,5,6\n", ',')]
    [InlineData("a;b;c\n1,5;2;3\n4;5;6\n", ';')]
    [InlineData("a\tb\tc\n1\t2,5\t3\n4\t5\t6\n", '\t')]
    public void Open_DetectsTheDelimiter_FromTheHeaderAndRows(string text, char expected)
    {
        var (reader, rows) = ReadAll(text);
        Assert.Equal(expected, reader.Delimiter);
        Assert.Equal(["a", "b", "c"], reader.Header);
        Assert.Equal(2, rows.Count);
    }

    [Fact]
    public void TryReadRow_ReadsQuotedFields_WithDelimitersQuotesAndLineBreaks()
    {
        var (_, rows) = ReadAll("name,note\r\n\"Smith, J\",\"said \"\"hi\"\"\"\r\n\"two\nlines\",plain\r\n");
        Assert.Equal(["Smith, J", "said \"hi\""], rows[0]);
        Assert.Equal(["two\nlines", "plain"], rows[1]);
    }

    [Fact]
    public void TryReadRow_NamesTheRow_WhenARowIsRagged()
    {
        var ex = Assert.Throws<DatasetException>(() => ReadAll("a,b,c\n1,2,3\n4,5\n7,8,9\n"));
        Assert.Equal(3, ex.Row);
        Assert.Contains("Row 3 has 2 fields but the header has 3 columns", ex.Message);
    }

    [Fact]
    public void TryReadRow_CountsRowsByTheLineTheyStartOn_AfterAMultiLineField()
    {
        var ex = Assert.Throws<DatasetException>(() => ReadAll("a,b\n\"x\ny\",1\n2,3,4\n"));
        Assert.Equal(4, ex.Row);
    }

    [Fact]
    public void Open_RejectsBinaryData_AsNotACsv()
    {
        var bytes = new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52 };
        var ex = Assert.Throws<DatasetException>(() => CsvReader.Open(new MemoryStream(bytes)));
        Assert.Contains("not", ex.Message);
        Assert.Contains("CSV", ex.Message);
    }

    [Fact]
    public void Open_RejectsText_WithoutDelimiters_AsNotACsv()
    {
        var ex = Assert.Throws<DatasetException>(() => ReadAll("Once upon a time\nthere was a file\nthat was not a table\n"));
        Assert.Contains("does not look like a CSV", ex.Message);
    }

    [Fact]
    public void Open_RejectsLatin1Text_AskingForUtf8()
    {
        var bytes = Encoding.Latin1.GetBytes("name,city\nJosé,Málaga\n");
        var ex = Assert.Throws<DatasetException>(() => CsvReader.Open(new MemoryStream(bytes)));
        Assert.Contains("UTF-8", ex.Message);
    }

    [Fact]
    public void TryReadRow_StopsAnUnclosedQuote_AtTheFieldLimit()
    {
        var text = "a,b\n1,\"never closed\n" + string.Concat(Enumerable.Repeat("2,3\n", 100));
        var ex = Assert.Throws<DatasetException>(() => ReadAll(text, CsvLimits.Default with { MaxFieldChars = 64 }));
        Assert.Equal(2, ex.Row);
        Assert.Contains("never closed", ex.Message);
    }

    [Fact]
    public void Open_RejectsDuplicateAndEmptyColumnNames()
    {
        Assert.Contains("Two columns are named 'A'", Assert.Throws<DatasetException>(() => ReadAll("a,b,A\n1,2,3\n")).Message);
        Assert.Contains("Column 2 has no name", Assert.Throws<DatasetException>(() => ReadAll("a,,c\n1,2,3\n")).Message);
    }

    [Fact]
    public void TryReadRow_StopsAtTheRowLimit()
    {
        var ex = Assert.Throws<DatasetException>(() => ReadAll("a,b\n1,2\n3,4\n5,6\n", CsvLimits.Default with { MaxRows = 2 }));
        Assert.Contains("more than 2 data rows", ex.Message);
    }

    [Fact]
    public void TryReadRow_SkipsBlankLines()
    {
        var (_, rows) = ReadAll("a,b\n1,2\n\n3,4\n\n");
        Assert.Equal(2, rows.Count);
    }
}
