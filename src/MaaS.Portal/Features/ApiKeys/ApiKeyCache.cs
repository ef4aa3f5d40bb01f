using System.Security.Claims;
using System.Collections.Concurrent;

namespace MaaS.Portal.Features.ApiKeys;

/// <summary>
/// Who a key belongs to and what it may do, as <see cref="ApiKeyAuthenticator"/> needs it. A class, not a record: it
/// carries its principal once built, which neither equality nor a <c>with</c> copy should see.
/// </summary>
public sealed class ApiKeyIdentity(Guid keyId, string userId, string userName, IReadOnlyList<string> roles, string? deploymentScope,
    double? requestsPerSecond, DateTimeOffset? expiresAt)
{
    private ClaimsPrincipal? _principal;

    public Guid KeyId { get; } = keyId;
    public string UserId { get; } = userId;
    public string UserName { get; } = userName;
    public IReadOnlyList<string> Roles { get; } = roles;
    public string? DeploymentScope { get; } = deploymentScope;
    public double? RequestsPerSecond { get; } = requestsPerSecond;
    public DateTimeOffset? ExpiresAt { get; } = expiresAt;

    /// <summary>
    /// The key's owner as a principal, built on first use and shared by every request the cached identity serves
    /// (nothing adds claims to it), so a call does not rebuild its claims. A race builds two equal ones; either is kept.
    /// </summary>
    public ClaimsPrincipal Principal => _principal ??= ApiKeyAuthenticator.PrincipalOf(this);
}

/// <summary>
/// Keys looked up in the last few seconds. Every /v2 call authenticates, and two SQLite queries per call cost more
/// than a small model's inference (measured: 1.3 ms of CPU per request, 0.07× a minimal server's throughput).
/// Revoking a key, disabling its owner or changing their roles removes the entries at once; anything else (a row
/// edited by hand) shows within <see cref="Lifetime"/>.
/// </summary>
public sealed class ApiKeyCache(TimeProvider? clock = null)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(10);

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    private readonly ConcurrentDictionary<string, (ApiKeyIdentity Identity, DateTimeOffset Until)> _byHash = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, DateTimeOffset> _lastUsedWritten = new();
    // Bumped by every Forget: a lookup that started before a revoke must not put its stale answer back.
    private long _epoch;

    /// <summary>Read before looking a key up in the database; pass it to <see cref="Put"/>.</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    public bool TryGet(string hash, out ApiKeyIdentity identity)
    {
        identity = null!;
        if (!_byHash.TryGetValue(hash, out var entry)) return false;
        var now = _clock.GetUtcNow();
        if (entry.Until <= now || entry.Identity.ExpiresAt <= now)
        {
            _byHash.TryRemove(hash, out _);
            return false;
        }
        identity = entry.Identity;
        return true;
    }

    public void Put(string hash, ApiKeyIdentity identity, long epochBeforeLookUp)
    {
        if (Epoch != epochBeforeLookUp) return; // something was revoked or changed meanwhile: do not cache this answer
        _byHash[hash] = (identity, _clock.GetUtcNow() + Lifetime);
    }

    public void ForgetKey(Guid keyId)
    {
        Interlocked.Increment(ref _epoch);
        foreach (var (hash, entry) in _byHash) if (entry.Identity.KeyId == keyId) _byHash.TryRemove(hash, out _);
    }

    public void ForgetUser(string userId)
    {
        Interlocked.Increment(ref _epoch);
        foreach (var (hash, entry) in _byHash) if (entry.Identity.UserId == userId) _byHash.TryRemove(hash, out _);
    }

    /// <summary>True when "last used" should be written now: at most once per key per <paramref name="resolution"/>.</summary>
    public bool ShouldWriteLastUsed(Guid keyId, TimeSpan resolution)
    {
        var now = _clock.GetUtcNow();
        var written = _lastUsedWritten.GetValueOrDefault(keyId);
        if (now - written < resolution) return false;
        _lastUsedWritten[keyId] = now;
        return true;
    }
}
