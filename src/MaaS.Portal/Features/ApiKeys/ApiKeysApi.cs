using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Features.ApiKeys;

public sealed record CreateApiKeyRequest([Required, StringLength(100, MinimumLength = 1)] string Name, DateTimeOffset? ExpiresAt = null, IReadOnlyList<string>? Deployments = null);

public sealed record RateLimitRequest(double? RequestsPerSecond);

public static class ApiKeysApi
{
    public static void MapApiKeysApi(this RouteGroupBuilder api)
    {
        var keys = api.MapGroup("/keys").WithTags("API keys");

        keys.MapGet("/", async (ClaimsPrincipal user, ApiKeyService service) => TypedResults.Ok(await service.ListAsync(user.UserId())))
            .WithSummary("The caller's API keys (secrets are never shown again).");

        keys.MapGet("/{keyId:guid}", async Task<IResult> (Guid keyId, ClaimsPrincipal user, ApiKeyService service) =>
                (await service.ListAsync(user.UserId())).FirstOrDefault(k => k.Id == keyId) is { } key
                    ? TypedResults.Ok(key)
                    : TypedResults.Problem(statusCode: 404, title: "Not found", detail: $"You have no key with id {keyId}."))
            .WithSummary("One of the caller's keys (where a created key's Location points); its secret is never shown again.");

        keys.MapPost("/", async Task<IResult> (CreateApiKeyRequest request, ClaimsPrincipal user, ApiKeyService service) =>
            {
                try
                {
                    var created = await service.CreateAsync(user.UserId(), request.Name, request.ExpiresAt, request.Deployments);
                    return TypedResults.Created($"/api/keys/{created.Key.Id}", created);
                }
                catch (ArgumentException ex)
                {
                    return TypedResults.Problem(statusCode: 400, title: "Invalid key", detail: ex.Message.Split(" (Parameter")[0]);
                }
            })
            .WithSummary("Creates a key ({name, expiresAt?, deployments?}); the response holds its secret, shown this once.");

        keys.MapPut("/{keyId:guid}/rate-limit", async Task<IResult> (Guid keyId, RateLimitRequest request, ApiKeyService service) =>
            {
                try
                {
                    return await service.SetRateLimitAsync(keyId, request.RequestsPerSecond) ? TypedResults.NoContent()
                        : TypedResults.Problem(statusCode: 404, title: "Not found", detail: $"There is no key with id {keyId}.");
                }
                catch (ArgumentException ex)
                {
                    return TypedResults.Problem(statusCode: 400, title: "Invalid rate limit", detail: ex.Message.Split(" (Parameter")[0]);
                }
            })
            .RequireAuthorization(AccountsExtensions.AdminApiPolicy)
            .WithSummary("Admins: a key's own limit on /v2 requests per second ({requestsPerSecond}: null for the default).");

        keys.MapDelete("/{keyId:guid}", async Task<IResult> (Guid keyId, ClaimsPrincipal user, ApiKeyService service) =>
                await service.RevokeAsync(user.UserId(), keyId)
                    ? TypedResults.NoContent()
                    : TypedResults.Problem(statusCode: 404, title: "Not found", detail: $"You have no key with id {keyId}."))
            .WithSummary("Revokes one of the caller's keys.");
    }
}
