using System.Collections.Concurrent;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// Request bodies too large to write into a snippet (an image tensor as JSON is megabytes), kept briefly so the page
/// can offer them as request.json: by an unguessable id, to the user who made them only, a bounded number in all.
/// </summary>
public sealed class PlaygroundRequests(TimeProvider clock)
{
    public const int MaxKept = 64;
    // One user's runs must not push everyone else's downloads out: each keeps their newest few.
    public const int MaxKeptPerUser = 4;
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    private readonly ConcurrentDictionary<Guid, (string UserId, byte[] Body, DateTimeOffset At)> _bodies = new();

    public Guid Keep(string userId, ReadOnlyMemory<byte> body)
    {
        var id = Guid.NewGuid();
        var now = clock.GetUtcNow();
        _bodies[id] = (userId, body.ToArray(), now);
        foreach (var (old, _) in _bodies.Where(p => now - p.Value.At > Lifetime).ToList()) _bodies.TryRemove(old, out _);
        foreach (var (old, _) in _bodies.Where(p => p.Value.UserId == userId).OrderByDescending(p => p.Value.At).Skip(MaxKeptPerUser).ToList()) _bodies.TryRemove(old, out _);
        foreach (var (old, _) in _bodies.OrderByDescending(p => p.Value.At).Skip(MaxKept).ToList()) _bodies.TryRemove(old, out _);
        return id;
    }

    public byte[]? Find(Guid id, string userId) =>
        _bodies.TryGetValue(id, out var kept) && kept.UserId == userId && clock.GetUtcNow() - kept.At <= Lifetime ? kept.Body : null;

    public static string PathOf(Guid id) => $"/ui/playground/requests/{id:N}/request.json";
}
