using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Compression;

/// <summary>
/// How <see cref="SampleGenerator"/> fills inputs. Symbolic dimensions become 1 when first (a batch) and
/// <see cref="SequenceLength"/> elsewhere. Token ids are drawn from [<see cref="FirstRegularTokenId"/>,
/// <see cref="VocabularySize"/>), past BERT's special and unused tokens. Floats are normal(0, 1) unless
/// <see cref="UniformFloats"/>, then uniform in [<see cref="UniformLow"/>, <see cref="UniformHigh"/>).
/// </summary>
public sealed record SampleGeneratorOptions(
    int SequenceLength = 16,
    int VocabularySize = 30522,
    int FirstRegularTokenId = 1000,
    bool UniformFloats = false,
    float UniformLow = -1f,
    float UniformHigh = 1f);

/// <summary>
/// Inputs for a model that has no sample set: they respect each input's element type and shape, and the value ranges
/// models expect by convention (ids within the vocabulary, attention masks of ones, token types of zeros).
/// </summary>
public static class SampleGenerator
{
    private static readonly string[] Words = ["red", "cat", "runs", "over", "the", "blue", "hill", "and", "sings", "today"];

    public static IReadOnlyList<ModelSample> Generate(InferenceSession session, int count, int seed = 42, SampleGeneratorOptions? options = null) =>
        Generate(session.InputMetadata, count, seed, options);

    public static IReadOnlyList<ModelSample> Generate(IReadOnlyDictionary<string, NodeMetadata> inputs, int count, int seed = 42, SampleGeneratorOptions? options = null)
    {
        options ??= new SampleGeneratorOptions();
        if (options.VocabularySize <= options.FirstRegularTokenId)
            throw new ArgumentException($"Vocabulary size {options.VocabularySize} leaves no ids at or above {options.FirstRegularTokenId}.", nameof(options));
        var random = new Random(seed);
        var samples = new List<ModelSample>(count);
        for (var s = 0; s < count; s++)
        {
            var tensors = new List<SampleTensor>();
            foreach (var (name, metadata) in inputs)
            {
                if (!metadata.IsTensor) throw new NotSupportedException($"Input '{name}' is a {metadata.OnnxValueType}, not a tensor; samples cannot be generated for it.");
                var shape = Shape(metadata, options.SequenceLength);
                tensors.Add(new SampleTensor(name, metadata.ElementDataType, shape, Values(name, metadata.ElementDataType, shape, random, options)));
            }
            samples.Add(new ModelSample(tensors));
        }
        return samples;
    }

    /// <summary>A BERT-style sample of one tokenised text: input_ids, attention_mask (ones), token_type_ids (zeros), int64 [1, n].</summary>
    public static ModelSample FromTokenIds(IReadOnlyList<int> ids)
    {
        long[] shape = [1, ids.Count];
        return new ModelSample(
        [
            SampleTensor.Int64s("input_ids", shape, ids.Select(i => (long)i).ToArray()),
            SampleTensor.Int64s("attention_mask", shape, Enumerable.Repeat(1L, ids.Count).ToArray()),
            SampleTensor.Int64s("token_type_ids", shape, new long[ids.Count]),
        ]);
    }

    private static long[] Shape(NodeMetadata metadata, int sequenceLength)
    {
        var dims = metadata.Dimensions;
        var shape = new long[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            // ORT reports symbolic (and unknown) dimensions as -1.
            shape[i] = dims[i] > 0 ? dims[i] : i == 0 ? 1 : sequenceLength;
        }
        return shape;
    }

    private enum IntegerRole { Ids, Mask, TokenType, Position, Small }

    private static IntegerRole RoleOf(string name)
    {
        var lower = name.ToLowerInvariant();
        if (lower.Contains("mask", StringComparison.Ordinal)) return IntegerRole.Mask;
        if (lower.Contains("token_type", StringComparison.Ordinal) || lower.Contains("segment", StringComparison.Ordinal)) return IntegerRole.TokenType;
        if (lower.Contains("position", StringComparison.Ordinal)) return IntegerRole.Position;
        if (lower.Contains("ids", StringComparison.Ordinal) || lower.Contains("token", StringComparison.Ordinal)) return IntegerRole.Ids;
        return IntegerRole.Small;
    }

    private static Array Values(string name, TensorElementType type, long[] shape, Random random, SampleGeneratorOptions options)
    {
        var length = checked((int)shape.Aggregate(1L, (a, b) => a * b));
        var lastDim = shape.Length == 0 ? 1 : (int)Math.Max(1, shape[^1]);
        switch (type)
        {
            case TensorElementType.Float:
                return Fill(length, () => (float)Real(random, options));
            case TensorElementType.Double:
                return Fill(length, () => Real(random, options));
            case TensorElementType.Float16:
                return Fill(length, () => (Float16)(float)Real(random, options));
            case TensorElementType.Int64:
                return Integers(name, length, lastDim, random, options);
            case TensorElementType.Int32:
                return Integers(name, length, lastDim, random, options).Select(v => (int)v).ToArray();
            case TensorElementType.UInt8:
                // Byte inputs are nearly always pixels.
                return Fill(length, () => (byte)random.Next(256));
            case TensorElementType.Int8:
                return Fill(length, () => (sbyte)random.Next(-128, 128));
            case TensorElementType.Bool:
                return Fill(length, () => random.Next(2) == 1);
            case TensorElementType.String:
                return Fill(length, () => Words[random.Next(Words.Length)]);
            default:
                throw new NotSupportedException($"Input '{name}' has element type {type}; samples cannot be generated for it.");
        }
    }

    private static long[] Integers(string name, int length, int lastDim, Random random, SampleGeneratorOptions options)
    {
        var role = RoleOf(name);
        var values = new long[length];
        for (var i = 0; i < length; i++)
        {
            values[i] = role switch
            {
                IntegerRole.Ids => random.Next(options.FirstRegularTokenId, options.VocabularySize),
                IntegerRole.Mask => 1,
                IntegerRole.TokenType => 0,
                IntegerRole.Position => i % lastDim,
                _ => random.Next(10),
            };
        }
        return values;
    }

    private static double Real(Random random, SampleGeneratorOptions options)
    {
        if (options.UniformFloats) return options.UniformLow + random.NextDouble() * (options.UniformHigh - options.UniformLow);
        // Box–Muller: one standard normal draw from two uniforms; 1 - u keeps the logarithm's argument above 0.
        var u1 = 1.0 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static T[] Fill<T>(int length, Func<T> next)
    {
        var values = new T[length];
        for (var i = 0; i < length; i++) values[i] = next();
        return values;
    }
}
