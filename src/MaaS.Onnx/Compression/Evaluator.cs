using System.Diagnostics;
using Google.Protobuf;
using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// How <see cref="Evaluator"/> runs: <see cref="TimedRuns"/> timed runs per model (cycling through the samples) after
/// <see cref="WarmupRuns"/> untimed ones, on <see cref="IntraOpThreads"/> threads; without samples it generates
/// <see cref="GeneratedSamples"/> from <see cref="Seed"/> (with <see cref="Generator"/>'s options).
/// </summary>
public sealed record EvaluationOptions(
    int WarmupRuns = 3,
    int TimedRuns = 20,
    int IntraOpThreads = 1,
    int GeneratedSamples = 8,
    int Seed = 42,
    SampleGeneratorOptions? Generator = null);

/// <summary>
/// Compares a compressed model with its original: sizes on disk, latency of both (batch-1 runs, interleaved in one
/// process with the same session settings, so machine load hits both alike), and how closely every output agrees.
/// </summary>
public static class Evaluator
{
    public static EvaluationResult Evaluate(string originalPath, string candidatePath, IReadOnlyList<ModelSample>? samples,
        EvaluationOptions? options = null, CancellationToken ct = default)
    {
        options ??= new EvaluationOptions();
        using var sessionOptions = SessionOptionsFor(options);
        using var original = new InferenceSession(originalPath, sessionOptions);
        using var candidate = new InferenceSession(candidatePath, sessionOptions);

        var generated = samples is null || samples.Count == 0;
        if (generated) samples = SampleGenerator.Generate(original, options.GeneratedSamples, options.Seed, options.Generator);
        CheckInputs(original, candidate, samples!);

        var outputs = original.OutputMetadata.Keys.ToArray();
        var missing = outputs.Where(o => !candidate.OutputMetadata.ContainsKey(o)).ToArray();
        if (missing.Length > 0) throw new InvalidDataException($"The candidate lacks output(s) {string.Join(", ", missing.Select(m => $"'{m}'"))} of the original.");

        using var runOptions = new RunOptions();
        var inputs = samples!.Select(s => new SampleInputs(s)).ToList();
        try
        {
            var agreement = outputs.Select(o => new AgreementAccumulator(o)).ToArray();
            foreach (var sample in inputs)
            {
                ct.ThrowIfCancellationRequested();
                using var expected = original.Run(runOptions, sample.Names, sample.Values, outputs);
                using var actual = candidate.Run(runOptions, sample.Names, sample.Values, outputs);
                for (var o = 0; o < outputs.Length; o++) agreement[o].Add(expected[o], actual[o]);
            }

            var (originalLatency, candidateLatency) = TimeInterleaved(original, candidate, inputs, outputs, runOptions, options, ct);
            return new EvaluationResult(
                SizeOnDisk(originalPath), SizeOnDisk(candidatePath), originalLatency, candidateLatency,
                agreement.Select(a => a.Result()).ToList(), samples!.Count, generated);
        }
        finally
        {
            foreach (var sample in inputs) sample.Dispose();
        }
    }

    /// <summary>The same settings for both models: a fair comparison needs nothing but the model to differ.</summary>
    private static SessionOptions SessionOptionsFor(EvaluationOptions options) => new()
    {
        IntraOpNumThreads = options.IntraOpThreads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    private static void CheckInputs(InferenceSession original, InferenceSession candidate, IReadOnlyList<ModelSample> samples)
    {
        var names = original.InputMetadata.Keys.ToHashSet(StringComparer.Ordinal);
        if (!names.SetEquals(candidate.InputMetadata.Keys))
            throw new InvalidDataException($"The models take different inputs: original {string.Join(", ", names)}; candidate {string.Join(", ", candidate.InputMetadata.Keys)}.");
        foreach (var sample in samples)
        {
            var given = sample.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            if (!given.SetEquals(names))
                throw new ArgumentException($"A sample gives inputs {string.Join(", ", given)} but the model takes {string.Join(", ", names)}.", nameof(samples));
        }
    }

    /// <summary>
    /// Alternates the models run by run and swaps which goes first each round, so drift in machine load (other
    /// processes, CPU frequency) falls on both equally.
    /// </summary>
    private static (Latency Original, Latency Candidate) TimeInterleaved(InferenceSession original, InferenceSession candidate,
        List<SampleInputs> inputs, string[] outputs, RunOptions runOptions, EvaluationOptions options, CancellationToken ct)
    {
        for (var i = 0; i < options.WarmupRuns; i++)
        {
            var sample = inputs[i % inputs.Count];
            original.Run(runOptions, sample.Names, sample.Values, outputs).Dispose();
            candidate.Run(runOptions, sample.Names, sample.Values, outputs).Dispose();
        }
        var originalTimes = new List<double>(options.TimedRuns);
        var candidateTimes = new List<double>(options.TimedRuns);
        for (var i = 0; i < options.TimedRuns; i++)
        {
            ct.ThrowIfCancellationRequested();
            var sample = inputs[i % inputs.Count];
            if (i % 2 == 0)
            {
                originalTimes.Add(Time(original, sample, outputs, runOptions));
                candidateTimes.Add(Time(candidate, sample, outputs, runOptions));
            }
            else
            {
                candidateTimes.Add(Time(candidate, sample, outputs, runOptions));
                originalTimes.Add(Time(original, sample, outputs, runOptions));
            }
        }
        return (Summarise(originalTimes), Summarise(candidateTimes));
    }

    private static double Time(InferenceSession session, SampleInputs sample, string[] outputs, RunOptions runOptions)
    {
        var clock = Stopwatch.StartNew();
        using (session.Run(runOptions, sample.Names, sample.Values, outputs)) clock.Stop();
        return clock.Elapsed.TotalMilliseconds;
    }

    private static Latency Summarise(List<double> times)
    {
        if (times.Count == 0) return new Latency(0, 0);
        times.Sort();
        return new Latency(Percentile(times, 0.50), Percentile(times, 0.95));
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double fraction)
    {
        if (sorted.Count == 0) return 0;
        var rank = (int)Math.Ceiling(fraction * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    /// <summary>Bytes the model takes on disk: the model file plus every external-data file it names.</summary>
    public static long SizeOnDisk(string path)
    {
        ModelProto model;
        using (var stream = File.OpenRead(path))
        {
            model = ModelProto.Parser.ParseFrom(CodedInputStream.CreateWithLimits(stream, int.MaxValue, 100));
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var external = OnnxGraphs.AllTensors(model)
            .Where(s => OnnxGraphs.IsExternal(s.Tensor))
            .Select(s => OnnxGraphs.ExternalValue(s.Tensor, "location"))
            .OfType<string>()
            .Distinct(StringComparer.Ordinal)
            .Select(location => new FileInfo(Path.Combine(folder, location)))
            .Where(f => f.Exists)
            .Sum(f => f.Length);
        return new FileInfo(path).Length + external;
    }

    /// <summary>One sample's inputs as OrtValues, made once and reused by every run.</summary>
    private sealed class SampleInputs : IDisposable
    {
        public SampleInputs(ModelSample sample)
        {
            Names = sample.Inputs.Select(i => i.Name).ToArray();
            Values = sample.Inputs.Select(i => i.ToOrtValue()).ToArray();
        }

        public string[] Names { get; }
        public OrtValue[] Values { get; }

        public void Dispose()
        {
            foreach (var value in Values) value.Dispose();
        }
    }

    /// <summary>Agreement figures of one output, summed over samples.</summary>
    private sealed class AgreementAccumulator(string output)
    {
        private double _maxAbsError;
        private double _relativeErrorSum;
        private long _relativeErrorCount;
        private double _cosineSum;
        private int _samples;
        private int _top1Rows;
        private int _top1Agreed;
        private int _nonFinite;

        public void Add(OrtValue expected, OrtValue actual)
        {
            var expectedShape = expected.GetTensorTypeAndShape().Shape;
            var actualShape = actual.GetTensorTypeAndShape().Shape;
            if (!expectedShape.SequenceEqual(actualShape))
                throw new InvalidDataException($"Output '{output}' has shape [{string.Join(", ", actualShape)}] in the candidate but [{string.Join(", ", expectedShape)}] in the original.");
            _samples++;
            var a = Numbers(expected);
            var b = Numbers(actual);
            if ((a is null) != (b is null))
                throw new InvalidDataException($"Output '{output}' is {expected.GetTensorTypeAndShape().ElementDataType} in the original but {actual.GetTensorTypeAndShape().ElementDataType} in the candidate.");
            if (a is null || b is null)
            {
                AddEquality(expected, actual);
                return;
            }

            // Relative to the output's own scale as well as to each element: elements near zero (after a ReLU, say)
            // would otherwise turn a tiny absolute error into an enormous relative one.
            var rms = Math.Sqrt(a.Sum(x => x * x) / Math.Max(1, a.Length));
            var epsilon = 1e-6 + 1e-3 * rms;
            double dot = 0, normA = 0, normB = 0;
            var finite = true;
            for (var i = 0; i < a.Length; i++)
            {
                if (!double.IsFinite(b[i]))
                {
                    _nonFinite++;
                    finite = false;
                    continue;
                }
                var error = Math.Abs(a[i] - b[i]);
                _maxAbsError = Math.Max(_maxAbsError, error);
                _relativeErrorSum += error / (Math.Abs(a[i]) + epsilon);
                _relativeErrorCount++;
                dot += a[i] * b[i];
                normA += a[i] * a[i];
                normB += b[i] * b[i];
            }
            // An output with NaN or infinite values agrees with nothing.
            _cosineSum += !finite ? 0 : normA == 0 && normB == 0 ? 1 : normA == 0 || normB == 0 ? 0 : dot / Math.Sqrt(normA * normB);

            if (LooksLikeClassScores(expectedShape))
            {
                var classes = (int)expectedShape[^1];
                for (var row = 0; row + classes <= a.Length; row += classes)
                {
                    _top1Rows++;
                    if (ArgMax(a, row, classes) == ArgMax(b, row, classes)) _top1Agreed++;
                }
            }
        }

        /// <summary>Labels, ids, strings, booleans: the figure is the fraction of elements that are equal.</summary>
        private void AddEquality(OrtValue expected, OrtValue actual)
        {
            var a = Elements(expected);
            var b = Elements(actual);
            var equal = 0;
            for (var i = 0; i < a.Length; i++)
            {
                if (Equals(a[i], b[i])) equal++;
                else _maxAbsError = Math.Max(_maxAbsError, Difference(a[i], b[i]));
            }
            var fraction = a.Length == 0 ? 1 : (double)equal / a.Length;
            _cosineSum += fraction;
            _relativeErrorSum += (1 - fraction) * a.Length;
            _relativeErrorCount += a.Length;
        }

        public OutputAgreement Result() => new(
            output,
            _maxAbsError,
            _relativeErrorCount == 0 ? 0 : _relativeErrorSum / _relativeErrorCount,
            _samples == 0 ? 0 : _cosineSum / _samples,
            _top1Rows == 0 ? null : (double)_top1Agreed / _top1Rows,
            _nonFinite);

        /// <summary>[C] or [N, C] with C ≥ 2: one score per class, the arg-max being the prediction.</summary>
        private static bool LooksLikeClassScores(long[] shape) => shape.Length is 1 or 2 && shape[^1] >= 2;

        private static int ArgMax(double[] values, int start, int count)
        {
            var best = start;
            for (var i = start + 1; i < start + count; i++)
            {
                if (values[i] > values[best]) best = i;
            }
            return best - start;
        }

        private static double[]? Numbers(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType switch
        {
            TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray().Select(v => (double)v).ToArray(),
            TensorElementType.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            TensorElementType.Float16 => value.GetTensorDataAsSpan<Float16>().ToArray().Select(v => (double)(float)v).ToArray(),
            _ => null,
        };

        private static object[] Elements(OrtValue value) => value.GetTensorTypeAndShape().ElementDataType switch
        {
            TensorElementType.Int64 => value.GetTensorDataAsSpan<long>().ToArray().Cast<object>().ToArray(),
            TensorElementType.Int32 => value.GetTensorDataAsSpan<int>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.Int16 => value.GetTensorDataAsSpan<short>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.Int8 => value.GetTensorDataAsSpan<sbyte>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.UInt8 => value.GetTensorDataAsSpan<byte>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.UInt16 => value.GetTensorDataAsSpan<ushort>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.UInt32 => value.GetTensorDataAsSpan<uint>().ToArray().Select(v => (object)(long)v).ToArray(),
            TensorElementType.UInt64 => value.GetTensorDataAsSpan<ulong>().ToArray().Select(v => (object)v).ToArray(),
            TensorElementType.Bool => value.GetTensorDataAsSpan<bool>().ToArray().Cast<object>().ToArray(),
            TensorElementType.String => value.GetStringTensorAsArray().Cast<object>().ToArray(),
            var type => throw new NotSupportedException($"Element type {type} cannot be compared."),
        };

        /// <summary>Integers differ by their distance; anything else (strings, booleans) by 1.</summary>
        private static double Difference(object a, object b) => a is long x && b is long y ? Math.Abs((double)x - y) : 1;
    }
}
