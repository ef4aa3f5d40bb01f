using System.ComponentModel.DataAnnotations;
using System.Security.Claims;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Features.ApiKeys;

public sealed record CreateApiKeyRequest([Required, StringLength(100, MinimumLength = 1)] string Name);

public static class ApiKeysApi
{
    public static void MapApiKeysApi(this RouteGroupBuilder api)
    {
        var keys = api.MapGroup("/keys").WithTags("API keys");

        keys.MapGet("/", async (ClaimsPrincipal user, ApiKeyService service) => TypedResults.Ok(await service.ListAsync(user.UserId())))
            .WithSummary("The caller's API keys (secrets are never shown again).");

        keys.MapPost("/", async (CreateApiKeyRequest request, ClaimsPrincipal user, ApiKeyService service) =>
            {
                var created = await service.CreateAsync(user.UserId(), request.Name);
                return TypedResults.Created($"/api/keys/{created.Key.Id}", created);
            })
            .WithSummary("Creates a key; the response holds its secret, shown this once.");

        keys.MapDelete("/{keyId:guid}", async Task<IResult> (Guid keyId, ClaimsPrincipal user, ApiKeyService service) =>
                await service.RevokeAsync(user.UserId(), keyId) ? TypedResults.NoContent() : TypedResults.NotFound())
            .WithSummary("Revokes one of the caller's keys.");
    }
}
