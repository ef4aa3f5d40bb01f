using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// Turns what ONNX Runtime returns into tensors the Open Inference Protocol can carry. A tensor is copied as it is.
/// <para>
/// ai.onnx.ml classifiers exported by ML.NET and scikit-learn end in ZipMap, which returns a sequence of maps,
/// <c>seq(map(int64, float))</c> or <c>seq(map(string, float))</c>: one map of class → probability per row. V2 has no
/// map type, so each map becomes one BYTES element holding the map as a JSON object, keys as strings
/// (<c>{"0":0.1,"1":0.9}</c>, <c>{"cat":0.7,"dog":0.3}</c>), and the output has shape [rows], datatype BYTES. A bare map
/// becomes shape [1]; a sequence of tensors gives each tensor's values as a flat JSON array. Non-finite numbers are
/// written "NaN", "Infinity", "-Infinity", as everywhere in the V2 codec.
/// </para>
/// </summary>
public static class OnnxOutputs
{
    public static InferenceTensor ToTensor(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        switch (value.OnnxType)
        {
            case OnnxValueType.ONNX_TYPE_TENSOR:
                return InferenceTensor.FromOrtValue(name, value);
            case OnnxValueType.ONNX_TYPE_SEQUENCE:
            {
                var count = value.GetValueCount();
                var elements = new string[count];
                for (var i = 0; i < count; i++)
                {
                    using var element = value.GetValue(i, OrtAllocator.DefaultInstance);
                    elements[i] = Json(name, element);
                }
                return InferenceTensor.FromStrings(name, [count], elements);
            }
            case OnnxValueType.ONNX_TYPE_MAP:
                return InferenceTensor.FromStrings(name, [1], [Json(name, value)]);
            default:
                throw new NotSupportedException($"Output '{name}' is a {value.OnnxType}, which the V2 API cannot carry.");
        }
    }

    private static string Json(string name, OrtValue value)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            switch (value.OnnxType)
            {
                case OnnxValueType.ONNX_TYPE_MAP:
                    WriteMap(name, writer, value);
                    break;
                case OnnxValueType.ONNX_TYPE_TENSOR:
                    WriteTensor(name, writer, value);
                    break;
                default:
                    throw new NotSupportedException($"Output '{name}' holds a {value.OnnxType} in its sequence, which the V2 API cannot carry.");
            }
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteMap(string name, Utf8JsonWriter writer, OrtValue map)
    {
        using var keys = map.GetValue(0, OrtAllocator.DefaultInstance);
        using var values = map.GetValue(1, OrtAllocator.DefaultInstance);
        var keyNames = KeyStrings(name, keys);
        var valueTensor = InferenceTensor.FromOrtValue(name, values);
        if (valueTensor.ElementCount != keyNames.Length)
            throw new InvalidDataException($"Output '{name}': a map has {keyNames.Length} keys but {valueTensor.ElementCount} values.");
        writer.WriteStartObject();
        for (var i = 0; i < keyNames.Length; i++)
        {
            writer.WritePropertyName(keyNames[i]);
            WriteElement(writer, valueTensor, i);
        }
        writer.WriteEndObject();
    }

    private static string[] KeyStrings(string name, OrtValue keys)
    {
        var tensor = InferenceTensor.FromOrtValue(name, keys);
        if (tensor.Strings is not null) return tensor.Strings;
        return tensor.ElementType switch
        {
            TensorElementType.Int64 => tensor.ToArray<long>().Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray(),
            TensorElementType.Int32 => tensor.ToArray<int>().Select(k => k.ToString(CultureInfo.InvariantCulture)).ToArray(),
            _ => throw new NotSupportedException($"Output '{name}': map keys of type {tensor.Datatype} are not supported."),
        };
    }

    private static void WriteTensor(string name, Utf8JsonWriter writer, OrtValue value)
    {
        var tensor = InferenceTensor.FromOrtValue(name, value);
        writer.WriteStartArray();
        for (var i = 0; i < tensor.ElementCount; i++) WriteElement(writer, tensor, i);
        writer.WriteEndArray();
    }

    private static void WriteElement(Utf8JsonWriter writer, InferenceTensor tensor, int index)
    {
        if (tensor.Strings is not null)
        {
            writer.WriteStringValue(tensor.Strings[index]);
            return;
        }
        var bytes = tensor.Data.Span;
        switch (tensor.ElementType)
        {
            case TensorElementType.Float: V2Codec.WriteReal(writer, MemoryMarshal.Cast<byte, float>(bytes)[index]); break;
            case TensorElementType.Double: V2Codec.WriteReal(writer, MemoryMarshal.Cast<byte, double>(bytes)[index]); break;
            case TensorElementType.Float16: V2Codec.WriteReal(writer, (float)MemoryMarshal.Cast<byte, Half>(bytes)[index]); break;
            case TensorElementType.Int64: writer.WriteNumberValue(MemoryMarshal.Cast<byte, long>(bytes)[index]); break;
            case TensorElementType.Int32: writer.WriteNumberValue(MemoryMarshal.Cast<byte, int>(bytes)[index]); break;
            case TensorElementType.Bool: writer.WriteBooleanValue(bytes[index] != 0); break;
            default: throw new NotSupportedException($"Output '{tensor.Name}': {tensor.Datatype} values inside a sequence or map are not supported.");
        }
    }
}
