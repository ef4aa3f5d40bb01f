using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Compression;

/// <summary>One named input tensor of a sample: element type (ORT's numbering = ONNX's), shape and values.</summary>
public sealed record SampleTensor(string Name, TensorElementType ElementType, long[] Shape, Array Values)
{
    public static SampleTensor Floats(string name, long[] shape, float[] values) => new(name, TensorElementType.Float, shape, values);
    public static SampleTensor Int64s(string name, long[] shape, long[] values) => new(name, TensorElementType.Int64, shape, values);

    /// <summary>An OrtValue over a copy of the values, for session.Run; dispose it after the run.</summary>
    public OrtValue ToOrtValue() => ElementType switch
    {
        TensorElementType.Float => OrtValue.CreateTensorValueFromMemory((float[])Values.Clone(), Shape),
        TensorElementType.Double => OrtValue.CreateTensorValueFromMemory((double[])Values.Clone(), Shape),
        TensorElementType.Float16 => OrtValue.CreateTensorValueFromMemory((Float16[])Values.Clone(), Shape),
        TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory((long[])Values.Clone(), Shape),
        TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory((int[])Values.Clone(), Shape),
        TensorElementType.Int16 => OrtValue.CreateTensorValueFromMemory((short[])Values.Clone(), Shape),
        TensorElementType.Int8 => OrtValue.CreateTensorValueFromMemory((sbyte[])Values.Clone(), Shape),
        TensorElementType.UInt8 => OrtValue.CreateTensorValueFromMemory((byte[])Values.Clone(), Shape),
        TensorElementType.UInt16 => OrtValue.CreateTensorValueFromMemory((ushort[])Values.Clone(), Shape),
        TensorElementType.UInt32 => OrtValue.CreateTensorValueFromMemory((uint[])Values.Clone(), Shape),
        TensorElementType.UInt64 => OrtValue.CreateTensorValueFromMemory((ulong[])Values.Clone(), Shape),
        TensorElementType.Bool => OrtValue.CreateTensorValueFromMemory((bool[])Values.Clone(), Shape),
        TensorElementType.String => OrtValue.CreateFromStringTensor(new DenseTensor<string>((string[])Values, Shape.Select(d => (int)d).ToArray())),
        _ => throw new NotSupportedException($"Input '{Name}' has element type {ElementType}, which samples do not support."),
    };
}

/// <summary>One set of inputs for a model run: every graph input once.</summary>
public sealed record ModelSample(IReadOnlyList<SampleTensor> Inputs);
