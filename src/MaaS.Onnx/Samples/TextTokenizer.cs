using System.Text;
using MaaS.Onnx.Compression;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;

namespace MaaS.Onnx.Samples;

/// <summary>
/// BERT WordPiece tokenisation for text samples: one line of text becomes input_ids ([CLS] … [SEP]), attention_mask and
/// token_type_ids, each int64 (or int32) [1, sequence], for whichever of those inputs the model has.
/// </summary>
public sealed class TextTokenizer
{
    public const int DefaultMaxSequenceLength = 128;

    private readonly BertTokenizer _bert;
    // The vocabulary's lines: a word piece's id is its line number, which is how the playground shows tokens.
    private readonly string[] _pieces;

    private TextTokenizer(BertTokenizer bert, bool lowerCase, string[] pieces)
    {
        _bert = bert;
        LowerCase = lowerCase;
        _pieces = pieces;
    }

    /// <summary>Whether the vocabulary is uncased (no upper-case letters in its word pieces), so text is lower-cased first.</summary>
    public bool LowerCase { get; }

    public int VocabularySize { get; private init; }

    /// <summary>
    /// A tokenizer over a BERT vocab.txt (one word piece per line). The caller bounds the stream's length.
    /// Throws <see cref="SampleFormatException"/> when it is not such a file.
    /// </summary>
    public static TextTokenizer Load(Stream vocabulary)
    {
        var buffer = new MemoryStream();
        vocabulary.CopyTo(buffer);
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw new SampleFormatException("The vocabulary is not UTF-8 text; attach the model's vocab.txt (one word piece per line).");
        }
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
        string[] required = ["[UNK]", "[CLS]", "[SEP]", "[PAD]"];
        var missing = required.Where(t => !lines.Contains(t)).ToList();
        if (lines.Count < 10 || missing.Count > 0)
        {
            throw new SampleFormatException(missing.Count > 0
                ? $"The vocabulary lacks BERT's special tokens {string.Join(", ", missing)}; attach the model's vocab.txt."
                : "The vocabulary has fewer than 10 entries; attach the model's vocab.txt.");
        }
        // Uncased vocabularies (bert-base-uncased, MiniLM) have no Latin capitals outside the [SPECIAL] tokens (they do
        // keep a few symbols that count as upper case, such as ℝ).
        var lowerCase = !lines.Any(l => !(l.StartsWith('[') && l.EndsWith(']')) && l.Any(char.IsAsciiLetterUpper));
        try
        {
            buffer.Position = 0;
            var bert = BertTokenizer.Create(buffer, new BertOptions { LowerCaseBeforeTokenization = lowerCase });
            var pieces = text.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
            return new TextTokenizer(bert, lowerCase, pieces) { VocabularySize = lines.Count };
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or FormatException or InvalidDataException)
        {
            throw new SampleFormatException($"The vocabulary could not be read as a BERT vocab.txt: {ex.Message}");
        }
    }

    /// <summary>Token ids with [CLS] first and [SEP] last, at most <paramref name="maxTokens"/> (≥ 2) in all.</summary>
    public IReadOnlyList<int> EncodeIds(string text, int maxTokens = DefaultMaxSequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 2);
        var ids = _bert.EncodeToIds(text, maxTokens - 2, addSpecialTokens: false, out _, out _);
        return [_bert.ClassificationTokenId, .. ids, _bert.SeparatorTokenId];
    }

    /// <summary>The word piece an id stands for ("[CLS]", "play", "##ground"); "[id]" for an id outside the vocabulary.</summary>
    public string TokenOf(long id) => id >= 0 && id < _pieces.Length ? _pieces[id] : $"[{id}]";

    /// <summary>How many tokens the whole text makes, [CLS] and [SEP] included: more than a model takes means truncation.</summary>
    public int CountTokens(string text) => _bert.EncodeToIds(text, int.MaxValue, addSpecialTokens: false, out _, out _).Count + 2;

    /// <summary>
    /// One sample for a model whose inputs are <paramref name="inputs"/>: each must be one of input_ids, attention_mask,
    /// token_type_ids (matched by name), int64 or int32, shape [batch, sequence]. A fixed sequence length pads with
    /// [PAD] (mask 0) or truncates; a variable one takes the text's length, at most <paramref name="maxSequenceLength"/>.
    /// </summary>
    public ModelSample Encode(string text, IReadOnlyList<SampleInput> inputs, int maxSequenceLength = DefaultMaxSequenceLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSequenceLength, 2);
        var roles = inputs.Select(i => (Input: i, Role: RoleOf(i))).ToList();
        if (!roles.Any(r => r.Role == TextRole.Ids))
        {
            throw new SampleFormatException(
                $"The model has no input_ids input (its inputs: {string.Join(", ", inputs.Select(i => i.Name))}); text samples fit BERT-style models.");
        }
        int? fixedLength = null;
        foreach (var (input, _) in roles)
        {
            if (input.ElementType is not (TensorElementType.Int64 or TensorElementType.Int32))
            {
                throw new SampleFormatException($"Input '{input.Name}' takes {input.ElementType.ToString().ToLowerInvariant()} values; token inputs are int64 or int32.");
            }
            if (input.Shape is null) continue;
            if (input.Shape.Count != 2 || input.Shape[0] > 1)
            {
                throw new SampleFormatException($"Input '{input.Name}' has shape {input.ShapeText}; token inputs are [batch, sequence] with a batch of 1 or variable.");
            }
            if (input.Shape[1] < 0) continue;
            if (input.Shape[1] < 2 || (fixedLength is { } other && other != input.Shape[1]))
            {
                throw new SampleFormatException($"Input '{input.Name}' has shape {input.ShapeText}, which does not fit a tokenised text alongside the other inputs.");
            }
            fixedLength = (int)Math.Min(input.Shape[1], int.MaxValue);
        }

        var ids = EncodeIds(text, fixedLength ?? maxSequenceLength);
        var length = fixedLength ?? ids.Count;
        long[] shape = [1, length];
        var tensors = roles.Select(r =>
        {
            var values = new long[length];
            for (var i = 0; i < length; i++)
            {
                values[i] = r.Role switch
                {
                    TextRole.Ids => i < ids.Count ? ids[i] : _bert.PaddingTokenId,
                    TextRole.Mask => i < ids.Count ? 1 : 0,
                    _ => 0,
                };
            }
            return r.Input.ElementType == TensorElementType.Int32
                ? new SampleTensor(r.Input.Name, TensorElementType.Int32, shape, values.Select(v => (int)v).ToArray())
                : SampleTensor.Int64s(r.Input.Name, shape, values);
        }).ToList();
        return new ModelSample(tensors);
    }

    private enum TextRole { Ids, Mask, TokenType }

    private static TextRole RoleOf(SampleInput input)
    {
        var name = input.Name.ToLowerInvariant();
        if (name.Contains("input_ids")) return TextRole.Ids;
        if (name.Contains("attention_mask")) return TextRole.Mask;
        if (name.Contains("token_type_ids")) return TextRole.TokenType;
        throw new SampleFormatException(
            $"Input '{input.Name}' is not one a tokenised text fills; text samples fit inputs named input_ids, attention_mask and token_type_ids.");
    }
}
