using Google.Protobuf;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Tests;

/// <summary>
/// Every pass on models whose weights are not float32 (double, float16): it rewrites what it can and says why it
/// leaves the rest, and the model it returns still runs in ONNX Runtime. A broken model is never the answer.
/// </summary>
public class PassElementTypeTests
{
    public static TheoryData<string, string> PassesAndTypes()
    {
        var data = new TheoryData<string, string>();
        foreach (var pass in new[] { "int8-dynamic", "int8-static", "int4-weight-only", "prune", "fp16", "optimize" })
        {
            foreach (var type in new[] { "double", "float16" }) data.Add(pass, type);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(PassesAndTypes))]
    public void NonFloat32Model_IsRewrittenOrSkippedWithReasons_AndStillRuns(string passName, string elementType)
    {
        var model = elementType == "double" ? AsDouble(WideMlp()) : AsHalf(WideMlp());
        using var work = new TempFolder();
        var report = new PassReport(passName);
        ModelProto result;
        try
        {
            result = Pass(passName).Apply(model.Clone(), new CompressionContext { WorkDirectory = work.Path }, report);
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or InvalidDataException)
        {
            // Refusing the whole model is allowed, if it says why in words that name the type.
            Assert.Contains(elementType is "double" ? "double" : "float16", ex.Message, StringComparison.OrdinalIgnoreCase);
            return;
        }

        Assert.All(report.Nodes.Where(n => n.Action == NodeAction.Skipped), n => Assert.False(string.IsNullOrWhiteSpace(n.Reason)));
        using var session = new InferenceSession(result.ToByteArray());
        Assert.Equal(["output"], session.OutputNames);
        using var input = elementType == "double"
            ? OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 64).Select(i => i / 64.0).ToArray(), [1, 64])
            : OrtValue.CreateTensorValueFromMemory(Enumerable.Range(0, 64).Select(i => (Float16)(i / 64f)).ToArray(), [1, 64]);
        // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [input], ["output"]);
        Assert.Equal([1L, 16L], outputs[0].GetTensorTypeAndShape().Shape);
    }

    private static ModelProto WideMlp() => TestModels.WideMlp();

    private static ICompressionPass Pass(string name) => name switch
    {
        "int8-dynamic" => new DynamicQuantizationPass(),
        "int8-static" => new StaticQuantizationPass(),
        "int4-weight-only" => new WeightOnlyQuantizationPass(),
        "prune" => new MagnitudePruningPass(new PruningOptions(SkipFirstAndLast: false)),
        "fp16" => new Float16ConversionPass(),
        _ => new GraphOptimizationPass(),
    };

    /// <summary>The same graph computing in double: weights, inputs and outputs.</summary>
    private static ModelProto AsDouble(ModelProto model)
    {
        foreach (var tensor in model.Graph.Initializer)
        {
            var values = TensorData.ReadFloats(tensor);
            tensor.DataType = (int)TensorProto.Types.DataType.Double;
            tensor.RawData = ByteString.CopyFrom(values.SelectMany(v => BitConverter.GetBytes((double)v)).ToArray());
            tensor.FloatData.Clear();
        }
        foreach (var value in model.Graph.Input.Concat(model.Graph.Output)) value.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Double;
        return model;
    }

    /// <summary>The same graph computing in float16 throughout, as a model exported in half precision is.</summary>
    private static ModelProto AsHalf(ModelProto model)
    {
        foreach (var tensor in model.Graph.Initializer)
        {
            var values = TensorData.ReadFloats(tensor);
            tensor.DataType = (int)TensorProto.Types.DataType.Float16;
            tensor.RawData = ByteString.CopyFrom(values.SelectMany(v => BitConverter.GetBytes((Half)v)).ToArray());
            tensor.FloatData.Clear();
        }
        foreach (var value in model.Graph.Input.Concat(model.Graph.Output)) value.Type.TensorType.ElemType = (int)TensorProto.Types.DataType.Float16;
        return model;
    }
}
