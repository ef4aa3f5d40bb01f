using System.Diagnostics;
using Google.Protobuf;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Tokenizers;
using Onnx;
using Xunit.Abstractions;

namespace MaaS.Onnx.Tests;

public class Float16ConversionTests(ITestOutputHelper output)
{
    private static ModelProto Convert(ModelProto model, PassReport? report = null, Float16Options? options = null) =>
        new Float16ConversionPass(options).Apply(model.Clone(), new CompressionContext(), report ?? new PassReport("fp16"));

    [Fact]
    public void Mlp_RunsWithFloat32Io_FloatWeightsBecomeHalf_AndAgrees()
    {
        var original = TestModels.Mlp();
        var input = Fp16Ort.Random(4 * 6, seed: 1);
        var report = new PassReport("fp16");

        var converted = Convert(original, report);

        Assert.All(converted.Graph.Initializer, t => Assert.Equal(OnnxElementTypes.Float16, t.DataType));
        Assert.Equal(OnnxElementTypes.Float, converted.Graph.Input[0].Type.TensorType.ElemType);
        Assert.Equal(OnnxElementTypes.Float, converted.Graph.Output[0].Type.TensorType.ElemType);
        Assert.Contains(converted.Graph.Node, n => n.Name == "graph_input_cast0" && n.OpType == "Cast");
        Assert.Contains(converted.Graph.Node, n => n.Name == "graph_output_cast0" && n.OpType == "Cast");
        Assert.Contains(Float16ConversionPass.CpuNote, report.Notes);
        Assert.Equal(5, report.Rewritten);
        var expected = Fp16Ort.Run(original, ("input", input, [6, 4]))[0];
        var actual = Fp16Ort.Run(converted, ("input", input, [6, 4]))[0];
        Fp16Ort.AssertClose(expected, actual, 1e-2);
    }

    [Fact]
    public void WeightDominatedModel_HalvesInSize()
    {
        var original = Fp16Models.WideMatMul(256);

        var report = new PassReport("fp16");
        var converted = Convert(original, report);

        var ratio = (double)OnnxModelFile.SerializedSize(converted) / OnnxModelFile.SerializedSize(original);
        Assert.InRange(ratio, 0.49, 0.51);
        Assert.Equal(ratio, report.Figures["sizeRatio"], 6);
        var input = Fp16Ort.Random(256, seed: 2);
        Fp16Ort.AssertClose(Fp16Ort.Run(original, ("x", input, [1, 256]))[0], Fp16Ort.Run(converted, ("x", input, [1, 256]))[0], 1e-2);
    }

    [Fact]
    public void ValuesOutsideTheHalfRange_AreClampedAsTheReferenceDoes()
    {
        // 1e6 is beyond float16's largest finite value; 1e-9 would round to zero; both as float16.py handles them.
        var original = Fp16Models.TinyMatMul([1e6f, -1e6f, 1e-9f, -0.25f]);

        var converted = Convert(original);

        var weight = TensorData.ReadFloats(converted.Graph.Initializer.Single());
        Assert.Equal(new[] { 65504f, -65504f, (float)(Half)5.96e-8f, -0.25f }, weight);
        Assert.Equal(5.9604645e-8f, weight[2]);
        // x = [1, 1]: y = [W00 + W10, W01 + W11] = [65504 + 6e-8, -65504 - 0.25] (ORT's CPU MatMul may add in float32).
        var y = Fp16Ort.Run(converted, ("x", [1f, 1f], [1, 2]))[0];
        Assert.Equal(65504f, y[0], 0.5f);
        Assert.Equal(-65504f, y[1], 0.5f);
        Assert.Equal(65504f, Float16ConversionPass.Clamp(float.MaxValue));
        Assert.Equal(float.PositiveInfinity, Float16ConversionPass.Clamp(float.PositiveInfinity));
        Assert.Equal(0f, Float16ConversionPass.Clamp(0f));
    }

    [Fact]
    public void BlockedTopK_StaysFloat_WithCastsAround()
    {
        var original = Fp16Models.ScaleTopKRelu();
        var report = new PassReport("fp16");

        var converted = Convert(original, report);

        var graph = converted.Graph;
        var topK = graph.Node.Single(n => n.OpType == "TopK");
        var producer = graph.Node.Single(n => n.Output.Contains(topK.Input[0]));
        Assert.Equal("Cast", producer.OpType);
        Assert.Equal(OnnxElementTypes.Float, Nodes.IntAttribute(producer, "to"));
        var valuesReader = graph.Node.Single(n => n.Input.Contains(topK.Output[0]));
        Assert.Equal("Cast", valuesReader.OpType);
        Assert.Equal(OnnxElementTypes.Float16, Nodes.IntAttribute(valuesReader, "to"));
        Assert.Equal(OnnxElementTypes.Float16, graph.Initializer.Single(t => t.Name == "scale").DataType);
        Assert.Contains(report.Nodes, c => c.OpType == "TopK" && c.Action == NodeAction.Skipped && c.Reason!.Contains("block list", StringComparison.Ordinal));
        var input = Fp16Ort.Random(8, seed: 3);
        var expected = Fp16Ort.Run(original, ("x", input, [1, 8]));
        var actual = Fp16Ort.Run(converted, ("x", input, [1, 8]));
        Fp16Ort.AssertClose(expected[0], actual[0], 1e-2);
    }

    [Fact]
    public void BlockedRange_KeepsItsFloatInputs()
    {
        var original = Fp16Models.RangeTimesInput();

        var report = new PassReport("fp16");
        var converted = Convert(original, report);

        var range = converted.Graph.Node.Single(n => n.OpType == "Range");
        Assert.All(range.Input, name => Assert.Equal(OnnxElementTypes.Float, converted.Graph.Initializer.Single(t => t.Name == name).DataType));
        Assert.Contains(report.Nodes, c => c.OpType == "Range" && c.Action == NodeAction.Skipped);
        var input = Fp16Ort.Random(4, seed: 4);
        Fp16Ort.AssertClose(Fp16Ort.Run(original, ("x", input, [4]))[0], Fp16Ort.Run(converted, ("x", input, [4]))[0], 1e-2);
    }

    [Fact]
    public void ChainOfBlockedOps_HasNoBackToBackCasts()
    {
        // float16.py casts Max's output to float16 and straight back for Min, then removes the pair; the float32
        // output of one blocked node should reach the next directly, and the graph output needs no Cast either.
        var original = Fp16Models.MaxMinChain();
        var report = new PassReport("fp16");

        var converted = Convert(original, report);

        var graph = converted.Graph;
        var max = graph.Node.Single(n => n.OpType == "Max");
        var min = graph.Node.Single(n => n.OpType == "Min");
        Assert.Equal(max.Output[0], min.Input[0]);
        Assert.Equal("y", min.Output[0]);
        var index = new GraphIndex(graph);
        foreach (var cast in graph.Node.Where(n => n.OpType == "Cast"))
        {
            Assert.NotEqual("Cast", index.Producer(cast.Input[0])?.OpType);
        }
        var input = Fp16Ort.Random(6, seed: 5);
        Fp16Ort.AssertClose(Fp16Ort.Run(original, ("x", input, [6]))[0], Fp16Ort.Run(converted, ("x", input, [6]))[0], 1e-2);
    }

    [Fact]
    public void AlreadyHalfModel_IsRefused()
    {
        var half = Convert(TestModels.Mlp());
        var report = new PassReport("fp16");

        var again = new Float16ConversionPass().Apply(half.Clone(), new CompressionContext(), report);

        Assert.Equal(half, again);
        Assert.Contains(report.Notes, n => n.StartsWith("Not converted: the model is already float16", StringComparison.Ordinal));
    }

    [Fact]
    public void ConstantWeights_IfSubgraph_AndHalfIo_Work()
    {
        var constants = Convert(TestModels.MlpWithConstantWeights());
        Assert.All(constants.Graph.Node.Where(n => n.OpType == "Constant"), n => Assert.Equal(OnnxElementTypes.Float16, n.Attribute.Single().T.DataType));
        var input = Fp16Ort.Random(8, seed: 6);
        Fp16Ort.AssertClose(Fp16Ort.Run(TestModels.Mlp(), ("input", input, [2, 4]))[0], Fp16Ort.Run(constants, ("input", input, [2, 4]))[0], 1e-2);

        var report = new PassReport("fp16");
        var withIf = Convert(TestModels.IfModel(), report);
        Assert.Contains(report.Nodes, c => c.OpType == "If" && c.Reason!.Contains("subgraph", StringComparison.Ordinal));
        Assert.Equal(TestModels.IfModel().Graph.Node[0].Attribute, withIf.Graph.Node.Single(n => n.OpType == "If").Attribute);

        var halfIo = Convert(TestModels.Mlp(), options: new Float16Options(KeepIoTypes: false));
        Assert.Equal(OnnxElementTypes.Float16, halfIo.Graph.Input[0].Type.TensorType.ElemType);
        Assert.Equal(OnnxElementTypes.Float16, halfIo.Graph.Output[0].Type.TensorType.ElemType);
        Assert.DoesNotContain(halfIo.Graph.Node, n => n.OpType == "Cast");
        using var session = new InferenceSession(halfIo.ToByteArray());
        var halves = input.Select(v => (Float16)v).ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(halves, [2, 4]);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, ["input"], [value], session.OutputNames);
        var actual = results[0].GetTensorDataAsSpan<Float16>().ToArray().Select(h => (float)h).ToArray();
        Fp16Ort.AssertClose(Fp16Ort.Run(TestModels.Mlp(), ("input", input, [2, 4]))[0], actual, 1e-2);
    }

    [Fact]
    public void MiniLm_Float16_KeepsEmbeddings_AtHalfTheSize()
    {
        var watch = Stopwatch.StartNew();
        var original = OnnxModelFile.Load(RealModels.MiniLmPath);
        var report = new PassReport("fp16");

        var converted = new Float16ConversionPass().Apply(original.Clone(), new CompressionContext(), report);

        var ratio = (double)OnnxModelFile.SerializedSize(converted) / OnnxModelFile.SerializedSize(original);
        using var vocabulary = File.OpenRead(RealModels.MiniLmVocabularyPath);
        var tokenizer = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true });
        string[] sentences =
        [
            "The cat sits on the mat.",
            "Model compression makes inference cheaper without changing what the model computes.",
            "A quick brown fox jumps over the lazy dog near the river bank.",
            "float16",
        ];
        using var fp32 = new InferenceSession(original.ToByteArray());
        using var fp16 = new InferenceSession(converted.ToByteArray());
        var cosines = sentences.Select(s =>
        {
            var ids = tokenizer.EncodeToIds(s).Select(i => (long)i).ToArray();
            return Fp16Ort.Cosine(MeanPooled(fp32, ids), MeanPooled(fp16, ids));
        }).ToList();
        output.WriteLine($"all-MiniLM-L6-v2 fp16: size ratio {ratio:0.0000}, cosine min {cosines.Min():0.000000} mean {cosines.Average():0.000000}, " +
                         $"{report.Skipped} nodes kept float32, {report.Figures["castNodes"]} Casts, {watch.ElapsedMilliseconds} ms");
        Assert.All(cosines, c => Assert.True(c >= 0.999, $"cosine {c}"));
        Assert.True(ratio <= 0.51, $"size ratio {ratio}");
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
}

/// <summary>Small graphs for the float16 cases.</summary>
file static class Fp16Models
{
    private static ModelProto Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    public static ModelProto WideMatMul(int size)
    {
        var graph = new GraphProto { Name = "wide" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 1, size));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 1, size));
        graph.Initializer.Add(TestModels.FloatTensor("W", [size, size], Fp16Ort.Random(size * size, seed: 10).Select(v => v * 0.1f).ToArray()));
        graph.Node.Add(TestModels.Node("MatMul", "mm", ["x", "W"], ["y"]));
        return Model(graph);
    }

    public static ModelProto TinyMatMul(float[] weights)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 1, 2));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 1, 2));
        graph.Initializer.Add(TestModels.FloatTensor("W", [2, 2], weights));
        graph.Node.Add(TestModels.Node("MatMul", "mm", ["x", "W"], ["y"]));
        return Model(graph);
    }

    /// <summary>x [1,8] → Mul(scale) → TopK(k=3) → values → Relu → "y"; indices → "idx".</summary>
    public static ModelProto ScaleTopKRelu()
    {
        var graph = new GraphProto { Name = "topk" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 1, 8));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 1, 3));
        graph.Output.Add(TestModels.TensorValue("idx", TensorProto.Types.DataType.Int64, 1, 3));
        graph.Initializer.Add(TestModels.FloatTensor("scale", [8], [1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f]));
        graph.Initializer.Add(TensorData.Int64("k", [1], [3L]));
        graph.Node.Add(TestModels.Node("Mul", "scale_mul", ["x", "scale"], ["scaled"]));
        graph.Node.Add(TestModels.Node("TopK", "top", ["scaled", "k"], ["values", "idx"]));
        graph.Node.Add(TestModels.Node("Relu", "relu", ["values"], ["y"]));
        return Model(graph);
    }

    /// <summary>x [4] * Range(0, 4, 1) (float) → "y".</summary>
    public static ModelProto RangeTimesInput()
    {
        var graph = new GraphProto { Name = "range" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 4));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 4));
        graph.Initializer.Add(TestModels.FloatTensor("start", [], [0f]));
        graph.Initializer.Add(TestModels.FloatTensor("limit", [], [4f]));
        graph.Initializer.Add(TestModels.FloatTensor("delta", [], [1f]));
        graph.Node.Add(TestModels.Node("Range", "range", ["start", "limit", "delta"], ["r"]));
        graph.Node.Add(TestModels.Node("Mul", "mul", ["x", "r"], ["y"]));
        return Model(graph);
    }

    /// <summary>x [6] → Max(x, lo) → Min(·, hi) → "y": a clip made of two blocked ops.</summary>
    public static ModelProto MaxMinChain()
    {
        var graph = new GraphProto { Name = "clip" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 6));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 6));
        graph.Initializer.Add(TestModels.FloatTensor("lo", [], [-0.5f]));
        graph.Initializer.Add(TestModels.FloatTensor("hi", [], [0.5f]));
        graph.Node.Add(TestModels.Node("Max", "max", ["x", "lo"], ["m"]));
        graph.Node.Add(TestModels.Node("Min", "min", ["m", "hi"], ["y"]));
        return Model(graph);
    }
}

file static class Fp16Ort
{
    public static float[] Random(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    /// <summary>Runs float inputs through the model; float outputs come back as floats (int64 outputs are skipped).</summary>
    public static List<float[]> Run(ModelProto model, params (string Name, float[] Values, long[] Shape)[] inputs)
    {
        using var session = new InferenceSession(model.ToByteArray());
        var values = inputs.Select(i => OrtValue.CreateTensorValueFromMemory(i.Values, i.Shape)).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, session.OutputNames);
            return results.Where(r => r.GetTensorTypeAndShape().ElementDataType == TensorElementType.Float)
                .Select(r => r.GetTensorDataAsSpan<float>().ToArray()).ToList();
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>Every value within <paramref name="relative"/> of the largest expected magnitude (at least 1).</summary>
    public static void AssertClose(float[] expected, float[] actual, double relative)
    {
        Assert.Equal(expected.Length, actual.Length);
        var scale = Math.Max(1, expected.Max(Math.Abs));
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * scale, $"value {i}: expected {expected[i]}, got {actual[i]}");
        }
    }

    public static double Cosine(float[] a, float[] b)
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
