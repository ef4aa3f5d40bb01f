using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>How observed activation values become a quantization range (compression-algorithms.md §1.6).</summary>
public enum CalibrationMethod { MinMax, Percentile, Entropy }

/// <summary>The real-valued range a tensor is quantized over.</summary>
public readonly record struct TensorRange(float Min, float Max);

/// <summary>Accumulates the values one tensor took over all calibration runs and reduces them to a range.</summary>
public interface IRangeCollector
{
    void Add(ReadOnlySpan<float> values);
    TensorRange Range();
}

/// <summary>MinMax: min of the mins, max of the maxes.</summary>
public sealed class MinMaxCollector : IRangeCollector
{
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        var (min, max) = QuantizationMath.MinMax(values);
        _min = Math.Min(_min, min);
        _max = Math.Max(_max, max);
    }

    public TensorRange Range() => float.IsInfinity(_min) ? new TensorRange(0, 0) : new TensorRange(_min, _max);
}

/// <summary>
/// Percentile, symmetric (ORT's HistogramCalibrater "percentile"): a histogram of |x| (2048 bins over the first
/// batch's |x| range, widened with the same bin width when a later batch goes further), then the edge where the
/// cumulative share reaches the percentile gives (-edge, +edge), clamped to the observed min and max.
/// </summary>
public sealed class PercentileCollector(double percentile = 99.999, int bins = 2048) : IRangeCollector
{
    private long[]? _hist;
    private double _first, _width;
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        var (min, max) = QuantizationMath.MinMax(values);
        _min = Math.Min(_min, min);
        _max = Math.Max(_max, max);
        double absMin = double.PositiveInfinity, absMax = 0;
        foreach (var v in values)
        {
            var a = Math.Abs((double)v);
            if (a < absMin) absMin = a;
            if (a > absMax) absMax = a;
        }
        if (_hist is null)
        {
            // numpy.histogram(bins=n) spans [min, max] of the data, widened by ±0.5 when they are equal.
            if (absMin == absMax) { absMin -= 0.5; absMax += 0.5; }
            _first = absMin;
            _width = (absMax - absMin) / bins;
            _hist = new long[bins];
        }
        else if (absMax > _first + _width * _hist.Length)
        {
            var extra = (int)Math.Ceiling((absMax - (_first + _width * _hist.Length)) / _width);
            Array.Resize(ref _hist, _hist.Length + extra);
        }
        foreach (var v in values)
        {
            var a = Math.Abs((double)v);
            if (a < _first) continue;
            var bin = (int)((a - _first) / _width);
            _hist[Math.Min(bin, _hist.Length - 1)]++;
        }
    }

    public TensorRange Range()
    {
        if (_hist is null) return new TensorRange(0, 0);
        var total = (double)_hist.Sum();
        double cdf = 0;
        var target = percentile / 100.0;
        var index = _hist.Length;
        // numpy.searchsorted(cdf, p): the first index whose cumulative share is >= p.
        for (var i = 0; i < _hist.Length; i++)
        {
            cdf += _hist[i] / total;
            if (cdf >= target) { index = i; break; }
        }
        var edge = (float)(_first + _width * index);
        return new TensorRange(Math.Max(-edge, _min), Math.Min(edge, _max));
    }
}

/// <summary>
/// Entropy (KL divergence, TensorRT-style, as ORT's calibrate.py): a histogram of raw values over [-T, T], merged
/// across batches by widening symmetrically with the same bin width; then, for every symmetric window of at least
/// <paramref name="quantizedBins"/> bins around zero, the KL divergence between the window (outliers folded into its
/// edge bins) and its <paramref name="quantizedBins"/>-level quantization; the window with the least divergence gives
/// the range, clamped to the observed min and max. ORT's defaults (128 bins and 128 quantized bins) leave a single
/// window, i.e. plain MinMax, so this uses TensorRT's 2048 bins to make the search meaningful.
/// </summary>
public sealed class EntropyCollector(int bins = 2048, int quantizedBins = 128) : IRangeCollector
{
    private long[]? _hist;
    private double _threshold;
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        var (min, max) = QuantizationMath.MinMax(values);
        _min = Math.Min(_min, min);
        _max = Math.Max(_max, max);
        var threshold = Math.Max(Math.Abs((double)min), Math.Abs((double)max));
        if (_hist is null)
        {
            _threshold = threshold;
            _hist = Histogram(values, bins, threshold);
            return;
        }
        if (threshold <= _threshold)
        {
            var add = Histogram(values, _hist.Length, _threshold);
            for (var i = 0; i < add.Length; i++) _hist[i] += add[i];
        }
        else if (_threshold == 0)
        {
            var add = Histogram(values, _hist.Length, threshold);
            for (var i = 0; i < add.Length; i++) add[i] += _hist[i];
            _hist = add;
            _threshold = threshold;
        }
        else
        {
            var stride = 2 * _threshold / _hist.Length;
            var half = (int)Math.Floor((threshold - _threshold) / stride) + 1;
            var widened = half * stride + _threshold;
            var add = Histogram(values, _hist.Length + 2 * half, widened);
            for (var i = 0; i < _hist.Length; i++) add[half + i] += _hist[i];
            _hist = add;
            _threshold = widened;
        }
    }

    private static long[] Histogram(ReadOnlySpan<float> values, int count, double threshold)
    {
        var hist = new long[count];
        // numpy.histogram with range (0, 0) widens to ±0.5.
        var low = threshold == 0 ? -0.5 : -threshold;
        var width = (threshold == 0 ? 1.0 : 2 * threshold) / count;
        foreach (var v in values)
        {
            var bin = (int)((v - low) / width);
            hist[Math.Clamp(bin, 0, count - 1)]++;
        }
        return hist;
    }

    public TensorRange Range()
    {
        if (_hist is null) return new TensorRange(0, 0);
        var (low, high) = Threshold(_hist, _threshold, quantizedBins);
        return new TensorRange((float)Math.Max(low, _min), (float)Math.Min(high, _max));
    }

    /// <summary>
    /// The KL threshold search over a histogram spanning [-threshold, threshold]. A histogram widened far beyond its
    /// first batch's range (an outlier) has many bins; the window then grows by several bins a step, so the search
    /// stays near 1000 windows as with TensorRT's 2048 bins.
    /// </summary>
    public static (double Low, double High) Threshold(long[] hist, double threshold, int quantizedBins)
    {
        var count = hist.Length;
        var width = 2 * threshold / count;
        double Edge(int i) => -threshold + i * width;
        var zero = count / 2;
        var halfQuantized = quantizedBins / 2;
        var step = Math.Max(1, (zero - halfQuantized) / 1024);
        var bestKl = double.PositiveInfinity;
        (double, double) best = (Edge(0), Edge(count));
        var prefix = new long[count + 1];
        for (var i = 0; i < count; i++) prefix[i + 1] = prefix[i] + hist[i];
        var p = new double[count];
        var q = new double[count];
        for (var i = halfQuantized; i <= zero; i += step)
        {
            var start = zero - i;
            var end = Math.Min(zero + i + 1, count);
            var length = end - start;
            for (var j = 0; j < length; j++) p[j] = hist[start + j];
            p[0] += prefix[start];
            p[length - 1] += prefix[count] - prefix[end];

            var merged = length / quantizedBins;
            for (var k = 0; k < quantizedBins; k++)
            {
                var from = k * merged;
                var to = k == quantizedBins - 1 ? length : from + merged;
                var sum = (double)(prefix[start + to] - prefix[start + from]);
                var nonZero = 0;
                for (var j = from; j < to; j++) if (p[j] != 0) nonZero++;
                // The quantized level spreads uniformly over the bins the reference distribution has mass in.
                for (var j = from; j < to; j++) q[j] = p[j] != 0 && nonZero > 0 ? sum / nonZero : 0;
            }
            var kl = SmoothedKl(p.AsSpan(0, length), q.AsSpan(0, length));
            if (kl < bestKl)
            {
                bestKl = kl;
                best = (Edge(start), Edge(end));
            }
        }
        return best;
    }

    /// <summary>
    /// scipy.stats.entropy(p, q) after calibrate.py's smooth_distribution on both (eps on empty bins, taken evenly
    /// from the others); infinite when either is all zeros.
    /// </summary>
    private static double SmoothedKl(ReadOnlySpan<double> p, ReadOnlySpan<double> q, double eps = 1e-4)
    {
        var (pZeros, pSum) = ZerosAndSum(p);
        var (qZeros, qSum) = ZerosAndSum(q);
        if (pZeros == p.Length || qZeros == q.Length) return double.PositiveInfinity;
        var pEps = eps * pZeros / (p.Length - pZeros);
        var qEps = eps * qZeros / (q.Length - qZeros);
        // Smoothing moves mass between bins but keeps each total.
        double kl = 0;
        for (var i = 0; i < p.Length; i++)
        {
            var pi = (p[i] == 0 ? eps : p[i] - pEps) / pSum;
            var qi = (q[i] == 0 ? eps : q[i] - qEps) / qSum;
            kl += pi * Math.Log(pi / qi);
        }
        return kl;
    }

    private static (int Zeros, double Sum) ZerosAndSum(ReadOnlySpan<double> values)
    {
        var zeros = 0;
        double sum = 0;
        foreach (var v in values)
        {
            if (v == 0) zeros++;
            sum += v;
        }
        return (zeros, sum);
    }
}

/// <summary>
/// Runs a float model on calibration samples and reduces the values of chosen intermediate tensors to ranges. The
/// tensors become extra graph outputs of a copy of the model, run with ORT's graph optimisations off so every one of
/// them exists as the original graph computes it.
/// </summary>
public static class Calibrator
{
    public static IRangeCollector CreateCollector(CalibrationMethod method, double percentile = 99.999) => method switch
    {
        CalibrationMethod.MinMax => new MinMaxCollector(),
        CalibrationMethod.Percentile => new PercentileCollector(percentile),
        CalibrationMethod.Entropy => new EntropyCollector(),
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };

    /// <summary>
    /// Ranges of the float tensors <paramref name="tensors"/> (graph inputs or node outputs of the main graph). With no
    /// samples, inputs are generated (<see cref="GenerateSamples"/>), which makes for weak ranges.
    /// </summary>
    public static Dictionary<string, TensorRange> Calibrate(ModelProto model, IReadOnlyCollection<string> tensors,
        IReadOnlyList<ModelSample> samples, CalibrationMethod method = CalibrationMethod.MinMax, double percentile = 99.999,
        CancellationToken cancellationToken = default)
    {
        if (samples.Count == 0) samples = GenerateSamples(model, 8);
        var augmented = model.Clone();
        var graph = augmented.Graph;
        var existing = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in tensors.Where(t => !existing.Contains(t) && !inputs.Contains(t)))
        {
            // ORT accepts an output of known element type and unknown shape.
            graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = OnnxElementTypes.Float } } });
        }
        var collectors = tensors.Distinct().ToDictionary(t => t, _ => CreateCollector(method, percentile), StringComparer.Ordinal);
        var outputNames = collectors.Keys.Where(t => !inputs.Contains(t)).ToArray();
        using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
        using var session = outputNames.Length == 0 ? null : OnnxModelFile.CreateSession(augmented, options);
        foreach (var sample in samples)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var values = sample.Inputs.Select(i => i.ToOrtValue()).ToList();
            try
            {
                foreach (var input in sample.Inputs.Where(i => collectors.ContainsKey(i.Name) && i.Values is float[]))
                {
                    collectors[input.Name].Add((float[])input.Values);
                }
                if (session is null) continue;
                // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
                using var runOptions = new RunOptions();
                using var results = session.Run(runOptions, sample.Inputs.Select(i => i.Name).ToArray(), values, outputNames);
                for (var i = 0; i < outputNames.Length; i++)
                {
                    collectors[outputNames[i]].Add(results[i].GetTensorDataAsSpan<float>());
                }
            }
            finally
            {
                foreach (var value in values) value.Dispose();
            }
        }
        return collectors.ToDictionary(c => c.Key, c => c.Value.Range(), StringComparer.Ordinal);
    }

    /// <summary>
    /// Random inputs that respect each graph input's element type and shape (symbolic dimensions become 1): floats
    /// uniform in [-1, 1), integers in [0, 10), booleans false. Ranges calibrated on them only fit inputs like them.
    /// </summary>
    public static IReadOnlyList<ModelSample> GenerateSamples(ModelProto model, int count, int seed = 17)
    {
        var random = new Random(seed);
        var initializers = model.Graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var samples = new List<ModelSample>();
        for (var s = 0; s < count; s++)
        {
            var inputs = new List<SampleTensor>();
            foreach (var input in model.Graph.Input.Where(i => !initializers.Contains(i.Name)))
            {
                var tensorType = input.Type?.TensorType ?? throw new NotSupportedException($"Input '{input.Name}' is not a tensor.");
                var shape = tensorType.Shape?.Dim.Select(d => d.DimValue > 0 ? d.DimValue : 1).ToArray() ?? [];
                var length = checked((int)OnnxGraphs.ElementCount(shape));
                var type = (TensorElementType)tensorType.ElemType;
                Array values = type switch
                {
                    TensorElementType.Float => Enumerable.Range(0, length).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray(),
                    TensorElementType.Double => Enumerable.Range(0, length).Select(_ => random.NextDouble() * 2 - 1).ToArray(),
                    TensorElementType.Int64 => Enumerable.Range(0, length).Select(_ => (long)random.Next(10)).ToArray(),
                    TensorElementType.Int32 => Enumerable.Range(0, length).Select(_ => random.Next(10)).ToArray(),
                    TensorElementType.Bool => new bool[length],
                    _ => throw new NotSupportedException($"Input '{input.Name}' has element type {type}; calibration cannot generate it."),
                };
                inputs.Add(new SampleTensor(input.Name, type, shape, values));
            }
            samples.Add(new ModelSample(inputs));
        }
        return samples;
    }
}
