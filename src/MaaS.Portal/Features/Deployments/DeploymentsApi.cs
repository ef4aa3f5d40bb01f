using System.Security.Claims;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Features.Deployments;

public static class DeploymentsApi
{
    public static void MapDeploymentsApi(this RouteGroupBuilder api)
    {
        var deployments = api.MapGroup("/deployments").WithTags("Deployments");

        deployments.MapPost("/", async (CreateDeploymentRequest request, ClaimsPrincipal user, DeploymentService service) =>
                Result(await service.CreateAsync(request, user.UserId(), user.IsAdmin())))
            .WithSummary("Deploys a version: {name, modelId, version, settings}. 202 with the deployment and its job.");

        deployments.MapGet("/", async (ClaimsPrincipal user, DeploymentService service, DeploymentMetrics metrics, bool all = false) =>
                TypedResults.Ok((await service.ListAsync(user.UserId(), all && user.IsAdmin())).Select(d => new { deployment = d, live = metrics.Figures(d.Name) })))
            .WithSummary("Your deployments (admins: ?all=true) with state, versions and split, settings and live figures.");

        deployments.MapGet("/{name}", async Task<IResult> (string name, ClaimsPrincipal user, DeploymentService service, DeploymentMetrics metrics) =>
                await service.GetAsync(name, user.UserId(), user.IsAdmin()) is { } d
                    ? TypedResults.Ok(new { deployment = d, live = metrics.Figures(d.Name) })
                    : NotFound(name))
            .WithSummary("One deployment with its live figures (last hour by minute, recent errors).");

        deployments.MapPatch("/{name}", async (string name, UpdateDeploymentRequest request, ClaimsPrincipal user, DeploymentService service) =>
                Result(await service.UpdateAsync(name, request, user.UserId(), user.IsAdmin())))
            .WithSummary("Changes version ({version}), traffic split ({traffic: [{version, weight}]}) or settings; the new session loads before the old goes.");

        deployments.MapDelete("/{name}", async Task<IResult> (string name, ClaimsPrincipal user, DeploymentService service) =>
                await service.DeleteAsync(name, user.UserId(), user.IsAdmin()) ? TypedResults.NoContent() : NotFound(name))
            .WithSummary("Undeploys: requests in flight finish, then the sessions are released.");
    }

    private static IResult Result(DeploymentChange change) => change.StatusCode switch
    {
        // Like all long work, the Location is the job to poll (the API contract); the deployment's own URL is in the body.
        202 => TypedResults.Accepted($"/api/jobs/{change.Job!.Id}", new { deployment = change.Deployment, job = change.Job }),
        403 => TypedResults.Problem(statusCode: 403, title: "Over budget", detail: change.Errors[0]),
        404 => TypedResults.Problem(statusCode: 404, title: "Not found", detail: change.Errors[0]),
        409 => TypedResults.Problem(statusCode: 409, title: "Conflict", detail: change.Errors[0]),
        _ => TypedResults.Problem(statusCode: 400, title: "Invalid deployment", detail: string.Join(" ", change.Errors),
            extensions: new Dictionary<string, object?> { ["errors"] = change.Errors }),
    };

    private static IResult NotFound(string name) =>
        TypedResults.Problem(statusCode: 404, title: "Deployment not found", detail: $"There is no deployment '{name}' of yours.");
}
