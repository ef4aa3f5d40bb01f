using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace MaaS.Onnx.Tests;

public class EvaluatorTests
{
    private static readonly EvaluationOptions Quick = new(WarmupRuns: 1, TimedRuns: 6);

    [Fact]
    public void IdenticalModels_AgreeExactly()
    {
        using var folder = new TempFolder();
        var original = TestModels.Write(TestModels.Mlp(), folder.Path, "original.onnx");
        var candidate = TestModels.Write(TestModels.Mlp(), folder.Path, "candidate.onnx");

        var result = Evaluator.Evaluate(original, candidate, samples: null, Quick);

        var output = Assert.Single(result.Outputs);
        Assert.Equal("output", output.Output);
        Assert.Equal(1.0, output.MeanCosine, 12);
        Assert.Equal(0.0, output.MaxAbsError);
        Assert.Equal(0.0, output.MeanRelativeError);
        Assert.Equal(1.0, output.Top1Agreement);
        Assert.Equal(0, output.NonFiniteValues);
        Assert.True(result.GeneratedSamples);
        Assert.Equal(8, result.SampleCount);
        Assert.Equal(new FileInfo(original).Length, result.OriginalBytes);
        Assert.Equal(1.0, result.SizeRatio);
        Assert.True(result.Original.P50Milliseconds > 0 && result.Candidate.P50Milliseconds > 0);
        Assert.True(result.Original.P95Milliseconds >= result.Original.P50Milliseconds);
        // Timing on a shared CI machine is noisy: only a gross difference would be a bug.
        Assert.InRange(result.LatencyRatio, 0.05, 20);
        Assert.True(result.Check(new QualityGate(MinCosine: 0.9999, MaxTop1Disagreement: 0)).Passed);
    }

    [Fact]
    public void ShiftedBias_GivesThatShiftAsMaxError_AndCosineBelowOne()
    {
        using var folder = new TempFolder();
        var original = TestModels.Write(TestModels.Mlp(), folder.Path, "original.onnx");
        var perturbed = TestModels.Mlp();
        // B2 is added last, straight into the output: adding 0.5 to its first element moves output[:, 0] by exactly 0.5.
        var b2 = perturbed.Graph.Initializer.Single(i => i.Name == "B2");
        var values = TensorData.ReadFloats(b2);
        values[0] += 0.5f;
        TensorData.WriteFloats(b2, values);
        var candidate = TestModels.Write(perturbed, folder.Path, "candidate.onnx");

        var result = Evaluator.Evaluate(original, candidate, CalibrationTests.MlpSamples(5, seed: 3), Quick);

        var output = Assert.Single(result.Outputs);
        Assert.Equal(0.5, output.MaxAbsError, 5);
        Assert.True(output.MeanCosine < 1.0);
        Assert.True(output.MeanRelativeError > 0);
        Assert.False(result.GeneratedSamples);
        Assert.Equal(5, result.SampleCount);

        var gate = result.Check(new QualityGate(MinCosine: 0.99999999));
        Assert.False(gate.Passed);
        var failure = Assert.Single(gate.Failures);
        Assert.Contains($"{output.MeanCosine:0.0000}", failure);
        Assert.Contains("below the gate", failure);
    }

    [Fact]
    public void NaNWeights_AreCounted_AndFailTheGate()
    {
        using var folder = new TempFolder();
        var original = TestModels.Write(TestModels.Mlp(), folder.Path, "original.onnx");
        var broken = TestModels.Mlp();
        var w2 = broken.Graph.Initializer.Single(i => i.Name == "W2");
        TensorData.WriteFloats(w2, Enumerable.Repeat(float.NaN, 24).ToArray());
        var candidate = TestModels.Write(broken, folder.Path, "candidate.onnx");

        var result = Evaluator.Evaluate(original, candidate, CalibrationTests.MlpSamples(4, seed: 5, batch: 1), Quick);

        var output = Assert.Single(result.Outputs);
        Assert.Equal(4 * 3, output.NonFiniteValues);
        Assert.Equal(0.0, output.MeanCosine);
        var gate = result.Check(new QualityGate(MinCosine: null));
        Assert.False(gate.Passed);
        Assert.Contains("Output 'output' has 12 NaN or infinite values.", gate.Failures);
    }

    [Fact]
    public void LatencyGate_NamesTheRatioAndTheLimit()
    {
        var result = new EvaluationResult(1000, 250, new Latency(10, 12), new Latency(8, 9),
            [new OutputAgreement("y", 0.01, 0.001, 0.999, null, 0)], SampleCount: 4, GeneratedSamples: false);

        Assert.Equal(0.25, result.SizeRatio);
        Assert.Equal(0.8, result.LatencyRatio, 12);
        var gate = result.Check(new QualityGate(MinCosine: 0.99, MaxLatencyRatio: 0.6));
        Assert.False(gate.Passed);
        Assert.Equal(["Latency ratio 0.80 is above the gate's 0.60."], gate.Failures);
        Assert.True(result.Check(new QualityGate(MinCosine: 0.99, MaxLatencyRatio: 0.9)).Passed);
    }

    [Fact]
    public void Int64Outputs_AreComparedByEquality()
    {
        using var folder = new TempFolder();
        var argMax = TestModels.Write(LabelModel("ArgMax"), folder.Path, "argmax.onnx");
        var argMaxAgain = TestModels.Write(LabelModel("ArgMax"), folder.Path, "argmax2.onnx");
        var argMin = TestModels.Write(LabelModel("ArgMin"), folder.Path, "argmin.onnx");
        // Rows of distinct values: the arg-max and the arg-min always differ.
        ModelSample[] samples =
        [
            new([SampleTensor.Floats("scores", [2, 3], [0.1f, 0.9f, 0.3f, 2f, 1f, 0f])]),
            new([SampleTensor.Floats("scores", [2, 3], [5f, -1f, 0f, 0f, 0.5f, 1f])]),
        ];

        var same = Assert.Single(Evaluator.Evaluate(argMax, argMaxAgain, samples, Quick).Outputs);
        var different = Assert.Single(Evaluator.Evaluate(argMax, argMin, samples, Quick).Outputs);

        Assert.Equal(1.0, same.MeanCosine);
        Assert.Equal(0.0, same.MaxAbsError);
        Assert.Null(same.Top1Agreement);
        Assert.Equal(0.0, different.MeanCosine);
        Assert.Equal(1.0, different.MeanRelativeError);
        // Labels 1 vs 0, 0 vs 2, 0 vs 1, 2 vs 0: the largest distance is 2.
        Assert.Equal(2.0, different.MaxAbsError);
    }

    [Fact]
    public void CandidateWithOtherOutputShape_IsRejectedWithAReason()
    {
        using var folder = new TempFolder();
        var original = TestModels.Write(LabelModel("ArgMax"), folder.Path, "a.onnx");
        var candidate = TestModels.Write(LabelModel("ArgMax", keepDims: 1), folder.Path, "b.onnx");
        ModelSample[] samples = [new([SampleTensor.Floats("scores", [1, 3], [1f, 2f, 3f])])];

        var error = Assert.Throws<InvalidDataException>(() => Evaluator.Evaluate(original, candidate, samples, Quick));
        Assert.Contains("shape [1, 1] in the candidate but [1]", error.Message);
    }

    [Fact]
    public void Percentile_IsNearestRank()
    {
        var sorted = Enumerable.Range(1, 20).Select(i => (double)i).ToArray();
        Assert.Equal(10, Evaluator.Percentile(sorted, 0.50));
        Assert.Equal(19, Evaluator.Percentile(sorted, 0.95));
        Assert.Equal(20, Evaluator.Percentile(sorted, 1.0));
        Assert.Equal(7, Evaluator.Percentile([7.0], 0.95));
    }

    [Fact]
    public void Generator_FillsFloatInputs_WithTheirShape_Reproducibly()
    {
        using var session = new InferenceSession(TestModels.Bytes(TestModels.Mlp()));

        var normal = SampleGenerator.Generate(session, 50, seed: 7);
        var again = SampleGenerator.Generate(session, 50, seed: 7);
        var uniform = SampleGenerator.Generate(session, 50, seed: 7, new SampleGeneratorOptions(UniformFloats: true, UniformLow: 2, UniformHigh: 3));

        var input = normal[0].Inputs.Single();
        Assert.Equal("input", input.Name);
        Assert.Equal(TensorElementType.Float, input.ElementType);
        Assert.Equal([1L, 4L], input.Shape);
        var all = normal.SelectMany(s => (float[])s.Inputs[0].Values).ToArray();
        Assert.Equal(all, again.SelectMany(s => (float[])s.Inputs[0].Values));
        // 200 standard-normal draws: the mean lies within ±0.3 and the spread near 1 far beyond chance.
        Assert.InRange(all.Average(), -0.3, 0.3);
        Assert.InRange(Math.Sqrt(all.Average(v => v * v)), 0.8, 1.2);
        Assert.Contains(all, v => v < 0);
        Assert.All(uniform.SelectMany(s => (float[])s.Inputs[0].Values), v => Assert.InRange(v, 2f, 3f));
    }

    [Fact]
    public void Generator_ForMiniLm_GivesIdsInVocabulary_MasksOfOnes_TokenTypesOfZeros()
    {
        using var session = new InferenceSession(RealModels.MiniLmPath);

        var samples = SampleGenerator.Generate(session, 4, seed: 1, new SampleGeneratorOptions(SequenceLength: 12));

        Assert.Equal(4, samples.Count);
        foreach (var sample in samples)
        {
            var byName = sample.Inputs.ToDictionary(i => i.Name);
            Assert.Equal(["attention_mask", "input_ids", "token_type_ids"], byName.Keys.Order());
            Assert.All(byName.Values, t => Assert.Equal([1L, 12L], t.Shape));
            Assert.All(byName.Values, t => Assert.Equal(TensorElementType.Int64, t.ElementType));
            Assert.All((long[])byName["input_ids"].Values, id => Assert.InRange(id, 1000, 30521));
            Assert.All((long[])byName["attention_mask"].Values, m => Assert.Equal(1, m));
            Assert.All((long[])byName["token_type_ids"].Values, t => Assert.Equal(0, t));
        }
        // And ORT accepts them.
        var first = samples[0].Inputs.Select(i => i.ToOrtValue()).ToArray();
        try
        {
            // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, samples[0].Inputs.Select(i => i.Name).ToArray(), first, session.OutputMetadata.Keys.ToArray());
            Assert.Equal([1L, 12L, 384L], outputs[0].GetTensorTypeAndShape().Shape);
        }
        finally
        {
            foreach (var value in first) value.Dispose();
        }
    }

    [Fact]
    public void FromTokenIds_BuildsBertInputs()
    {
        var sample = SampleGenerator.FromTokenIds([101, 7592, 102]);

        var byName = sample.Inputs.ToDictionary(i => i.Name);
        Assert.Equal([101L, 7592L, 102L], (long[])byName["input_ids"].Values);
        Assert.Equal([1L, 1L, 1L], (long[])byName["attention_mask"].Values);
        Assert.Equal([0L, 0L, 0L], (long[])byName["token_type_ids"].Values);
        Assert.All(byName.Values, t => Assert.Equal([1L, 3L], t.Shape));
    }

    /// <summary>"scores" float [batch, 3] → ArgMax or ArgMin over axis 1 → "label" int64.</summary>
    private static ModelProto LabelModel(string opType, long keepDims = 0)
    {
        var graph = new GraphProto { Name = "labels" };
        graph.Input.Add(TestModels.TensorValue("scores", TensorProto.Types.DataType.Float, TestModels.Batch, 3));
        graph.Output.Add(keepDims == 0
            ? TestModels.TensorValue("label", TensorProto.Types.DataType.Int64, TestModels.Batch)
            : TestModels.TensorValue("label", TensorProto.Types.DataType.Int64, TestModels.Batch, 1));
        var node = TestModels.Node(opType, "pick", ["scores"], ["label"]);
        node.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        node.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = keepDims });
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = TestModels.DefaultIrVersion, Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = TestModels.DefaultOpset });
        return model;
    }
}
