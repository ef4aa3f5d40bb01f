using System.Collections.Concurrent;

namespace MaaS.Portal.Features.Inference;

/// <summary>
/// A token bucket per API key: it holds up to one second of requests and refills at the key's rate, so short bursts
/// pass and a steady excess gets 429 with the time until the next token. In memory: one portal process serves /v2.
/// </summary>
public sealed class KeyRateLimiter(TimeProvider clock)
{
    private readonly ConcurrentDictionary<Guid, Bucket> _buckets = new();

    private sealed class Bucket(double tokens, long at)
    {
        public double Tokens = tokens;
        public long At = at;
    }

    public bool TryAcquire(Guid keyId, double requestsPerSecond, out TimeSpan retryAfter)
    {
        var capacity = Math.Max(1, requestsPerSecond);
        var now = clock.GetTimestamp();
        var bucket = _buckets.GetOrAdd(keyId, _ => new Bucket(capacity, now));
        lock (bucket)
        {
            var elapsed = clock.GetElapsedTime(bucket.At, now).TotalSeconds;
            bucket.Tokens = Math.Min(capacity, bucket.Tokens + elapsed * requestsPerSecond);
            bucket.At = now;
            if (bucket.Tokens >= 1)
            {
                bucket.Tokens -= 1;
                retryAfter = TimeSpan.Zero;
                return true;
            }
            retryAfter = TimeSpan.FromSeconds((1 - bucket.Tokens) / requestsPerSecond);
            return false;
        }
    }
}
