using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// The Open Inference Protocol's datatype names and the ONNX Runtime element types they stand for (Triton's mapping:
/// FP32 ↔ float, BYTES ↔ string, …). Names are case-sensitive, as the protocol says: "fp32" is not a datatype.
/// </summary>
public static class V2Datatypes
{
    public const string Bool = "BOOL", UInt8 = "UINT8", UInt16 = "UINT16", UInt32 = "UINT32", UInt64 = "UINT64",
        Int8 = "INT8", Int16 = "INT16", Int32 = "INT32", Int64 = "INT64", Fp16 = "FP16", Fp32 = "FP32", Fp64 = "FP64",
        Bf16 = "BF16", Bytes = "BYTES";

    /// <summary>Every datatype this server takes and returns, in the order the protocol's table lists them.</summary>
    public static readonly IReadOnlyList<string> All =
        [Bool, UInt8, UInt16, UInt32, UInt64, Int8, Int16, Int32, Int64, Fp16, Fp32, Fp64, Bf16, Bytes];

    public static bool TryParse(string? name, out TensorElementType type)
    {
        type = name switch
        {
            Bool => TensorElementType.Bool,
            UInt8 => TensorElementType.UInt8,
            UInt16 => TensorElementType.UInt16,
            UInt32 => TensorElementType.UInt32,
            UInt64 => TensorElementType.UInt64,
            Int8 => TensorElementType.Int8,
            Int16 => TensorElementType.Int16,
            Int32 => TensorElementType.Int32,
            Int64 => TensorElementType.Int64,
            Fp16 => TensorElementType.Float16,
            Fp32 => TensorElementType.Float,
            Fp64 => TensorElementType.Double,
            Bf16 => TensorElementType.BFloat16,
            Bytes => TensorElementType.String,
            _ => TensorElementType.DataTypeMax,
        };
        return type != TensorElementType.DataTypeMax;
    }

    /// <summary>The V2 name of an element type, or null for types the protocol cannot carry (complex, float8, int4…).</summary>
    public static string? NameOf(TensorElementType type) => type switch
    {
        TensorElementType.Bool => Bool,
        TensorElementType.UInt8 => UInt8,
        TensorElementType.UInt16 => UInt16,
        TensorElementType.UInt32 => UInt32,
        TensorElementType.UInt64 => UInt64,
        TensorElementType.Int8 => Int8,
        TensorElementType.Int16 => Int16,
        TensorElementType.Int32 => Int32,
        TensorElementType.Int64 => Int64,
        TensorElementType.Float16 => Fp16,
        TensorElementType.Float => Fp32,
        TensorElementType.Double => Fp64,
        TensorElementType.BFloat16 => Bf16,
        TensorElementType.String => Bytes,
        _ => null,
    };

    /// <summary>The V2 name of an element type; throws for types the protocol cannot carry.</summary>
    public static string Name(TensorElementType type) =>
        NameOf(type) ?? throw new NotSupportedException($"Element type {type} has no Open Inference Protocol datatype.");

    /// <summary>Bytes per element in the binary extension and in ONNX Runtime's buffers; 0 for BYTES (variable).</summary>
    public static int ElementSize(TensorElementType type) => type switch
    {
        TensorElementType.Bool or TensorElementType.UInt8 or TensorElementType.Int8 => 1,
        TensorElementType.UInt16 or TensorElementType.Int16 or TensorElementType.Float16 or TensorElementType.BFloat16 => 2,
        TensorElementType.UInt32 or TensorElementType.Int32 or TensorElementType.Float => 4,
        TensorElementType.UInt64 or TensorElementType.Int64 or TensorElementType.Double => 8,
        TensorElementType.String => 0,
        _ => throw new NotSupportedException($"Element type {type} has no Open Inference Protocol datatype."),
    };

    internal static bool IsFloatingPoint(TensorElementType type) =>
        type is TensorElementType.Float or TensorElementType.Double or TensorElementType.Float16 or TensorElementType.BFloat16;
}
