using System.Diagnostics;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;
using Onnx;
using Xunit.Abstractions;

namespace MaaS.Onnx.Tests;

public class DynamicQuantizationTests(ITestOutputHelper output)
{
    // W [K=2, N=2] = [[0.5, -1.27], [0.254, 1.0]]: max |w| = 1.27.
    private static readonly float[] KnownWeight = [0.5f, -1.27f, 0.254f, 1f];

    [Fact]
    public void PerTensorWeight_IsInt8Symmetric_WithScaleMaxAbsOver127()
    {
        var quantized = Quantize(KnownWeightModel(), PerTensor);

        var graph = quantized.Graph;
        // scale = 2·1.27 / 254 = 0.01; q = round(w / 0.01) = 50, -127, round(25.4) = 25, 100; zero point 0.
        var scale = Initializer(graph, "W_scale");
        Assert.Empty(scale.Dims);
        Assert.Equal(0.01f, TensorData.ReadFloats(scale)[0], 1e-7f);
        var zeroPoint = Initializer(graph, "W_zero_point");
        Assert.Equal(OnnxInt8, zeroPoint.DataType);
        Assert.Equal(0, (sbyte)zeroPoint.RawData[0]);
        var weight = Initializer(graph, "W_quantized");
        Assert.Equal(OnnxInt8, weight.DataType);
        Assert.Equal([2L, 2L], weight.Dims);
        Assert.Equal(new sbyte[] { 50, -127, 25, 100 }, weight.RawData.ToByteArray().Select(b => (sbyte)b).ToArray());
        Assert.DoesNotContain(graph.Initializer, i => i.Name == "W");
    }

    [Fact]
    public void PerChannelWeight_HasOneScalePerColumn_AndReduceRangeUses64()
    {
        var perChannel = Quantize(KnownWeightModel(), new DynamicQuantizationOptions(PerChannel: true));
        var reduced = Quantize(KnownWeightModel(), new DynamicQuantizationOptions(PerChannel: false, ReduceRange: true));

        // Column 0 = [0.5, 0.254] → scale 0.5/127; column 1 = [-1.27, 1.0] → scale 1.27/127.
        var scales = Initializer(perChannel.Graph, "W_scale");
        Assert.Equal([2L], scales.Dims);
        Assert.Equal(0.5f / 127f, TensorData.ReadFloats(scales)[0], 1e-9f);
        Assert.Equal(1.27f / 127f, TensorData.ReadFloats(scales)[1], 1e-9f);
        Assert.Equal([2L], Initializer(perChannel.Graph, "W_zero_point").Dims);
        Assert.Equal(new sbyte[] { 127, -127, 65, 100 }, Initializer(perChannel.Graph, "W_quantized").RawData.ToByteArray().Select(b => (sbyte)b).ToArray());
        // Reduce range: [-64, 64] → scale 1.27/64.
        Assert.Equal(1.27f / 64f, TensorData.ReadFloats(Initializer(reduced.Graph, "W_scale"))[0], 1e-7f);
    }

    [Fact]
    public void Mlp_NodePattern_IsNamedAsOrtNamesIt()
    {
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(TestModels.Mlp(), report: report);

        var nodes = quantized.Graph.Node.ToDictionary(n => n.Name);
        var dql = nodes["input_QuantizeLinear"];
        Assert.Equal("DynamicQuantizeLinear", dql.OpType);
        Assert.Equal(["input_quantized", "input_scale", "input_zero_point"], dql.Output);
        var matMulInteger = nodes["fc1_quant"];
        Assert.Equal("MatMulInteger", matMulInteger.OpType);
        Assert.Equal(["input_quantized", "W1_quantized", "input_zero_point", "W1_zero_point"], matMulInteger.Input);
        Assert.Equal(["h1_output_quantized"], matMulInteger.Output);
        var cast = nodes["h1_output_quantized_cast"];
        Assert.Equal(1, Nodes.IntAttribute(cast, "to"));
        Assert.Equal(["h1_output_quantized_cast_output"], cast.Output);
        var scalesMul = nodes["fc1_quant_scales_mul"];
        Assert.Equal(["input_scale", "W1_scale"], scalesMul.Input);
        Assert.Equal(["fc1_quant_scales_mul:0"], scalesMul.Output);
        var outputMul = nodes["fc1_quant_output_scale_mul"];
        Assert.Equal(["h1_output_quantized_cast_output", "fc1_quant_scales_mul:0"], outputMul.Input);
        Assert.Equal(["h1"], outputMul.Output);
        Assert.Equal("DynamicQuantizeLinear", nodes["a1_QuantizeLinear"].OpType);
        Assert.Equal("a1_quantized", nodes["fc2_quant"].Input[0]);
        Assert.DoesNotContain(quantized.Graph.Node, n => n.OpType == "MatMul");
        Assert.DoesNotContain(quantized.OpsetImport, o => o.Domain == "com.microsoft");
        Assert.Equal(2, report.Rewritten);
        Assert.Equal(2, report.Figures["quantizedWeights"]);
    }

    [Fact]
    public void KnownModel_OrtOutput_IsExactlyTheHandComputedIntegerArithmetic()
    {
        var quantized = Quantize(KnownWeightModel(), PerTensor);

        // x = [0.3, -0.6]: DynamicQuantizeLinear gives scale 0.9/255, zero point round(0.6/scale) = 170, x_q = [255, 0].
        // MatMulInteger: [85, -170] · [[50, -127], [25, 100]] = [0, -27795]; y = that × (0.9/255) × 0.01.
        using var session = new InferenceSession(OnnxModelFile.ToBytes(quantized));
        using var x = OrtValue.CreateTensorValueFromMemory(new[] { 0.3f, -0.6f }, [1, 2]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["x"], [x], ["y"]);
        var y = results[0].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(0f, y[0], 1e-6f);
        Assert.Equal(-27795 * (0.9 / 255) * 0.01, y[1], 1e-5);
        Assert.Equal(-0.981, y[1], 1e-3); // the float model's answer: 0.3·(-1.27) - 0.6·1.0
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Mlps_Quantized_RunInOrt_AndAgreeWithFloat(bool perChannel)
    {
        var options = new DynamicQuantizationOptions(PerChannel: perChannel);
        var mlp = TestModels.Mlp();
        var wide = TestModels.WideMlp();
        var random = new Random(5);
        var wideSamples = Enumerable.Range(0, 8)
            .Select(_ => new ModelSample([SampleTensor.Floats("input", [2, 64], Enumerable.Range(0, 128).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray())]))
            .ToList();

        var mlpCosine = StaticQuantizationTests.MeanCosine(mlp, Quantize(mlp, options), CalibrationTests.MlpSamples(16, seed: 31, batch: 1), "output");
        var wideCosine = StaticQuantizationTests.MeanCosine(wide, Quantize(wide, options), wideSamples, "output");

        // The 4-8-3 MLP's 3 outputs are small sums with cancellation, so uint8 activations cost it more than the wide one.
        output.WriteLine($"perChannel {perChannel}: Mlp cosine {mlpCosine:0.0000}, WideMlp cosine {wideCosine:0.0000}");
        Assert.True(mlpCosine > 0.97, $"Mlp cosine {mlpCosine}");
        Assert.True(wideCosine > 0.997, $"WideMlp cosine {wideCosine}");
    }

    [Fact]
    public void Gemm_IsRewrittenToMatMulAndAdd_WithTransposeAlphaAndBeta_ThenQuantized()
    {
        var model = TestModels.GemmMlp();
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(model, report: report);

        var graph = quantized.Graph;
        Assert.DoesNotContain(graph.Node, n => n.OpType is "Gemm" or "MatMul");
        Assert.Equal(2, graph.Node.Count(n => n.OpType == "MatMulInteger"));
        // W1 [8,4] with transB=1 is stored transposed, [4,8], under its own name (only fc1 reads it).
        Assert.Equal([4L, 8L], Initializer(graph, "W1_quantized").Dims);
        Assert.Contains(graph.Node, n => n is { OpType: "Add", Name: "fc1_Add" } && n.Input[1] == "B1");
        Assert.Contains(report.Nodes, n => n.Node == "Gemm 'fc1'" && n.Action == NodeAction.Rewritten);
        Assert.Contains(report.Nodes, n => n.Node == "Gemm 'fc2'" && n.Action == NodeAction.Rewritten);
        var cosine = StaticQuantizationTests.MeanCosine(model, quantized, CalibrationTests.MlpSamples(16, seed: 32, batch: 1), "output");
        Assert.True(cosine > 0.99, $"cosine {cosine}");
    }

    [Fact]
    public void ConstantNodeWeights_AreQuantized_AndTheConstantsRemoved()
    {
        var model = TestModels.MlpWithConstantWeights();

        var quantized = Quantize(model);

        var graph = quantized.Graph;
        Assert.DoesNotContain(graph.Node, n => n.OpType == "Constant" && n.Output[0] is "W1" or "W2");
        Assert.Contains(graph.Node, n => n.OpType == "Constant" && n.Output[0] == "B1");
        Assert.Contains(graph.Initializer, i => i.Name == "W1_quantized");
        var cosine = StaticQuantizationTests.MeanCosine(model, quantized, CalibrationTests.MlpSamples(8, seed: 33, batch: 1), "output");
        Assert.True(cosine > 0.97, $"cosine {cosine}");
    }

    [Fact]
    public void SharedWeight_IsQuantizedOnce_AndBothReadersUseIt()
    {
        var model = TestModels.Mlp();
        // fc3 reads W1 as well: input [batch,4] × W1 [4,8] → a second output.
        model.Graph.Node.Add(TestModels.Node("MatMul", "fc3", ["input", "W1"], ["extra"]));
        model.Graph.Output.Add(TestModels.TensorValue("extra", TensorProto.Types.DataType.Float, TestModels.Batch, 8));

        var quantized = Quantize(model);

        var graph = quantized.Graph;
        Assert.Single(graph.Initializer, i => i.Name.StartsWith("W1_quantized", StringComparison.Ordinal));
        Assert.Equal(2, graph.Node.Count(n => n.OpType == "MatMulInteger" && n.Input[1] == "W1_quantized"));
        Assert.Single(graph.Node, n => n.OpType == "DynamicQuantizeLinear" && n.Input[0] == "input");
        Assert.True(StaticQuantizationTests.MeanCosine(model, quantized, CalibrationTests.MlpSamples(4, seed: 34, batch: 1), "extra") > 0.99);
    }

    [Fact]
    public void ComputedWeight_IsSkippedWithAReason()
    {
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(TestModels.SelfAttentionScores(), report: report);

        Assert.Contains(report.Nodes, n => n.Node == "MatMul 'scores'" && n.Action == NodeAction.Skipped && n.Reason!.Contains("not constant"));
        Assert.Equal(TestModels.SelfAttentionScores().Graph.Node, quantized.Graph.Node);
    }

    [Fact]
    public void Opset10Model_IsLeftAlone_WithTheReason()
    {
        var model = TestModels.Mlp(irVersion: 6, opset: 10);
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(model, report: report);

        Assert.Equal(model, quantized);
        Assert.Equal(2, report.Skipped);
        Assert.All(report.Nodes, n => Assert.Contains("opset 11", n.Reason));
    }

    [Fact]
    public void IfModel_IsUntouched_AndStillRuns()
    {
        var model = TestModels.IfModel();
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(model, report: report);

        Assert.Equal(model, quantized);
        using var session = new InferenceSession(OnnxModelFile.ToBytes(quantized));
        using var x = OrtValue.CreateTensorValueFromMemory(new[] { 1f, -2f }, [2]);
        using var condition = OrtValue.CreateTensorValueFromMemory(new[] { false }, []);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["x", "cond"], [x, condition], ["y"]);
        Assert.Equal([-1f, 2f], results[0].GetTensorDataAsSpan<float>().ToArray());
    }

    [Fact]
    public void Conv_IsSkippedByDefault_AndBecomesConvIntegerWhenAsked()
    {
        var model = TestModels.ConvNet();
        var report = new PassReport("int8-dynamic");

        var skipped = Quantize(model, report: report);
        var converted = Quantize(model, new DynamicQuantizationOptions(QuantizeConv: true));

        Assert.Contains(report.Nodes, n => n.OpType == "Conv" && n.Reason == "dynamic ConvInteger is slow on CPU; use static INT8 for convolutions");
        Assert.Contains(skipped.Graph.Node, n => n.OpType == "Conv");
        Assert.Contains(report.Nodes, n => n.Node == "Gemm 'fc'" && n.Action == NodeAction.Rewritten);
        Assert.Contains(converted.Graph.Node, n => n.OpType == "ConvInteger");
        var samples = StaticQuantizationTests.ImageSamples("image", 3, 8, 8, 4, seed: 35);
        Assert.True(StaticQuantizationTests.MeanCosine(model, skipped, samples, "logits") > 0.999);
        Assert.True(StaticQuantizationTests.MeanCosine(model, converted, samples, "logits") > 0.99);
    }

    [Fact]
    public void GatherTable_IsUInt8Asymmetric_WithADequantizeLinearAfterTheGather()
    {
        var model = EmbeddingModel();
        var report = new PassReport("int8-dynamic");

        var quantized = Quantize(model, report: report);

        var graph = quantized.Graph;
        // Table values span [-0.5, 1.0]: scale = 1.5/255, zero point = round(0.5 / (1.5/255)) = round(85) = 85.
        Assert.Equal(1.5f / 255f, TensorData.ReadFloats(Initializer(graph, "table_scale"))[0], 1e-7f);
        Assert.Equal(85, Initializer(graph, "table_zero_point").RawData[0]);
        Assert.Equal(2, Initializer(graph, "table_quantized").DataType); // uint8
        var gather = graph.Node.Single(n => n.OpType == "Gather");
        Assert.Equal(["table_quantized", "ids"], gather.Input);
        var dq = graph.Node.Single(n => n.Name == "rows_DequantizeLinear");
        Assert.Equal(["rows_quantized", "table_scale", "table_zero_point"], dq.Input);
        Assert.DoesNotContain(graph.Initializer, i => i.Name == "table");
        using var session = new InferenceSession(OnnxModelFile.ToBytes(quantized));
        using var ids = OrtValue.CreateTensorValueFromMemory(new long[] { 2, 0 }, [2]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["ids"], [ids], ["rows"]);
        var rows = results[0].GetTensorDataAsSpan<float>().ToArray();
        float[] expected = [1f, -0.5f, 0.5f, -0.25f];
        for (var i = 0; i < expected.Length; i++) Assert.Equal(expected[i], rows[i], 1.5f / 255f / 2 + 1e-6f);
    }

    [Fact]
    public void MiniLm_Int8Dynamic_KeepsEmbeddings_AtAQuarterOfTheSize()
    {
        var watch = Stopwatch.StartNew();
        var original = OnnxModelFile.Load(RealModels.MiniLmPath);
        var report = new PassReport("int8-dynamic");

        // Per-channel weights, as sentence-transformers' own INT8 exports (Optimum avx512_vnni preset): per-tensor
        // weights give a cosine of about 0.967 on this model, per-channel about 0.99.
        var quantized = new DynamicQuantizationPass(new DynamicQuantizationOptions(PerChannel: true)).Apply(original, new CompressionContext(), report);

        var ratio = (double)OnnxModelFile.SerializedSize(quantized) / OnnxModelFile.SerializedSize(original);
        var cosines = MiniLm.Cosines(original, quantized);
        output.WriteLine($"all-MiniLM-L6-v2 int8 dynamic per-channel: size ratio {ratio:0.0000}, cosine min {cosines.Min():0.0000} mean {cosines.Average():0.0000}, " +
                         $"{report.Rewritten} rewritten, {report.Skipped} skipped, {watch.ElapsedMilliseconds} ms");
        foreach (var group in report.Nodes.Where(n => n.Action == NodeAction.Skipped).GroupBy(n => (n.OpType, n.Reason))) output.WriteLine($"skipped {group.Count()} {group.Key.OpType}: {group.Key.Reason}");
        Assert.All(cosines, c => Assert.True(c >= 0.98, $"cosine {c}"));
        Assert.True(ratio <= 0.27, $"size ratio {ratio}");
        Assert.DoesNotContain(report.Nodes, n => n.OpType == "MatMul" && n.Action == NodeAction.Skipped && !n.Reason!.Contains("not constant"));
    }

    private const int OnnxInt8 = 3;

    private static readonly DynamicQuantizationOptions PerTensor = new(PerChannel: false);

    private static ModelProto Quantize(ModelProto model, DynamicQuantizationOptions? options = null, PassReport? report = null) =>
        new DynamicQuantizationPass(options).Apply(model, new CompressionContext(), report ?? new PassReport("int8-dynamic"));

    private static TensorProto Initializer(GraphProto graph, string name) => graph.Initializer.Single(i => i.Name == name);

    /// <summary>"x" float [batch,2] × W (the known weight) → "y" float [batch,2].</summary>
    private static ModelProto KnownWeightModel()
    {
        var graph = new GraphProto { Name = "known" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, TestModels.Batch, 2));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, TestModels.Batch, 2));
        graph.Initializer.Add(TestModels.FloatTensor("W", [2, 2], KnownWeight));
        graph.Node.Add(TestModels.Node("MatMul", "mm", ["x", "W"], ["y"]));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    /// <summary>"ids" int64 [n] → Gather(table [3,2] in [-0.5, 1]) → "rows" float [n,2].</summary>
    private static ModelProto EmbeddingModel()
    {
        var graph = new GraphProto { Name = "embedding" };
        graph.Input.Add(TestModels.TensorValue("ids", TensorProto.Types.DataType.Int64, "n"));
        graph.Output.Add(TestModels.TensorValue("rows", TensorProto.Types.DataType.Float, "n", 2));
        graph.Initializer.Add(TestModels.FloatTensor("table", [3, 2], [0.5f, -0.25f, 0f, 0.75f, 1f, -0.5f]));
        graph.Node.Add(TestModels.Node("Gather", "embed", ["table", "ids"], ["rows"]));
        var model = new ModelProto { IrVersion = 8, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }
}

/// <summary>all-MiniLM-L6-v2 sentence embeddings (mean-pooled), to compare a compressed model with the original.</summary>
internal static class MiniLm
{
    public static readonly string[] Sentences =
    [
        "The cat sits on the mat.",
        "Model compression makes inference cheaper without changing what the model computes.",
        "A quick brown fox jumps over the lazy dog near the river bank.",
        "How do I reset my password?",
    ];

    /// <summary>Cosine between the two models' mean-pooled embeddings, one per sentence.</summary>
    public static List<double> Cosines(ModelProto original, ModelProto candidate)
    {
        using var vocabulary = File.OpenRead(RealModels.MiniLmVocabularyPath);
        var tokenizer = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true });
        using var first = new InferenceSession(OnnxModelFile.ToBytes(original));
        using var second = new InferenceSession(OnnxModelFile.ToBytes(candidate));
        return Sentences.Select(s =>
        {
            var ids = tokenizer.EncodeToIds(s).Select(i => (long)i).ToArray();
            return Cosine(MeanPooled(first, ids), MeanPooled(second, ids));
        }).ToList();
    }

    private static float[] MeanPooled(InferenceSession session, long[] ids)
    {
        long[] shape = [1, ids.Length];
        using var inputIds = OrtValue.CreateTensorValueFromMemory(ids, shape);
        using var mask = OrtValue.CreateTensorValueFromMemory(ids.Select(_ => 1L).ToArray(), shape);
        using var types = OrtValue.CreateTensorValueFromMemory(new long[ids.Length], shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["input_ids", "attention_mask", "token_type_ids"], [inputIds, mask, types], [session.OutputNames[0]]);
        var hidden = results[0].GetTensorDataAsSpan<float>();
        var width = hidden.Length / ids.Length;
        var pooled = new float[width];
        for (var t = 0; t < ids.Length; t++) for (var d = 0; d < width; d++) pooled[d] += hidden[t * width + d] / ids.Length;
        return pooled;
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
