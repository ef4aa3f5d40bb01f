using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

public static partial class V2Codec
{
    /// <summary>
    /// Encodes a V2 inference response. Outputs in <see cref="InferenceResponse.BinaryOutputs"/> carry
    /// <c>parameters.binary_data_size</c> instead of <c>data</c>, and their bytes follow the JSON header in output order
    /// (little-endian, row-major; BYTES as a 4-byte length and the UTF-8 bytes per element); the result's
    /// <see cref="V2Body.HeaderLength"/> is then the header's length. JSON data is always flat.
    /// </summary>
    public static V2Body EncodeResponse(InferenceResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var buffer = new ArrayBufferWriter<byte>(EstimateSize(response.Outputs));
        var binary = new List<InferenceTensor>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("model_name", response.ModelName);
            if (response.ModelVersion is not null) writer.WriteString("model_version", response.ModelVersion);
            if (response.Id is not null) writer.WriteString("id", response.Id);
            if (response.Parameters is { Count: > 0 }) WriteParameters(writer, response.Parameters);
            writer.WriteStartArray("outputs");
            foreach (var output in response.Outputs)
            {
                var isBinary = response.BinaryOutputs?.Contains(output.Name) == true;
                WriteTensor(writer, output, isBinary);
                if (isBinary) binary.Add(output);
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Finish(buffer, binary);
    }

    /// <summary>
    /// Encodes a V2 inference request, as a client sends it: inputs with JSON data, or with
    /// <paramref name="binaryInputs"/> every input's bytes after the header. For tests, benchmarks and the playground's
    /// "same call as code".
    /// </summary>
    public static V2Body EncodeRequest(InferenceRequest request, bool binaryInputs = false)
    {
        ArgumentNullException.ThrowIfNull(request);
        var buffer = new ArrayBufferWriter<byte>(EstimateSize(request.Inputs));
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            if (request.Id is not null) writer.WriteString("id", request.Id);
            var parameters = new Dictionary<string, JsonElement>(request.Parameters, StringComparer.Ordinal);
            if (request.BinaryDataOutput) parameters["binary_data_output"] = JsonSerializer.SerializeToElement(true);
            if (parameters.Count > 0) WriteParameters(writer, parameters);
            writer.WriteStartArray("inputs");
            foreach (var input in request.Inputs) WriteTensor(writer, input, binaryInputs);
            writer.WriteEndArray();
            if (request.Outputs is not null)
            {
                writer.WriteStartArray("outputs");
                foreach (var output in request.Outputs)
                {
                    writer.WriteStartObject();
                    writer.WriteString("name", output.Name);
                    var outputParameters = new Dictionary<string, JsonElement>(output.Parameters, StringComparer.Ordinal);
                    if (output.BinaryData is { } flag) outputParameters["binary_data"] = JsonSerializer.SerializeToElement(flag);
                    if (outputParameters.Count > 0) WriteParameters(writer, outputParameters);
                    writer.WriteEndObject();
                }
                writer.WriteEndArray();
            }
            writer.WriteEndObject();
        }
        return Finish(buffer, binaryInputs ? request.Inputs : []);
    }

    /// <summary>Bytes a tensor takes in the binary extension (for BYTES: 4 + length per element).</summary>
    public static long BinarySize(InferenceTensor tensor) =>
        tensor.Strings is null ? tensor.Data.Length : tensor.Strings.Sum(s => 4L + Encoding.UTF8.GetByteCount(s));

    private static V2Body Finish(ArrayBufferWriter<byte> buffer, IReadOnlyList<InferenceTensor> binary)
    {
        if (binary.Count == 0) return new V2Body(buffer.WrittenMemory, null);
        var headerLength = buffer.WrittenCount;
        foreach (var tensor in binary) WriteBinary(buffer, tensor);
        return new V2Body(buffer.WrittenMemory, headerLength);
    }

    private static int EstimateSize(IReadOnlyList<InferenceTensor> tensors)
    {
        // JSON numbers take about 12 bytes each; the binary part is exact. Only a starting size: the buffer grows.
        long estimate = 256;
        foreach (var tensor in tensors) estimate += 64 + Math.Max(BinarySize(tensor), tensor.ElementCount * 12);
        return (int)Math.Min(estimate, 64L * 1024 * 1024);
    }

    private static void WriteParameters(Utf8JsonWriter writer, IReadOnlyDictionary<string, JsonElement> parameters)
    {
        writer.WriteStartObject("parameters");
        foreach (var (name, value) in parameters)
        {
            writer.WritePropertyName(name);
            value.WriteTo(writer);
        }
        writer.WriteEndObject();
    }

    private static void WriteTensor(Utf8JsonWriter writer, InferenceTensor tensor, bool binary)
    {
        writer.WriteStartObject();
        writer.WriteString("name", tensor.Name);
        writer.WriteString("datatype", tensor.Datatype);
        writer.WriteStartArray("shape");
        foreach (var dim in tensor.Shape) writer.WriteNumberValue(dim);
        writer.WriteEndArray();
        if (binary)
        {
            writer.WriteStartObject("parameters");
            writer.WriteNumber("binary_data_size", BinarySize(tensor));
            writer.WriteEndObject();
        }
        else
        {
            writer.WriteStartArray("data");
            WriteValues(writer, tensor);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }

    private static void WriteValues(Utf8JsonWriter writer, InferenceTensor tensor)
    {
        if (tensor.Strings is not null)
        {
            foreach (var value in tensor.Strings) writer.WriteStringValue(value);
            return;
        }
        var bytes = tensor.Data.Span;
        switch (tensor.ElementType)
        {
            case TensorElementType.Bool:
                foreach (var b in bytes) writer.WriteBooleanValue(b != 0);
                break;
            case TensorElementType.UInt8:
                foreach (var v in bytes) writer.WriteNumberValue(v);
                break;
            case TensorElementType.Int8:
                foreach (var v in MemoryMarshal.Cast<byte, sbyte>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.UInt16:
                foreach (var v in MemoryMarshal.Cast<byte, ushort>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.Int16:
                foreach (var v in MemoryMarshal.Cast<byte, short>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.UInt32:
                foreach (var v in MemoryMarshal.Cast<byte, uint>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.Int32:
                foreach (var v in MemoryMarshal.Cast<byte, int>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.UInt64:
                foreach (var v in MemoryMarshal.Cast<byte, ulong>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.Int64:
                foreach (var v in MemoryMarshal.Cast<byte, long>(bytes)) writer.WriteNumberValue(v);
                break;
            case TensorElementType.Float:
                foreach (var v in MemoryMarshal.Cast<byte, float>(bytes)) WriteReal(writer, v);
                break;
            case TensorElementType.Double:
                foreach (var v in MemoryMarshal.Cast<byte, double>(bytes)) WriteReal(writer, v);
                break;
            case TensorElementType.Float16:
                // Every FP16 value is exact as a float, and the shortest float text reads back to the same FP16.
                foreach (var v in MemoryMarshal.Cast<byte, Half>(bytes)) WriteReal(writer, (float)v);
                break;
            case TensorElementType.BFloat16:
                foreach (var v in MemoryMarshal.Cast<byte, ushort>(bytes)) WriteReal(writer, BFloat16Bits.ToSingle(v));
                break;
            default:
                throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ElementType}, which the Open Inference Protocol cannot carry.");
        }
    }

    /// <summary>Standard JSON has no NaN or infinity: they go out as the strings "NaN", "Infinity", "-Infinity".</summary>
    internal static void WriteReal(Utf8JsonWriter writer, float value)
    {
        if (float.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteStringValue(float.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    internal static void WriteReal(Utf8JsonWriter writer, double value)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteStringValue(double.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    private static void WriteBinary(ArrayBufferWriter<byte> buffer, InferenceTensor tensor)
    {
        if (tensor.Strings is null)
        {
            buffer.Write(tensor.Data.Span);
            return;
        }
        foreach (var value in tensor.Strings)
        {
            var length = Encoding.UTF8.GetByteCount(value);
            var span = buffer.GetSpan(4 + length);
            BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)length);
            Encoding.UTF8.GetBytes(value, span[4..]);
            buffer.Advance(4 + length);
        }
    }
}
