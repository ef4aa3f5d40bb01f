using System.Collections.Concurrent;

namespace MaaS.Portal.Features.Deployments;

/// <summary>One minute of one deployment: requests, errors, latency percentiles.</summary>
public sealed record MinuteFigures(DateTimeOffset Minute, int Requests, int Errors, double P50Milliseconds, double P95Milliseconds);

public sealed record RecentError(DateTimeOffset At, int Status, string Message);

/// <summary>What the Deployments page shows live: the last hour by minute, and the last errors.</summary>
public sealed record DeploymentFigures(double RequestsPerSecond, double P50Milliseconds, double P95Milliseconds, long Errors,
    IReadOnlyList<MinuteFigures> LastHour, IReadOnlyList<RecentError> RecentErrors);

/// <summary>
/// Live request figures per deployment, kept in memory for the last hour: a request adds to its minute under a lock
/// held for a few instructions, never a database write (metering's durable buckets are built from the same calls).
/// </summary>
public sealed class DeploymentMetrics(TimeProvider clock)
{
    private const int KeptMinutes = 60;
    // Latencies kept per minute for percentiles (a uniform sample beyond that: enough for p95 of a busy minute).
    private const int SamplesPerMinute = 2048;

    private readonly ConcurrentDictionary<string, Series> _series = new(StringComparer.Ordinal);

    public void Record(string deployment, TimeSpan latency, int status, string? error = null)
    {
        var series = _series.GetOrAdd(deployment, _ => new Series());
        var now = clock.GetUtcNow();
        lock (series)
        {
            var minute = series.MinuteFor(now);
            minute.Requests++;
            if (status >= 400)
            {
                minute.Errors++;
                series.TotalErrors++;
                if (error is not null)
                {
                    series.Errors.Enqueue(new RecentError(now, status, error.Length > 300 ? error[..300] + "…" : error));
                    while (series.Errors.Count > 20) series.Errors.Dequeue();
                }
            }
            else if (minute.Latencies.Count < SamplesPerMinute)
            {
                minute.Latencies.Add(latency.TotalMilliseconds);
            }
            else if (Random.Shared.Next(minute.Requests) < SamplesPerMinute)
            {
                // Reservoir sampling: every request of a busy minute has the same chance to be among the kept ones.
                minute.Latencies[Random.Shared.Next(SamplesPerMinute)] = latency.TotalMilliseconds;
            }
        }
    }

    public void Forget(string deployment) => _series.TryRemove(deployment, out _);

    public DeploymentFigures Figures(string deployment)
    {
        if (!_series.TryGetValue(deployment, out var series)) return new DeploymentFigures(0, 0, 0, 0, [], []);
        var now = clock.GetUtcNow();
        lock (series)
        {
            series.Trim(now);
            var minutes = series.Minutes.OrderBy(m => m.Start).Select(m =>
            {
                var sorted = m.Latencies.Order().ToList();
                return new MinuteFigures(m.Start, m.Requests, m.Errors, Percentile(sorted, 0.5), Percentile(sorted, 0.95));
            }).ToList();
            // Rate over the last full minute and the current one, so a burst shows at once and fades within a minute.
            var recent = series.Minutes.Where(m => m.Start >= Truncate(now).AddMinutes(-1)).ToList();
            var seconds = 60 + (now - Truncate(now)).TotalSeconds;
            var latencies = recent.SelectMany(m => m.Latencies).Order().ToList();
            return new DeploymentFigures(recent.Sum(m => m.Requests) / seconds, Percentile(latencies, 0.5), Percentile(latencies, 0.95),
                series.TotalErrors, minutes, series.Errors.Reverse().ToList());
        }
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero);

    private sealed class Minute(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; } = start;
        public int Requests;
        public int Errors;
        public List<double> Latencies { get; } = [];
    }

    private sealed class Series
    {
        public List<Minute> Minutes { get; } = [];
        public Queue<RecentError> Errors { get; } = new();
        public long TotalErrors;

        public Minute MinuteFor(DateTimeOffset now)
        {
            var start = Truncate(now);
            if (Minutes.Count > 0 && Minutes[^1].Start == start) return Minutes[^1];
            Trim(now);
            var minute = new Minute(start);
            Minutes.Add(minute);
            return minute;
        }

        public void Trim(DateTimeOffset now) => Minutes.RemoveAll(m => m.Start <= Truncate(now).AddMinutes(-KeptMinutes));
    }
}
