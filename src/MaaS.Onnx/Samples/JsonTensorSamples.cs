using System.Text;
using System.Text.Json;
using MaaS.Onnx.Compression;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Samples;

/// <summary>Bounds on a JSON tensor file, whatever it declares.</summary>
public sealed record JsonTensorLimits(
    int MaxSamples = 1000,
    int MaxInputsPerSample = 64,
    long MaxElementsPerTensor = 16L * 1024 * 1024,
    int MaxRank = 8,
    int MaxDepth = 64);

/// <summary>How many samples a file holds, and the first of them with their values.</summary>
public sealed record ParsedTensorSamples(int Count, IReadOnlyList<ModelSample> Samples);

/// <summary>
/// Samples written as Open Inference Protocol (V2) request inputs: one <c>{"inputs":[{"name","shape","datatype","data"}]}</c>,
/// a JSON array of such objects, or <c>{"samples":[...]}</c>. Data may be flat or nested (row-major). Nothing the file
/// declares is trusted: shapes are checked for overflow and a size limit before values are kept, and the data must
/// hold exactly as many values as the shape says.
/// </summary>
public static class JsonTensorSamples
{
    public static readonly IReadOnlyList<string> Datatypes =
        ["FP32", "FP64", "FP16", "INT64", "INT32", "INT16", "INT8", "UINT8", "UINT16", "UINT32", "UINT64", "BOOL"];

    private const int MaxNameLength = 256;

    /// <summary>
    /// Validates every sample in <paramref name="utf8Json"/> and returns the count and the first <paramref name="keep"/>
    /// samples with their values. Throws <see cref="SampleFormatException"/> naming the sample (from 1) and the input.
    /// </summary>
    public static ParsedTensorSamples Parse(ReadOnlySpan<byte> utf8Json, JsonTensorLimits? limits = null, int keep = int.MaxValue)
    {
        limits ??= new JsonTensorLimits();
        if (utf8Json.Trim(" \t\r\n"u8).IsEmpty) throw new SampleFormatException("The file is empty; it should hold V2 inputs as JSON.");
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = limits.MaxDepth, CommentHandling = JsonCommentHandling.Disallow });
        var state = new ParseState(limits, keep);
        try
        {
            reader.Read();
            if (reader.TokenType == JsonTokenType.StartArray)
            {
                ParseSampleArray(ref reader, state);
            }
            else if (reader.TokenType == JsonTokenType.StartObject)
            {
                ParseTopObject(ref reader, state);
            }
            else
            {
                throw new SampleFormatException("The file should hold a JSON object with \"inputs\" or \"samples\", or an array of such objects.");
            }
            if (reader.Read()) throw new SampleFormatException("The file has more after its JSON value.");
        }
        catch (JsonException ex)
        {
            throw new SampleFormatException($"The file is not valid JSON (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1}): {FirstSentence(ex.Message)}");
        }
        if (state.Count == 0) throw new SampleFormatException("The file holds no samples.");
        return new ParsedTensorSamples(state.Count, state.Samples);
    }

    private sealed class ParseState(JsonTensorLimits limits, int keep)
    {
        public JsonTensorLimits Limits { get; } = limits;
        public int Keep { get; } = keep;
        public int Count { get; set; }
        public List<ModelSample> Samples { get; } = [];
    }

    private static void ParseTopObject(ref Utf8JsonReader reader, ParseState state)
    {
        var sawInputs = false;
        var sawSamples = false;
        List<SampleTensor>? inputs = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.GetString();
            reader.Read();
            if (property == "samples")
            {
                if (reader.TokenType != JsonTokenType.StartArray) throw new SampleFormatException("\"samples\" should be an array of objects with \"inputs\".");
                ParseSampleArray(ref reader, state);
                sawSamples = true;
            }
            else if (property == "inputs")
            {
                inputs = ParseInputs(ref reader, 1, state);
                sawInputs = true;
            }
            else
            {
                reader.Skip();
            }
        }
        if (sawInputs && sawSamples) throw new SampleFormatException("The file has both \"inputs\" and \"samples\"; use one.");
        if (!sawInputs && !sawSamples) throw new SampleFormatException("The JSON object has neither \"inputs\" (one sample) nor \"samples\" (a list).");
        if (sawInputs) AddSample(state, inputs!);
    }

    private static void ParseSampleArray(ref Utf8JsonReader reader, ParseState state)
    {
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var index = state.Count + 1;
            if (reader.TokenType != JsonTokenType.StartObject) throw new SampleFormatException($"Sample {index} is not a JSON object with \"inputs\".");
            if (index > state.Limits.MaxSamples)
            {
                throw new SampleFormatException($"The file has more than {state.Limits.MaxSamples} samples, the limit.");
            }
            List<SampleTensor>? inputs = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString();
                reader.Read();
                if (property == "inputs") inputs = ParseInputs(ref reader, index, state);
                else reader.Skip();
            }
            if (inputs is null) throw new SampleFormatException($"Sample {index} has no \"inputs\" list.");
            AddSample(state, inputs);
        }
    }

    private static void AddSample(ParseState state, List<SampleTensor> inputs)
    {
        state.Count++;
        if (state.Count > state.Limits.MaxSamples) throw new SampleFormatException($"The file has more than {state.Limits.MaxSamples} samples, the limit.");
        if (state.Samples.Count < state.Keep) state.Samples.Add(new ModelSample(inputs));
    }

    private static List<SampleTensor> ParseInputs(ref Utf8JsonReader reader, int sample, ParseState state)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SampleFormatException($"Sample {sample}: \"inputs\" should be an array of tensors.");
        var keep = state.Samples.Count < state.Keep;
        var tensors = new List<SampleTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject) throw new SampleFormatException($"Sample {sample}: input {names.Count + 1} is not a JSON object.");
            if (names.Count >= state.Limits.MaxInputsPerSample)
            {
                throw new SampleFormatException($"Sample {sample} has more than {state.Limits.MaxInputsPerSample} inputs, the limit.");
            }
            var tensor = ParseTensor(ref reader, sample, names.Count + 1, keep, state.Limits);
            if (!names.Add(tensor.Name)) throw new SampleFormatException($"Sample {sample} has input '{tensor.Name}' twice.");
            tensors.Add(tensor);
        }
        if (tensors.Count == 0) throw new SampleFormatException($"Sample {sample} has an empty \"inputs\" list.");
        return tensors;
    }

    private static SampleTensor ParseTensor(ref Utf8JsonReader reader, int sample, int position, bool keep, JsonTensorLimits limits)
    {
        string? name = null, datatype = null;
        long[]? shape = null;
        var hasData = false;
        var data = default(Utf8JsonReader);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.GetString();
            reader.Read();
            switch (property)
            {
                case "name":
                    name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    if (string.IsNullOrWhiteSpace(name) || name.Length > MaxNameLength)
                    {
                        throw new SampleFormatException($"Sample {sample}, input {position}: \"name\" should be a string of 1 to {MaxNameLength} characters.");
                    }
                    break;
                case "datatype":
                    datatype = reader.TokenType == JsonTokenType.String ? reader.GetString()?.ToUpperInvariant() : null;
                    break;
                case "shape":
                    shape = ParseShape(ref reader, sample, name ?? $"#{position}", limits);
                    break;
                case "data":
                    // Keys may come in any order; read the values once the shape and datatype are known.
                    data = reader;
                    hasData = true;
                    reader.Skip();
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        var label = $"Sample {sample}, input '{name ?? $"#{position}"}'";
        if (name is null) throw new SampleFormatException($"Sample {sample}, input {position} has no \"name\".");
        if (shape is null) throw new SampleFormatException($"{label} has no \"shape\".");
        if (datatype is null) throw new SampleFormatException($"{label} has no \"datatype\" (one of {string.Join(", ", Datatypes)}).");
        if (!Datatypes.Contains(datatype))
        {
            throw new SampleFormatException($"{label}: datatype {datatype} is not supported; use one of {string.Join(", ", Datatypes)}.");
        }
        if (!hasData) throw new SampleFormatException($"{label} has no \"data\".");
        return new SampleTensor(name, ElementType(datatype), shape, ReadData(ref data, datatype, ElementCount(shape), keep, label));
    }

    private static long[] ParseShape(ref Utf8JsonReader reader, int sample, string name, JsonTensorLimits limits)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SampleFormatException($"Sample {sample}, input '{name}': \"shape\" should be an array of whole numbers.");
        var dims = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var dim) || dim < 0 || dim > int.MaxValue)
            {
                throw new SampleFormatException($"Sample {sample}, input '{name}': shape dimensions should be whole numbers from 0 to {int.MaxValue}.");
            }
            if (dims.Count >= limits.MaxRank) throw new SampleFormatException($"Sample {sample}, input '{name}': the shape has more than {limits.MaxRank} dimensions.");
            dims.Add(dim);
        }
        var shape = dims.ToArray();
        long count = 1;
        foreach (var dim in shape)
        {
            // Compare before multiplying: the product of declared dimensions may not fit in a long.
            if (dim != 0 && count > limits.MaxElementsPerTensor / dim)
            {
                throw new SampleFormatException($"Sample {sample}, input '{name}': shape [{string.Join(", ", shape)}] is more than {limits.MaxElementsPerTensor:N0} values, the limit per tensor.");
            }
            count *= dim;
        }
        return shape;
    }

    private static long ElementCount(long[] shape) => shape.Aggregate(1L, (a, d) => a * d);

    private static TensorElementType ElementType(string datatype) => datatype switch
    {
        "FP32" => TensorElementType.Float,
        "FP64" => TensorElementType.Double,
        "FP16" => TensorElementType.Float16,
        "INT64" => TensorElementType.Int64,
        "INT32" => TensorElementType.Int32,
        "INT16" => TensorElementType.Int16,
        "INT8" => TensorElementType.Int8,
        "UINT8" => TensorElementType.UInt8,
        "UINT16" => TensorElementType.UInt16,
        "UINT32" => TensorElementType.UInt32,
        "UINT64" => TensorElementType.UInt64,
        _ => TensorElementType.Bool,
    };

    /// <summary>The V2 name of an element type, as JSON samples write it.</summary>
    public static string DatatypeOf(TensorElementType type) => type switch
    {
        TensorElementType.Float => "FP32",
        TensorElementType.Double => "FP64",
        TensorElementType.Float16 => "FP16",
        TensorElementType.Int64 => "INT64",
        TensorElementType.Int32 => "INT32",
        TensorElementType.Int16 => "INT16",
        TensorElementType.Int8 => "INT8",
        TensorElementType.UInt8 => "UINT8",
        TensorElementType.UInt16 => "UINT16",
        TensorElementType.UInt32 => "UINT32",
        TensorElementType.UInt64 => "UINT64",
        TensorElementType.Bool => "BOOL",
        TensorElementType.String => "BYTES",
        _ => type.ToString().ToUpperInvariant(),
    };

    private delegate bool ElementReader<T>(ref Utf8JsonReader reader, out T value);

    private static Array ReadData(ref Utf8JsonReader reader, string datatype, long expected, bool keep, string label) => datatype switch
    {
        "FP32" => ReadValues<float>(ref reader, expected, keep, label, datatype, ReadSingle),
        "FP64" => ReadValues<double>(ref reader, expected, keep, label, datatype, ReadDouble),
        "FP16" => ReadValues<Float16>(ref reader, expected, keep, label, datatype, ReadHalf),
        "INT64" => ReadValues<long>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out long v) => Number(ref r) ? r.TryGetInt64(out v) : Fail(out v)),
        "INT32" => ReadValues<int>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out int v) => Number(ref r) ? r.TryGetInt32(out v) : Fail(out v)),
        "INT16" => ReadValues<short>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out short v) => Number(ref r) ? r.TryGetInt16(out v) : Fail(out v)),
        "INT8" => ReadValues<sbyte>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out sbyte v) => Number(ref r) ? r.TryGetSByte(out v) : Fail(out v)),
        "UINT8" => ReadValues<byte>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out byte v) => Number(ref r) ? r.TryGetByte(out v) : Fail(out v)),
        "UINT16" => ReadValues<ushort>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out ushort v) => Number(ref r) ? r.TryGetUInt16(out v) : Fail(out v)),
        "UINT32" => ReadValues<uint>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out uint v) => Number(ref r) ? r.TryGetUInt32(out v) : Fail(out v)),
        "UINT64" => ReadValues<ulong>(ref reader, expected, keep, label, datatype, (ref Utf8JsonReader r, out ulong v) => Number(ref r) ? r.TryGetUInt64(out v) : Fail(out v)),
        _ => ReadValues<bool>(ref reader, expected, keep, label, datatype, ReadBool),
    };

    private static bool Number(ref Utf8JsonReader reader) => reader.TokenType == JsonTokenType.Number;

    private static bool Fail<T>(out T value)
    {
        value = default!;
        return false;
    }

    private static bool ReadSingle(ref Utf8JsonReader reader, out float value) =>
        Number(ref reader) ? reader.TryGetSingle(out value) && float.IsFinite(value) : Fail(out value);

    private static bool ReadDouble(ref Utf8JsonReader reader, out double value) =>
        Number(ref reader) ? reader.TryGetDouble(out value) && double.IsFinite(value) : Fail(out value);

    private static bool ReadHalf(ref Utf8JsonReader reader, out Float16 value)
    {
        if (ReadSingle(ref reader, out var single) && Math.Abs(single) <= 65504f)
        {
            value = (Float16)single;
            return true;
        }
        return Fail(out value);
    }

    private static bool ReadBool(ref Utf8JsonReader reader, out bool value)
    {
        value = reader.TokenType == JsonTokenType.True;
        return reader.TokenType is JsonTokenType.True or JsonTokenType.False;
    }

    /// <summary>
    /// Reads a flat or nested array of values; keeps at most <paramref name="expected"/> of them, so the memory taken
    /// follows the values actually present, never the size the shape declares.
    /// </summary>
    private static T[] ReadValues<T>(ref Utf8JsonReader reader, long expected, bool keep, string label, string datatype, ElementReader<T> read)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SampleFormatException($"{label}: \"data\" should be an array of values.");
        var values = keep ? new List<T>((int)Math.Min(expected, 1 << 16)) : null;
        long count = 0;
        var depth = 1;
        while (depth > 0 && reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    depth++;
                    break;
                case JsonTokenType.EndArray:
                    depth--;
                    break;
                default:
                    if (!read(ref reader, out var value))
                    {
                        var text = reader.TokenType is JsonTokenType.StartObject ? "an object" : Encoding.UTF8.GetString(reader.ValueSpan);
                        if (text.Length > 40) text = text[..40] + "…";
                        throw new SampleFormatException($"{label}: value {count + 1} ({text}) is not a valid {datatype}.");
                    }
                    count++;
                    if (count <= expected) values?.Add(value);
                    break;
            }
        }
        if (count != expected)
        {
            throw new SampleFormatException($"{label}: the shape needs {expected:N0} values but \"data\" has {count:N0}.");
        }
        return values?.ToArray() ?? [];
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..(end + 1)] : message;
    }
}
