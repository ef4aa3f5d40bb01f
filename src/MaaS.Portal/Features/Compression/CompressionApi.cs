using System.Security.Claims;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Features.Compression;

public static class CompressionApi
{
    public static void MapCompressionApi(this RouteGroupBuilder api)
    {
        api.MapPost("/models/{modelId}/versions/{version:int}/compress",
                async Task<IResult> (string modelId, int version, CompressRequest request, ClaimsPrincipal user, CompressionService compression) =>
                {
                    var start = await compression.StartAsync(modelId, version, request, user.UserId(), user.IsAdmin());
                    return start.StatusCode switch
                    {
                        202 => TypedResults.Accepted($"/api/jobs/{start.Job!.Id}", start.Job),
                        404 => TypedResults.Problem(statusCode: 404, title: "Not found", detail: start.Errors[0]),
                        _ => TypedResults.Problem(statusCode: 400, title: "Invalid compression request", detail: string.Join(" ", start.Errors),
                            extensions: new Dictionary<string, object?> { ["errors"] = start.Errors }),
                    };
                })
            .WithTags("Compression")
            .WithSummary("Starts a compression job: {recipe, options, calibrationSetId, gate}. 202 with the job; its result names the new version.")
            .Produces(StatusCodes.Status202Accepted).ProducesProblem(400).ProducesProblem(404);

        api.MapGet("/compression/recipes", () => TypedResults.Ok(CompressionRecipes.All))
            .WithTags("Compression")
            .WithSummary("The recipes with their options, defaults and what each does.");
    }
}
