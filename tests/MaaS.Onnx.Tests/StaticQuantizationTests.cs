using System.Diagnostics;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit.Abstractions;

namespace MaaS.Onnx.Tests;

public class StaticQuantizationTests(ITestOutputHelper output)
{
    [Fact]
    public void ActivationScaleAndZeroPoint_FollowTheCalibratedRange()
    {
        // Inputs spanning exactly [-1, 3]: int8 asymmetric gives scale 4/255 and zp round(-128 + 1/(4/255)) = round(-64.25) = -64.
        var sample = new ModelSample([SampleTensor.Floats("input", [2, 4], [-1f, 0f, 1f, 3f, 0.5f, 2f, -0.5f, 1.5f])]);

        var quantized = Quantize(TestModels.Mlp(), [sample]);

        var graph = quantized.Graph;
        var q = graph.Node.Single(n => n.OpType == "QuantizeLinear" && n.Input[0] == "input");
        Assert.Equal(4f / 255f, TensorData.ReadFloats(Initializer(graph, q.Input[1]))[0]);
        Assert.Equal(-64, (sbyte)Initializer(graph, q.Input[2]).RawData[0]);
        Assert.Equal(OnnxElementTypesInt8, Initializer(graph, q.Input[2]).DataType);
    }

    [Fact]
    public void Mlp_MatMulWeights_AreInt8PerColumn_AndTheModelAgreesWithFloat()
    {
        var model = TestModels.Mlp();
        var report = new PassReport("int8-static");

        // 7-bit weights: on AVX2 without VNNI, ORT's u8×s8 kernels add pairs of products into int16 and saturate with
        // full-range weights (a 0.1 error on this model's outputs); reduce_range avoids it.
        var quantized = Quantize(model, CalibrationTests.MlpSamples(16, seed: 2, batch: 16), report, new StaticQuantizationOptions(ReduceRange: true));

        var graph = quantized.Graph;
        var weightDq = graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0] == "W1_quantized");
        Assert.Equal(1, Nodes.IntAttribute(weightDq, "axis"));
        Assert.Equal([8L], Initializer(graph, "W1_scale").Dims);
        Assert.All(TensorData.ReadFloats(Initializer(graph, "W1_scale")), s => Assert.True(s > 0));
        Assert.InRange(((sbyte[])[.. Initializer(graph, "W1_quantized").RawData.Select(b => (sbyte)b)]).Max(v => Math.Abs((int)v)), 60, 64);
        Assert.DoesNotContain(graph.Initializer, i => i.Name == "W1");
        Assert.Contains(report.Nodes, n => n.Node == "MatMul 'fc1'" && n.Action == NodeAction.Rewritten);
        Assert.Contains(report.Nodes, n => n.Node == "Add 'fc1_bias'" && n.Action == NodeAction.Skipped && n.Reason!.Contains("constant"));
        // Outputs are of order 1 but some rows are near zero, where cosine says little: compare absolute errors.
        foreach (var sample in CalibrationTests.MlpSamples(8, seed: 3))
        {
            var expected = Run(model, sample, "output");
            var actual = Run(quantized, sample, "output");
            Assert.All(expected.Zip(actual), pair => Assert.InRange(pair.Second - pair.First, -0.03f, 0.03f));
        }
    }

    [Fact]
    public void ConvNet_Quantized_RunsInOrt_AndAgreesWithFloat()
    {
        var model = TestModels.ConvNet();
        var report = new PassReport("int8-static");

        var quantized = Quantize(model, ImageSamples("image", 3, 8, 8, 16, seed: 4), report);

        var graph = quantized.Graph;
        Assert.DoesNotContain(graph.Node, n => n.OpType is "BatchNormalization" or "Relu");
        var convWeight = graph.Node.Single(n => n.OpType == "DequantizeLinear" && graph.Node.Any(c => c.OpType == "Conv" && c.Input[1] == n.Output[0]));
        Assert.Equal(0, Nodes.IntAttribute(convWeight, "axis"));
        var gemmWeight = graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0] == "fc.W_quantized");
        Assert.Equal(0, Nodes.IntAttribute(gemmWeight, "axis"));
        Assert.Equal("logits", quantized.Graph.Output.Single().Name);
        Assert.Equal(0, report.Skipped);
        Assert.True(MeanCosine(model, quantized, ImageSamples("image", 3, 8, 8, 8, seed: 5), "logits") > 0.99);
    }

    [Fact]
    public void GemmBias_IsInt32_RoundedOverInputScaleTimesWeightScale()
    {
        var quantized = Quantize(TestModels.ConvNet(), ImageSamples("image", 3, 8, 8, 8, seed: 6));

        var graph = quantized.Graph;
        var gemm = graph.Node.Single(n => n.OpType == "Gemm");
        var inputDq = graph.Node.Single(n => n.Output[0] == gemm.Input[0]);
        var inputScale = TensorData.ReadFloats(Initializer(graph, inputDq.Input[1]))[0];
        var weightScales = TensorData.ReadFloats(Initializer(graph, "fc.W_scale"));
        var biasDq = graph.Node.Single(n => n.Output[0] == gemm.Input[2]);
        var bias = Initializer(graph, biasDq.Input[0]);
        Assert.Equal(6, bias.DataType); // int32
        var values = TensorData.ReadInt64s(bias);
        float[] original = [0.01f, -0.01f];
        for (var c = 0; c < 2; c++)
        {
            var scale = inputScale * weightScales[c];
            Assert.Equal(Math.Round(original[c] / (double)scale, MidpointRounding.ToEven), values[c]);
            Assert.Equal(scale, TensorData.ReadFloats(Initializer(graph, biasDq.Input[1]))[c]);
        }
        Assert.Equal(0, Nodes.IntAttribute(biasDq, "axis"));
    }

    [Theory]
    [InlineData(CalibrationMethod.Percentile)]
    [InlineData(CalibrationMethod.Entropy)]
    public void ConvNet_WithHistogramCalibration_AgreesWithFloat(CalibrationMethod method)
    {
        var model = TestModels.ConvNet();

        var quantized = Quantize(model, ImageSamples("image", 3, 8, 8, 16, seed: 7), options: new StaticQuantizationOptions(method));

        Assert.True(MeanCosine(model, quantized, ImageSamples("image", 3, 8, 8, 8, seed: 8), "logits") > 0.98);
    }

    [Fact]
    public void PerTensorOption_WritesScalarWeightScales()
    {
        var quantized = Quantize(TestModels.ConvNet(), ImageSamples("image", 3, 8, 8, 4, seed: 9), options: new StaticQuantizationOptions(PerChannel: false));

        var gemmWeight = quantized.Graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Input[0] == "fc.W_quantized");
        Assert.Null(Nodes.IntAttribute(gemmWeight, "axis"));
        Assert.Empty(Initializer(quantized.Graph, "fc.W_scale").Dims);
    }

    [Fact]
    public void Opset8ConvNet_IsUpgradedAndQuantized()
    {
        var model = TestModels.ConvNet(irVersion: 3, opset: 8);
        var bn = model.Graph.Node.Single(n => n.OpType == "BatchNormalization");
        bn.WithInt("spatial", 1);
        var report = new PassReport("int8-static");

        var quantized = Quantize(model, ImageSamples("image", 3, 8, 8, 8, seed: 10), report);

        Assert.Equal(13, Opsets.Version(quantized));
        Assert.True(quantized.IrVersion >= 7);
        Assert.Contains(report.Notes, n => n.Contains("from 8 to 13"));
        Assert.True(MeanCosine(model, quantized, ImageSamples("image", 3, 8, 8, 4, seed: 11), "logits") > 0.99);
    }

    [Fact]
    public void OpsetUpgrade_MovesAxesAttributesToInputs_AndKeepsTheResults()
    {
        var graph = new GraphProto { Name = "axes" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 2, 3));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 2));
        graph.Node.Add(TestModels.Node("Unsqueeze", "unsqueeze", ["x"], ["u"]));
        graph.Node.Add(TestModels.Node("Squeeze", "squeeze", ["u"], ["s"]));
        graph.Node.Add(TestModels.Node("ReduceSum", "sum", ["s"], ["y"]).WithInt("keepdims", 0));
        foreach (var (node, axis) in new[] { (graph.Node[0], 0L), (graph.Node[1], 0L), (graph.Node[2], 1L) })
        {
            var axes = new AttributeProto { Name = "axes", Type = AttributeProto.Types.AttributeType.Ints };
            axes.Ints.Add(axis);
            node.Attribute.Add(axes);
        }
        var model = new ModelProto { IrVersion = 6, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 11 });
        var sample = new ModelSample([SampleTensor.Floats("x", [2, 3], [1f, 2f, 3f, 4f, 5f, 6f])]);
        var before = Run(model, sample, "y");

        var upgraded = model.Clone();
        OpsetUpgrade.UpgradeTo(upgraded, 13, new PassReport("upgrade"));

        Assert.Equal(13, Opsets.Version(upgraded));
        Assert.All(upgraded.Graph.Node, n => Assert.DoesNotContain(n.Attribute, a => a.Name == "axes"));
        Assert.Equal([6f, 15f], before);
        Assert.Equal(before, Run(upgraded, sample, "y"));
    }

    [Fact]
    public void OpsetUpgrade_Refuses_AnOperatorWhoseMeaningChanged_NamingIt()
    {
        var graph = new GraphProto { Name = "upsample" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 1, 1, 2, 2));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 1, 1, 4, 4));
        graph.Node.Add(TestModels.Node("Relu", "relu", ["x"], ["r"]));
        graph.Node.Add(TestModels.Node("Upsample", "up", ["r"], ["y"]));
        var model = new ModelProto { IrVersion = 3, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 8 });
        var before = model.Clone();

        var error = Assert.Throws<NotSupportedException>(() => OpsetUpgrade.UpgradeTo(model, 13, new PassReport("upgrade")));

        Assert.Contains("Upsample 'up'", error.Message);
        Assert.Equal(before, model);
    }

    [Fact]
    public void OpsetUpgrade_Refuses_BatchNormalizationWithPerActivationStatistics()
    {
        var model = TestModels.ConvNet(irVersion: 3, opset: 8);
        model.Graph.Node.Single(n => n.OpType == "BatchNormalization").WithInt("spatial", 0);

        var error = Assert.Throws<NotSupportedException>(() => OpsetUpgrade.UpgradeTo(model, 13, new PassReport("upgrade")));

        Assert.Contains("spatial=0", error.Message);
    }

    [Fact]
    public void NodesInsideSubgraphs_AreSkippedWithAReason_AndTheModelStillRuns()
    {
        var model = TestModels.IfModel();
        var report = new PassReport("int8-static");
        var sample = new ModelSample([SampleTensor.Floats("x", [2], [1f, -2f]), new SampleTensor("cond", Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Bool, [], new[] { true })]);

        var quantized = Quantize(model, [sample], report);

        Assert.Contains(report.Nodes, n => n.OpType == "Relu" && n.Action == NodeAction.Skipped && n.Reason!.Contains("subgraph"));
        Assert.Equal([1f, 0f], Run(quantized, sample, "y"));
    }

    [Fact]
    public void ResNet18_UpgradedAndQuantized_IsSmallAndAgreesWithFloat()
    {
        var stopwatch = Stopwatch.StartNew();
        var model = OnnxModelFile.Load(RealModels.ResNet18Path);
        var report = new PassReport("int8-static");

        var quantized = Quantize(model, ImageSamples("Input247", 3, 224, 224, 8, seed: 12), report);
        var quantizeSeconds = stopwatch.Elapsed.TotalSeconds;

        var sizeRatio = (double)OnnxModelFile.SerializedSize(quantized) / OnnxModelFile.SerializedSize(model);
        var cosine = MeanCosine(model, quantized, ImageSamples("Input247", 3, 224, 224, 3, seed: 13), "Pooling395_Output_0");
        output.WriteLine($"ResNet-18 int8 static: size ratio {sizeRatio:0.000}, mean cosine {cosine:0.0000}, quantized in {quantizeSeconds:0.0} s, " +
                         $"{report.Rewritten} rewritten, {report.Skipped} skipped");
        foreach (var skip in report.Nodes.Where(n => n.Action == NodeAction.Skipped)) output.WriteLine($"skipped {skip.Node}: {skip.Reason}");
        Assert.Equal(0, report.Skipped);
        Assert.True(sizeRatio <= 0.26, $"size ratio {sizeRatio}");
        Assert.True(cosine >= 0.99, $"cosine {cosine}");
        Assert.DoesNotContain(quantized.Graph.Node, n => n.OpType is "BatchNormalization" or "Relu");
    }

    private const int OnnxElementTypesInt8 = 3;

    private static ModelProto Quantize(ModelProto model, IReadOnlyList<ModelSample> samples, PassReport? report = null, StaticQuantizationOptions? options = null) =>
        new StaticQuantizationPass(options).Apply(model, new CompressionContext { Samples = samples }, report ?? new PassReport("int8-static"));

    private static TensorProto Initializer(GraphProto graph, string name) => graph.Initializer.Single(i => i.Name == name);

    /// <summary>
    /// Image-like inputs: smooth random fields (a coarse grid of random values, bilinearly upsampled, plus finer
    /// octaves), normalised per channel to mean 0 and standard deviation 1 as preprocessed photos roughly are.
    /// </summary>
    internal static IReadOnlyList<ModelSample> ImageSamples(string name, int channels, int height, int width, int count, int seed)
    {
        var random = new Random(seed);
        var samples = new List<ModelSample>();
        for (var s = 0; s < count; s++)
        {
            var values = new float[channels * height * width];
            for (var c = 0; c < channels; c++)
            {
                var plane = new double[height * width];
                foreach (var (cells, amplitude) in new[] { (3, 1.0), (8, 0.5), (28, 0.25) })
                {
                    var grid = new double[(cells + 1) * (cells + 1)];
                    for (var i = 0; i < grid.Length; i++) grid[i] = random.NextDouble() * 2 - 1;
                    for (var y = 0; y < height; y++)
                    {
                        for (var x = 0; x < width; x++)
                        {
                            var gy = (double)y / height * cells;
                            var gx = (double)x / width * cells;
                            int y0 = (int)gy, x0 = (int)gx;
                            double fy = gy - y0, fx = gx - x0;
                            var top = grid[y0 * (cells + 1) + x0] * (1 - fx) + grid[y0 * (cells + 1) + x0 + 1] * fx;
                            var bottom = grid[(y0 + 1) * (cells + 1) + x0] * (1 - fx) + grid[(y0 + 1) * (cells + 1) + x0 + 1] * fx;
                            plane[y * width + x] += amplitude * (top * (1 - fy) + bottom * fy);
                        }
                    }
                }
                var mean = plane.Average();
                var std = Math.Sqrt(plane.Average(v => (v - mean) * (v - mean))) + 1e-6;
                for (var i = 0; i < plane.Length; i++) values[c * plane.Length + i] = (float)((plane[i] - mean) / std);
            }
            samples.Add(new ModelSample([SampleTensor.Floats(name, [1, channels, height, width], values)]));
        }
        return samples;
    }

    private static float[] Run(ModelProto model, ModelSample sample, string outputName)
    {
        using var session = new InferenceSession(OnnxModelFile.ToBytes(model));
        return Run(session, sample, outputName);
    }

    private static float[] Run(InferenceSession session, ModelSample sample, string outputName)
    {
        var values = sample.Inputs.Select(i => i.ToOrtValue()).ToList();
        try
        {
            // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
            using var runOptions = new RunOptions();
            using var result = session.Run(runOptions, sample.Inputs.Select(i => i.Name).ToArray(), values, [outputName]);
            return result[0].GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>Mean over samples of the cosine similarity between the float and the quantized model's output.</summary>
    internal static double MeanCosine(ModelProto original, ModelProto candidate, IReadOnlyList<ModelSample> samples, string outputName)
    {
        using var first = new InferenceSession(OnnxModelFile.ToBytes(original));
        using var second = new InferenceSession(OnnxModelFile.ToBytes(candidate));
        return samples.Average(sample =>
        {
            var a = Run(first, sample, outputName);
            var b = Run(second, sample, outputName);
            double dot = 0, na = 0, nb = 0;
            for (var i = 0; i < a.Length; i++)
            {
                dot += (double)a[i] * b[i];
                na += (double)a[i] * a[i];
                nb += (double)b[i] * b[i];
            }
            return dot / Math.Sqrt(na * nb);
        });
    }
}
