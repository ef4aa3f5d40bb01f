using MaaS.Onnx.Samples;
using MaaS.Onnx.Testing;

namespace MaaS.Onnx.Tests;

/// <summary>What the playground shows of a tokenisation: the word pieces, and whether the text was cut.</summary>
public sealed class TextTokenizerTokenTests
{
    [Fact]
    public void TokenOf_GivesTheWordPieceOfAnId_AndCountTokens_TheUncutLength()
    {
        using var vocabulary = File.OpenRead(RealModels.MiniLmVocabularyPath);
        var tokenizer = TextTokenizer.Load(vocabulary);

        var ids = tokenizer.EncodeIds("This is an example sentence");

        Assert.Equal([101, 2023, 2003, 2019, 2742, 6251, 102], ids);
        Assert.Equal(["[CLS]", "this", "is", "an", "example", "sentence", "[SEP]"], ids.Select(id => tokenizer.TokenOf(id)));
        Assert.Equal("[40000]", tokenizer.TokenOf(40000));
        Assert.Equal(7, tokenizer.CountTokens("This is an example sentence"));
        var longText = string.Join(" ", Enumerable.Repeat("example", 300));
        Assert.Equal(302, tokenizer.CountTokens(longText));
        Assert.Equal(TextTokenizer.DefaultMaxSequenceLength, tokenizer.EncodeIds(longText).Count);
    }
}
