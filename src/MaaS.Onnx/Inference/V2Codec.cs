using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Inference;

/// <summary>
/// The Open Inference Protocol (KServe V2) REST body codec, with Triton's binary tensor data extension. Requests are
/// read in one forward pass with <see cref="Utf8JsonReader"/> (depth-limited), and nothing they declare is trusted: a
/// shape's product is checked against the limits before anything is allocated, must equal the number of values sent
/// (JSON) or the bytes sent (binary), and buffers grow with the values actually present, never with the declared size.
/// Every fault is an <see cref="InferenceRequestException"/> whose message names the input and the problem.
/// <para>
/// Data may be flat or nested; nested data must follow the shape exactly (no ragged rows), so a mistake in the
/// nesting cannot pass just because the value count happens to match. BYTES travel as JSON strings (UTF-8) or, in
/// binary, as a 4-byte little-endian length then the bytes, per element; ONNX strings are UTF-8, so invalid UTF-8 is
/// refused. FP16 and BF16 travel as JSON numbers, rounded to the nearest representable value. NaN and infinities are
/// refused unless <see cref="V2RequestLimits.AllowNonFiniteFloats"/>, in which case JSON spells them "NaN",
/// "Infinity", "-Infinity" (strings, as standard JSON has no such numbers); responses spell them the same way.
/// </para>
/// </summary>
public static partial class V2Codec
{
    private const int MaxParameters = 128;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Parses an inference request. <paramref name="headerLength"/> is the <c>Inference-Header-Content-Length</c>
    /// header: null when absent (the whole body is JSON), otherwise the JSON's length, with the binary tensors of inputs
    /// that carry <c>binary_data_size</c> after it, in input order. A header of 0 (a raw binary request) needs the
    /// model's signature: use <see cref="ParseRawBinaryRequest"/>.
    /// </summary>
    public static InferenceRequest ParseRequest(ReadOnlyMemory<byte> body, long? headerLength = null, V2RequestLimits? limits = null)
    {
        var state = Begin(body, headerLength, limits ?? V2RequestLimits.Default, "request");
        var reader = new Utf8JsonReader(state.Json.Span, new JsonReaderOptions { MaxDepth = state.Limits.MaxDepth });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw Bad("The request should be a JSON object with \"inputs\".");
            string? id = null;
            IReadOnlyDictionary<string, JsonElement>? parameters = null;
            List<InferenceTensor>? inputs = null;
            List<RequestedOutput>? outputs = null;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString()!;
                reader.Read();
                if (property is "id" or "parameters" or "inputs" or "outputs" && !seen.Add(property))
                    throw Bad($"The request has \"{property}\" twice.");
                switch (property)
                {
                    case "id":
                        if (reader.TokenType != JsonTokenType.String) throw Bad("\"id\" should be a string.");
                        id = reader.GetString();
                        break;
                    case "parameters":
                        parameters = ReadParameters(ref reader, "the request");
                        break;
                    case "inputs":
                        inputs = ReadTensors(ref reader, state, "input", state.Limits.MaxInputs);
                        break;
                    case "outputs":
                        outputs = ReadRequestedOutputs(ref reader, state.Limits);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            End(ref reader, state, "request");
            if (inputs is null) throw Bad("The request has no \"inputs\".");
            parameters ??= InferenceRequest.EmptyParameters;
            var binaryOutput = parameters.TryGetValue("binary_data_output", out var flag) && Flag(flag, "the request's binary_data_output");
            return new InferenceRequest(id, parameters, inputs, outputs, binaryOutput);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw NotJson(ex, "request", state.ReaderOffset == 0);
        }
    }

    /// <summary>
    /// A raw binary request (<c>Inference-Header-Content-Length: 0</c>): the body is the one input's tensor, with no
    /// JSON at all. The model must take exactly one tensor input with at most one variable dimension, which the body's
    /// length decides; a BYTES input takes the whole body as one element of shape [1]. Every output comes back binary.
    /// </summary>
    public static InferenceRequest ParseRawBinaryRequest(ReadOnlyMemory<byte> body, ModelSignature model, V2RequestLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        limits ??= V2RequestLimits.Default;
        CheckBodySize(body.Length, limits);
        if (model.Inputs.Count != 1)
            throw Bad($"A raw binary request (Inference-Header-Content-Length: 0) needs a model with exactly one input; this one takes {model.Inputs.Count}.");
        var spec = model.Inputs[0];
        if (!spec.IsTensor || V2Datatypes.NameOf(spec.ElementType) is null)
            throw Bad($"input '{spec.Name}': the model takes a {spec.OnnxType}, which a raw binary request cannot carry.");
        InferenceTensor tensor;
        if (spec.ElementType == TensorElementType.String)
        {
            tensor = InferenceTensor.FromStrings(spec.Name, [1], [DecodeUtf8(body.Span, $"input '{spec.Name}'", 1)]);
        }
        else
        {
            var variable = spec.Shape.Count(d => d < 0);
            if (variable > 1)
                throw Bad($"input '{spec.Name}': shape {InferenceTensor.FormatShape(spec.Shape)} has {variable} variable dimensions; a raw binary request can only fill one. Send a JSON header instead.");
            var size = V2Datatypes.ElementSize(spec.ElementType);
            long fixedBytes = size;
            foreach (var dim in spec.Shape.Where(d => d >= 0)) fixedBytes = checked(fixedBytes * dim);
            long[] shape;
            if (fixedBytes == 0 ? body.Length != 0 : body.Length % fixedBytes != 0 || variable == 0 && body.Length != fixedBytes)
            {
                throw Bad($"input '{spec.Name}': {body.Length} bytes do not fill shape {InferenceTensor.FormatShape(spec.Shape)} of {V2Datatypes.Name(spec.ElementType)} ({fixedBytes} bytes per step).");
            }
            var rows = fixedBytes == 0 ? 0 : body.Length / fixedBytes;
            shape = spec.Shape.Select(d => d < 0 ? rows : d).ToArray();
            var count = ElementCount(shape, $"input '{spec.Name}'", limits);
            tensor = InferenceTensor.FromBytes(spec.Name, spec.ElementType, shape, body);
            CheckBinaryValues(tensor.Data.Span, spec.ElementType, $"input '{spec.Name}'", limits, count);
        }
        return new InferenceRequest(null, InferenceRequest.EmptyParameters, [tensor], null, BinaryDataOutput: true);
    }

    /// <summary>
    /// Parses a V2 inference response (what a client receives), with binary outputs after the header when
    /// <paramref name="headerLength"/> is given. Outputs are read with the same checks as request inputs.
    /// </summary>
    public static InferenceResponse ParseResponse(ReadOnlyMemory<byte> body, long? headerLength = null, V2RequestLimits? limits = null)
    {
        var state = Begin(body, headerLength, limits ?? V2RequestLimits.Default, "response");
        var reader = new Utf8JsonReader(state.Json.Span, new JsonReaderOptions { MaxDepth = state.Limits.MaxDepth });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw Bad("The response should be a JSON object.");
            string? modelName = null, modelVersion = null, id = null;
            IReadOnlyDictionary<string, JsonElement>? parameters = null;
            List<InferenceTensor>? outputs = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString()!;
                reader.Read();
                switch (property)
                {
                    case "model_name" or "model_version" or "id":
                        if (reader.TokenType != JsonTokenType.String) throw Bad($"\"{property}\" should be a string.");
                        if (property == "model_name") modelName = reader.GetString();
                        else if (property == "model_version") modelVersion = reader.GetString();
                        else id = reader.GetString();
                        break;
                    case "parameters":
                        parameters = ReadParameters(ref reader, "the response");
                        break;
                    case "outputs":
                        outputs = ReadTensors(ref reader, state, "output", state.Limits.MaxOutputs);
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }
            End(ref reader, state, "response");
            if (modelName is null || outputs is null) throw Bad("The response needs \"model_name\" and \"outputs\".");
            var binary = state.BinaryNames.ToHashSet(StringComparer.Ordinal);
            return new InferenceResponse(modelName, modelVersion, id, outputs, binary, parameters);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw NotJson(ex, "response", state.ReaderOffset == 0);
        }
    }

    private sealed class ParseState(V2RequestLimits limits, ReadOnlyMemory<byte> json, ReadOnlyMemory<byte> binary, bool hasHeader)
    {
        public V2RequestLimits Limits { get; } = limits;
        public ReadOnlyMemory<byte> Json { get; } = json;
        public ReadOnlyMemory<byte> Binary { get; } = binary;
        public bool HasHeader { get; } = hasHeader;
        public long BinaryOffset { get; set; }
        public long TotalElements { get; set; }

        /// <summary>
        /// Where in <see cref="Json"/> the main reader's input starts: 0, until a tensor's data is scanned past without the
        /// reader and the reader restarts after it (see <c>ReadJsonData</c>).
        /// </summary>
        public int ReaderOffset;
        public List<string> BinaryNames { get; } = [];
    }

    private static ParseState Begin(ReadOnlyMemory<byte> body, long? headerLength, V2RequestLimits limits, string what)
    {
        CheckBodySize(body.Length, limits);
        if (headerLength is not { } length) return new ParseState(limits, body, ReadOnlyMemory<byte>.Empty, false);
        if (length == 0 && what == "request")
            throw Bad("Inference-Header-Content-Length: 0 marks a raw binary request, which needs the model's signature (ParseRawBinaryRequest).");
        if (length <= 0 || length > body.Length)
            throw Bad($"Inference-Header-Content-Length is {length}, but the body has {body.Length} bytes.");
        return new ParseState(limits, body[..(int)length], body[(int)length..], true);
    }

    private static void End(ref Utf8JsonReader reader, ParseState state, string what)
    {
        if (reader.TokenType != JsonTokenType.EndObject) throw Bad($"The {what} should be a JSON object of named fields.");
        if (reader.Read()) throw Bad($"The {what} has more after its JSON object.");
        var left = state.Binary.Length - state.BinaryOffset;
        if (left != 0) throw Bad($"{left} bytes follow the JSON header that no tensor claims with binary_data_size.");
    }

    private static void CheckBodySize(long length, V2RequestLimits limits)
    {
        if (length > limits.MaxRequestBytes)
            throw new InferenceRequestTooLargeException($"The body is {length:N0} bytes, over the limit of {limits.MaxRequestBytes:N0}.");
    }

    /// <param name="positionKnown">False once the reader restarted after a scanned array: its line and byte count from
    /// the array's start, so they would point too early.</param>
    private static InferenceRequestException NotJson(Exception ex, string what, bool positionKnown)
    {
        if (ex is JsonException json)
        {
            var where = positionKnown && json.LineNumber is { } line ? $" (line {line + 1}, byte {json.BytePositionInLine + 1})" : "";
            return Bad($"The {what} is not valid JSON{where}: {FirstSentence(json.Message)}");
        }
        return Bad($"The {what} is not valid JSON: {FirstSentence(ex.Message)}");
    }

    private static IReadOnlyDictionary<string, JsonElement> ReadParameters(ref Utf8JsonReader reader, string owner)
    {
        if (reader.TokenType != JsonTokenType.StartObject) throw Bad($"{Capital(owner)}: \"parameters\" should be an object.");
        var parameters = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Number or JsonTokenType.True or JsonTokenType.False))
                throw Bad($"{Capital(owner)}: parameter '{name}' should be a string, number or boolean.");
            if (parameters.Count >= MaxParameters) throw Bad($"{Capital(owner)} has more than {MaxParameters} parameters.");
            if (!parameters.TryAdd(name, JsonElement.ParseValue(ref reader))) throw Bad($"{Capital(owner)} has parameter '{name}' twice.");
        }
        return parameters;
    }

    private static bool Flag(JsonElement value, string what) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Bad($"{Capital(what)} should be true or false."),
    };

    private static List<RequestedOutput> ReadRequestedOutputs(ref Utf8JsonReader reader, V2RequestLimits limits)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad("\"outputs\" should be an array of {\"name\": ...} objects.");
        var outputs = new List<RequestedOutput>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var position = outputs.Count + 1;
            if (reader.TokenType != JsonTokenType.StartObject) throw Bad($"Requested output {position} is not a JSON object.");
            if (outputs.Count >= limits.MaxOutputs) throw Bad($"The request asks for more than {limits.MaxOutputs} outputs.");
            string? name = null;
            var parameters = InferenceRequest.EmptyParameters;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var property = reader.GetString();
                reader.Read();
                if (property == "name") name = ReadName(ref reader, $"Requested output {position}", limits);
                else if (property == "parameters") parameters = ReadParameters(ref reader, $"requested output {position}");
                else reader.Skip();
            }
            if (name is null) throw Bad($"Requested output {position} has no \"name\".");
            if (!names.Add(name)) throw Bad($"output '{name}' is requested twice.");
            RejectUnsupported(parameters, $"output '{name}'");
            if (parameters.ContainsKey("classification"))
                throw Bad($"output '{name}': the classification extension is not supported; ask for the raw output.");
            bool? binary = parameters.TryGetValue("binary_data", out var flag) ? Flag(flag, $"output '{name}': binary_data") : null;
            outputs.Add(new RequestedOutput(name, binary, parameters));
        }
        return outputs;
    }

    private static void RejectUnsupported(IReadOnlyDictionary<string, JsonElement> parameters, string owner)
    {
        if (parameters.ContainsKey("shared_memory_region"))
            throw Bad($"{owner}: shared memory is not supported; send the data in the body.");
    }

    private static string ReadName(ref Utf8JsonReader reader, string owner, V2RequestLimits limits)
    {
        var name = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
        if (string.IsNullOrEmpty(name) || name.Length > limits.MaxNameLength)
            throw Bad($"{owner}: \"name\" should be a string of 1 to {limits.MaxNameLength} characters.");
        return name;
    }

    private static List<InferenceTensor> ReadTensors(ref Utf8JsonReader reader, ParseState state, string kind, int max)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad($"\"{kind}s\" should be an array of tensors.");
        var tensors = new List<InferenceTensor>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject) throw Bad($"{Capital(kind)} {tensors.Count + 1} is not a JSON object.");
            if (tensors.Count >= max) throw Bad($"The body has more than {max} {kind}s, the limit.");
            var tensor = ReadTensor(ref reader, state, kind, tensors.Count + 1);
            if (!names.Add(tensor.Name)) throw Bad($"{kind} '{tensor.Name}' appears twice.");
            tensors.Add(tensor);
        }
        return tensors;
    }

    private static InferenceTensor ReadTensor(ref Utf8JsonReader reader, ParseState state, string kind, int position)
    {
        string? name = null, datatype = null;
        var parameters = InferenceRequest.EmptyParameters;
        bool hasShape = false, hasData = false, hasDatatype = false;
        Utf8JsonReader shapeReader = default, dataReader = default;
        var dataOffset = 0;
        Prepared? prepared = null;
        InferenceTensor? parsed = null;
        var seen = TensorKeys.None;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var property = reader.GetString();
            reader.Read();
            // Each key once: the data is read as soon as the keys it needs are known, so a later second "shape" or
            // "datatype" would be ignored where a last-wins parser in front of this one would take it.
            var key = property switch
            {
                "name" => TensorKeys.Name, "datatype" => TensorKeys.Datatype, "shape" => TensorKeys.Shape,
                "data" => TensorKeys.Data, "parameters" => TensorKeys.Parameters, _ => TensorKeys.None,
            };
            if ((seen & key) != 0) throw Bad($"{Capital(kind)} {position} has \"{property}\" twice.");
            seen |= key;
            switch (property)
            {
                case "name":
                    name = ReadName(ref reader, $"{Capital(kind)} {position}", state.Limits);
                    break;
                case "datatype":
                    hasDatatype = true;
                    datatype = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    break;
                case "parameters":
                    parameters = ReadParameters(ref reader, $"{kind} {position}");
                    break;
                case "shape":
                    // Keys come in any order: shape and data are read once the name and datatype are known.
                    shapeReader = reader;
                    hasShape = true;
                    reader.Skip();
                    break;
                case "data":
                    hasData = true;
                    if (name is not null && hasDatatype && hasShape && !parameters.ContainsKey("binary_data_size"))
                    {
                        // The usual order (name, shape, datatype, data): read the values in this one pass rather than
                        // skipping them and coming back.
                        var dataLabel = $"{kind} '{name}'";
                        prepared = Prepare(ref shapeReader, state, dataLabel, DatatypeOf(dataLabel, datatype));
                        parsed = ReadJsonData(ref reader, ref state.ReaderOffset, state, name, dataLabel, prepared.Type, prepared.Shape, prepared.Count);
                    }
                    else
                    {
                        dataReader = reader;
                        dataOffset = state.ReaderOffset;
                        reader.Skip();
                    }
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (name is null) throw Bad($"{Capital(kind)} {position} has no \"name\".");
        var label = $"{kind} '{name}'";
        if (!hasDatatype) throw Bad($"{label} has no \"datatype\" (one of {string.Join(", ", V2Datatypes.All)}).");
        if (prepared is null)
        {
            var type = DatatypeOf(label, datatype);
            if (!hasShape) throw Bad($"{label} has no \"shape\".");
            prepared = Prepare(ref shapeReader, state, label, type);
        }
        RejectUnsupported(parameters, label);

        if (parameters.TryGetValue("binary_data_size", out var sizeElement))
        {
            if (!state.HasHeader)
                throw Bad($"{label}: binary_data_size needs the Inference-Header-Content-Length header to say where the JSON ends.");
            if (hasData) throw Bad($"{label} has both \"data\" and binary_data_size; send one.");
            if (sizeElement.ValueKind != JsonValueKind.Number || !sizeElement.TryGetInt64(out var size) || size < 0)
                throw Bad($"{label}: binary_data_size should be a whole number of bytes.");
            state.BinaryNames.Add(name);
            return ReadBinary(state, name, label, prepared.Type, prepared.Shape, prepared.Count, size);
        }
        if (!hasData) throw Bad($"{label} has no \"data\".");
        return parsed ?? ReadJsonData(ref dataReader, ref dataOffset, state, name, label, prepared.Type, prepared.Shape, prepared.Count);
    }

    [Flags]
    private enum TensorKeys
    {
        None = 0,
        Name = 1,
        Datatype = 2,
        Shape = 4,
        Data = 8,
        Parameters = 16,
    }

    /// <summary>A tensor's datatype and shape, checked, with its element count added to the request's total.</summary>
    private sealed record Prepared(TensorElementType Type, long[] Shape, long Count);

    private static TensorElementType DatatypeOf(string label, string? datatype) =>
        V2Datatypes.TryParse(datatype, out var type) ? type
            : throw Bad($"{label}: datatype {(datatype is null ? "should be a string" : $"'{datatype}' is not one of")} {string.Join(", ", V2Datatypes.All)}.");

    private static Prepared Prepare(ref Utf8JsonReader shapeReader, ParseState state, string label, TensorElementType type)
    {
        var shape = ReadShape(ref shapeReader, label, state.Limits);
        var count = ElementCount(shape, label, state.Limits);
        state.TotalElements += count;
        if (state.TotalElements > state.Limits.MaxTotalElements)
            throw new InferenceRequestTooLargeException($"The tensors hold more than {state.Limits.MaxTotalElements:N0} values in all, the limit.");
        return new Prepared(type, shape, count);
    }

    private static long[] ReadShape(ref Utf8JsonReader reader, string label, V2RequestLimits limits)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw Bad($"{label}: \"shape\" should be an array of whole numbers.");
        var dims = new List<long>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (dims.Count >= limits.MaxRank) throw Bad($"{label}: the shape has more than {limits.MaxRank} dimensions, the limit.");
            if (reader.TokenType != JsonTokenType.Number) throw Bad($"{label}: \"shape\" should be an array of whole numbers.");
            if (reader.TryGetInt64(out var dim))
            {
                if (dim < 0) throw Bad($"{label}: dimension {dims.Count} is {dim}; a request gives every dimension's size (0 or more).");
                dims.Add(dim);
            }
            else if (reader.TryGetUInt64(out _))
            {
                throw new InferenceRequestTooLargeException($"{label}: dimension {dims.Count} is {Encoding.UTF8.GetString(reader.ValueSpan)}, more than any tensor this server takes.");
            }
            else
            {
                throw Bad($"{label}: dimension {dims.Count} ({Text(ref reader)}) is not a whole number.");
            }
        }
        return dims.ToArray();
    }

    /// <summary>The shape's product, checked against the limit before each multiplication, so it cannot overflow.</summary>
    private static long ElementCount(long[] shape, string label, V2RequestLimits limits)
    {
        long count = 1;
        foreach (var dim in shape)
        {
            if (dim != 0 && count > limits.MaxElementsPerTensor / dim)
            {
                // The product may not even fit a long; say so without computing it.
                throw new InferenceRequestTooLargeException($"{label}: shape {InferenceTensor.FormatShape(shape)} is more than {limits.MaxElementsPerTensor:N0} values, the limit per tensor.");
            }
            count *= dim;
        }
        // A zero dimension anywhere makes an empty tensor, whatever the other dimensions say.
        return shape.Contains(0) ? 0 : count;
    }

    private static InferenceTensor ReadBinary(ParseState state, string name, string label, TensorElementType type, long[] shape, long count, long size)
    {
        var left = state.Binary.Length - state.BinaryOffset;
        if (size > left)
            throw Bad($"{label}: binary_data_size is {size} but only {left} bytes follow the JSON header{(state.BinaryOffset > 0 ? " after the earlier tensors" : "")}.");
        var bytes = state.Binary.Slice((int)state.BinaryOffset, (int)size);
        state.BinaryOffset += size;
        if (type == TensorElementType.String) return InferenceTensor.FromStrings(name, shape, ReadBinaryStrings(bytes.Span, label, shape, count));
        var expected = count * V2Datatypes.ElementSize(type);
        if (size != expected)
            throw Bad($"{label}: shape {InferenceTensor.FormatShape(shape)} of {V2Datatypes.Name(type)} needs {expected} bytes, binary_data_size is {size}.");
        CheckBinaryValues(bytes.Span, type, label, state.Limits, count);
        return InferenceTensor.FromBytes(name, type, shape, bytes);
    }

    /// <summary>BOOL bytes must be 0 or 1 (other values are not a .NET or ONNX bool); floats finite unless allowed.</summary>
    private static void CheckBinaryValues(ReadOnlySpan<byte> bytes, TensorElementType type, string label, V2RequestLimits limits, long count)
    {
        if (type == TensorElementType.Bool)
        {
            var bad = bytes.IndexOfAnyExcept((byte)0, (byte)1);
            if (bad >= 0) throw Bad($"{label}: value {bad + 1} is byte {bytes[bad]}; BOOL is 1 byte, 0 or 1.");
            return;
        }
        if (limits.AllowNonFiniteFloats || !V2Datatypes.IsFloatingPoint(type)) return;
        // NaN and the infinities are the values whose exponent bits are all ones, with either sign: two ranges of the
        // bit patterns, which the vectorised range search finds without a call per value.
        var index = type switch
        {
            TensorElementType.Float => FirstInRanges(MemoryMarshal.Cast<byte, uint>(bytes), 0x7F80_0000u, 0x7FFF_FFFFu, 0xFF80_0000u, 0xFFFF_FFFFu),
            TensorElementType.Double => FirstInRanges(MemoryMarshal.Cast<byte, ulong>(bytes),
                0x7FF0_0000_0000_0000ul, 0x7FFF_FFFF_FFFF_FFFFul, 0xFFF0_0000_0000_0000ul, 0xFFFF_FFFF_FFFF_FFFFul),
            TensorElementType.Float16 => FirstInRanges(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7C00, (ushort)0x7FFF, (ushort)0xFC00, (ushort)0xFFFF),
            _ => FirstInRanges(MemoryMarshal.Cast<byte, ushort>(bytes), (ushort)0x7F80, (ushort)0x7FFF, (ushort)0xFF80, (ushort)0xFFFF),
        };
        if (index >= 0) throw Bad($"{label}: value {index + 1} of {count} is NaN or infinite; only finite numbers are accepted.");
    }

    private static int FirstInRanges<T>(ReadOnlySpan<T> bits, T low1, T high1, T low2, T high2) where T : IComparable<T>, IEquatable<T>
    {
        var first = bits.IndexOfAnyInRange(low1, high1);
        var second = bits.IndexOfAnyInRange(low2, high2);
        return first < 0 ? second : second < 0 ? first : Math.Min(first, second);
    }

    private static string[] ReadBinaryStrings(ReadOnlySpan<byte> bytes, string label, long[] shape, long count)
    {
        // Each element takes at least its 4-byte length, so the count the shape declares is bounded by the bytes sent.
        if (count > bytes.Length / 4)
            throw Bad($"{label}: shape {InferenceTensor.FormatShape(shape)} needs {count} BYTES elements, but {bytes.Length} bytes cannot hold that many.");
        var strings = new string[count];
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            if (bytes.Length - offset < 4) throw Bad($"{label}: BYTES element {i + 1} has no 4-byte length; the data ends at byte {offset}.");
            var length = BinaryPrimitives.ReadUInt32LittleEndian(bytes[offset..]);
            offset += 4;
            if (length > (uint)(bytes.Length - offset))
                throw Bad($"{label}: BYTES element {i + 1} says it has {length} bytes, but only {bytes.Length - offset} are left.");
            strings[i] = DecodeUtf8(bytes.Slice(offset, (int)length), label, i + 1);
            offset += (int)length;
        }
        if (offset != bytes.Length)
            throw Bad($"{label}: shape {InferenceTensor.FormatShape(shape)} needs {count} BYTES elements, but {bytes.Length - offset} bytes are left after them.");
        return strings;
    }

    private static string DecodeUtf8(ReadOnlySpan<byte> bytes, string label, int element)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Bad($"{label}: BYTES element {element} is not valid UTF-8; ONNX string tensors hold UTF-8 text.");
        }
    }

    private static string Text(ref Utf8JsonReader reader)
    {
        var text = reader.TokenType switch
        {
            JsonTokenType.StartObject => "an object",
            JsonTokenType.Null => "null",
            JsonTokenType.True => "true",
            JsonTokenType.False => "false",
            JsonTokenType.String => $"\"{reader.GetString()}\"",
            _ => Encoding.UTF8.GetString(reader.ValueSpan),
        };
        return text.Length > 40 ? text[..40] + "…" : text;
    }

    private static string FirstSentence(string message)
    {
        var end = message.IndexOf(". ", StringComparison.Ordinal);
        return end > 0 ? message[..(end + 1)] : message;
    }

    private static string Capital(string text) => text.Length == 0 ? text : char.ToUpper(text[0], CultureInfo.InvariantCulture) + text[1..];

    private static InferenceRequestException Bad(string message) => new(message);
}

/// <summary>bfloat16 is the top 16 bits of a float32; rounding to nearest even when narrowing, NaN kept a NaN.</summary>
internal static class BFloat16Bits
{
    public static ushort FromSingle(float value)
    {
        var bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);
}
