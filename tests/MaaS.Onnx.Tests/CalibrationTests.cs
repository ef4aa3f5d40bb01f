using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Onnx.Tests;

public class CalibrationTests
{
    [Fact]
    public void MinMax_TakesTheMinOfMinsAndTheMaxOfMaxes()
    {
        var collector = new MinMaxCollector();
        collector.Add([1f, -2f, 3f]);
        collector.Add([0.5f, 4f, -1f]);

        Assert.Equal(new TensorRange(-2f, 4f), collector.Range());
    }

    [Fact]
    public void Percentile_CutsTheTail_OfAUniformDistribution()
    {
        // |x| takes each of 1..1000 twice; the 99th percentile of |x| is 990 (to within one 2048-bin width, ~0.49).
        var values = Enumerable.Range(1, 1000).SelectMany(v => new[] { (float)v, -v }).ToArray();
        var collector = new PercentileCollector(percentile: 99);
        collector.Add(values);

        var range = collector.Range();

        Assert.InRange(range.Max, 989.5f, 990.6f);
        Assert.Equal(-range.Max, range.Min);
    }

    [Fact]
    public void Percentile_ClampsToTheObservedRange()
    {
        var collector = new PercentileCollector();
        collector.Add([0f, 1f, 2f, 3f]);
        collector.Add([10f]);

        var range = collector.Range();

        Assert.Equal(0f, range.Min);
        Assert.InRange(range.Max, 9.9f, 10f);
    }

    [Fact]
    public void Entropy_PicksAThresholdBelowAnOutlier()
    {
        var random = new Random(3);
        var normal = Enumerable.Range(0, 20_000).Select(_ => (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()))).ToArray();
        var collector = new EntropyCollector();
        collector.Add(normal);
        collector.Add([60f]);

        var range = collector.Range();

        // MinMax would give 60; KL keeps the bulk of a unit normal and clips the single outlier.
        Assert.InRange(range.Max, 2.5f, 15f);
        Assert.InRange(range.Min, -15f, -2.5f);
    }

    [Fact]
    public void Calibrate_ObservesIntermediateTensors_AsOrtComputesThem()
    {
        var model = TestModels.Mlp();
        var samples = MlpSamples(4, seed: 1);

        var ranges = Calibrator.Calibrate(model, ["input", "h1b", "output"], samples);

        var inputs = samples.SelectMany(s => (float[])s.Inputs[0].Values).ToArray();
        Assert.Equal(new TensorRange(inputs.Min(), inputs.Max()), ranges["input"]);
        var outputs = new List<float>();
        using var session = new InferenceSession(TestModels.Bytes(model));
        foreach (var sample in samples)
        {
            using var value = sample.Inputs[0].ToOrtValue();
            // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
            using var runOptions = new RunOptions();
            using var result = session.Run(runOptions, ["input"], [value], ["output"]);
            outputs.AddRange(result[0].GetTensorDataAsSpan<float>().ToArray());
        }
        Assert.Equal(outputs.Min(), ranges["output"].Min, 5);
        Assert.Equal(outputs.Max(), ranges["output"].Max, 5);
        Assert.True(ranges["h1b"].Max > ranges["h1b"].Min);
    }

    [Fact]
    public void Calibrate_GeneratesInputs_WhenNoSamplesAreGiven()
    {
        var ranges = Calibrator.Calibrate(TestModels.ConvNet(), ["image", "logits"], []);

        Assert.InRange(ranges["image"].Min, -1f, -0.9f);
        Assert.InRange(ranges["image"].Max, 0.9f, 1f);
        Assert.True(ranges["logits"].Max > ranges["logits"].Min);
    }

    internal static IReadOnlyList<ModelSample> MlpSamples(int count, int seed, int batch = 2)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count)
            .Select(_ => new ModelSample([SampleTensor.Floats("input", [batch, 4], Enumerable.Range(0, batch * 4).Select(_ => (float)(random.NextDouble() * 4 - 2)).ToArray())]))
            .ToList();
    }
}
