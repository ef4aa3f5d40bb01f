using System.Security.Claims;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.ApiKeys;

/// <summary>What an <c>Authorization</c> header proves: no key sent, a key refused (and why), or whose key it is.</summary>
public readonly record struct ApiKeyCheck(ApiKeyIdentity? Identity, string? Failure)
{
    public static readonly ApiKeyCheck NoKey = new(null, null);
}

/// <summary>
/// Checks <c>Authorization: Bearer &lt;key&gt;</c>: the one place that does, for the ApiKey authentication scheme
/// (/api and the V2 metadata routes) and for V2 inference, which calls it directly to skip the middleware pipeline
/// (see <c>InferenceApi.MapInferenceApi</c>). Revoked and expired keys and disabled owners are refused. Keys are
/// looked up through <see cref="ApiKeyCache"/>; "last used" is written at most once a minute per key.
/// </summary>
public sealed class ApiKeyAuthenticator(IDbContextFactory<PortalDbContext> dbFactory, ApiKeyCache cache)
{
    public const string SchemeName = "ApiKey";

    // Writing "last used" on every call would put a write on the inference hot path.
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    public async ValueTask<ApiKeyCheck> CheckAsync(string? header, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(header)) return ApiKeyCheck.NoKey;
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return new(null, "Use 'Authorization: Bearer <api key>'.");
        var secret = header.AsSpan("Bearer ".Length).Trim();
        if (secret.Length is 0 or > 200) return new(null, "The API key is malformed.");

        var hash = ApiKeyService.Hash(secret);
        if (!cache.TryGet(hash, out var identity))
        {
            var epoch = cache.Epoch;
            var found = await LookUpAsync(hash, ct);
            if (found is null) return new(null, "The API key is unknown, revoked, expired, or its owner is disabled.");
            identity = found;
            cache.Put(hash, identity, epoch);
        }

        if (cache.ShouldWriteLastUsed(identity.KeyId, LastUsedResolution))
        {
            await using var db = await dbFactory.CreateDbContextAsync(ct);
            var now = DateTimeOffset.UtcNow;
            await db.ApiKeys.Where(k => k.Id == identity.KeyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), ct);
        }
        return new(identity, null);
    }

    /// <summary>
    /// The key's owner as a principal, with the key's id and deployment scope as claims. Use
    /// <see cref="ApiKeyIdentity.Principal"/>, which builds this once per cached identity.
    /// </summary>
    internal static ClaimsPrincipal PrincipalOf(ApiKeyIdentity identity)
    {
        List<Claim> claims =
        [
            new(ClaimTypes.NameIdentifier, identity.UserId),
            new(ClaimTypes.Name, identity.UserName),
            new(ApiKeyClaims.KeyId, identity.KeyId.ToString()),
            .. identity.Roles.Select(r => new Claim(ClaimTypes.Role, r)),
        ];
        if (identity.DeploymentScope is { } scope) claims.Add(new Claim(ApiKeyClaims.DeploymentScope, scope));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
    }

    /// <summary>The 401 every route that needs a key answers without one (or with one refused).</summary>
    public static Task WriteChallengeAsync(HttpContext http)
    {
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized",
            detail: "Send an API key as 'Authorization: Bearer <key>'. Create one under API keys in the portal.").ExecuteAsync(http);
    }

    private async Task<ApiKeyIdentity?> LookUpAsync(string hash, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var match = await db.ApiKeys.AsNoTracking()
            .Where(k => k.SecretHash == hash && k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now))
            .Join(db.Users, k => k.OwnerId, u => u.Id, (k, u) => new { Key = k, User = u })
            .SingleOrDefaultAsync(ct);
        if (match is null || match.User.IsDisabled) return null;
        var roles = await db.UserRoles.Where(ur => ur.UserId == match.User.Id)
            .Join(db.Roles, ur => ur.RoleId, r => r.Id, (ur, r) => r.Name!)
            .ToListAsync(ct);
        return new ApiKeyIdentity(match.Key.Id, match.User.Id, match.User.UserName ?? match.User.Id, roles,
            match.Key.DeploymentScope, match.Key.RequestsPerSecond, match.Key.ExpiresAt);
    }
}
