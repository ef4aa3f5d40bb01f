using System.Diagnostics;
using System.Globalization;
using System.Text;
using MaaS.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Benchmarks;

/// <summary>
/// Training time and ONNX model size per trainer on a generated binary-classification dataset (default 100,000 rows,
/// 20 feature columns: 16 numeric with a few missing values, 4 categorical), and each exported model's batch-1
/// latency in ONNX Runtime against ML.NET's PredictionEngine on the same rows, in one run.
/// </summary>
internal static class TrainingBenchmark
{
    private const int NumericColumns = 16, CategoricalColumns = 4, LatencyRows = 2000;

    public static int Run(string[] args)
    {
        var rows = args.Length > 1 && args[0] == "--rows" ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
        Console.WriteLine($"{DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC · {Environment.ProcessorCount} cores · {RuntimeInformationText()}");

        var csv = Generate(rows, seed: 11);
        Console.WriteLine($"dataset: {rows:N0} rows × {NumericColumns + CategoricalColumns} features + label, {Encoding.UTF8.GetByteCount(csv) / 1048576.0:0.0} MiB of CSV");
        var bytes = Encoding.UTF8.GetBytes(csv);
        var read = Stopwatch.StartNew();
        var profile = DatasetProfiler.Profile(new MemoryStream(bytes));
        var profiled = read.Elapsed;
        var request = new TrainingRequest { LabelColumn = "label", Task = TrainingTask.Binary, Seed = 1 };
        var data = TabularData.Load(new MemoryStream(bytes), profile, request);
        Console.WriteLine($"profile {profiled.TotalSeconds:0.00} s, load {(read.Elapsed - profiled).TotalSeconds:0.00} s");
        Console.WriteLine();
        Console.WriteLine("| trainer | fit + validate (s) | whole run incl. ONNX export and check (s) | ONNX size | log-loss | accuracy | ORT batch-1 p50 (µs) | ML.NET PredictionEngine p50 (µs) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");

        foreach (var trainer in Trainers.Names)
        {
            var watch = Stopwatch.StartNew();
            TrainingOutcome outcome;
            try
            {
                outcome = TabularTrainer.Train(data, request with { Trainer = trainer });
            }
            catch (TrainingException ex)
            {
                // The portal refuses such a model too; the table says so instead of stopping the run.
                Console.WriteLine($"| {Trainers.Title(trainer, request.Task)} | — | {watch.Elapsed.TotalSeconds:0.0} | refused: {ex.Message} | | | | |");
                continue;
            }
            var total = watch.Elapsed.TotalSeconds;
            var run = outcome.Runs.Single();
            var metrics = outcome.Metrics.Classification!;
            var (ort, mlnet) = Latency(outcome, data);
            Console.WriteLine($"| {run.Title} | {run.Seconds:0.0} | {total:0.0} | {outcome.Onnx.Length / 1024.0:N0} KiB | {metrics.LogLoss:0.####} | {metrics.Accuracy:P1} | {ort:0} | {mlnet:0} |");
        }
        return 0;
    }

    /// <summary>Median microseconds per single-row prediction, ONNX Runtime and ML.NET, alternating over the same rows.</summary>
    private static (double Ort, double MlNet) Latency(TrainingOutcome outcome, TabularData data)
    {
        using var session = new InferenceSession(outcome.Onnx);
        var ml = new MLContext(1);
        var engine = ml.Model.CreatePredictionEngine<BenchmarkRow, BenchmarkPrediction>(outcome.Model!);
        var ortTimes = new List<double>(LatencyRows);
        var mlnetTimes = new List<double>(LatencyRows);
        var shape = new[] { 1, 1 };
        for (var r = 0; r < LatencyRows + 200; r++)
        {
            var row = r % data.Count;
            var inputs = data.Features.Select(f => f.Numbers is { } n
                ? NamedOnnxValue.CreateFromTensor(f.InputName, new DenseTensor<float>(new[] { n[row] }, shape))
                : NamedOnnxValue.CreateFromTensor(f.InputName, new DenseTensor<string>(new[] { f.Categories![row].ToString() }, shape))).ToList();
            var example = BenchmarkRow.From(data, row);

            var watch = Stopwatch.StartNew();
            using (var results = session.Run(inputs)) _ = results.First().AsTensor<string>()[0];
            var ortMicros = watch.Elapsed.TotalMicroseconds;
            watch.Restart();
            _ = engine.Predict(example).PredictedLabel;
            var mlnetMicros = watch.Elapsed.TotalMicroseconds;
            if (r < 200) continue; // warm-up
            ortTimes.Add(ortMicros);
            mlnetTimes.Add(mlnetMicros);
        }
        return (Median(ortTimes), Median(mlnetTimes));
    }

    private static double Median(List<double> values)
    {
        values.Sort();
        return values[values.Count / 2];
    }

    /// <summary>A label that depends on most features (linearly and not), so every trainer has something to learn.</summary>
    private static string Generate(int rows, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        var header = Enumerable.Range(0, NumericColumns).Select(i => $"f{i:00}").Concat(Enumerable.Range(0, CategoricalColumns).Select(i => $"c{i}")).Append("label");
        text.AppendJoin(',', header).Append('\n');
        var x = new double[NumericColumns];
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < NumericColumns; i++) x[i] = random.NextDouble() * 2 - 1;
            var cats = Enumerable.Range(0, CategoricalColumns).Select(i => random.Next(3 + 2 * i)).ToArray();
            var z = 0.0;
            for (var i = 0; i < NumericColumns; i++) z += (i % 2 == 0 ? 1 : -1) * x[i] / (1 + i * 0.2);
            z += x[0] * x[1] * 2 + (cats[0] == 1 ? 0.8 : 0) - (cats[2] == 3 ? 0.6 : 0) + (random.NextDouble() - 0.5);
            for (var i = 0; i < NumericColumns; i++)
            {
                if (i > 0) text.Append(',');
                if ((r + i) % 97 != 0) text.Append(x[i].ToString("0.####", CultureInfo.InvariantCulture));
            }
            foreach (var (cat, i) in cats.Select((c, i) => (c, i))) text.Append(",k").Append(i).Append('_').Append(cat);
            text.Append(z > 0 ? ",yes\n" : ",no\n");
        }
        return text.ToString();
    }

    private static string RuntimeInformationText() =>
        $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription.Trim()}, {System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription}";
}

/// <summary>The benchmark dataset's row as ML.NET's PredictionEngine takes it: one field per model input.</summary>
internal sealed class BenchmarkRow
{
#pragma warning disable IDE1006, CS0649 // named as the model's inputs; set by reflection in From
    public float f00, f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15;
    public string c0 = "", c1 = "", c2 = "", c3 = "";
#pragma warning restore IDE1006, CS0649

    public static BenchmarkRow From(TabularData data, int row)
    {
        var result = new BenchmarkRow();
        foreach (var feature in data.Features)
        {
            var field = typeof(BenchmarkRow).GetField(feature.InputName)!;
            field.SetValue(result, feature.Numbers is { } n ? n[row] : feature.Categories![row].ToString());
        }
        return result;
    }
}

internal sealed class BenchmarkPrediction
{
    [ColumnName("PredictedLabel")]
    public string PredictedLabel = "";

    [ColumnName("Score")]
    public float[] Score = [];
}
