using System.Runtime.InteropServices;
using Google.Protobuf;
using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Reading and writing the numbers of a TensorProto, whichever field holds them (float_data, raw_data, int32_data for
/// float16 bits, double_data...). Passes work on float arrays and write results as raw_data, little-endian, like ORT.
/// External data must have been loaded first (<see cref="OnnxModelFile.Load"/> does that).
/// </summary>
public static class TensorData
{
    public static long ElementCount(TensorProto tensor) => OnnxGraphs.ElementCount(tensor.Dims);

    public static bool IsFloatingPoint(TensorProto tensor) =>
        tensor.DataType is OnnxElementTypes.Float or OnnxElementTypes.Float16 or OnnxElementTypes.Double;

    /// <summary>The values of a float, float16 or double tensor as float32.</summary>
    public static float[] ReadFloats(TensorProto tensor)
    {
        if (OnnxGraphs.IsExternal(tensor)) throw new InvalidOperationException($"Tensor '{tensor.Name}' still points at external data; load the model with OnnxModelFile.Load.");
        var count = checked((int)ElementCount(tensor));
        var raw = tensor.RawData.Span;
        switch (tensor.DataType)
        {
            case OnnxElementTypes.Float:
                if (raw.Length > 0) return MemoryMarshal.Cast<byte, float>(raw).ToArray();
                return tensor.FloatData.Count == count ? tensor.FloatData.ToArray() : Fill(tensor.FloatData, count);
            case OnnxElementTypes.Float16:
                if (raw.Length > 0) return MemoryMarshal.Cast<byte, Half>(raw).ToArray().Select(h => (float)h).ToArray();
                return tensor.Int32Data.Select(bits => (float)BitConverter.UInt16BitsToHalf((ushort)bits)).ToArray();
            case OnnxElementTypes.Double:
                if (raw.Length > 0) return MemoryMarshal.Cast<byte, double>(raw).ToArray().Select(d => (float)d).ToArray();
                return tensor.DoubleData.Select(d => (float)d).ToArray();
            default:
                throw new NotSupportedException($"Tensor '{tensor.Name}' is {OnnxElementTypes.Name(tensor.DataType)}, not a floating-point tensor.");
        }
    }

    private static float[] Fill(IList<float> values, int count)
    {
        // A scalar stored once for a broadcast is not valid ONNX, but an empty tensor is.
        var result = new float[count];
        for (var i = 0; i < Math.Min(count, values.Count); i++) result[i] = values[i];
        return result;
    }

    public static long[] ReadInt64s(TensorProto tensor)
    {
        var raw = tensor.RawData.Span;
        return tensor.DataType switch
        {
            OnnxElementTypes.Int64 => raw.Length > 0 ? MemoryMarshal.Cast<byte, long>(raw).ToArray() : tensor.Int64Data.ToArray(),
            OnnxElementTypes.Int32 => raw.Length > 0 ? MemoryMarshal.Cast<byte, int>(raw).ToArray().Select(v => (long)v).ToArray() : tensor.Int32Data.Select(v => (long)v).ToArray(),
            _ => throw new NotSupportedException($"Tensor '{tensor.Name}' is {OnnxElementTypes.Name(tensor.DataType)}, not an integer tensor."),
        };
    }

    /// <summary>Replaces the tensor's values, keeping its name and dims, in its own floating-point type.</summary>
    public static void WriteFloats(TensorProto tensor, ReadOnlySpan<float> values)
    {
        ClearData(tensor);
        switch (tensor.DataType)
        {
            case OnnxElementTypes.Float:
                tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values));
                break;
            case OnnxElementTypes.Float16:
                var halves = new Half[values.Length];
                for (var i = 0; i < values.Length; i++) halves[i] = (Half)values[i];
                tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(halves.AsSpan()));
                break;
            case OnnxElementTypes.Double:
                var doubles = new double[values.Length];
                for (var i = 0; i < values.Length; i++) doubles[i] = values[i];
                tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(doubles.AsSpan()));
                break;
            default:
                throw new NotSupportedException($"Tensor '{tensor.Name}' is {OnnxElementTypes.Name(tensor.DataType)}.");
        }
    }

    private static void ClearData(TensorProto tensor)
    {
        tensor.FloatData.Clear();
        tensor.DoubleData.Clear();
        tensor.Int32Data.Clear();
        tensor.Int64Data.Clear();
        tensor.RawData = ByteString.Empty;
    }

    /// <summary>A new tensor of any fixed-size element type from an unmanaged array, stored as raw_data.</summary>
    public static TensorProto Create<T>(string name, int dataType, IEnumerable<long> dims, ReadOnlySpan<T> values) where T : unmanaged
    {
        var tensor = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }

    public static TensorProto Float(string name, IEnumerable<long> dims, ReadOnlySpan<float> values) => Create(name, OnnxElementTypes.Float, dims, values);
    public static TensorProto Int8(string name, IEnumerable<long> dims, ReadOnlySpan<sbyte> values) => Create(name, OnnxElementTypes.Int8, dims, values);
    public static TensorProto UInt8(string name, IEnumerable<long> dims, ReadOnlySpan<byte> values) => Create(name, OnnxElementTypes.UInt8, dims, values);
    public static TensorProto Int32(string name, IEnumerable<long> dims, ReadOnlySpan<int> values) => Create(name, OnnxElementTypes.Int32, dims, values);
    public static TensorProto Int64(string name, IEnumerable<long> dims, ReadOnlySpan<long> values) => Create(name, OnnxElementTypes.Int64, dims, values);

    /// <summary>A scalar (shape []) float; scales of per-tensor quantization are scalars.</summary>
    public static TensorProto ScalarFloat(string name, float value) => Float(name, [], [value]);

    /// <summary>Bytes the tensor's data takes in the file (the payload, not the protobuf framing).</summary>
    public static long StoredBytes(TensorProto tensor)
    {
        if (OnnxGraphs.IsExternal(tensor) && long.TryParse(OnnxGraphs.ExternalValue(tensor, "length"), out var length)) return length;
        if (tensor.RawData.Length > 0) return tensor.RawData.Length;
        return tensor.FloatData.Count * 4L + tensor.Int32Data.Count * 4L + tensor.Int64Data.Count * 8L
               + tensor.DoubleData.Count * 8L + tensor.Uint64Data.Count * 8L + tensor.StringData.Sum(s => (long)s.Length);
    }
}
