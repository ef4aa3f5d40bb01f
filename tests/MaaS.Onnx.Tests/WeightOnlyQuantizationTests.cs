using System.Diagnostics;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit.Abstractions;

namespace MaaS.Onnx.Tests;

public class WeightOnlyQuantizationTests(ITestOutputHelper output)
{
    [Fact]
    public void AsymmetricBlock_ScaleZeroPointAndPacking_AreMlasRange2ScaleZp()
    {
        // One column, K = 16, one block: min = -2.5, max = 5 → scale = 7.5/15 = 0.5, zp = roundf(2.5/0.5) = 5;
        // q = roundf(v/0.5 + 5) clamped to 0..15, halves rounded away from zero as MLAS's roundf does.
        float[] column = [-2.5f, 0f, 5f, 0.75f, -0.25f, 1f, 2f, -1f, 0.3f, 0.6f, 0.9f, 1.2f, -0.3f, -0.6f, -0.9f, -1.2f];

        var q = WeightOnlyQuantizationPass.QuantizeColumns(column, k: 16, n: 1, blockSize: 16, symmetric: false);

        Assert.Equal(1, q.BlockCount);
        Assert.Equal(0.5f, q.Scales[0]);
        Assert.Equal(0x85, q.ZeroPoints![0]); // zp 5 in the low nibble, the unused high nibble 8 as MLAS leaves it
        // -2.5 → 0, 0 → 5, 5 → 15, 0.75 → roundf(6.5) = 7 and -0.25 → roundf(4.5) = 5 (half-to-even would give 6 and 4), ...
        int[] expected = [0, 5, 15, 7, 5, 7, 9, 3, 6, 6, 7, 7, 4, 4, 3, 3];
        Assert.Equal(8, q.Data.Length);
        for (var j = 0; j < 16; j++) Assert.Equal(expected[j], j % 2 == 0 ? q.Data[j / 2] & 0x0F : q.Data[j / 2] >> 4);
    }

    [Fact]
    public void SymmetricBlock_ScaleIsTheLargestMagnitudeOverMinus8_AndKIsPadded()
    {
        // K = 20 with blocks of 16: two blocks, the second padded with zeros. Block 0's extreme is -4 → scale 0.5.
        var column = new float[20];
        column[0] = -4f;
        column[1] = 1f;
        column[16] = 2f;

        var q = WeightOnlyQuantizationPass.QuantizeColumns(column, k: 20, n: 1, blockSize: 16, symmetric: true);

        Assert.Null(q.ZeroPoints);
        Assert.Equal(2, q.BlockCount);
        Assert.Equal([0.5f, -0.25f], q.Scales);
        Assert.Equal(16, q.Data.Length);
        Assert.Equal(0, q.Data[0] & 0x0F);   // -4/0.5 + 8 = 0
        Assert.Equal(10, q.Data[0] >> 4);    // 1/0.5 + 8 = 10
        Assert.Equal(0, q.Data[8] & 0x0F);   // 2/-0.25 + 8 = 0
        Assert.Equal(0x88, q.Data[15]);      // padding: zeros → 8
    }

    [Fact]
    public void WideMlp_BecomesMatMulNBits_WithTheDocumentedLayout()
    {
        var report = new PassReport("int4-weight-only");

        var quantized = Quantize(TestModels.WideMlp(), new WeightOnlyOptions(BlockSize: 32), report);

        var graph = quantized.Graph;
        var fc1 = graph.Node.Single(n => n.Name == "fc1_Q4");
        Assert.Equal(("MatMulNBits", "com.microsoft"), (fc1.OpType, fc1.Domain));
        Assert.Equal(["input", "W1_Q4", "W1_scales", "W1_zero_points"], fc1.Input);
        Assert.Equal(64, Nodes.IntAttribute(fc1, "K"));
        Assert.Equal(256, Nodes.IntAttribute(fc1, "N"));
        Assert.Equal(4, Nodes.IntAttribute(fc1, "bits"));
        Assert.Equal(32, Nodes.IntAttribute(fc1, "block_size"));
        Assert.Equal(4, Nodes.IntAttribute(fc1, "accuracy_level"));
        Assert.Equal([256L, 2L, 16L], Initializer(graph, "W1_Q4").Dims);
        Assert.Equal([512L], Initializer(graph, "W1_scales").Dims);
        Assert.Equal([256L], Initializer(graph, "W1_zero_points").Dims);
        Assert.DoesNotContain(graph.Initializer, i => i.Name is "W1" or "W2");
        Assert.Contains(quantized.OpsetImport, o => o.Domain == "com.microsoft");
        Assert.Equal(2, report.Rewritten);
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(64, false)]
    [InlineData(128, false)]
    [InlineData(32, true)]
    public void WideMlp_Quantized_RunsInOrt_AndAgreesWithFloat(int blockSize, bool symmetric)
    {
        var model = TestModels.WideMlp();

        var quantized = Quantize(model, new WeightOnlyOptions(blockSize, symmetric));

        var cosine = StaticQuantizationTests.MeanCosine(model, quantized, WideSamples(8, seed: 41), "output");
        output.WriteLine($"block {blockSize} symmetric {symmetric}: cosine {cosine:0.00000}");
        Assert.True(cosine > 0.99, $"cosine {cosine}");
    }

    [Fact]
    public void OrtOutput_EqualsTheDequantizedWeightsTimesTheInput()
    {
        // accuracy_level 0 keeps the activations float, so ORT computes exactly x · dequantize(W).
        var model = TestModels.WideMlp();
        var quantized = Quantize(model, new WeightOnlyOptions(BlockSize: 64, AccuracyLevel: 0));
        var w1 = model.Graph.Initializer.Single(i => i.Name == "W1");
        var q = WeightOnlyQuantizationPass.QuantizeColumns(TensorData.ReadFloats(w1), 64, 256, 64, symmetric: false);
        var sample = WideSamples(1, seed: 42)[0];
        var x = (float[])sample.Inputs[0].Values;
        quantized.Graph.Output.Add(TestModels.TensorValue("h1", TensorProto.Types.DataType.Float, TestModels.Batch, 256));

        using var session = new InferenceSession(OnnxModelFile.ToBytes(quantized));
        using var input = sample.Inputs[0].ToOrtValue();
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["input"], [input], ["h1"]);
        var h1 = results[0].GetTensorDataAsSpan<float>().ToArray();

        for (var column = 0; column < 256; column += 17)
        {
            double expected = 0;
            var zeroPoint = q.ZeroPoints![column] & 0x0F;
            for (var k = 0; k < 64; k++)
            {
                var packed = q.Data[column * 32 + k / 2];
                var value = k % 2 == 0 ? packed & 0x0F : packed >> 4;
                expected += x[k] * (double)(q.Scales[column] * (value - zeroPoint));
            }
            Assert.Equal(expected, h1[column], 1e-4);
        }
    }

    [Fact]
    public void ComputedWeightAndSubgraphs_AreSkippedWithReasons()
    {
        var report = new PassReport("int4-weight-only");

        var scores = Quantize(TestModels.SelfAttentionScores(), report: report);
        var ifModel = Quantize(TestModels.IfModel());

        Assert.Contains(report.Nodes, n => n.Node == "MatMul 'scores'" && n.Action == NodeAction.Skipped && n.Reason!.Contains("not constant"));
        Assert.DoesNotContain(scores.OpsetImport, o => o.Domain == "com.microsoft");
        Assert.Equal(TestModels.IfModel(), ifModel);
    }

    [Fact]
    public void ConstantNodeWeights_AreQuantized()
    {
        var model = TestModels.MlpWithConstantWeights();

        var quantized = Quantize(model, new WeightOnlyOptions(BlockSize: 16));

        Assert.Equal(2, quantized.Graph.Node.Count(n => n.OpType == "MatMulNBits"));
        Assert.DoesNotContain(quantized.Graph.Node, n => n.OpType == "Constant" && n.Output[0] is "W1" or "W2");
        var cosine = StaticQuantizationTests.MeanCosine(model, quantized, CalibrationTests.MlpSamples(8, seed: 43, batch: 1), "output");
        Assert.True(cosine > 0.95, $"cosine {cosine}");
    }

    [Fact]
    public void BlockSizeThatIsNotAPowerOfTwo_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => Quantize(TestModels.WideMlp(), new WeightOnlyOptions(BlockSize: 48)));
        Assert.Throws<ArgumentException>(() => Quantize(TestModels.WideMlp(), new WeightOnlyOptions(BlockSize: 8)));
    }

    [Fact]
    public void MiniLm_Int4WeightOnly_IsAFifthOfTheSize()
    {
        var watch = Stopwatch.StartNew();
        var original = OnnxModelFile.Load(RealModels.MiniLmPath);
        var report = new PassReport("int4-weight-only");

        var quantized = Quantize(original, new WeightOnlyOptions(BlockSize: 32), report);

        var ratio = (double)OnnxModelFile.SerializedSize(quantized) / OnnxModelFile.SerializedSize(original);
        var cosines = MiniLm.Cosines(original, quantized);
        output.WriteLine($"all-MiniLM-L6-v2 int4 weight-only (block 32, Gather 4-bit): size ratio {ratio:0.0000}, cosine min {cosines.Min():0.0000} " +
                         $"mean {cosines.Average():0.0000}, {report.Rewritten} rewritten, {report.Skipped} skipped, {watch.ElapsedMilliseconds} ms");
        Assert.True(ratio <= 0.20, $"size ratio {ratio}");
        Assert.All(cosines, c => Assert.True(c >= 0.95, $"cosine {c}"));
        Assert.Equal(3, report.Figures["quantizedTables"]);
    }

    private static ModelProto Quantize(ModelProto model, WeightOnlyOptions? options = null, PassReport? report = null) =>
        new WeightOnlyQuantizationPass(options).Apply(model, new CompressionContext(), report ?? new PassReport("int4-weight-only"));

    private static TensorProto Initializer(GraphProto graph, string name) => graph.Initializer.Single(i => i.Name == name);

    private static List<ModelSample> WideSamples(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => new ModelSample([SampleTensor.Floats("input", [2, 64], Enumerable.Range(0, 128).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray())]))
            .ToList();
    }
}
