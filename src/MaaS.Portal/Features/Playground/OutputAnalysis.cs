using System.Globalization;
using System.Text.Json;
using MaaS.Onnx.Inference;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

namespace MaaS.Portal.Features.Playground;

/// <summary>How an output is best shown to people.</summary>
public enum OutputKind { Values, Classes, Embedding, Strings, Table, Image }

public sealed record ClassScore(int Index, string Label, double Score);

/// <summary>
/// One output read for people: shape, datatype, statistics and first values always; then, by what it looks like,
/// the top classes (with labels, softmax applied to logits), an embedding's norm, strings, a table of a map, or an image.
/// </summary>
public sealed record OutputReading(
    string Name,
    string Datatype,
    long[] Shape,
    long Count,
    double? Min,
    double? Max,
    double? Mean,
    IReadOnlyList<string> FirstValues,
    OutputKind Kind,
    IReadOnlyList<ClassScore> Top,
    bool SoftmaxApplied,
    double[]? Embedding,
    double? Norm,
    string? EmbeddingNote,
    IReadOnlyList<string> Strings,
    IReadOnlyList<KeyValuePair<string, string>> Table,
    string? ImageDataUrl);

public static class OutputAnalysis
{
    public const int FirstValueCount = 10;
    public const int TopCount = 5;

    // Without a labels file, a vector this long or shorter reads as class scores, a longer one as an embedding.
    private const int MaxUnlabelledClasses = 100;
    private static readonly string[] EmbeddingHints = ["embed", "feature", "pool", "hidden", "emb_", "vector"];

    public static OutputReading Read(InferenceTensor tensor, IReadOnlyList<string>? labels)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (tensor.Strings is { } strings) return ReadStrings(tensor, strings, labels);

        var values = TensorJson.ToDoubles(tensor);
        var finite = values.Where(double.IsFinite).ToArray();
        var first = values.Take(FirstValueCount).Select(v => Number(v, tensor.ElementType)).ToList();
        var reading = new OutputReading(tensor.Name, tensor.Datatype, tensor.Shape, tensor.ElementCount,
            finite.Length > 0 ? finite.Min() : null, finite.Length > 0 ? finite.Max() : null, finite.Length > 0 ? finite.Average() : null,
            first, OutputKind.Values, [], false, null, null, null, [], [], null);
        if (!IsReal(tensor.ElementType) || values.Length == 0) return reading;

        var dims = tensor.Shape.Where(d => d != 1).ToArray();
        if (dims.Length == 1 && dims[0] >= 2)
        {
            var n = (int)dims[0];
            var hinted = EmbeddingHints.Any(h => tensor.Name.Contains(h, StringComparison.OrdinalIgnoreCase));
            var classes = labels is not null && labels.Count == n || labels is null && !hinted && n <= MaxUnlabelledClasses;
            if (classes)
            {
                var (scores, softmax) = Probabilities(values);
                var top = scores.Select((s, i) => new ClassScore(i, labels is not null && i < labels.Count ? labels[i] : $"class {i}", s))
                    .OrderByDescending(c => c.Score).ThenBy(c => c.Index).Take(TopCount).ToList();
                return reading with { Kind = OutputKind.Classes, Top = top, SoftmaxApplied = softmax };
            }
            return reading with { Kind = OutputKind.Embedding, Embedding = values, Norm = Norm(values) };
        }
        // [1, sequence, width] token states (BERT-style): mean over the positions gives one sentence vector.
        if (tensor.Shape.Length == 3 && tensor.Shape[0] == 1 && tensor.Shape[2] >= 16)
        {
            var (length, width) = ((int)tensor.Shape[1], (int)tensor.Shape[2]);
            var mean = new double[width];
            for (var t = 0; t < length; t++)
                for (var d = 0; d < width; d++) mean[d] += values[t * width + d] / length;
            return reading with
            {
                Kind = OutputKind.Embedding, Embedding = mean, Norm = Norm(mean),
                EmbeddingNote = $"Mean over the {length} token positions (padding included, when there is any).",
            };
        }
        if (ImageOf(tensor, values) is { } image) return reading with { Kind = OutputKind.Image, ImageDataUrl = image };
        return reading;
    }

    /// <summary>Softmax when the values are not already probabilities (any outside 0–1, or not summing to 1).</summary>
    public static (double[] Scores, bool SoftmaxApplied) Probabilities(IReadOnlyList<double> values)
    {
        var sum = values.Sum();
        if (values.All(v => v >= 0 && v <= 1) && Math.Abs(sum - 1) < 0.01) return (values.ToArray(), false);
        var max = values.Max();
        var exp = values.Select(v => Math.Exp(v - max)).ToArray();
        var total = exp.Sum();
        return (exp.Select(e => e / total).ToArray(), true);
    }

    public static double Norm(IReadOnlyList<double> vector) => Math.Sqrt(vector.Sum(v => v * v));

    /// <summary>Cosine similarity; 0 when either vector is all zeros or their lengths differ.</summary>
    public static double Cosine(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        if (a.Count != b.Count || a.Count == 0) return 0;
        double dot = 0;
        for (var i = 0; i < a.Count; i++) dot += a[i] * b[i];
        var norms = Norm(a) * Norm(b);
        return norms == 0 ? 0 : dot / norms;
    }

    private static OutputReading ReadStrings(InferenceTensor tensor, string[] strings, IReadOnlyList<string>? labels)
    {
        var reading = new OutputReading(tensor.Name, tensor.Datatype, tensor.Shape, tensor.ElementCount, null, null, null,
            strings.Take(FirstValueCount).ToList(), OutputKind.Strings, [], false, null, null, null, strings.Take(100).ToList(), [], null);
        // ZipMap outputs (ML.NET, scikit-learn) are one JSON map per row: class → probability.
        if (strings.Length == 0 || TryMap(strings[0]) is not { } map) return reading;
        var table = map.Select(p => new KeyValuePair<string, string>(p.Key, p.Value.ValueKind == JsonValueKind.Number ? p.Value.GetDouble().ToString("0.####", CultureInfo.InvariantCulture) : p.Value.ToString())).ToList();
        if (map.Count >= 2 && map.All(p => p.Value.ValueKind == JsonValueKind.Number))
        {
            var top = map.Select((p, i) => new ClassScore(i, LabelOf(p.Key, labels), p.Value.GetDouble()))
                .OrderByDescending(c => c.Score).Take(TopCount).ToList();
            return reading with { Kind = OutputKind.Classes, Top = top, Table = table };
        }
        return reading with { Kind = OutputKind.Table, Table = table };
    }

    private static string LabelOf(string key, IReadOnlyList<string>? labels) =>
        labels is not null && int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var i) && i < labels.Count ? labels[i] : key;

    private static Dictionary<string, JsonElement>? TryMap(string text)
    {
        if (!text.StartsWith('{')) return null;
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.EnumerateObject().Take(1000).ToDictionary(p => p.Name, p => p.Value.Clone())
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A [1, 1 or 3, H, W] output of at least 8×8 as a PNG, scaled from its min–max to 0–255 (masks, depth, images).</summary>
    private static string? ImageOf(InferenceTensor tensor, double[] values)
    {
        if (tensor.Shape is not [1, var channels and (1 or 3), var height and >= 8 and <= 2048, var width and >= 8 and <= 2048]) return null;
        var finite = values.Where(double.IsFinite).ToArray();
        if (finite.Length == 0) return null;
        var (min, max) = (finite.Min(), finite.Max());
        var scale = max > min ? 255 / (max - min) : 0;
        using var bitmap = new SKBitmap((int)width, (int)height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var plane = (int)(height * width);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var at = (int)(y * width + x);
                byte Channel(int c) => (byte)Math.Clamp((values[(channels == 3 ? c : 0) * plane + at] - min) * scale, 0, 255);
                bitmap.SetPixel(x, y, new SKColor(Channel(0), Channel(1), Channel(2)));
            }
        }
        using var png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return "data:image/png;base64," + Convert.ToBase64String(png.ToArray());
    }

    private static bool IsReal(TensorElementType type) => type is TensorElementType.Float or TensorElementType.Double or TensorElementType.Float16 or TensorElementType.BFloat16;

    private static string Number(double value, TensorElementType type) =>
        TensorJson.IsInteger(type) || type == TensorElementType.Bool ? value.ToString("0", CultureInfo.InvariantCulture) : value.ToString("0.#####", CultureInfo.InvariantCulture);
}
