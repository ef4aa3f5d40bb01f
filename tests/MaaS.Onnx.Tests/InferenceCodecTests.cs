using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Inference;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Tests;

public sealed class InferenceCodecTests
{
    private static InferenceRequest Parse(string json, V2RequestLimits? limits = null) =>
        V2Codec.ParseRequest(Encoding.UTF8.GetBytes(json), null, limits);

    private static string Error(string json, V2RequestLimits? limits = null) =>
        Assert.Throws<InferenceRequestException>(() => Parse(json, limits)).Message;

    private static string One(string datatype, string shape, string data) =>
        $$"""{"inputs":[{"name":"x","shape":{{shape}},"datatype":"{{datatype}}","data":{{data}}}]}""";

    /// <summary>Each datatype with JSON data at its edges, and the values it must read as.</summary>
    public static TheoryData<string, string, InferenceTensor> EveryDatatype() => new()
    {
        { V2Datatypes.Bool, "[true,false,true]", InferenceTensor.FromValues<bool>("x", [3], [true, false, true]) },
        { V2Datatypes.UInt8, "[0,255,7]", InferenceTensor.FromValues<byte>("x", [3], [0, 255, 7]) },
        { V2Datatypes.UInt16, "[0,65535,7]", InferenceTensor.FromValues<ushort>("x", [3], [0, 65535, 7]) },
        { V2Datatypes.UInt32, "[0,4294967295,7]", InferenceTensor.FromValues<uint>("x", [3], [0, uint.MaxValue, 7]) },
        { V2Datatypes.UInt64, "[0,18446744073709551615,7]", InferenceTensor.FromValues<ulong>("x", [3], [0, ulong.MaxValue, 7]) },
        { V2Datatypes.Int8, "[-128,127,0]", InferenceTensor.FromValues<sbyte>("x", [3], [-128, 127, 0]) },
        { V2Datatypes.Int16, "[-32768,32767,0]", InferenceTensor.FromValues<short>("x", [3], [short.MinValue, short.MaxValue, 0]) },
        { V2Datatypes.Int32, "[-2147483648,2147483647,0]", InferenceTensor.FromValues<int>("x", [3], [int.MinValue, int.MaxValue, 0]) },
        { V2Datatypes.Int64, "[-9223372036854775808,9223372036854775807,9007199254740993]", InferenceTensor.FromValues<long>("x", [3], [long.MinValue, long.MaxValue, 9007199254740993]) },
        { V2Datatypes.Fp16, "[0.1,-65504,1.5]", InferenceTensor.FromValues<Half>("x", [3], [(Half)0.1, (Half)(-65504), (Half)1.5]) },
        { V2Datatypes.Fp32, "[0.1,-3.4e38,1e-45]", InferenceTensor.FromValues<float>("x", [3], [0.1f, -3.4e38f, 1e-45f]) },
        { V2Datatypes.Fp64, "[0.1,1e308,-5e-324]", InferenceTensor.FromValues<double>("x", [3], [0.1, 1e308, -double.Epsilon]) },
        { V2Datatypes.Bf16, "[1.5,-2,3.140625]", InferenceTensor.FromValues<ushort>("x", [3], [0x3FC0, 0xC000, 0x4049]) },
        { V2Datatypes.Bytes, "[\"héllo\",\"\",\"日本\"]", InferenceTensor.FromStrings("x", [3], ["héllo", "", "日本"]) },
    };

    private static void AssertSameValues(InferenceTensor expected, InferenceTensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        if (expected.Strings is not null) Assert.Equal(expected.Strings, actual.Strings);
        else Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
    }

    [Theory]
    [MemberData(nameof(EveryDatatype))]
    public void EveryDatatype_IsRead_AndRoundTripsThroughJsonAndBinary(string datatype, string data, InferenceTensor expected)
    {
        var request = Parse(One(datatype, "[3]", data));

        var tensor = Assert.Single(request.Inputs);
        Assert.Equal(datatype, tensor.Datatype);
        AssertSameValues(expected, tensor);

        // Response, JSON then binary; request, binary: each decodes to the very same values.
        var json = V2Codec.EncodeResponse(new InferenceResponse("m", "1", null, [tensor]));
        Assert.Null(json.HeaderLength);
        AssertSameValues(expected, Assert.Single(V2Codec.ParseResponse(json.Body).Outputs));
        var binary = V2Codec.EncodeResponse(new InferenceResponse("m", "1", null, [tensor], new HashSet<string> { "x" }));
        AssertSameValues(expected, Assert.Single(V2Codec.ParseResponse(binary.Body, binary.HeaderLength).Outputs));
        var binaryRequest = V2Codec.EncodeRequest(request, binaryInputs: true);
        AssertSameValues(expected, Assert.Single(V2Codec.ParseRequest(binaryRequest.Body, binaryRequest.HeaderLength).Inputs));
    }

    [Fact]
    public void NestedData_ReadsTheSameAsFlatData()
    {
        var flat = Parse(One("INT32", "[2,2,3]", "[1,2,3,4,5,6,7,8,9,10,11,12]"));
        var nested = Parse(One("INT32", "[2,2,3]", "[[[1,2,3],[4,5,6]],[[7,8,9],[10,11,12]]]"));

        Assert.Equal(Enumerable.Range(1, 12).ToArray(), flat.Inputs[0].ToArray<int>());
        Assert.Equal(flat.Inputs[0].Data.ToArray(), nested.Inputs[0].Data.ToArray());
    }

    [Fact]
    public void NestedData_ThatDoesNotFollowTheShape_IsRefused_EvenWithTheRightCount()
    {
        Assert.Equal("input 'x': nested \"data\" does not follow shape [2,3]: an array at depth 2 has 2 entries, dimension 1 is 3.",
            Error(One("FP32", "[2,3]", "[[1,2],[3,4,5,6]]")));
        Assert.Contains("nested deeper than shape [4]", Error(One("FP32", "[4]", "[[1,2],[3,4]]")));
        Assert.Contains("mixes values and arrays", Error(One("FP32", "[2,2]", "[1,2,[3,4]]")));
    }

    [Fact]
    public void ValueCount_NotMatchingTheShape_NamesTheInputAndBothCounts()
    {
        Assert.Equal("input 'x': shape [1,3] needs 3 values, got 4.", Error(One("FP32", "[1,3]", "[1,2,3,4]")));
        Assert.Equal("input 'x': shape [2,2] needs 4 values, got 3.", Error(One("INT64", "[2,2]", "[1,2,3]")));
    }

    [Fact]
    public void NegativeDimension_IsRefused()
    {
        Assert.Equal("input 'x': dimension 1 is -1; a request gives every dimension's size (0 or more).", Error(One("FP32", "[1,-1]", "[]")));
    }

    [Theory]
    [InlineData("[4294967296,4294967296,4294967296]")]
    [InlineData("[9223372036854775807,2]")]
    [InlineData("[18446744073709551615]")]
    [InlineData("[16777217]")]
    public void ShapeOverTheLimit_OrOverflowing_IsTooLarge(string shape)
    {
        var error = Assert.Throws<InferenceRequestTooLargeException>(() => Parse(One("FP32", shape, "[1]")));
        Assert.StartsWith("input 'x': ", error.Message);
    }

    [Fact]
    public void HugeDeclaredShape_WithFewValues_AllocatesOnlyForTheValuesSent()
    {
        var json = Encoding.UTF8.GetBytes(One("FP64", "[16000000]", "[1,2]"));
        var before = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Throws<InferenceRequestException>(() => V2Codec.ParseRequest(json));

        Assert.Equal("input 'x': shape [16000000] needs 16000000 values, got 2.", error.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1_000_000, "the parser allocated for the declared shape");
    }

    [Fact]
    public void ZeroDimension_IsAnEmptyTensor()
    {
        var tensor = Parse(One("FP32", "[0,4]", "[]")).Inputs[0];

        Assert.Equal([0L, 4], tensor.Shape);
        Assert.Equal(0, tensor.ElementCount);
    }

    [Fact]
    public void DatatypeNames_AreCaseSensitive_AndMustBeKnown()
    {
        Assert.StartsWith("input 'x': datatype 'fp32' is not one of BOOL, UINT8", Error(One("fp32", "[1]", "[1]")));
        Assert.StartsWith("input 'x': datatype 'STRING' is not one of", Error(One("STRING", "[1]", "[\"a\"]")));
    }

    [Theory]
    [InlineData("UINT8", "[1,256]", "input 'x': value 2 (256) is not a valid UINT8 (a whole number from 0 to 255).")]
    [InlineData("INT8", "[-129]", "input 'x': value 1 (-129) is not a valid INT8 (a whole number from -128 to 127).")]
    [InlineData("INT32", "[1.5]", "input 'x': value 1 (1.5) is not a valid INT32 (a whole number from -2147483648 to 2147483647).")]
    [InlineData("UINT64", "[-1]", "input 'x': value 1 (-1) is not a valid UINT64 (a whole number from 0 to 18446744073709551615).")]
    [InlineData("FP16", "[70000]", "input 'x': value 1 (70000) is not a valid FP16 (a finite number within ±65504).")]
    [InlineData("FP32", "[1e39]", "input 'x': value 1 (1e39) is not a valid FP32 (a finite number).")]
    [InlineData("FP32", "[\"1\"]", "input 'x': value 1 (\"1\") is not a valid FP32 (a finite number).")]
    [InlineData("BOOL", "[1]", "input 'x': value 1 (1) is not a valid BOOL (true or false).")]
    [InlineData("BYTES", "[7]", "input 'x': value 1 (7) is not a valid BYTES (a string).")]
    [InlineData("FP64", "[null]", "input 'x': value 1 (null) is not a valid FP64 (a finite number).")]
    public void ValueOutsideItsDatatype_IsRefused(string datatype, string data, string message)
    {
        var count = data.Count(c => c == ',') + 1;
        Assert.Equal(message, Error(One(datatype, $"[{count}]", data)));
    }

    [Fact]
    public void NaNAndInfinity_AreRefusedByDefault_AndReadWhenAllowed()
    {
        var json = One("FP32", "[3]", "[\"NaN\",\"Infinity\",\"-Infinity\"]");

        Assert.Contains("is not a valid FP32", Error(json));
        var values = Parse(json, new V2RequestLimits(AllowNonFiniteFloats: true)).Inputs[0].ToArray<float>();
        Assert.True(float.IsNaN(values[0]));
        Assert.Equal([float.PositiveInfinity, float.NegativeInfinity], values[1..]);
    }

    [Fact]
    public void DeeplyNestedJson_IsRefused_WithoutCrashing()
    {
        var deep = new string('[', 150_000) + new string(']', 150_000);
        // Shape first: the data is read at once and refused where it nests deeper than the shape.
        var shapeFirst = """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":""" + deep + "}]}";
        Assert.Contains("\"data\" is nested deeper than shape [1]", Error(shapeFirst));
        // Data first: the reader's depth limit refuses it while skipping ahead to the shape.
        var dataFirst = """{"inputs":[{"data":""" + deep + ""","name":"x","shape":[1],"datatype":"FP32"}]}""";
        Assert.Contains("maximum configured depth of 64", Error(dataFirst));
    }

    [Theory]
    [InlineData("", "The request is not valid JSON")]
    [InlineData("{\"inputs\":[", "The request is not valid JSON")]
    [InlineData("[1,2]", "The request should be a JSON object with \"inputs\".")]
    [InlineData("{\"id\":\"1\"}", "The request has no \"inputs\".")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}", "input 'x' has no \"data\".")]
    [InlineData("{\"inputs\":[{\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", "Input 1 has no \"name\".")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\",\"data\":[1]}]}", "input 'x' has no \"shape\".")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"data\":[1]}]}", "input 'x' has no \"datatype\"")]
    [InlineData("{\"id\":7,\"inputs\":[]}", "\"id\" should be a string.")]
    [InlineData("{\"inputs\":[],\"inputs\":[]}", "The request has \"inputs\" twice.")]
    [InlineData("{\"inputs\":[]} {}", "The request is not valid JSON")]
    [InlineData("{\"inputs\":[],\"parameters\":{\"a\":{\"b\":1}}}", "The request: parameter 'a' should be a string, number or boolean.")]
    public void MalformedRequest_IsRefused_WithWhatIsWrong(string json, string message)
    {
        Assert.StartsWith(message, Error(json));
    }

    [Fact]
    public void SameInputTwice_IsRefused()
    {
        Assert.Equal("input 'x' appears twice.", Error("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[2]}]}"""));
    }

    [Fact]
    public void BodyOverTheLimit_IsTooLarge()
    {
        var json = One("FP32", "[3]", "[1,2,3]");

        Assert.Throws<InferenceRequestTooLargeException>(() => Parse(json, new V2RequestLimits(MaxRequestBytes: json.Length - 1)));
        Assert.Single(Parse(json, new V2RequestLimits(MaxRequestBytes: json.Length)).Inputs);
    }

    [Fact]
    public void BinaryRequest_ReadsEachTensorAfterTheHeader_InInputOrder()
    {
        var header = Encoding.UTF8.GetBytes("""
            {"id":"b1","inputs":[
              {"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},
              {"name":"j","shape":[1],"datatype":"INT64","data":[5]},
              {"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":10}}]}
            """);
        byte[] tensors = [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f), 2, 0, 0, 0, (byte)'h', (byte)'i', 0, 0, 0, 0];

        var request = V2Codec.ParseRequest(header.Concat(tensors).ToArray(), header.Length);

        Assert.Equal("b1", request.Id);
        Assert.Equal([1.5f, -2f], request.Inputs[0].ToArray<float>());
        Assert.Equal([5L], request.Inputs[1].ToArray<long>());
        Assert.Equal(["hi", ""], request.Inputs[2].Strings!);
    }

    private static string BinaryError(string inputs, byte[] tensors, bool withHeader = true)
    {
        var header = Encoding.UTF8.GetBytes($$"""{"inputs":[{{inputs}}]}""");
        return Assert.Throws<InferenceRequestException>(() => V2Codec.ParseRequest(header.Concat(tensors).ToArray(), withHeader ? header.Length : null)).Message;
    }

    [Fact]
    public void BinaryTensors_ThatDoNotMatchTheirShape_OrTheBody_AreRefused()
    {
        const string fp32 = """{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":12}}""";
        Assert.Equal("input 'a': shape [2] of FP32 needs 8 bytes, binary_data_size is 12.", BinaryError(fp32, new byte[12]));
        Assert.Equal("input 'a': binary_data_size is 12 but only 8 bytes follow the JSON header.", BinaryError(fp32, new byte[8]));
        Assert.Equal("4 bytes follow the JSON header that no tensor claims with binary_data_size.",
            BinaryError("""{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}""", new byte[8]));
        Assert.Equal("input 'a': binary_data_size needs the Inference-Header-Content-Length header to say where the JSON ends.",
            Error("""{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}"""));
        Assert.Equal("input 'a' has both \"data\" and binary_data_size; send one.",
            BinaryError("""{"name":"a","shape":[1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}""", new byte[4]));
        Assert.Equal("input 'b': value 2 is byte 7; BOOL is 1 byte, 0 or 1.",
            BinaryError("""{"name":"b","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}""", [1, 7]));
        Assert.Equal("input 'a': value 2 of 2 is NaN or infinite; only finite numbers are accepted.",
            BinaryError("""{"name":"a","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}}""", [.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(float.NaN)]));
    }

    /// <summary>Binary floats are checked for NaN and infinities by bit ranges: each kind, either sign, anywhere, in every float type.</summary>
    [Theory]
    [InlineData("FP32", 0, "inf")]
    [InlineData("FP32", 63, "-inf")]
    [InlineData("FP32", 99, "nan")]
    [InlineData("FP32", 17, "-nan")]
    [InlineData("FP64", 5, "inf")]
    [InlineData("FP64", 98, "-nan")]
    [InlineData("FP16", 31, "-inf")]
    [InlineData("FP16", 7, "nan")]
    [InlineData("BF16", 50, "inf")]
    [InlineData("BF16", 0, "-nan")]
    public void BinaryFloats_NaNOrInfinityAnywhere_IsFoundAtItsPosition(string datatype, int position, string kind)
    {
        const int count = 100;
        double bad = kind switch { "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity, "nan" => double.NaN, _ => -double.NaN };
        // The largest finite values of each type sit around the bad one: they are near the ranges and must pass.
        double Value(int i) => i == position ? bad : i % 2 == 0 ? -1e300 : 1e300;
        byte[] bytes = datatype switch
        {
            "FP32" => [.. Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes(i == position ? (float)bad : i % 2 == 0 ? float.MaxValue : -float.MaxValue))],
            "FP64" => [.. Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes(Value(i)))],
            "FP16" => [.. Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes(i == position ? (Half)bad : i % 2 == 0 ? Half.MaxValue : Half.MinValue))],
            _ => [.. Enumerable.Range(0, count).SelectMany(i => BitConverter.GetBytes((ushort)(i == position
                ? BitConverter.SingleToUInt32Bits((float)bad) >> 16
                : i % 2 == 0 ? 0x7F7Fu : 0xFF7Fu)))],
        };
        var header = $$$"""{"name":"a","shape":[{{{count}}}],"datatype":"{{{datatype}}}","parameters":{"binary_data_size":{{{bytes.Length}}}}}""";

        Assert.Equal($"input 'a': value {position + 1} of {count} is NaN or infinite; only finite numbers are accepted.", BinaryError(header, bytes));
        // The same tensor without the bad value is accepted.
        var fine = (byte[])bytes.Clone();
        var size = bytes.Length / count;
        bytes.AsSpan(position == 0 ? size : 0, size).CopyTo(fine.AsSpan(position * size, size));
        var request = Encoding.UTF8.GetBytes($$"""{"inputs":[{{header}}]}""");
        Assert.Equal(count, V2Codec.ParseRequest(request.Concat(fine).ToArray(), request.Length).Inputs[0].ElementCount);
    }

    [Fact]
    public void BinaryBytes_WithBadLengths_OrInvalidUtf8_AreRefused()
    {
        const string two = """{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":9}}""";
        Assert.Equal("input 's': BYTES element 2 says it has 200 bytes, but only 0 are left.", BinaryError(two, [1, 0, 0, 0, (byte)'a', 200, 0, 0, 0]));
        Assert.Equal("input 's': BYTES element 1 is not valid UTF-8; ONNX string tensors hold UTF-8 text.",
            BinaryError("""{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}""", [2, 0, 0, 0, 0xC3, 0x28]));
        Assert.StartsWith("input 's': shape [1000] needs 1000 BYTES elements",
            BinaryError("""{"name":"s","shape":[1000],"datatype":"BYTES","parameters":{"binary_data_size":4}}""", [0, 0, 0, 0]));
    }

    [Fact]
    public void RequestedOutputs_AndTheirBinaryFlags_AreRead()
    {
        var perOutput = Parse("""{"inputs":[],"outputs":[{"name":"a","parameters":{"binary_data":true}},{"name":"b"}]}""");
        var requestLevel = Parse("""{"inputs":[],"parameters":{"binary_data_output":true},"outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":false}}]}""");
        var none = Parse("""{"inputs":[]}""");

        Assert.Equal(["a", "b"], perOutput.Outputs!.Select(o => o.Name));
        Assert.True(perOutput.WantsBinary("a"));
        Assert.False(perOutput.WantsBinary("b"));
        Assert.True(requestLevel.WantsBinary("a"));
        Assert.False(requestLevel.WantsBinary("b"));
        Assert.Null(none.Outputs);
        Assert.False(none.WantsBinary("a"));
    }

    [Theory]
    [InlineData("""{"inputs":[],"outputs":[{"name":"a"},{"name":"a"}]}""", "output 'a' is requested twice.")]
    [InlineData("""{"inputs":[],"outputs":[{"name":"a","parameters":{"classification":3}}]}""", "output 'a': the classification extension is not supported; ask for the raw output.")]
    [InlineData("""{"inputs":[],"outputs":[{"name":"a","parameters":{"binary_data":"yes"}}]}""", "Output 'a': binary_data should be true or false.")]
    [InlineData("""{"inputs":[],"outputs":[{"name":"a","parameters":{"shared_memory_region":"r"}}]}""", "output 'a': shared memory is not supported; send the data in the body.")]
    [InlineData("""{"inputs":[],"parameters":{"binary_data_output":1}}""", "The request's binary_data_output should be true or false.")]
    public void BadRequestedOutputs_AreRefused(string json, string message)
    {
        Assert.Equal(message, Error(json));
    }

    [Fact]
    public void TooManyRequestedOutputs_AreRefused()
    {
        var outputs = string.Join(",", Enumerable.Range(0, 65).Select(i => $$"""{"name":"o{{i}}"}"""));

        Assert.Equal("The request asks for more than 64 outputs.", Error($$"""{"inputs":[],"outputs":[{{outputs}}]}"""));
    }

    [Fact]
    public void JsonResponse_IsWrittenAsTheProtocolSays()
    {
        var response = new InferenceResponse("mlp", "3", "42", [
            InferenceTensor.FromValues<float>("y", [1, 2], [1.5f, -2f]),
            InferenceTensor.FromStrings("label", [1], ["cat"]),
        ]);

        var body = V2Codec.EncodeResponse(response);

        Assert.Null(body.HeaderLength);
        Assert.Equal("application/json", body.ContentType);
        Assert.Equal("""{"model_name":"mlp","model_version":"3","id":"42","outputs":[{"name":"y","datatype":"FP32","shape":[1,2],"data":[1.5,-2]},{"name":"label","datatype":"BYTES","shape":[1],"data":["cat"]}]}""",
            Encoding.UTF8.GetString(body.Body.Span));
    }

    [Fact]
    public void BinaryOutputs_FollowTheHeader_InOutputOrder_WithTheirSizes()
    {
        var response = new InferenceResponse("m", null, null, [
            InferenceTensor.FromValues<float>("f", [2], [1.5f, -2f]),
            InferenceTensor.FromValues<int>("j", [2], [1, 2]),
            InferenceTensor.FromStrings("s", [2], ["ab", ""]),
        ], new HashSet<string> { "f", "s" });

        var body = V2Codec.EncodeResponse(response);

        Assert.Equal("application/octet-stream", body.ContentType);
        var headerLength = Assert.IsType<int>(body.HeaderLength);
        using var header = JsonDocument.Parse(body.Body[..headerLength]);
        var outputs = header.RootElement.GetProperty("outputs");
        Assert.Equal(8, outputs[0].GetProperty("parameters").GetProperty("binary_data_size").GetInt64());
        Assert.False(outputs[0].TryGetProperty("data", out _));
        Assert.Equal("[1,2]", outputs[1].GetProperty("data").GetRawText());
        Assert.Equal(10, outputs[2].GetProperty("parameters").GetProperty("binary_data_size").GetInt64());
        byte[] expected = [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f), 2, 0, 0, 0, (byte)'a', (byte)'b', 0, 0, 0, 0];
        Assert.Equal(expected, body.Body[headerLength..].ToArray());
    }

    [Fact]
    public void Fp16Outputs_AreJsonNumbers_AndNonFiniteValuesAreStrings()
    {
        var response = new InferenceResponse("m", null, null, [
            InferenceTensor.FromValues<Half>("h", [2], [(Half)0.5, (Half)(-3)]),
            InferenceTensor.FromValues<float>("f", [3], [float.NaN, float.PositiveInfinity, float.NegativeInfinity]),
        ]);

        var json = Encoding.UTF8.GetString(V2Codec.EncodeResponse(response).Body.Span);

        Assert.Contains("\"data\":[0.5,-3]", json);
        Assert.Contains("\"data\":[\"NaN\",\"Infinity\",\"-Infinity\"]", json);
    }

    [Fact]
    public void RawBinaryRequest_FillsTheOneVariableDimension_AndAsksForBinaryOutputs()
    {
        var signature = new ModelSignature(
            [new TensorSpec("x", true, TensorElementType.Float, [-1, 4], ["batch", ""], "float")],
            [new TensorSpec("y", true, TensorElementType.Float, [-1, 3], ["batch", ""], "float")]);
        var body = new byte[32];
        BinaryPrimitives.WriteSingleLittleEndian(body.AsSpan(28), 7f);

        var request = V2Codec.ParseRawBinaryRequest(body, signature);

        var tensor = Assert.Single(request.Inputs);
        Assert.Equal([2L, 4], tensor.Shape);
        Assert.Equal(7f, tensor.ToArray<float>()[7]);
        Assert.True(request.WantsBinary("y"));
        Assert.Contains("30 bytes do not fill shape [-1,4]", Assert.Throws<InferenceRequestException>(() => V2Codec.ParseRawBinaryRequest(new byte[30], signature)).Message);
        Assert.Contains("Inference-Header-Content-Length: 0 marks a raw binary request", Assert.Throws<InferenceRequestException>(() => V2Codec.ParseRequest(body, 0)).Message);
    }
}
