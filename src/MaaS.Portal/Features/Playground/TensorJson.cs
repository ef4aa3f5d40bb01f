using System.Globalization;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Inference;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// Numeric tensors typed by people as JSON, flat (<c>[1, 2, 3, 4]</c>) or nested (<c>[[1, 2], [3, 4]]</c>), checked
/// against a shape with errors that name the dimension that is wrong, and turned into <see cref="InferenceTensor"/>s.
/// </summary>
public static class TensorJson
{
    /// <summary>Beyond this many values the editors refuse typing (an image or a long sequence has its own editor).</summary>
    public const long MaxValues = 1_000_000;

    /// <summary>The values in row-major order, or an error for people. Integers must be whole and in range.</summary>
    public static (double[]? Values, string? Error) Parse(string? json, TensorElementType type, IReadOnlyList<long> shape)
    {
        var count = shape.Aggregate(1L, (a, d) => a * d);
        if (count > MaxValues) return (null, $"Shape {Format(shape)} has {count:N0} values; the editor takes up to {MaxValues:N0}.");
        if (string.IsNullOrWhiteSpace(json)) return (null, $"Type {count:N0} value{(count == 1 ? "" : "s")} as a JSON array, or use a fill button.");
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            return (null, $"Not valid JSON: {ex.Message.Split(" Path:")[0]}");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind is JsonValueKind.Number && count == 1) root = document.RootElement;
            else if (root.ValueKind != JsonValueKind.Array) return (null, "Write the values as a JSON array, e.g. [0.5, 1.2].");
            var values = new List<double>((int)Math.Min(count, 1 << 20));
            string? error;
            if (root.ValueKind == JsonValueKind.Number) error = Add(root, type, values, "[0]");
            else if (IsFlat(root) && shape.Count != 1)
            {
                // A flat list fills the tensor row-major; only the count has to agree.
                if (root.GetArrayLength() != count)
                    return (null, $"{root.GetArrayLength():N0} values given flat; shape {Format(shape)} needs {count:N0}.");
                error = null;
                var index = 0;
                foreach (var item in root.EnumerateArray())
                {
                    error = Add(item, type, values, $"[{index++}]");
                    if (error is not null) break;
                }
            }
            else error = Walk(root, 0, shape, type, values, "");
            return error is null ? (values.ToArray(), null) : (null, error);
        }
    }

    private static bool IsFlat(JsonElement array) => array.EnumerateArray().All(e => e.ValueKind != JsonValueKind.Array);

    private static string? Walk(JsonElement element, int dimension, IReadOnlyList<long> shape, TensorElementType type, List<double> values, string path)
    {
        if (dimension == shape.Count) return Add(element, type, values, path.Length == 0 ? "[0]" : path);
        if (element.ValueKind != JsonValueKind.Array)
            return $"At {(path.Length == 0 ? "the top" : path)}: a single value where dimension {dimension} (size {shape[dimension]}) needs a list; shape {Format(shape)} nests {shape.Count} deep.";
        var length = element.GetArrayLength();
        if (length != shape[dimension])
            return $"Dimension {dimension} has {length} value{(length == 1 ? "" : "s")}{(path.Length == 0 ? "" : $" at {path}")}; shape {Format(shape)} says {shape[dimension]}.";
        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (dimension + 1 == shape.Count && item.ValueKind == JsonValueKind.Array)
                return $"At {path}[{index}]: a list where a value belongs; shape {Format(shape)} has {shape.Count} dimension{(shape.Count == 1 ? "" : "s")}.";
            var error = Walk(item, dimension + 1, shape, type, values, $"{path}[{index++}]");
            if (error is not null) return error;
        }
        return null;
    }

    private static string? Add(JsonElement element, TensorElementType type, List<double> values, string path)
    {
        if (element.ValueKind == JsonValueKind.True || element.ValueKind == JsonValueKind.False)
        {
            values.Add(element.GetBoolean() ? 1 : 0);
            return null;
        }
        if (element.ValueKind != JsonValueKind.Number || !element.TryGetDouble(out var value) || !double.IsFinite(value))
            return $"The value at {path} is not a number ({Shorten(element.GetRawText())}).";
        if (IsInteger(type))
        {
            if (Math.Floor(value) != value) return $"The value at {path} is {value.ToString(CultureInfo.InvariantCulture)}; {V2Datatypes.Name(type)} takes whole numbers.";
            var (min, max) = Range(type);
            if (value < min || value > max) return $"The value at {path} is {value.ToString(CultureInfo.InvariantCulture)}; {V2Datatypes.Name(type)} takes {min} to {max}.";
        }
        values.Add(value);
        return null;
    }

    public static bool IsInteger(TensorElementType type) => type is TensorElementType.Int8 or TensorElementType.Int16 or TensorElementType.Int32
        or TensorElementType.Int64 or TensorElementType.UInt8 or TensorElementType.UInt16 or TensorElementType.UInt32 or TensorElementType.UInt64;

    public static (double Min, double Max) Range(TensorElementType type) => type switch
    {
        TensorElementType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
        TensorElementType.Int16 => (short.MinValue, short.MaxValue),
        TensorElementType.Int32 => (int.MinValue, int.MaxValue),
        TensorElementType.Int64 => (-9007199254740992, 9007199254740992), // exact in a double
        TensorElementType.UInt8 => (0, byte.MaxValue),
        TensorElementType.UInt16 => (0, ushort.MaxValue),
        TensorElementType.UInt32 => (0, uint.MaxValue),
        TensorElementType.UInt64 => (0, 9007199254740992),
        _ => (double.MinValue, double.MaxValue),
    };

    /// <summary>The values as a tensor of <paramref name="type"/> (float, double, FP16 and the integer types).</summary>
    public static InferenceTensor ToTensor(string name, TensorElementType type, long[] shape, double[] values) => type switch
    {
        TensorElementType.Float => InferenceTensor.FromArray(name, shape, values.Select(v => (float)v).ToArray()),
        TensorElementType.Double => InferenceTensor.FromArray(name, shape, values),
        TensorElementType.Float16 => InferenceTensor.FromArray(name, shape, values.Select(v => (Half)v).ToArray()),
        TensorElementType.Int8 => InferenceTensor.FromArray(name, shape, values.Select(v => (sbyte)v).ToArray()),
        TensorElementType.Int16 => InferenceTensor.FromArray(name, shape, values.Select(v => (short)v).ToArray()),
        TensorElementType.Int32 => InferenceTensor.FromArray(name, shape, values.Select(v => (int)v).ToArray()),
        TensorElementType.Int64 => InferenceTensor.FromArray(name, shape, values.Select(v => (long)v).ToArray()),
        TensorElementType.UInt8 => InferenceTensor.FromArray(name, shape, values.Select(v => (byte)v).ToArray()),
        TensorElementType.UInt16 => InferenceTensor.FromArray(name, shape, values.Select(v => (ushort)v).ToArray()),
        TensorElementType.UInt32 => InferenceTensor.FromArray(name, shape, values.Select(v => (uint)v).ToArray()),
        TensorElementType.UInt64 => InferenceTensor.FromArray(name, shape, values.Select(v => (ulong)v).ToArray()),
        TensorElementType.Bool => InferenceTensor.FromArray(name, shape, values.Select(v => v != 0).ToArray()),
        _ => throw new NotSupportedException($"Input '{name}' is {type}, which the playground cannot fill."),
    };

    /// <summary>Values written as nested JSON that follows <paramref name="shape"/> (one row per line for rank 2).</summary>
    public static string Write(IReadOnlyList<double> values, IReadOnlyList<long> shape, TensorElementType type)
    {
        var text = new StringBuilder();
        var index = 0;
        WriteLevel(text, values, shape, 0, ref index, IsInteger(type));
        return text.ToString();
    }

    private static void WriteLevel(StringBuilder text, IReadOnlyList<double> values, IReadOnlyList<long> shape, int dimension, ref int index, bool integers)
    {
        if (dimension == shape.Count)
        {
            var value = values[index++];
            text.Append(integers ? ((long)value).ToString(CultureInfo.InvariantCulture) : value.ToString("0.######", CultureInfo.InvariantCulture));
            return;
        }
        text.Append('[');
        for (var i = 0; i < shape[dimension]; i++)
        {
            if (i > 0) text.Append(dimension == shape.Count - 2 ? ",\n " : ", ");
            WriteLevel(text, values, shape, dimension + 1, ref index, integers);
        }
        text.Append(']');
    }

    /// <summary>A tensor's values as doubles (for re-filling an editor from a saved request).</summary>
    public static double[] ToDoubles(InferenceTensor tensor) => tensor.ElementType switch
    {
        TensorElementType.Float => tensor.ToArray<float>().Select(v => (double)v).ToArray(),
        TensorElementType.Double => tensor.ToArray<double>(),
        TensorElementType.Float16 => tensor.ToArray<Half>().Select(v => (double)v).ToArray(),
        TensorElementType.Int8 => tensor.ToArray<sbyte>().Select(v => (double)v).ToArray(),
        TensorElementType.Int16 => tensor.ToArray<short>().Select(v => (double)v).ToArray(),
        TensorElementType.Int32 => tensor.ToArray<int>().Select(v => (double)v).ToArray(),
        TensorElementType.Int64 => tensor.ToArray<long>().Select(v => (double)v).ToArray(),
        TensorElementType.UInt8 => tensor.ToArray<byte>().Select(v => (double)v).ToArray(),
        TensorElementType.UInt16 => tensor.ToArray<ushort>().Select(v => (double)v).ToArray(),
        TensorElementType.UInt32 => tensor.ToArray<uint>().Select(v => (double)v).ToArray(),
        TensorElementType.UInt64 => tensor.ToArray<ulong>().Select(v => (double)v).ToArray(),
        // Marshal.SizeOf<bool> is 4, so BOOL is read as its bytes.
        TensorElementType.Bool => tensor.Data.ToArray().Select(v => v != 0 ? 1.0 : 0.0).ToArray(),
        TensorElementType.BFloat16 => tensor.Span<ushort>().ToArray().Select(b => (double)BitConverter.UInt32BitsToSingle((uint)b << 16)).ToArray(),
        _ => [],
    };

    public static string Format(IReadOnlyList<long> shape) => "[" + string.Join(", ", shape) + "]";

    private static string Shorten(string text) => text.Length > 20 ? text[..20] + "…" : text;
}
