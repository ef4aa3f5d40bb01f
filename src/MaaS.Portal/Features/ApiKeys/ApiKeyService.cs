using System.Security.Cryptography;
using System.Text;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.ApiKeys;

/// <summary>A key as its owner sees it; the secret appears only in <see cref="CreatedApiKey"/>, once.</summary>
public sealed record ApiKeyView(Guid Id, string Name, string Prefix, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt,
    DateTimeOffset? ExpiresAt = null, IReadOnlyList<string>? Deployments = null, double? RequestsPerSecond = null)
{
    public static ApiKeyView From(ApiKey key) => new(key.Id, key.Name, key.Prefix, key.CreatedAt, key.LastUsedAt, key.RevokedAt,
        key.ExpiresAt, key.DeploymentScope?.Split(',', StringSplitOptions.RemoveEmptyEntries), key.RequestsPerSecond);
}

public sealed record CreatedApiKey(ApiKeyView Key, string Secret);

public sealed class ApiKeyService(IDbContextFactory<PortalDbContext> dbFactory, ApiKeyCache? cache = null)
{
    public const string SecretPrefix = "maas_";

    /// <summary>
    /// A new key; <paramref name="expiresAt"/> must lie ahead, <paramref name="deployments"/> limits it to those
    /// deployment names (null: every deployment its owner may call).
    /// </summary>
    public async Task<CreatedApiKey> CreateAsync(string ownerId, string name, DateTimeOffset? expiresAt = null, IReadOnlyList<string>? deployments = null)
    {
        name = name.Trim();
        if (name.Length is 0 or > 100) throw new ArgumentException("A key needs a name of 1 to 100 characters.", nameof(name));
        if (expiresAt is { } expiry && expiry <= DateTimeOffset.UtcNow) throw new ArgumentException("'expiresAt' must lie in the future.", nameof(expiresAt));
        string? scope = null;
        if (deployments is not null)
        {
            if (deployments.Any(string.IsNullOrWhiteSpace))
                throw new ArgumentException("'deployments' lists deployment names; one is empty or null.", nameof(deployments));
            var names = deployments.Select(d => d.Trim().ToLowerInvariant()).Distinct().ToList();
            if (names.Count == 0 || names.Any(n => n.Length > 63 || n.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))))
                throw new ArgumentException("'deployments' lists deployment names (lower-case letters, digits and '-').", nameof(deployments));
            scope = "," + string.Join(",", names) + ",";
            if (scope.Length > 2000) throw new ArgumentException("'deployments' is too long.", nameof(deployments));
        }

        var secret = SecretPrefix + Base64Url(RandomNumberGenerator.GetBytes(32));
        var key = new ApiKey { OwnerId = ownerId, Name = name, Prefix = PrefixOf(secret), SecretHash = Hash(secret), ExpiresAt = expiresAt, DeploymentScope = scope };
        await using var db = await dbFactory.CreateDbContextAsync();
        db.ApiKeys.Add(key);
        await db.SaveChangesAsync();
        return new CreatedApiKey(ApiKeyView.From(key), secret);
    }

    public async Task<IReadOnlyList<ApiKeyView>> ListAsync(string ownerId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var keys = await db.ApiKeys.AsNoTracking().Where(k => k.OwnerId == ownerId).OrderByDescending(k => k.CreatedAt).ToListAsync();
        return keys.Select(ApiKeyView.From).ToList();
    }

    /// <summary>Revokes one of the owner's keys; false when the owner has no such key.</summary>
    public async Task<bool> RevokeAsync(string ownerId, Guid keyId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        var now = DateTimeOffset.UtcNow;
        var found = await db.ApiKeys.Where(k => k.Id == keyId && k.OwnerId == ownerId).ExecuteUpdateAsync(s => s
            .SetProperty(k => k.RevokedAt, k => k.RevokedAt ?? now));
        cache?.ForgetKey(keyId);
        return found == 1;
    }

    /// <summary>Admins set a key's own rate limit on /v2 (null: the portal's default); false when there is no such key.</summary>
    public async Task<bool> SetRateLimitAsync(Guid keyId, double? requestsPerSecond)
    {
        if (requestsPerSecond is { } rate && (!double.IsFinite(rate) || rate <= 0 || rate > 1_000_000))
            throw new ArgumentException("'requestsPerSecond' is above 0 and at most 1,000,000 (or null for the default).", nameof(requestsPerSecond));
        await using var db = await dbFactory.CreateDbContextAsync();
        var found = await db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.RequestsPerSecond, requestsPerSecond)) == 1;
        cache?.ForgetKey(keyId);
        return found;
    }

    /// <summary>SHA-256 is enough here: keys are 256 random bits, so there is nothing to brute-force.</summary>
    public static string Hash(string secret) => Hash(secret.AsSpan());

    /// <summary>
    /// The same, from the header's characters: every /v2 call hashes its key, so this allocates only the hex string.
    /// Callers cap the key's length (200 characters at most reach here).
    /// </summary>
    public static string Hash(ReadOnlySpan<char> secret)
    {
        var length = Encoding.UTF8.GetMaxByteCount(secret.Length);
        var bytes = length <= 1024 ? stackalloc byte[length] : new byte[length];
        var written = Encoding.UTF8.GetBytes(secret, bytes);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(bytes[..written], hash);
        return Convert.ToHexStringLower(hash);
    }

    /// <summary>Enough of the key to recognise it in a list, never enough to use it.</summary>
    public static string PrefixOf(string secret) => secret.Length <= 12 ? secret[..Math.Min(4, secret.Length)] : secret[..12];

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
