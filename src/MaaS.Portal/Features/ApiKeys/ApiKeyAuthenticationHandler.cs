using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.ApiKeys;

/// <summary>The claims an API key's principal carries beside its owner's: the key's id and deployment scope.</summary>
public static class ApiKeyClaims
{
    public const string KeyId = "api_key_id";
    /// <summary>",a,b," — the deployments the key may call; absent: all its owner may call.</summary>
    public const string DeploymentScope = "api_key_deployments";

    /// <summary>Whether the key may call the named deployment (its scope lists it, or it has no scope).</summary>
    public static bool MayCall(ClaimsPrincipal user, string deployment) =>
        user.FindFirstValue(DeploymentScope) is not { } scope || scope.Contains($",{deployment},", StringComparison.Ordinal);

    /// <summary>Whether the key is scoped to named deployments (inference only).</summary>
    public static bool IsScoped(ClaimsPrincipal user) => user.HasClaim(c => c.Type == DeploymentScope);
}

/// <summary>The ApiKey authentication scheme: <see cref="ApiKeyAuthenticator"/> behind ASP.NET Core's authentication.</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    ApiKeyAuthenticator authenticator)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = ApiKeyAuthenticator.SchemeName;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var check = await authenticator.CheckAsync(Request.Headers.Authorization, Context.RequestAborted);
        if (check.Identity is { } identity) return AuthenticateResult.Success(new AuthenticationTicket(identity.Principal, SchemeName));
        return check.Failure is { } failure ? AuthenticateResult.Fail(failure) : AuthenticateResult.NoResult();
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) => ApiKeyAuthenticator.WriteChallengeAsync(Context);

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        var detail = ApiKeyClaims.IsScoped(Context.User)
            ? "This key is scoped to deployments: it calls them under /v2 and nothing else. Use a key without a deployment scope for /api."
            : "This needs the Admin role.";
        return Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden", detail: detail).ExecuteAsync(Context);
    }
}
