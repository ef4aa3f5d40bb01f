using Google.Protobuf;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Tests;

public class GraphOptimizationTests
{
    [Fact]
    public void Basic_FusesConvAndBatchNorm_AndKeepsOutputs()
    {
        var original = TestModels.ConvNet();
        var input = Inputs.Random(3 * 8 * 8 * 2, seed: 1);
        var expected = Ort.Run(original, "image", input, [2, 3, 8, 8]);
        using var work = new TempFolder();
        var report = new PassReport("optimize");

        var optimized = new GraphOptimizationPass().Apply(original.Clone(), new CompressionContext { WorkDirectory = work.Path }, report);

        Assert.DoesNotContain(optimized.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.Equal(6, report.Figures["nodesBefore"]);
        Assert.Equal(5, report.Figures["nodesAfter"]);
        Assert.Contains(report.Notes, n => n.Contains("disappeared: BatchNormalization", StringComparison.Ordinal));
        Assert.All(optimized.Graph.Node, n => Assert.True(n.Domain is "" or "ai.onnx", $"{n.OpType} is in domain {n.Domain}"));
        // ORT writes imports for every domain it knows (ai.onnx.training...); only those nodes use are kept.
        Assert.Equal([""], optimized.OpsetImport.Select(o => o.Domain));
        var actual = Ort.Run(optimized, "image", input, [2, 3, 8, 8]);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4, $"logit {i}: {expected[i]} vs {actual[i]}");
        Assert.Empty(Directory.GetFiles(work.Path));
    }

    [Fact]
    public void Basic_KeepsMlpOutputs()
    {
        var original = TestModels.Mlp();
        var input = Inputs.Random(4 * 5, seed: 2);
        var expected = Ort.Run(original, "input", input, [5, 4]);

        var optimized = new GraphOptimizationPass().Apply(original.Clone(), new CompressionContext(), new PassReport("optimize"));

        var actual = Ort.Run(optimized, "input", input, [5, 4]);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5f);
    }

    [Fact]
    public void Extended_EmitsContribOps_AndSaysItIsOrtOnly()
    {
        var original = TestModels.Mlp();
        var input = Inputs.Random(4 * 5, seed: 3);
        var expected = Ort.Run(original, "input", input, [5, 4]);
        var report = new PassReport("optimize");

        var optimized = new GraphOptimizationPass(OptimizationLevel.Extended).Apply(original.Clone(), new CompressionContext(), report);

        Assert.Contains(optimized.Graph.Node, n => n.Domain == "com.microsoft");
        Assert.Contains(GraphOptimizationPass.ExtendedNote, report.Notes);
        Assert.Equal("Extended", report.Options["level"]);
        var actual = Ort.Run(optimized, "input", input, [5, 4]);
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5f);
    }
}

file static class Inputs
{
    public static float[] Random(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }
}

file static class Ort
{
    public static float[] Run(ModelProto model, string inputName, float[] values, long[] shape)
    {
        using var session = new InferenceSession(model.ToByteArray());
        using var input = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [input], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
