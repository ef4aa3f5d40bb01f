using System.Text;
using MaaS.Onnx.Samples;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Tests;

public sealed class JsonTensorSamplesTests
{
    private static ParsedTensorSamples Parse(string json, JsonTensorLimits? limits = null, int keep = int.MaxValue) =>
        JsonTensorSamples.Parse(Encoding.UTF8.GetBytes(json), limits, keep);

    private static string Error(string json, JsonTensorLimits? limits = null) =>
        Assert.Throws<SampleFormatException>(() => Parse(json, limits)).Message;

    [Fact]
    public void OneV2Request_IsOneSample()
    {
        var parsed = Parse("""{"id":"a","inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2.5,-3,4e-1]}],"outputs":[{"name":"y"}]}""");

        var tensor = Assert.Single(Assert.Single(parsed.Samples).Inputs);
        Assert.Equal(1, parsed.Count);
        Assert.Equal(("x", TensorElementType.Float), (tensor.Name, tensor.ElementType));
        Assert.Equal([1L, 4], tensor.Shape);
        Assert.Equal([1f, 2.5f, -3f, 0.4f], (float[])tensor.Values);
    }

    [Fact]
    public void ArrayOfRequests_AndSamplesObject_AreLists()
    {
        const string one = """{"inputs":[{"name":"ids","shape":[2],"datatype":"INT64","data":[7,9007199254740993]}]}""";

        var array = Parse($"[{one},{one},{one}]");
        var wrapped = Parse($$"""{"samples":[{{one}},{{one}}]}""");

        Assert.Equal(3, array.Count);
        Assert.Equal(2, wrapped.Count);
        Assert.Equal([7L, 9007199254740993L], (long[])array.Samples[2].Inputs[0].Values);
    }

    [Fact]
    public void NestedData_IsReadRowMajor_AndKeysMayComeInAnyOrder()
    {
        var parsed = Parse("""{"inputs":[{"data":[[1,2,3],[4,5,6]],"datatype":"INT32","shape":[2,3],"name":"m"}]}""");

        Assert.Equal([1, 2, 3, 4, 5, 6], (int[])parsed.Samples[0].Inputs[0].Values);
    }

    [Fact]
    public void EveryDatatype_GetsItsElementType()
    {
        var json = """
            {"inputs":[
              {"name":"a","shape":[2],"datatype":"FP64","data":[0.5,1e300]},
              {"name":"b","shape":[2],"datatype":"BOOL","data":[true,false]},
              {"name":"c","shape":[2],"datatype":"UINT8","data":[0,255]},
              {"name":"d","shape":[2],"datatype":"INT8","data":[-128,127]},
              {"name":"e","shape":[1],"datatype":"FP16","data":[1.5]},
              {"name":"f","shape":[0],"datatype":"INT16","data":[]}
            ]}
            """;

        var inputs = Parse(json).Samples[0].Inputs;

        Assert.Equal([0.5, 1e300], (double[])inputs[0].Values);
        Assert.Equal([true, false], (bool[])inputs[1].Values);
        Assert.Equal([(byte)0, (byte)255], (byte[])inputs[2].Values);
        Assert.Equal([(sbyte)-128, (sbyte)127], (sbyte[])inputs[3].Values);
        Assert.Equal(1.5f, (float)((Float16[])inputs[4].Values)[0]);
        Assert.Empty((short[])inputs[5].Values);
        Assert.Equal(TensorElementType.Bool, inputs[1].ElementType);
    }

    [Fact]
    public void WrongValueCount_IsRefused_NamingTheSampleAndInput()
    {
        const string good = """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""";
        const string bad = """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4,5]}]}""";

        var message = Error($"[{good},{bad}]");

        Assert.Equal("Sample 2, input 'x': the shape needs 4 values but \"data\" has 5.", message);
    }

    [Theory]
    [InlineData("""{"name":"x","shape":[2],"datatype":"UINT8","data":[1,300]}""", "value 2 (300) is not a valid UINT8")]
    [InlineData("""{"name":"x","shape":[2],"datatype":"INT64","data":[1,1.5]}""", "value 2 (1.5) is not a valid INT64")]
    [InlineData("""{"name":"x","shape":[1],"datatype":"FP32","data":["1"]}""", "is not a valid FP32")]
    [InlineData("""{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}""", "is not a valid FP32")]
    [InlineData("""{"name":"x","shape":[1],"datatype":"BYTES","data":["a"]}""", "datatype BYTES is not supported")]
    [InlineData("""{"name":"x","shape":[1],"data":[1]}""", "has no \"datatype\"")]
    [InlineData("""{"name":"x","datatype":"FP32","data":[1]}""", "has no \"shape\"")]
    [InlineData("""{"shape":[1],"datatype":"FP32","data":[1]}""", "input 1 has no \"name\"")]
    [InlineData("""{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}""", "whole numbers from 0")]
    public void BadTensors_AreRefused_WithTheReason(string tensor, string reason)
    {
        var message = Error($$"""{"inputs":[{{tensor}}]}""");

        Assert.StartsWith("Sample 1", message);
        Assert.Contains(reason, message);
    }

    [Fact]
    public void HugeDeclaredShape_IsRefused_BeforeAllocating()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();

        var message = Error("""{"inputs":[{"name":"x","shape":[100000,100000,100000,100000],"datatype":"FP32","data":[1]}]}""");

        Assert.Contains("the limit per tensor", message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void ShortDataUnderALargeShape_TakesMemoryForItsValuesOnly()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();

        var message = Error("""{"inputs":[{"name":"x","shape":[16000000],"datatype":"FP64","data":[1,2,3]}]}""");

        Assert.Contains("needs 16,000,000 values but \"data\" has 3", message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4 << 20);
    }

    [Fact]
    public void DeepNesting_IsRefused_AsInvalidJson()
    {
        var json = """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":""" + new string('[', 100_000) + "1" + new string(']', 100_000) + "}]}";

        Assert.Contains("not valid JSON", Error(json));
    }

    [Fact]
    public void TooManySamples_AreRefused_WithTheLimit()
    {
        const string one = """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}""";

        var message = Error("[" + string.Join(',', Enumerable.Repeat(one, 6)) + "]", new JsonTensorLimits(MaxSamples: 5));

        Assert.Contains("more than 5 samples", message);
    }

    [Fact]
    public void DuplicateInputNames_AreRefused()
    {
        Assert.Contains("input 'x' twice", Error("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[2]}]}"""));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("42", "JSON object")]
    [InlineData("""{"model":"x"}""", "neither")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]} 7""", "not valid JSON")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}""", "not valid JSON")]
    [InlineData("[]", "no samples")]
    public void FilesThatHoldNoSamples_AreRefused(string json, string reason)
    {
        Assert.Contains(reason, Error(json));
    }

    [Fact]
    public void Keep_LimitsTheSamplesReturned_ButEveryOneIsChecked()
    {
        const string one = """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}""";
        const string bad = """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1,2]}]}""";

        var parsed = Parse($"[{one},{one},{one}]", keep: 1);
        Assert.Equal((3, 1), (parsed.Count, parsed.Samples.Count));
        Assert.Contains("Sample 3", Assert.Throws<SampleFormatException>(() => Parse($"[{one},{one},{bad}]", keep: 1)).Message);
    }
}
