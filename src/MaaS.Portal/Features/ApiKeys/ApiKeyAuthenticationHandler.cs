using System.Security.Claims;
using System.Text.Encodings.Web;
using MaaS.Portal.Data;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.ApiKeys;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> for /api and /v2. Revoked and expired keys and disabled owners get 401. The
/// key's id, deployment scope and rate limit travel as claims for the inference endpoints.
/// </summary>
public static class ApiKeyClaims
{
    public const string KeyId = "api_key_id";
    /// <summary>",a,b," — the deployments the key may call; absent: all its owner may call.</summary>
    public const string DeploymentScope = "api_key_deployments";
    public const string RequestsPerSecond = "api_key_rps";

    public static Guid? KeyIdOf(ClaimsPrincipal user) => Guid.TryParse(user.FindFirstValue(KeyId), out var id) ? id : null;

    /// <summary>Whether the key may call the named deployment (its scope lists it, or it has no scope).</summary>
    public static bool MayCall(ClaimsPrincipal user, string deployment) =>
        user.FindFirstValue(DeploymentScope) is not { } scope || scope.Contains($",{deployment},", StringComparison.Ordinal);
}

public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IDbContextFactory<PortalDbContext> dbFactory,
    ApiKeyCache cache)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";

    // Writing "last used" on every call would put a write on the inference hot path.
    private static readonly TimeSpan LastUsedResolution = TimeSpan.FromMinutes(1);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return AuthenticateResult.Fail("Use 'Authorization: Bearer <api key>'.");
        var secret = header["Bearer ".Length..].Trim();
        if (secret.Length is 0 or > 200) return AuthenticateResult.Fail("The API key is malformed.");

        var hash = ApiKeyService.Hash(secret);
        if (!cache.TryGet(hash, out var identity))
        {
            var epoch = cache.Epoch;
            var found = await LookUpAsync(hash);
            if (found is null) return AuthenticateResult.Fail("The API key is unknown, revoked, expired, or its owner is disabled.");
            identity = found;
            cache.Put(hash, identity, epoch);
        }

        if (cache.ShouldWriteLastUsed(identity.KeyId, LastUsedResolution))
        {
            await using var db = await dbFactory.CreateDbContextAsync(Context.RequestAborted);
            var now = DateTimeOffset.UtcNow;
            await db.ApiKeys.Where(k => k.Id == identity.KeyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), Context.RequestAborted);
        }

        List<Claim> claims =
        [
            new(ClaimTypes.NameIdentifier, identity.UserId),
            new(ClaimTypes.Name, identity.UserName),
            new(ApiKeyClaims.KeyId, identity.KeyId.ToString()),
            .. identity.Roles.Select(r => new Claim(ClaimTypes.Role, r)),
        ];
        if (identity.DeploymentScope is { } scope) claims.Add(new Claim(ApiKeyClaims.DeploymentScope, scope));
        if (identity.RequestsPerSecond is { } rate) claims.Add(new Claim(ApiKeyClaims.RequestsPerSecond, rate.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    private async Task<ApiKeyIdentity?> LookUpAsync(string hash)
    {
        var now = DateTimeOffset.UtcNow;
        await using var db = await dbFactory.CreateDbContextAsync(Context.RequestAborted);
        var match = await db.ApiKeys.AsNoTracking()
            .Where(k => k.SecretHash == hash && k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now))
            .Join(db.Users, k => k.OwnerId, u => u.Id, (k, u) => new { Key = k, User = u })
            .SingleOrDefaultAsync(Context.RequestAborted);
        if (match is null || match.User.IsDisabled) return null;
        var roles = await db.UserRoles.Where(ur => ur.UserId == match.User.Id)
            .Join(db.Roles, ur => ur.RoleId, r => r.Id, (ur, r) => r.Name!)
            .ToListAsync(Context.RequestAborted);
        return new ApiKeyIdentity(match.Key.Id, match.User.Id, match.User.UserName ?? match.User.Id, roles,
            match.Key.DeploymentScope, match.Key.RequestsPerSecond, match.Key.ExpiresAt);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return WriteProblemAsync(StatusCodes.Status401Unauthorized, "Unauthorized",
            "Send an API key as 'Authorization: Bearer <key>'. Create one under API keys in the portal.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        WriteProblemAsync(StatusCodes.Status403Forbidden, "Forbidden", "This needs the Admin role.");

    private Task WriteProblemAsync(int status, string title, string detail)
    {
        Response.StatusCode = status;
        return Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(Context);
    }
}
