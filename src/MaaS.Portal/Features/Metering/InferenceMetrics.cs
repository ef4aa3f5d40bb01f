using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace MaaS.Portal.Features.Metering;

/// <summary>
/// Counters and histograms of inference since the process started, for <c>/metrics</c>. Unlike the usage buckets these
/// are never drained: Prometheus computes rates from cumulative values. Updates are Interlocked operations on arrays
/// made once per series, so the hot path takes no lock here.
/// </summary>
public sealed class InferenceMetrics
{
    public static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    public static readonly double[] QueueBuckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
    public static readonly double[] BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    private readonly ConcurrentDictionary<(string Deployment, int Version, string Outcome), Counter> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _durations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Histogram> _queue = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Histogram> _batchSizes = new(StringComparer.Ordinal);
    private long _unknownModel;

    /// <summary>The outcome label of a status: ok, client_error, rate_limited, too_large, unavailable, server_error.</summary>
    public static string OutcomeOf(int status) => status switch
    {
        < 400 => "ok",
        429 => "rate_limited",
        413 => "too_large",
        503 => "unavailable",
        >= 500 => "server_error",
        _ => "client_error",
    };

    public void Observe(MeteredRequest request)
    {
        Interlocked.Increment(ref _requests.GetOrAdd((request.Deployment, request.Version, OutcomeOf(request.Status)), static _ => new Counter()).Value);
        _durations.GetOrAdd(request.Deployment, static _ => new Histogram(DurationBuckets)).Observe(request.Latency.TotalSeconds);
        if (request.Result is { } result)
        {
            _queue.GetOrAdd(request.Deployment, static _ => new Histogram(QueueBuckets)).Observe(result.QueueTime.TotalSeconds);
            _batchSizes.GetOrAdd(request.Deployment, static _ => new Histogram(BatchSizeBuckets)).Observe(result.BatchRequests);
        }
    }

    /// <summary>A request for a model name the caller may not see (or that does not exist): counted without the name.</summary>
    public void ObserveUnknownModel() => Interlocked.Increment(ref _unknownModel);

    /// <summary>
    /// Writes the counters and histograms in the Prometheus text format 0.0.4; <paramref name="memory"/> and
    /// <paramref name="deployments"/> are the gauges read at scrape time.
    /// </summary>
    public void WriteTo(StringBuilder text, IEnumerable<(string Deployment, int Version, long Bytes)> memory, IEnumerable<(string State, int Count)> deployments)
    {
        Header(text, "maas_inference_requests_total", "counter", "Inference requests by deployment, served version (0: none chosen) and outcome.");
        foreach (var ((deployment, version, outcome), counter) in _requests.OrderBy(p => p.Key))
        {
            Sample(text, "maas_inference_requests_total", Labels(("deployment", deployment), ("version", Invariant(version)), ("outcome", outcome)),
                Interlocked.Read(ref counter.Value));
        }
        Header(text, "maas_inference_unknown_model_requests_total", "counter", "Inference requests for a model name that does not exist or is not the caller's.");
        Sample(text, "maas_inference_unknown_model_requests_total", "", Interlocked.Read(ref _unknownModel));

        WriteHistograms(text, "maas_inference_request_duration_seconds", "Time to handle an inference request, end to end.", _durations);
        WriteHistograms(text, "maas_inference_queue_seconds", "Time a request waited for a free instance or for its batch to start.", _queue);
        WriteHistograms(text, "maas_inference_batch_size", "Requests in the run each request shared (1: it ran alone).", _batchSizes);

        Header(text, "maas_model_memory_bytes", "gauge", "Resident memory a loaded model version added when it was loaded.");
        foreach (var (deployment, version, bytes) in memory.OrderBy(m => m.Deployment, StringComparer.Ordinal).ThenBy(m => m.Version))
        {
            Sample(text, "maas_model_memory_bytes", Labels(("deployment", deployment), ("version", Invariant(version))), bytes);
        }
        Header(text, "maas_deployments", "gauge", "Deployments by state.");
        foreach (var (state, count) in deployments)
        {
            Sample(text, "maas_deployments", Labels(("state", state)), count);
        }
    }

    private static void WriteHistograms(StringBuilder text, string name, string help, ConcurrentDictionary<string, Histogram> series)
    {
        Header(text, name, "histogram", help);
        foreach (var (deployment, histogram) in series.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            var (counts, sum, count) = histogram.Read();
            long cumulative = 0;
            for (var i = 0; i < histogram.Bounds.Length; i++)
            {
                cumulative += counts[i];
                Sample(text, name + "_bucket", Labels(("deployment", deployment), ("le", Invariant(histogram.Bounds[i]))), cumulative);
            }
            Sample(text, name + "_bucket", Labels(("deployment", deployment), ("le", "+Inf")), count);
            Sample(text, name + "_sum", Labels(("deployment", deployment)), sum);
            Sample(text, name + "_count", Labels(("deployment", deployment)), count);
        }
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static void Sample(StringBuilder text, string name, string labels, double value) =>
        text.Append(name).Append(labels).Append(' ').Append(Invariant(value)).Append('\n');

    private static string Labels(params (string Name, string Value)[] labels) =>
        "{" + string.Join(",", labels.Select(l => $"{l.Name}=\"{Escape(l.Value)}\"")) + "}";

    // The text format escapes backslash, double quote and line feed in label values.
    private static string Escape(string value) => value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string Invariant(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : value.ToString("R", CultureInfo.InvariantCulture);

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    private sealed class Counter
    {
        public long Value;
    }

    /// <summary>Per-bucket counts (not cumulative: one increment per observation), with the sum and count.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length];
        private long _count;
        private long _sumBits;

        public double[] Bounds { get; } = bounds;

        public void Observe(double value)
        {
            var index = Array.BinarySearch(Bounds, value);
            if (index < 0) index = ~index;
            if (index < _counts.Length) Interlocked.Increment(ref _counts[index]);
            // A lock-free add to a double: retry when another thread changed it in between.
            long seen, next;
            do
            {
                seen = Interlocked.Read(ref _sumBits);
                next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            } while (Interlocked.CompareExchange(ref _sumBits, next, seen) != seen);
            Interlocked.Increment(ref _count);
        }

        public (long[] Counts, double Sum, long Count) Read()
        {
            var counts = new long[_counts.Length];
            for (var i = 0; i < counts.Length; i++) counts[i] = Interlocked.Read(ref _counts[i]);
            // Read the count last: it is then at least the buckets' total, as the format requires of +Inf.
            var sum = BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits));
            var count = Math.Max(Interlocked.Read(ref _count), counts.Sum());
            return (counts, sum, count);
        }
    }
}
