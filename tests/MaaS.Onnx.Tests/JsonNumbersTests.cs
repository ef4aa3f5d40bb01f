using System.Globalization;
using System.Text;
using MaaS.Onnx.Inference;

namespace MaaS.Onnx.Tests;

/// <summary>
/// The codec's fast number parser against .NET's own correctly rounded parsers: whenever the fast path answers, its
/// answer must be the exact one, on the texts clients really send (shortest round-trip floats, doubles printed from
/// floats as Python does, long decimals) and on the hard ones (exact float midpoints and their neighbours, subnormals,
/// overflow). The fast path must also take the common texts, or it would be slow for nothing.
/// </summary>
public sealed class JsonNumbersTests
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    private static (int Fast, int Total) CheckSingles(IEnumerable<string> texts)
    {
        int fast = 0, total = 0;
        foreach (var text in texts)
        {
            total++;
            var expected = float.Parse(text, NumberStyles.Float, Invariant);
            if (!JsonNumbers.TryParseSingle(Encoding.ASCII.GetBytes(text), out var value)) continue;
            fast++;
            Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(value),
                $"'{text}' parsed as {value:R} (0x{BitConverter.SingleToInt32Bits(value):X8}), the nearest float is {expected:R} (0x{BitConverter.SingleToInt32Bits(expected):X8}).");
        }
        return (fast, total);
    }

    private static IEnumerable<float> RandomFloats(int seed, int count)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            // Every finite bit pattern alike: all magnitudes, subnormals included.
            var f = BitConverter.Int32BitsToSingle(random.Next() | (random.Next(2) << 31));
            if (float.IsFinite(f)) yield return f;
        }
    }

    [Fact]
    public void ShortestRoundTripFloats_AreExact_AndTakeTheFastPath()
    {
        var (fast, total) = CheckSingles(RandomFloats(1, 100_000).Select(f => f.ToString("R", Invariant)));
        Assert.True(fast > total * 0.9, $"The fast path took only {fast} of {total} shortest float texts.");
    }

    [Fact]
    public void FloatsPrintedAsDoubles_AsPythonSendsThem_AreExact_AndMostlyFast()
    {
        // json.dumps(numpy_array.tolist()) prints each float32 as the shortest text of its double: up to 17 digits.
        var (fast, total) = CheckSingles(RandomFloats(2, 100_000).Select(f => ((double)f).ToString("R", Invariant)));
        Assert.True(fast > total * 0.9, $"The fast path took only {fast} of {total} double texts.");
    }

    [Fact]
    public void TypicalActivationsAndPixels_AreExact()
    {
        var random = new Random(3);
        var texts = Enumerable.Range(0, 50_000).SelectMany(_ =>
        {
            var x = random.NextDouble() * 4 - 2;
            return new[]
            {
                x.ToString("R", Invariant), x.ToString("F3", Invariant), x.ToString("E6", Invariant), ((float)x).ToString("G9", Invariant),
                random.Next(256).ToString(Invariant), (random.Next(256) / 255.0).ToString("R", Invariant),
            };
        });
        CheckSingles(texts);
    }

    [Fact]
    public void ExactMidpointsBetweenFloats_AndTheirNeighbours_RoundLikeDotNet()
    {
        var texts = new List<string>();
        foreach (var a in RandomFloats(4, 20_000).Where(f => f > 0 && float.IsNormal(f) && f < float.MaxValue))
        {
            var b = MathF.BitIncrement(a);
            // The midpoint has 25 significant bits, so it is a double exactly; "R" prints it so it parses back exactly.
            var middle = ((double)a + b) / 2;
            texts.Add(middle.ToString("R", Invariant));
            texts.Add(Math.BitIncrement(middle).ToString("R", Invariant));
            texts.Add(Math.BitDecrement(middle).ToString("R", Invariant));
            texts.Add(middle.ToString("E20", Invariant));
            texts.Add(middle.ToString("E12", Invariant));
        }
        CheckSingles(texts);
    }

    [Fact]
    public void RandomDecimals_ManyDigitsAndExponents_AreExact()
    {
        var random = new Random(5);
        var texts = Enumerable.Range(0, 100_000).Select(_ =>
        {
            var digits = new StringBuilder();
            var length = random.Next(1, 26);
            for (var i = 0; i < length; i++) digits.Append((char)('0' + random.Next(10)));
            var point = random.Next(length + 1);
            var text = (random.Next(2) == 0 ? "-" : "") + (point == 0 ? "0" : digits.ToString(0, point)) + (point < length ? "." + digits.ToString(point, length - point) : "");
            return random.Next(3) == 0 ? text : $"{text}e{random.Next(-60, 45)}";
        });
        CheckSingles(texts);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-0")]
    [InlineData("0.0e-500")]
    [InlineData("1")]
    [InlineData("-1.5")]
    [InlineData("3.4028235e38")]
    [InlineData("3.4028236e38")]
    [InlineData("1e39")]
    [InlineData("1.17549435e-38")]
    [InlineData("1e-45")]
    [InlineData("7e-46")]
    [InlineData("16777217")]
    [InlineData("0.000000000000000000000000000000000000000000000001")]
    [InlineData("123456789012345678901234567890")]
    [InlineData("9007199254740993e-5")]
    [InlineData("1E+2")]
    [InlineData("18446744073709551616")]
    [InlineData("-18446744073709551616e-19")]
    [InlineData("36893488147419103232")]
    [InlineData("0.0000000000000000000012345678")]
    [InlineData("100000000000000000000000000001e-30")]
    public void EdgeTexts_AreExactOrLeftToTheExactParser(string text)
    {
        var expected = float.Parse(text, NumberStyles.Float, Invariant);
        if (JsonNumbers.TryParseSingle(Encoding.ASCII.GetBytes(text), out var value))
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(value));
    }

    [Fact]
    public void Doubles_AreExactWhenTheFastPathAnswers()
    {
        var random = new Random(6);
        int fast = 0, total = 0;
        foreach (var text in Enumerable.Range(0, 100_000).Select(i => i % 2 == 0
                     ? (random.NextDouble() * 1000 - 500).ToString("F6", Invariant)
                     : BitConverter.Int64BitsToDouble(random.NextInt64()).ToString("R", Invariant)))
        {
            if (text.Contains("NaN") || text.Contains('∞') || text.Contains("Infinity")) continue;
            total++;
            var expected = double.Parse(text, NumberStyles.Float, Invariant);
            if (!JsonNumbers.TryParseDouble(Encoding.ASCII.GetBytes(text), out var value)) continue;
            fast++;
            Assert.True(BitConverter.DoubleToInt64Bits(expected) == BitConverter.DoubleToInt64Bits(value), $"'{text}' parsed as {value:R}, not {expected:R}.");
        }
        Assert.True(fast > total * 0.4, $"The fast path took only {fast} of {total} texts (the fixed-point half should all be fast).");
    }

    [Theory]
    [InlineData("-0")]
    [InlineData("9007199254740993")]
    [InlineData("1e23")]
    [InlineData("4.9e-324")]
    [InlineData("1.7976931348623157e308")]
    [InlineData("123456789012345678e-3")]
    public void DoubleEdges_AreExactOrLeftToTheExactParser(string text)
    {
        var expected = double.Parse(text, NumberStyles.Float, Invariant);
        if (JsonNumbers.TryParseDouble(Encoding.ASCII.GetBytes(text), out var value))
            Assert.Equal(BitConverter.DoubleToInt64Bits(expected), BitConverter.DoubleToInt64Bits(value));
    }

    [Theory]
    [InlineData("1e1000000")]
    [InlineData("35e1000001")]
    public void AnExponentTooLongToKeep_IsLeftToTheExactParser_EvenWithAsManyZerosBeforeIt(string tail)
    {
        // 0.000…0 with 99,999 zeros then 1e1000000 is 10^900000: were the exponent cut to six digits, the zeros would
        // bring it back to 1.
        var text = "0." + new string('0', 99_999) + tail;
        Assert.False(JsonNumbers.TryParseSingle(Encoding.ASCII.GetBytes(text), out _));
        Assert.False(JsonNumbers.TryParseDouble(Encoding.ASCII.GetBytes(text), out _));
        foreach (var datatype in new[] { "FP32", "FP64" })
        {
            var json = $$"""{"inputs":[{"name":"x","shape":[1],"datatype":"{{datatype}}","data":[{{text}}]}]}""";
            var error = Assert.Throws<InferenceRequestException>(() => V2Codec.ParseRequest(Encoding.UTF8.GetBytes(json))).Message;
            Assert.Contains($"is not a valid {datatype} (a finite number)", error);
        }
    }

    [Fact]
    public void ImageRequest_ParsesToTheSameBytes_AsTheValuesSent()
    {
        // The whole codec on an image-sized JSON body: the tensor must hold exactly the floats that were encoded.
        var values = RandomFloats(7, 200_000).Where(f => MathF.Abs(f) < 1e6f).Take(3 * 224 * 224).ToArray();
        var shape = new long[] { values.Length };
        var body = V2Codec.EncodeRequest(InferenceRequest.Of(InferenceTensor.FromValues<float>("x", shape, values)));
        var parsed = V2Codec.ParseRequest(body.Body).Inputs.Single().ToArray<float>();
        Assert.Equal(values.Select(BitConverter.SingleToInt32Bits), parsed.Select(BitConverter.SingleToInt32Bits));
    }
}

/// <summary>
/// FP32 data is scanned without the JSON reader (V2Codec.Data.cs) and the reader restarts after it: the result must be
/// the same as the reader's for every spelling JSON allows, the rest of the request must still be read, and every
/// malformed array must still be refused with the reader's words.
/// </summary>
public sealed class FlatSingleScanTests
{
    private static InferenceRequest Parse(string json) => V2Codec.ParseRequest(Encoding.UTF8.GetBytes(json));

    [Theory]
    [InlineData("[1,2,3]")]
    [InlineData("[ 1 , -2.5e0 ,\n\t3E+1\r\n]")]
    [InlineData("[0.1,-0,1e-3]")]
    [InlineData("[1.17549435e-38,7e-46,3.4028235e38]")]
    public void FlatFp32_IsReadAsTheReaderWouldRead(string data)
    {
        var json = $$$"""{"id":"a","inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":{{{data}}},"parameters":{"p":1}},{"name":"y","datatype":"FP32","data":[[4],[5]],"shape":[2,1]}],"outputs":[{"name":"z"}]}""";
        var request = Parse(json);

        var expected = System.Text.Json.JsonSerializer.Deserialize<float[]>(data)!;
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), request.Inputs[0].ToArray<float>().Select(BitConverter.SingleToInt32Bits));
        // What follows the scanned array is read by the restarted reader: the second input (data before its shape), the outputs, the id.
        Assert.Equal([4f, 5f], request.Inputs[1].ToArray<float>());
        Assert.Equal("z", Assert.Single(request.Outputs!).Name);
        Assert.Equal("a", request.Id);
    }

    [Theory]
    [InlineData("\"datatype\":\"INT64\"", "\"datatype\" twice")]
    [InlineData("\"shape\":\"junk\"", "\"shape\" twice")]
    [InlineData("\"name\":\"y\"", "\"name\" twice")]
    [InlineData("\"data\":[4]", "\"data\" twice")]
    public void AKeyTwiceInATensor_IsRefused_EvenAfterItsDataWasRead(string second, string expected)
    {
        var json = $$"""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],{{second}}}]}""";
        Assert.Contains($"Input 1 has {expected}.", Assert.Throws<InferenceRequestException>(() => Parse(json)).Message);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("{}")]
    [InlineData("\"1\"")]
    public void Fp32DataThatIsNotAnArray_IsRefused(string data)
    {
        var json = $$"""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":{{data}}}]}""";
        Assert.Contains("\"data\" should be an array of values", Assert.Throws<InferenceRequestException>(() => Parse(json)).Message);
    }

    [Fact]
    public void ASyntaxErrorAfterAScannedArray_IsRefused_WithoutAPositionThatWouldPointTooEarly()
    {
        var json = """{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2,3]}],"outputs": x}""";
        var error = Assert.Throws<InferenceRequestException>(() => Parse(json)).Message;
        Assert.StartsWith("The request is not valid JSON: ", error);
        Assert.DoesNotContain("(line", error);
    }

    [Fact]
    public void AResponse_WithAScannedOutput_ReadsTheFieldsAfterIt()
    {
        var json = """{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"FP32","data":[0.5,-1.25]},{"name":"z","shape":[1],"datatype":"INT64","data":[7]}],"model_version":"3","id":"r"}""";
        var response = V2Codec.ParseResponse(Encoding.UTF8.GetBytes(json));

        Assert.Equal([0.5f, -1.25f], response.Outputs[0].ToArray<float>());
        Assert.Equal([7L], response.Outputs[1].ToArray<long>());
        Assert.Equal("3", response.ModelVersion);
        Assert.Equal("r", response.Id);
    }

    [Fact]
    public void DataBeforeTheShape_AfterAScannedTensor_IsStillRead()
    {
        var json = """{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]},{"data":[3,4,5],"name":"y","shape":[3],"datatype":"FP32"},{"name":"z","shape":[1],"datatype":"FP32","data":[6]}]}""";
        var request = Parse(json);

        Assert.Equal([3f, 4f, 5f], request.Inputs[1].ToArray<float>());
        Assert.Equal([6f], request.Inputs[2].ToArray<float>());
    }

    [Theory]
    [InlineData("[1,2,]", "not valid JSON")]
    [InlineData("[1 2 3]", "not valid JSON")]
    [InlineData("[01,2,3]", "not valid JSON")]
    [InlineData("[1.,2,3]", "not valid JSON")]
    [InlineData("[.5,2,3]", "not valid JSON")]
    [InlineData("[+1,2,3]", "not valid JSON")]
    [InlineData("[1e,2,3]", "not valid JSON")]
    [InlineData("[1,2,3", "not valid JSON")]
    [InlineData("[1,/*c*/2,3]", "not valid JSON")]
    [InlineData("[1,NaN,3]", "not valid JSON")]
    [InlineData("[1,\"NaN\",3]", "value 2 (\"NaN\") is not a valid FP32")]
    [InlineData("[1,1e39,3]", "value 2 (1e39) is not a valid FP32")]
    [InlineData("[1,true,3]", "value 2 (true) is not a valid FP32")]
    [InlineData("[1,2]", "needs 3 values, got 2")]
    [InlineData("[1,2,3,4]", "needs 3 values, got 4")]
    [InlineData("[[1,2,3]]", "nested deeper than shape [3]")]
    public void MalformedFlatFp32_IsRefusedWithTheReadersWords(string data, string expected)
    {
        var json = $$"""{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":{{data}}}]}""";
        var error = Assert.Throws<InferenceRequestException>(() => Parse(json)).Message;
        Assert.Contains(expected, error);
    }
}
