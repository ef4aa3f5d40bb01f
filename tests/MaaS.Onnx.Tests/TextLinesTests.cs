using System.Text;
using MaaS.Onnx.Samples;

namespace MaaS.Onnx.Tests;

public sealed class TextLinesTests
{
    private static List<TextLine> Read(byte[] bytes, int maxLineChars = 100) => TextLines.Read(new MemoryStream(bytes), maxLineChars).ToList();

    private static List<TextLine> Read(string text, int maxLineChars = 100) => Read(Encoding.UTF8.GetBytes(text), maxLineChars);

    [Fact]
    public void NonEmptyLines_AreSamples_Trimmed_WithTheirLineNumbers()
    {
        var lines = Read("first\r\n\n   \n  second line  \nlast without newline");

        Assert.Equal([new TextLine(1, "first"), new TextLine(4, "second line"), new TextLine(5, "last without newline")], lines);
    }

    [Fact]
    public void ByteOrderMark_IsNotPartOfTheFirstSample()
    {
        var lines = Read([0xEF, 0xBB, 0xBF, .. "héllo wörld\n"u8]);

        Assert.Equal("héllo wörld", Assert.Single(lines).Text);
    }

    [Fact]
    public void LineOverTheLimit_IsRefused_WithItsNumber()
    {
        var error = Assert.Throws<SampleFormatException>(() => Read("short\n" + new string('x', 101) + "\n", maxLineChars: 100));

        Assert.Equal("Line 2 is longer than 100 characters, the limit for one text sample.", error.Message);
        Assert.Single(Read("short\n" + new string('x', 100) + "\r\n", maxLineChars: 100).Skip(1));
    }

    [Fact]
    public void FileWithoutLineBreaks_IsRefused_WithoutReadingItAllIntoOneString()
    {
        var huge = new byte[8 << 20];
        Array.Fill(huge, (byte)'a');
        var before = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Throws<SampleFormatException>(() => Read(huge, maxLineChars: 10_000));

        Assert.Contains("Line 1 is longer than 10,000 characters", error.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 2 << 20);
    }

    [Fact]
    public void BinaryFiles_AreRefused()
    {
        Assert.Contains("not UTF-8", Assert.Throws<SampleFormatException>(() => Read([0x61, 0x0A, 0xC3, 0x28, 0x0A])).Message);
        Assert.Contains("Line 2 contains a NUL", Assert.Throws<SampleFormatException>(() => Read("text\nmore\0text\n")).Message);
    }
}
