using System.Globalization;
using System.Text;

namespace MaaS.Portal.Features.Metering;

/// <summary>
/// Request latencies counted in logarithmic buckets, so percentiles survive being summed: minute buckets, hour and day
/// roll-ups and any group of them merge by adding counts, which means and maxima cannot give a p95 from. Bucket 0 holds
/// latencies under 100 µs; bucket i ≥ 1 holds [100 µs × 2^((i−1)/2), 100 µs × 2^(i/2)); the last also holds everything
/// longer. Each bucket spans a factor of √2, so a percentile read back is within about ±19% of the true one.
/// <para>Stored as sparse text, "index:count" pairs separated by spaces ("7:120 8:31"): a minute with one latency range
/// costs a few bytes, and a person reading the database can make sense of it.</para>
/// </summary>
public sealed class LatencyHistogram
{
    public const int BucketCount = 48;
    private const double Smallest = 1e-4;

    private readonly long[] _counts = new long[BucketCount];

    public long Count { get; private set; }

    public static int BucketOf(double seconds)
    {
        if (!(seconds >= Smallest)) return 0;
        var index = (int)Math.Floor(2 * Math.Log2(seconds / Smallest)) + 1;
        return Math.Clamp(index, 1, BucketCount - 1);
    }

    /// <summary>The geometric middle of a bucket: the value a percentile falling in it is read as.</summary>
    public static double MiddleOf(int bucket) => bucket == 0 ? Smallest / 2 : Smallest * Math.Pow(2, (bucket - 0.5) / 2);

    public void Add(double seconds) => Add(BucketOf(seconds), 1);

    public void Add(int bucket, long count)
    {
        _counts[bucket] += count;
        Count += count;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < BucketCount; i++) _counts[i] += other._counts[i];
        Count += other.Count;
    }

    /// <summary>Adds a stored histogram; text that does not parse (hand-edited rows) is skipped pair by pair.</summary>
    public void Add(string? stored)
    {
        if (string.IsNullOrEmpty(stored)) return;
        foreach (var pair in stored.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var colon = pair.IndexOf(':');
            if (colon > 0
                && int.TryParse(pair.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out var bucket) && bucket < BucketCount
                && long.TryParse(pair.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
            {
                Add(bucket, count);
            }
        }
    }

    public static LatencyHistogram Parse(string? stored)
    {
        var histogram = new LatencyHistogram();
        histogram.Add(stored);
        return histogram;
    }

    /// <summary>Merges stored histograms without materialising each: the roll-up's and the reports' way.</summary>
    public static string Merge(string? a, string? b)
    {
        if (string.IsNullOrEmpty(a)) return b ?? "";
        if (string.IsNullOrEmpty(b)) return a;
        var histogram = Parse(a);
        histogram.Add(b);
        return histogram.ToString();
    }

    /// <summary>The latency in seconds below which <paramref name="fraction"/> of the requests fell; null when empty.</summary>
    public double? Percentile(double fraction)
    {
        if (Count == 0) return null;
        var rank = Math.Max(1, (long)Math.Ceiling(fraction * Count));
        long seen = 0;
        for (var i = 0; i < BucketCount; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return MiddleOf(i);
        }
        return MiddleOf(BucketCount - 1);
    }

    public override string ToString()
    {
        var text = new StringBuilder();
        for (var i = 0; i < BucketCount; i++)
        {
            if (_counts[i] == 0) continue;
            if (text.Length > 0) text.Append(' ');
            text.Append(i.ToString(CultureInfo.InvariantCulture)).Append(':').Append(_counts[i].ToString(CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }
}
