using System.Text;
using MaaS.Onnx.Samples;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace MaaS.Onnx.Tests;

public sealed class TextTokenizerTests
{
    private static readonly SampleInput[] BertInputs =
    [
        new("input_ids", TensorElementType.Int64, [-1, -1]),
        new("attention_mask", TensorElementType.Int64, [-1, -1]),
        new("token_type_ids", TensorElementType.Int64, [-1, -1]),
    ];

    private static TextTokenizer MiniLm()
    {
        using var vocabulary = File.OpenRead(RealModels.MiniLmVocabularyPath);
        return TextTokenizer.Load(vocabulary);
    }

    [Fact]
    public void Encode_FillsTheThreeBertInputs_AsBertTokenizerDoes()
    {
        const string text = "How do I reset my Password?";
        var tokenizer = MiniLm();
        using var vocabulary = File.OpenRead(RealModels.MiniLmVocabularyPath);
        var expected = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true }).EncodeToIds(text).Select(i => (long)i).ToArray();

        var sample = tokenizer.Encode(text, BertInputs);

        Assert.True(tokenizer.LowerCase);
        Assert.Equal(30522, tokenizer.VocabularySize);
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], sample.Inputs.Select(t => t.Name));
        Assert.All(sample.Inputs, t => Assert.Equal([1L, expected.Length], t.Shape));
        Assert.Equal(expected, (long[])sample.Inputs[0].Values);
        Assert.Equal(101, expected[0]);
        Assert.Equal(102, expected[^1]);
        Assert.All((long[])sample.Inputs[1].Values, v => Assert.Equal(1, v));
        Assert.All((long[])sample.Inputs[2].Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public void LongText_IsTruncated_ToTheMaximum_KeepingSepLast()
    {
        var text = string.Join(' ', Enumerable.Repeat("compression keeps answers close to the original", 20));

        var sample = MiniLm().Encode(text, BertInputs, maxSequenceLength: 16);

        var ids = (long[])sample.Inputs[0].Values;
        Assert.Equal(16, ids.Length);
        Assert.Equal(101, ids[0]);
        Assert.Equal(102, ids[^1]);
    }

    [Fact]
    public void FixedSequenceLength_PadsWithPad_AndMasksThePadding()
    {
        SampleInput[] inputs = [new("input_ids", TensorElementType.Int32, [1, 12]), new("attention_mask", TensorElementType.Int32, [1, 12])];

        var tokenizer = MiniLm();
        var tokens = tokenizer.EncodeIds("the cat sits");

        var sample = tokenizer.Encode("the cat sits", inputs);

        var ids = (int[])sample.Inputs[0].Values;
        var mask = (int[])sample.Inputs[1].Values;
        Assert.Equal([1L, 12], sample.Inputs[0].Shape);
        Assert.Equal(TensorElementType.Int32, sample.Inputs[0].ElementType);
        Assert.InRange(tokens.Count, 4, 8);
        Assert.Equal([.. tokens, .. new int[12 - tokens.Count]], ids);
        Assert.Equal([.. tokens.Select(_ => 1), .. new int[12 - tokens.Count]], mask);
    }

    [Fact]
    public void InputThatNoTextFills_IsRefused_ByName()
    {
        SampleInput[] inputs = [.. BertInputs, new("pixel_values", TensorElementType.Float, [1, 3, 224, 224])];

        var error = Assert.Throws<SampleFormatException>(() => MiniLm().Encode("hello", inputs));

        Assert.Contains("'pixel_values'", error.Message);
    }

    [Fact]
    public void ModelWithoutInputIds_IsRefused()
    {
        var error = Assert.Throws<SampleFormatException>(() => MiniLm().Encode("hello", [new SampleInput("attention_mask", TensorElementType.Int64, [-1, -1])]));

        Assert.Contains("no input_ids", error.Message);
    }

    [Fact]
    public void FloatTokenInput_IsRefused_NamingTheType()
    {
        var error = Assert.Throws<SampleFormatException>(() => MiniLm().Encode("hello", [new SampleInput("input_ids", TensorElementType.Float, [-1, -1])]));

        Assert.Contains("float", error.Message);
    }

    [Fact]
    public void VocabularyWithoutSpecialTokens_IsRefused()
    {
        var words = string.Join('\n', Enumerable.Range(0, 100).Select(i => $"word{i}"));

        var error = Assert.Throws<SampleFormatException>(() => TextTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(words))));

        Assert.Contains("[UNK]", error.Message);
    }

    [Fact]
    public void BinaryVocabulary_IsRefused()
    {
        var error = Assert.Throws<SampleFormatException>(() => TextTokenizer.Load(new MemoryStream([0xFF, 0xFE, 0xFD, 0x00, 0x81])));

        Assert.Contains("UTF-8", error.Message);
    }

    [Fact]
    public void CasedVocabulary_KeepsCapitals()
    {
        var vocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nThe\nthe\ncat\nCat\n.\n##s\n";

        var tokenizer = TextTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(vocabulary)));

        Assert.False(tokenizer.LowerCase);
        Assert.Equal([2, 5, 8, 3], tokenizer.EncodeIds("The Cat"));
    }
}
