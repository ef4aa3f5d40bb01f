namespace MaaS.Onnx.Models;

/// <summary>
/// ONNX tensor element types by their TensorProto.DataType number (ONNX Runtime's TensorElementType uses the same
/// numbers), with the lower-case names <see cref="TensorSignature.ElementType"/> documents and their storage size.
/// </summary>
public static class OnnxElementTypes
{
    private static readonly string[] Names =
    [
        "undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64", "string", "bool", "float16",
        "double", "uint32", "uint64", "complex64", "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz",
        "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1", "float8e8m0", "uint2", "int2",
    ];

    public const int Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
        Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14, Complex128 = 15, BFloat16 = 16;

    /// <summary>The ONNX name of a data type; types newer than this list come out as "type27" and so on.</summary>
    public static string Name(int dataType) =>
        dataType >= 0 && dataType < Names.Length ? Names[dataType] : $"type{dataType}";

    /// <summary>Bits one element occupies; null for strings and for types this code does not know.</summary>
    public static int? BitsPerElement(int dataType) => dataType switch
    {
        Float or Int32 or UInt32 => 32,
        UInt8 or Int8 or Bool or >= 17 and <= 20 or 24 => 8,
        UInt16 or Int16 or Float16 or BFloat16 => 16,
        Int64 or Double or UInt64 or Complex64 => 64,
        Complex128 => 128,
        21 or 22 or 23 => 4,
        25 or 26 => 2,
        _ => null,
    };

    /// <summary>
    /// Bytes <paramref name="elementCount"/> packed elements take (sub-byte types round up to whole bytes); null when
    /// the type has no fixed size. Throws <see cref="OverflowException"/> rather than wrap around.
    /// </summary>
    public static long? StorageBytes(int dataType, long elementCount)
    {
        if (BitsPerElement(dataType) is not { } bits) return null;
        return bits >= 8 ? checked(elementCount * (bits / 8)) : checked((elementCount * bits + 7) / 8);
    }
}
