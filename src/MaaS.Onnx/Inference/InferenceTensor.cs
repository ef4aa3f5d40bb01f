using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// A tensor on its way into or out of a model, independent of ONNX Runtime and of the wire format. Fixed-size element
/// types keep their values as little-endian bytes in row-major order: the layout of the V2 binary extension and of ONNX
/// Runtime's own buffers, so decoding a binary request, batching and running copy bytes without per-element work.
/// BYTES (ONNX string) tensors keep .NET strings, because ONNX strings are UTF-8 text and ONNX Runtime's .NET API reads
/// them back as strings.
/// </summary>
public sealed class InferenceTensor
{
    static InferenceTensor()
    {
        // Every byte layout here is little-endian; a big-endian machine would need swaps everywhere.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("The inference host needs a little-endian machine.");
    }

    private InferenceTensor(string name, TensorElementType elementType, long[] shape, long elementCount, ReadOnlyMemory<byte> data, string[]? strings)
    {
        Name = name;
        ElementType = elementType;
        Shape = shape;
        ElementCount = elementCount;
        Data = data;
        Strings = strings;
    }

    public string Name { get; }
    public TensorElementType ElementType { get; }

    /// <summary>The V2 datatype name (FP32, BYTES, …).</summary>
    public string Datatype => V2Datatypes.Name(ElementType);

    /// <summary>Dimensions, every one ≥ 0. Do not change the array: tensors share it when batched and split.</summary>
    public long[] Shape { get; }

    public long ElementCount { get; }

    /// <summary>The values of a fixed-size type, little-endian, row-major; empty for BYTES.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The values of a BYTES tensor, row-major; null for every other type.</summary>
    public string[]? Strings { get; }

    public bool IsString => ElementType == TensorElementType.String;

    /// <summary>Bytes the values take: their raw size, or the UTF-8 length of every string for BYTES.</summary>
    public long ByteSize => Strings is null ? Data.Length : Strings.Sum(s => (long)System.Text.Encoding.UTF8.GetByteCount(s));

    /// <summary>A tensor over <paramref name="data"/> (not copied): <paramref name="data"/> must hold exactly the shape's values.</summary>
    public static InferenceTensor FromBytes(string name, TensorElementType elementType, long[] shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (elementType == TensorElementType.String) throw new ArgumentException("BYTES tensors are built with FromStrings.", nameof(elementType));
        var count = CheckedCount(shape);
        var size = V2Datatypes.ElementSize(elementType);
        if (data.Length != checked(count * size))
            throw new ArgumentException($"Tensor '{name}': shape {FormatShape(shape)} of {V2Datatypes.Name(elementType)} needs {count * size} bytes, got {data.Length}.", nameof(data));
        return new InferenceTensor(name, elementType, shape, count, data, null);
    }

    public static InferenceTensor FromStrings(string name, long[] shape, string[] values)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(values);
        var count = CheckedCount(shape);
        if (values.Length != count) throw new ArgumentException($"Tensor '{name}': shape {FormatShape(shape)} needs {count} strings, got {values.Length}.", nameof(values));
        return new InferenceTensor(name, TensorElementType.String, shape, count, ReadOnlyMemory<byte>.Empty, values);
    }

    /// <summary>
    /// A tensor over a copy of <paramref name="values"/>: float, double, Half or Float16 (FP16), BFloat16, bool, the
    /// integer types.
    /// </summary>
    public static InferenceTensor FromValues<T>(string name, long[] shape, ReadOnlySpan<T> values) where T : unmanaged =>
        FromBytes(name, ElementTypeOf<T>(), shape, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>A tensor from a typed array (float[], long[], string[], Float16[], …), as <see cref="Compression.SampleTensor"/> holds.</summary>
    public static InferenceTensor FromArray(string name, long[] shape, Array values)
    {
        ArgumentNullException.ThrowIfNull(values);
        // Switch on the exact element type: the runtime lets an sbyte[] pass as byte[] (and int[] as uint[]…), so
        // type patterns would misread signed arrays as unsigned ones.
        var type = values.GetType().GetElementType();
        if (type == typeof(string)) return FromStrings(name, shape, (string[])values);
        if (type == typeof(float)) return FromValues<float>(name, shape, (float[])values);
        if (type == typeof(double)) return FromValues<double>(name, shape, (double[])values);
        if (type == typeof(Float16)) return FromValues<Float16>(name, shape, (Float16[])values);
        if (type == typeof(Half)) return FromValues<Half>(name, shape, (Half[])values);
        if (type == typeof(BFloat16)) return FromValues<BFloat16>(name, shape, (BFloat16[])values);
        if (type == typeof(bool)) return FromValues<bool>(name, shape, (bool[])values);
        if (type == typeof(byte)) return FromValues<byte>(name, shape, (byte[])values);
        if (type == typeof(sbyte)) return FromValues<sbyte>(name, shape, (sbyte[])values);
        if (type == typeof(short)) return FromValues<short>(name, shape, (short[])values);
        if (type == typeof(ushort)) return FromValues<ushort>(name, shape, (ushort[])values);
        if (type == typeof(int)) return FromValues<int>(name, shape, (int[])values);
        if (type == typeof(uint)) return FromValues<uint>(name, shape, (uint[])values);
        if (type == typeof(long)) return FromValues<long>(name, shape, (long[])values);
        if (type == typeof(ulong)) return FromValues<ulong>(name, shape, (ulong[])values);
        throw new NotSupportedException($"Tensor '{name}': {values.GetType().Name} is not a supported element array.");
    }

    /// <summary>The values as <typeparamref name="T"/>, whose size must be the element size (Half for FP16).</summary>
    public ReadOnlySpan<T> Span<T>() where T : unmanaged
    {
        if (Strings is not null) throw new InvalidOperationException($"Tensor '{Name}' is BYTES; read Strings.");
        if (Marshal.SizeOf<T>() != V2Datatypes.ElementSize(ElementType))
            throw new InvalidOperationException($"Tensor '{Name}' is {Datatype}; {typeof(T).Name} does not fit its elements.");
        return MemoryMarshal.Cast<byte, T>(Data.Span);
    }

    public T[] ToArray<T>() where T : unmanaged => Span<T>().ToArray();

    public InferenceTensor WithName(string name) => new(name, ElementType, Shape, ElementCount, Data, Strings);

    /// <summary>A new ONNX Runtime tensor holding a copy of the values; the caller disposes it.</summary>
    public OrtValue ToOrtValue()
    {
        if (Strings is not null)
        {
            var strings = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, Shape);
            try
            {
                for (var i = 0; i < Strings.Length; i++) strings.StringTensorSetElementAt(Strings[i].AsSpan(), i);
                return strings;
            }
            catch
            {
                strings.Dispose();
                throw;
            }
        }
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, ElementType, Shape);
        try
        {
            // A copy rather than a pinned view: the request body may be gone before a batched run, and the copy is
            // small next to any model's compute.
            Data.Span.CopyTo(value.GetTensorMutableRawData());
            return value;
        }
        catch
        {
            value.Dispose();
            throw;
        }
    }

    /// <summary>A copy of an ONNX Runtime tensor (not a sequence or map: see <see cref="OnnxOutputs"/>).</summary>
    public static InferenceTensor FromOrtValue(string name, OrtValue value)
    {
        if (value.OnnxType != OnnxValueType.ONNX_TYPE_TENSOR) throw new ArgumentException($"Output '{name}' is a {value.OnnxType}, not a tensor.", nameof(value));
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        if (info.ElementDataType == TensorElementType.String) return FromStrings(name, shape, value.GetStringTensorAsArray());
        if (V2Datatypes.NameOf(info.ElementDataType) is null)
            throw new NotSupportedException($"Output '{name}' is {info.ElementDataType}, which the Open Inference Protocol cannot carry.");
        return FromBytes(name, info.ElementDataType, shape, value.GetTensorMutableRawData().ToArray());
    }

    public override string ToString() => $"{Name} {Datatype} {FormatShape(Shape)}";

    internal static TensorElementType ElementTypeOf<T>() where T : unmanaged
    {
        var type = typeof(T);
        if (type == typeof(float)) return TensorElementType.Float;
        if (type == typeof(double)) return TensorElementType.Double;
        if (type == typeof(Half) || type == typeof(Float16)) return TensorElementType.Float16;
        if (type == typeof(BFloat16)) return TensorElementType.BFloat16;
        if (type == typeof(bool)) return TensorElementType.Bool;
        if (type == typeof(byte)) return TensorElementType.UInt8;
        if (type == typeof(sbyte)) return TensorElementType.Int8;
        if (type == typeof(short)) return TensorElementType.Int16;
        if (type == typeof(ushort)) return TensorElementType.UInt16;
        if (type == typeof(int)) return TensorElementType.Int32;
        if (type == typeof(uint)) return TensorElementType.UInt32;
        if (type == typeof(long)) return TensorElementType.Int64;
        if (type == typeof(ulong)) return TensorElementType.UInt64;
        throw new NotSupportedException($"{type.Name} is not a tensor element type.");
    }

    /// <summary>The product of the dimensions; throws on a negative dimension or overflow.</summary>
    internal static long CheckedCount(long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim < 0) throw new ArgumentException($"Shape {FormatShape(shape)} has a negative dimension.", nameof(shape));
            count = checked(count * dim);
        }
        return count;
    }

    /// <summary>"[1,3,224,224]", the way error messages write shapes.</summary>
    public static string FormatShape(IEnumerable<long> shape) => $"[{string.Join(",", shape)}]";
}
