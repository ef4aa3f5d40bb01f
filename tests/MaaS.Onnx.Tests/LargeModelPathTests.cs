using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Tests;

/// <summary>
/// Models over 2 GB cannot be one protobuf message: they are written with external data and opened by path. These
/// tests lower the limit so a small model takes that path through every pass, the evaluator and save/load.
/// </summary>
public class LargeModelPathTests
{
    [Theory]
    [InlineData("optimize")]
    [InlineData("fp16")]
    [InlineData("int8-dynamic")]
    [InlineData("int8-static")]
    [InlineData("int4-weight-only")]
    [InlineData("prune")]
    public void EveryPass_WorksOnAModelThatMustBeWrittenWithExternalData(string passName)
    {
        using var work = new TempFolder();
        var original = TestModels.WideMlp();
        var originalPath = Path.Combine(work.Path, "original.onnx");
        OnnxModelFile.Save(original, originalPath);
        OnnxModelFile.InlineLimitOverride.Value = 1;
        try
        {
            var report = new PassReport(passName);
            var candidate = Pass(passName).Apply(OnnxModelFile.Load(originalPath), new CompressionContext { WorkDirectory = work.Path }, report);
            var candidatePath = Path.Combine(work.Path, "candidate", "model.onnx");
            Directory.CreateDirectory(Path.GetDirectoryName(candidatePath)!);

            var written = OnnxModelFile.Save(candidate, candidatePath);

            Assert.True(report.Rewritten > 0 || passName == "optimize", string.Join("; ", report.Nodes.Select(n => $"{n.Node}: {n.Reason}")));
            Assert.Equal([candidatePath, candidatePath + ".data"], written);
            Assert.Contains(OnnxModelFile.Load(candidatePath).Graph.Initializer, t => t.RawData.Length >= OnnxModelFile.ExternalTensorMinBytes);
            Assert.Contains(candidate.Graph.Initializer, t => t.RawData.Length > 0); // writing left the model in memory whole
            var result = Evaluator.Evaluate(originalPath, candidatePath, null, new EvaluationOptions(WarmupRuns: 1, TimedRuns: 2));
            Assert.True(result.MinMeanCosine > 0.95, $"cosine {result.MinMeanCosine}");
        }
        finally
        {
            OnnxModelFile.InlineLimitOverride.Value = null;
        }
    }

    [Fact]
    public void CreateSession_OpensALargeModelByPath_AndLeavesNoFiles()
    {
        var before = Directory.GetDirectories(Path.GetTempPath(), "maas-session-*").Length;
        OnnxModelFile.InlineLimitOverride.Value = 1;
        try
        {
            using var options = new SessionOptions();
            using var session = OnnxModelFile.CreateSession(TestModels.WideMlp(), options);
            Assert.Equal(["input"], session.InputNames);
        }
        finally
        {
            OnnxModelFile.InlineLimitOverride.Value = null;
        }
        Assert.Equal(before, Directory.GetDirectories(Path.GetTempPath(), "maas-session-*").Length);
    }

    private static ICompressionPass Pass(string name) => name switch
    {
        "int8-dynamic" => new DynamicQuantizationPass(),
        "int8-static" => new StaticQuantizationPass(),
        "int4-weight-only" => new WeightOnlyQuantizationPass(new WeightOnlyOptions(BlockSize: 32)),
        "prune" => new MagnitudePruningPass(new PruningOptions(Sparsity: 0.3, SkipFirstAndLast: false)),
        "fp16" => new Float16ConversionPass(),
        _ => new GraphOptimizationPass(),
    };
}
