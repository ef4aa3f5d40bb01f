using System.Diagnostics;
using Google.Protobuf;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Xunit.Abstractions;

namespace MaaS.Onnx.Tests;

public class MagnitudePruningTests(ITestOutputHelper output)
{
    private static ModelProto Prune(ModelProto model, PruningOptions options, PassReport report) =>
        new MagnitudePruningPass(options).Apply(model, new CompressionContext(), report);

    /// <summary>A weight's values, whether it stayed dense or moved to the sparse initializers.</summary>
    private static float[] Weight(ModelProto model, string name) => TensorData.ReadFloats(Densify(model).Graph.Initializer.Single(t => t.Name == name));

    [Fact]
    public void PerLayer_ZerosExactlyHalfOfEachLayer()
    {
        var model = PruneModels.ThreeLayers();
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.5, SkipFirstAndLast: false), report);

        Assert.Equal(1024, Weight(model, "W1").Count(v => v == 0));
        Assert.Equal(2048, Weight(model, "W2").Count(v => v == 0));
        Assert.Equal(512, Weight(model, "W3").Count(v => v == 0));
        Assert.Equal(0.5, report.Figures["sparsity"]);
        Assert.Equal(3, report.Rewritten);
        Assert.Contains(MagnitudePruningPass.SpeedNote, report.Notes);
        // The survivors are the larger half: the smallest kept magnitude is at least the largest zeroed one.
        var original = PruneModels.ThreeLayers();
        var before = Weight(original, "W2");
        var after = Weight(model, "W2");
        var zeroed = before.Where((_, i) => after[i] == 0).Max(Math.Abs);
        var kept = before.Where((_, i) => after[i] != 0).Min(Math.Abs);
        Assert.True(kept >= zeroed);
        Assert.All(after.Where(v => v != 0), v => Assert.Contains(v, before));
    }

    [Fact]
    public void Ties_AreBrokenByPosition_ToHitExactlyK()
    {
        float[] values = [0.5f, -0.5f, 0.5f, 0.5f, 0.1f];
        MagnitudePruningPass.PruneLayer(values, 0.6); // k = floor(0.6 * 5) = 3: 0.1 and the first two of the 0.5s
        Assert.Equal(new[] { 0f, 0f, 0.5f, 0.5f, 0f }, values);
    }

    [Fact]
    public void Global_UsesOneThresholdOverAllLayers()
    {
        // 8 weights, k = 4: the four smallest magnitudes overall are 0.01, 0.02, 0.04 (all in W2) and 0.05 (in W1).
        var model = PruneModels.TwoTinyLayers([0.1f, -0.5f, 0.3f, 0.05f], [0.02f, -0.01f, 0.04f, 0.6f]);
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.5, PruningScope.Global, SkipFirstAndLast: false, MinElements: 1), report);

        Assert.Equal(new[] { 0.1f, -0.5f, 0.3f, 0f }, Weight(model, "W1"));
        Assert.Equal(new[] { 0f, 0f, 0f, 0.6f }, Weight(model, "W2"));
        Assert.Equal(0.25, report.Figures["sparsity.W1"]);
        Assert.Equal(0.75, report.Figures["sparsity.W2"]);
        // One value + one INT64 index (12 bytes) beat four floats (16 bytes): W2 moved to the sparse initializers.
        Assert.Equal("W2", Assert.Single(model.Graph.SparseInitializer).Values.Name);

        var perLayer = PruneModels.TwoTinyLayers([0.1f, -0.5f, 0.3f, 0.05f], [0.02f, -0.01f, 0.04f, 0.6f]);
        Prune(perLayer, new PruningOptions(0.5, SkipFirstAndLast: false, MinElements: 1), new PassReport("prune"));
        Assert.Equal(new[] { 0f, -0.5f, 0.3f, 0f }, Weight(perLayer, "W1"));
        Assert.Equal(new[] { 0f, 0f, 0.04f, 0.6f }, Weight(perLayer, "W2"));
    }

    [Fact]
    public void Defaults_SkipFirstAndLastLayers_AndSmallOnes_WithReasons()
    {
        var model = PruneModels.ThreeLayers();
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(), report);

        Assert.Equal(PruneModels.ThreeLayers().Graph.Initializer.Single(t => t.Name == "W1"), model.Graph.Initializer.Single(t => t.Name == "W1"));
        Assert.Equal(PruneModels.ThreeLayers().Graph.Initializer.Single(t => t.Name == "W3"), model.Graph.Initializer.Single(t => t.Name == "W3"));
        Assert.Equal(2048, Weight(model, "W2").Count(v => v == 0));
        Assert.Contains(report.Nodes, c => c.Node == "MatMul 'fc1'" && c.Action == NodeAction.Skipped && c.Reason!.StartsWith("first", StringComparison.Ordinal));
        Assert.Contains(report.Nodes, c => c.Node == "MatMul 'fc3'" && c.Action == NodeAction.Skipped && c.Reason!.StartsWith("last", StringComparison.Ordinal));

        var small = PruneModels.ThreeLayers();
        var smallReport = new PassReport("prune");
        Prune(small, new PruningOptions(SkipFirstAndLast: false, MinElements: 2049), smallReport);
        Assert.Equal(1, smallReport.Rewritten);
        Assert.Contains(smallReport.Nodes, c => c.Node == "MatMul 'fc3'" && c.Reason!.Contains("fewer than 2049", StringComparison.Ordinal));
    }

    [Fact]
    public void ConvNet_PrunesConv_SkipsBatchNorm_AndStillRuns()
    {
        var model = TestModels.ConvNet();
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.5, SkipFirstAndLast: false, MinElements: 1), report);

        Assert.Equal(54, Weight(model, "conv.W").Count(v => v == 0));
        Assert.Equal(4, Weight(model, "fc.W").Count(v => v == 0));
        Assert.Equal(0, Weight(model, "conv.B").Count(v => v == 0));
        Assert.Contains(report.Nodes, c => c.OpType == "BatchNormalization" && c.Reason!.Contains("normalisation", StringComparison.Ordinal));
        var input = PruneOrt.Random(2 * 3 * 8 * 8, seed: 1);
        var pruned = PruneOrt.Run(model, "image", input, [2, 3, 8, 8]);
        Assert.Equal(4, pruned.Length);
        Assert.All(pruned, v => Assert.True(float.IsFinite(v)));
        Assert.NotEqual(PruneOrt.Run(TestModels.ConvNet(), "image", input, [2, 3, 8, 8]), pruned);
    }

    [Fact]
    public void WeightsInConstantNodes_ArePrunedInPlace()
    {
        var model = TestModels.MlpWithConstantWeights();
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.5, SkipFirstAndLast: false, MinElements: 1), report);

        var w1 = TensorData.ReadFloats(model.Graph.Node.Single(n => n.Output[0] == "W1").Attribute.Single().T);
        var b1 = TensorData.ReadFloats(model.Graph.Node.Single(n => n.Output[0] == "B1").Attribute.Single().T);
        Assert.Equal(16, w1.Count(v => v == 0));
        Assert.Equal(0, b1.Count(v => v == 0));
        Assert.Equal(2, report.Rewritten);
        Assert.Empty(model.Graph.SparseInitializer);
        Assert.Equal(6, PruneOrt.Run(model, "input", PruneOrt.Random(8, seed: 3), [2, 4]).Length);
    }

    [Fact]
    public void HighSparsity_StoresSparseInitializers_ThatOrtRunsExactlyLikeDense()
    {
        var model = PruneModels.ThreeLayers();
        var denseSize = OnnxModelFile.SerializedSize(model);
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.9, SkipFirstAndLast: false), report);

        Assert.Equal(3, report.Figures["sparseInitializers"]);
        Assert.DoesNotContain(model.Graph.Initializer, t => t.Name.StartsWith('W'));
        Assert.Equal(3, model.Graph.SparseInitializer.Count);
        Assert.True(report.Figures["storedBytes"] < denseSize * 0.4, $"{report.Figures["storedBytes"]} vs {denseSize}");
        var dense = Densify(model);
        Assert.Equal(1843, Weight(dense, "W1").Count(v => v == 0));
        var input = PruneOrt.Random(32 * 3, seed: 2);
        Assert.Equal(PruneOrt.Run(dense, "x", input, [3, 32]), PruneOrt.Run(model, "x", input, [3, 32]));
    }

    [Fact]
    public void HalfSparsity_StaysDense_AndReportsASmallerCompressedSize()
    {
        var model = PruneModels.ThreeLayers();
        var originalCompressed = MagnitudePruningPass.CompressedSize(PruneModels.ThreeLayers());
        var report = new PassReport("prune");

        Prune(model, new PruningOptions(0.5, SkipFirstAndLast: false), report);

        Assert.Equal(0, report.Figures["sparseInitializers"]);
        Assert.Equal(OnnxModelFile.SerializedSize(model), report.Figures["storedBytes"]);
        Assert.True(report.Figures["compressedBytes"] < report.Figures["storedBytes"] * 0.75, $"{report.Figures["compressedBytes"]} vs {report.Figures["storedBytes"]}");
        Assert.True(report.Figures["compressedBytes"] < originalCompressed * 0.75);
    }

    [Fact]
    public void ResNet18_Pruned50PerLayer_RunsAndStaysClose()
    {
        var watch = Stopwatch.StartNew();
        var original = OnnxModelFile.Load(RealModels.ResNet18Path);
        var report = new PassReport("prune");

        var pruned = Prune(original.Clone(), new PruningOptions(0.5), report);

        using var fp32 = new InferenceSession(original.ToByteArray());
        using var sparse = new InferenceSession(pruned.ToByteArray());
        var cosines = new List<double>();
        for (var seed = 0; seed < 2; seed++)
        {
            var image = PruneOrt.Random(3 * 224 * 224, seed).Select(v => v * 2f).ToArray();
            cosines.Add(PruneOrt.Cosine(PruneOrt.Run(fp32, "Input247", image, [1, 3, 224, 224]), PruneOrt.Run(sparse, "Input247", image, [1, 3, 224, 224])));
        }
        output.WriteLine($"ResNet-18 pruned 50% per layer: sparsity {report.Figures["sparsity"]:0.000} over {report.Figures["prunedTensors"]} tensors, " +
                         $"stored {report.Figures["storedBytes"] / 1e6:0.00} MB (dense original {OnnxModelFile.SerializedSize(original) / 1e6:0.00} MB), " +
                         $"compressed {report.Figures["compressedBytes"] / 1e6:0.00} MB, feature cosine {string.Join(", ", cosines.Select(c => c.ToString("0.0000")))}, {watch.ElapsedMilliseconds} ms");
        Assert.Equal(0.5, report.Figures["sparsity"], 3);
        Assert.Contains(report.Nodes, c => c.Reason?.StartsWith("first", StringComparison.Ordinal) == true);
        Assert.Contains(report.Notes, n => n.Contains("IR version", StringComparison.Ordinal));
        Assert.True(report.Figures["compressedBytes"] < report.Figures["storedBytes"] * 0.7);
        Assert.All(cosines, c => Assert.True(c > 0.5, $"cosine {c}"));
    }

    /// <summary>The model with its sparse initializers written out dense again, as ORT does at load.</summary>
    private static ModelProto Densify(ModelProto model)
    {
        var dense = model.Clone();
        foreach (var sparse in dense.Graph.SparseInitializer)
        {
            var values = new float[sparse.Dims.Aggregate(1L, (a, b) => a * b)];
            var kept = TensorData.ReadFloats(sparse.Values);
            var positions = TensorData.ReadInt64s(sparse.Indices);
            for (var i = 0; i < positions.Length; i++) values[positions[i]] = kept[i];
            dense.Graph.Initializer.Add(TensorData.Float(sparse.Values.Name, sparse.Dims, values));
        }
        dense.Graph.SparseInitializer.Clear();
        return dense;
    }
}

file static class PruneModels
{
    /// <summary>x [batch,32] → MatMul W1 [32,64] → Relu → MatMul W2 [64,64] → Relu → MatMul W3 [64,16] → y [batch,16]: 2048, 4096 and 1024 weights.</summary>
    public static ModelProto ThreeLayers()
    {
        var graph = new GraphProto { Name = "three" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, "batch", 32));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, "batch", 16));
        graph.Initializer.Add(TestModels.FloatTensor("W1", [32, 64], PruneOrt.Random(2048, seed: 11)));
        graph.Initializer.Add(TestModels.FloatTensor("W2", [64, 64], PruneOrt.Random(4096, seed: 12)));
        graph.Initializer.Add(TestModels.FloatTensor("W3", [64, 16], PruneOrt.Random(1024, seed: 13)));
        graph.Node.Add(TestModels.Node("MatMul", "fc1", ["x", "W1"], ["h1"]));
        graph.Node.Add(TestModels.Node("Relu", "relu1", ["h1"], ["a1"]));
        graph.Node.Add(TestModels.Node("MatMul", "fc2", ["a1", "W2"], ["h2"]));
        graph.Node.Add(TestModels.Node("Relu", "relu2", ["h2"], ["a2"]));
        graph.Node.Add(TestModels.Node("MatMul", "fc3", ["a2", "W3"], ["y"]));
        return Model(graph);
    }

    public static ModelProto TwoTinyLayers(float[] w1, float[] w2)
    {
        var graph = new GraphProto { Name = "tiny" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, 1, 2));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, 1, 2));
        graph.Initializer.Add(TestModels.FloatTensor("W1", [2, 2], w1));
        graph.Initializer.Add(TestModels.FloatTensor("W2", [2, 2], w2));
        graph.Node.Add(TestModels.Node("MatMul", "fc1", ["x", "W1"], ["h"]));
        graph.Node.Add(TestModels.Node("MatMul", "fc2", ["h", "W2"], ["y"]));
        return Model(graph);
    }

    private static ModelProto Model(GraphProto graph)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "test", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }
}

file static class PruneOrt
{
    public static float[] Random(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
    }

    public static float[] Run(ModelProto model, string inputName, float[] values, long[] shape)
    {
        using var session = new InferenceSession(model.ToByteArray());
        return Run(session, inputName, values, shape);
    }

    public static float[] Run(InferenceSession session, string inputName, float[] values, long[] shape)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(values, shape);
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, [inputName], [input], session.OutputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
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
