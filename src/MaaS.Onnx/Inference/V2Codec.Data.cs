using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// Reading a tensor's JSON "data": the hot loop of a JSON request (an FP32 image is 150,528 values). Each datatype is
/// a struct, so the generic walk is compiled once per datatype with the value parsing inlined: no delegate call, closure
/// or boxing per value. Values go straight into the tensor's bytes, sized once: a JSON value takes at least two bytes
/// with its separator, so a body of n bytes holds at most (n + 1) / 2 values, and a declared shape larger than that
/// cannot be filled and allocates no more than that.
/// </summary>
public static partial class V2Codec
{
    /// <param name="reader">On the data's StartArray; left on its EndArray.</param>
    /// <param name="readerOffset">Where in the request's JSON the reader's input starts; moved when the reader restarts.</param>
    private static InferenceTensor ReadJsonData(ref Utf8JsonReader reader, ref int readerOffset, ParseState state, string name, string label,
        TensorElementType type, long[] shape, long count)
    {
        var datatype = V2Datatypes.Name(type);
        var limits = state.Limits;
        var capacity = Math.Min(count, (state.Json.Length + 1L) / 2);
        if (type == TensorElementType.String)
        {
            var strings = new StringSink(new string[capacity]);
            Walk(ref reader, label, datatype, shape, count, ref strings);
            return InferenceTensor.FromStrings(name, shape, strings.Values);
        }
        if (type == TensorElementType.Float && capacity == count && TryScanFlatSingles(ref reader, ref readerOffset, state, count) is { } scanned)
            return InferenceTensor.FromBytes(name, type, shape, scanned);
        var data = type switch
        {
            TensorElementType.Bool => ReadFixed<bool, BoolValue>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.UInt8 => ReadFixed<byte, UInt8Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.UInt16 => ReadFixed<ushort, UInt16Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.UInt32 => ReadFixed<uint, UInt32Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.UInt64 => ReadFixed<ulong, UInt64Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Int8 => ReadFixed<sbyte, Int8Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Int16 => ReadFixed<short, Int16Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Int32 => ReadFixed<int, Int32Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Int64 => ReadFixed<long, Int64Value>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Float => ReadFixed<float, SingleValue>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Double => ReadFixed<double, DoubleValue>(ref reader, label, datatype, shape, count, capacity, limits),
            TensorElementType.Float16 => ReadFixed<Half, HalfValue>(ref reader, label, datatype, shape, count, capacity, limits),
            _ => ReadFixed<ushort, BFloat16Value>(ref reader, label, datatype, shape, count, capacity, limits),
        };
        return InferenceTensor.FromBytes(name, type, shape, data);
    }

    private static byte[] ReadFixed<T, TValue>(ref Utf8JsonReader reader, string label, string datatype, long[] shape, long count, long capacity,
        V2RequestLimits limits)
        where T : unmanaged
        where TValue : struct, IJsonValue<T>
    {
        // Uninitialised is safe: the walk fails unless every one of the count elements is written (capacity < count
        // means the body cannot hold them all).
        var sink = new FixedSink<T, TValue>(GC.AllocateUninitializedArray<byte>(ArrayBytes(capacity, Unsafe.SizeOf<T>())), capacity, limits);
        Walk(ref reader, label, datatype, shape, count, ref sink);
        return sink.Bytes;
    }

    /// <summary>
    /// FP32 data sent flat (the usual form of an image or a feature vector), scanned straight from the JSON bytes without a
    /// reader token per value (<see cref="JsonNumbers.ScanSingle"/> checks each number's grammar and reads its value in
    /// one pass), then the reader restarts at the closing bracket with the state it had at the opening one. Anything else (nesting, a value that is
    /// not a finite number, a count that does not match the shape, a syntax error) returns null without moving the
    /// reader, and the walk reads the data again and says what is wrong.
    /// </summary>
    private static byte[]? TryScanFlatSingles(ref Utf8JsonReader reader, ref int readerOffset, ParseState state, long count)
    {
        if (reader.TokenType != JsonTokenType.StartArray) return null;
        var json = state.Json.Span;
        var i = readerOffset + (int)reader.BytesConsumed;
        var bytes = GC.AllocateUninitializedArray<byte>(ArrayBytes(count, sizeof(float)));
        var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
        var index = 0;
        i = SkipWhitespace(json, i);
        if (i < json.Length && json[i] != (byte)']')
        {
            while (true)
            {
                var start = i;
                var scan = JsonNumbers.ScanSingle(json, ref i, out var value);
                if (scan == JsonNumbers.Scan.Invalid || index == values.Length) return null;
                if (scan == JsonNumbers.Scan.Inexact
                    && !float.TryParse(json[start..i], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value))
                {
                    return null;
                }
                if (!float.IsFinite(value)) return null;
                values[index++] = value;
                i = SkipWhitespace(json, i);
                if (i >= json.Length || json[i] != (byte)',') break;
                i = SkipWhitespace(json, i + 1);
            }
        }
        if (i >= json.Length || json[i] != (byte)']' || index != count) return null;
        reader = new Utf8JsonReader(json[i..], isFinalBlock: true, reader.CurrentState);
        readerOffset = i;
        reader.Read();
        return bytes;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> json, int i)
    {
        while (i < json.Length && json[i] is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t') i++;
        return i;
    }

    /// <summary>The bytes of <paramref name="count"/> elements; a tensor past .NET's largest array is too large (413), whatever the limits allow.</summary>
    private static int ArrayBytes(long count, int elementSize) =>
        count <= Array.MaxLength / elementSize ? (int)(count * elementSize)
            : throw new InferenceRequestTooLargeException($"A tensor of {count:N0} values of {elementSize} bytes is more than one array can hold.");

    /// <summary>Where the walk puts each value.</summary>
    private interface IValueSink
    {
        /// <summary>Takes the value under the reader as element <paramref name="index"/>; false when it is not a valid one.</summary>
        bool Take(ref Utf8JsonReader reader, long index);
    }

    private struct FixedSink<T, TValue>(byte[] bytes, long capacity, V2RequestLimits limits) : IValueSink
        where T : unmanaged
        where TValue : struct, IJsonValue<T>
    {
        public readonly byte[] Bytes => bytes;

        public readonly bool Take(ref Utf8JsonReader reader, long index)
        {
            if (!TValue.TryRead(ref reader, limits, out var value)) return false;
            // Values past the capacity are counted by the walk, not kept: the count check at its end refuses them.
            if (index < capacity) Unsafe.WriteUnaligned(ref bytes[(int)(index * Unsafe.SizeOf<T>())], value);
            return true;
        }
    }

    private struct StringSink(string[] values) : IValueSink
    {
        public readonly string[] Values => values;

        public readonly bool Take(ref Utf8JsonReader reader, long index)
        {
            if (reader.TokenType != JsonTokenType.String) return false;
            if (index < values.Length) values[index] = reader.GetString()!;
            return true;
        }
    }

    /// <summary>
    /// Walks a flat or nested "data" array, handing each value to <paramref name="sink"/> with its row-major index.
    /// Flat data may hold any number of values (the count is checked at the end); nested data must nest exactly as deep
    /// as the shape, with every array as long as its dimension.
    /// </summary>
    private static void Walk<TSink>(ref Utf8JsonReader reader, string label, string datatype, long[] shape, long count, ref TSink sink)
        where TSink : struct, IValueSink
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad($"{label}: \"data\" should be an array of values.");
        var lengths = new long[Math.Max(shape.Length, 1) + 1];
        var depth = 1;
        bool? nested = null;
        long index = 0;
        while (depth > 0 && reader.Read())
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartArray:
                    if (nested == false) throw Bad($"{label}: \"data\" mixes values and arrays; send it flat or nested like shape {InferenceTensor.FormatShape(shape)}.");
                    nested = true;
                    if (depth >= shape.Length)
                        throw Bad($"{label}: \"data\" is nested deeper than shape {InferenceTensor.FormatShape(shape)} ({shape.Length} dimension{(shape.Length == 1 ? "" : "s")}).");
                    lengths[depth - 1]++;
                    depth++;
                    lengths[depth - 1] = 0;
                    break;
                case JsonTokenType.EndArray:
                    if (nested == true && lengths[depth - 1] != shape[depth - 1])
                    {
                        throw Bad($"{label}: nested \"data\" does not follow shape {InferenceTensor.FormatShape(shape)}: an array at depth {depth} has {lengths[depth - 1]} entries, dimension {depth - 1} is {shape[depth - 1]}.");
                    }
                    depth--;
                    break;
                default:
                    if (nested == true && depth != shape.Length)
                        throw Bad($"{label}: \"data\" mixes values and arrays; send it flat or nested like shape {InferenceTensor.FormatShape(shape)}.");
                    nested ??= false;
                    if (!sink.Take(ref reader, index))
                    {
                        throw Bad($"{label}: value {index + 1} ({Text(ref reader)}) is not a valid {datatype}{Range(datatype)}.");
                    }
                    lengths[depth - 1]++;
                    index++;
                    break;
            }
        }
        if (index != count) throw Bad($"{label}: shape {InferenceTensor.FormatShape(shape)} needs {count} values, got {index}.");
    }

    private static string Range(string datatype) => datatype switch
    {
        V2Datatypes.Bool => " (true or false)",
        V2Datatypes.UInt8 => " (a whole number from 0 to 255)",
        V2Datatypes.UInt16 => " (a whole number from 0 to 65535)",
        V2Datatypes.UInt32 => " (a whole number from 0 to 4294967295)",
        V2Datatypes.UInt64 => " (a whole number from 0 to 18446744073709551615)",
        V2Datatypes.Int8 => " (a whole number from -128 to 127)",
        V2Datatypes.Int16 => " (a whole number from -32768 to 32767)",
        V2Datatypes.Int32 => " (a whole number from -2147483648 to 2147483647)",
        V2Datatypes.Int64 => " (a whole number from -9223372036854775808 to 9223372036854775807)",
        V2Datatypes.Fp16 => " (a finite number within ±65504)",
        V2Datatypes.Bytes => " (a string)",
        _ => " (a finite number)",
    };

    /// <summary>One datatype's JSON value: a number (or true/false for BOOL) in its range.</summary>
    private interface IJsonValue<T>
    {
        static abstract bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out T value);
    }

    private struct BoolValue : IJsonValue<bool>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out bool value)
        {
            value = reader.TokenType == JsonTokenType.True;
            return reader.TokenType is JsonTokenType.True or JsonTokenType.False;
        }
    }

    private struct UInt8Value : IJsonValue<byte>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out byte value) =>
            IsNumber(ref reader, out value) && reader.TryGetByte(out value);
    }

    private struct UInt16Value : IJsonValue<ushort>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out ushort value) =>
            IsNumber(ref reader, out value) && reader.TryGetUInt16(out value);
    }

    private struct UInt32Value : IJsonValue<uint>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out uint value) =>
            IsNumber(ref reader, out value) && reader.TryGetUInt32(out value);
    }

    private struct UInt64Value : IJsonValue<ulong>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out ulong value) =>
            IsNumber(ref reader, out value) && reader.TryGetUInt64(out value);
    }

    private struct Int8Value : IJsonValue<sbyte>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out sbyte value) =>
            IsNumber(ref reader, out value) && reader.TryGetSByte(out value);
    }

    private struct Int16Value : IJsonValue<short>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out short value) =>
            IsNumber(ref reader, out value) && reader.TryGetInt16(out value);
    }

    private struct Int32Value : IJsonValue<int>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out int value) =>
            IsNumber(ref reader, out value) && reader.TryGetInt32(out value);
    }

    private struct Int64Value : IJsonValue<long>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out long value) =>
            IsNumber(ref reader, out value) && reader.TryGetInt64(out value);
    }

    private struct SingleValue : IJsonValue<float>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out float value)
        {
            if (reader.TokenType == JsonTokenType.Number)
            {
                // Numbers never arrive escaped, and the request is one span, so ValueSpan is the number's text.
                // The exact fallback, TryGetSingle, rounds the decimal text to float directly (no double rounding).
                return (JsonNumbers.TryParseSingle(reader.ValueSpan, out value) || reader.TryGetSingle(out value)) && float.IsFinite(value);
            }
            var real = ReadReal(ref reader, limits, out var d);
            value = (float)d;
            return real;
        }
    }

    private struct DoubleValue : IJsonValue<double>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out double value) => ReadReal(ref reader, limits, out value);
    }

    private struct HalfValue : IJsonValue<Half>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out Half value)
        {
            var ok = ReadReal(ref reader, limits, out var d);
            value = (Half)d;
            // A finite number beyond ±65504 becomes infinite in FP16: refuse it rather than send infinity.
            return ok && (Half.IsFinite(value) || !double.IsFinite(d));
        }
    }

    private struct BFloat16Value : IJsonValue<ushort>
    {
        public static bool TryRead(ref Utf8JsonReader reader, V2RequestLimits limits, out ushort value)
        {
            var ok = ReadReal(ref reader, limits, out var d);
            value = BFloat16Bits.FromSingle((float)d);
            return ok && (float.IsFinite(BFloat16Bits.ToSingle(value)) || !double.IsFinite(d));
        }
    }

    private static bool IsNumber<T>(ref Utf8JsonReader reader, out T value)
    {
        value = default!;
        return reader.TokenType == JsonTokenType.Number;
    }

    /// <summary>
    /// A JSON number as a double; with non-finite values allowed, also the strings "NaN", "Infinity", "-Infinity".
    /// Numbers too large for a double come out infinite and are refused like any other non-finite value.
    /// </summary>
    private static bool ReadReal(ref Utf8JsonReader reader, V2RequestLimits limits, out double value)
    {
        value = 0;
        if (reader.TokenType == JsonTokenType.Number)
            return (JsonNumbers.TryParseDouble(reader.ValueSpan, out value) || reader.TryGetDouble(out value)) && double.IsFinite(value);
        if (reader.TokenType != JsonTokenType.String || !limits.AllowNonFiniteFloats) return false;
        if (reader.ValueTextEquals("NaN"u8)) value = double.NaN;
        else if (reader.ValueTextEquals("Infinity"u8)) value = double.PositiveInfinity;
        else if (reader.ValueTextEquals("-Infinity"u8)) value = double.NegativeInfinity;
        else return false;
        return true;
    }
}
