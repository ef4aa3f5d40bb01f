using System.Security.Claims;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Jobs;

namespace MaaS.Portal.Features.Jobs;

public static class JobsApi
{
    public static void MapJobsApi(this RouteGroupBuilder api)
    {
        var jobs = api.MapGroup("/jobs").WithTags("Jobs");

        jobs.MapGet("/", async (ClaimsPrincipal user, JobService service, bool all = false) =>
                TypedResults.Ok(await service.ListAsync(user.UserId(), everyone: all && user.IsAdmin())))
            .WithSummary("The caller's jobs, newest first (admins: ?all=true for everyone's).");

        jobs.MapGet("/{jobId:guid}", async Task<IResult> (Guid jobId, ClaimsPrincipal user, JobService service) =>
                await service.GetAsync(jobId, user.UserId(), user.IsAdmin()) is { } job ? TypedResults.Ok(job) : NotFound(jobId))
            .WithSummary("One job: state, progress, stage, message and result.");

        jobs.MapPost("/{jobId:guid}/cancel", async Task<IResult> (Guid jobId, ClaimsPrincipal user, JobService service) =>
            {
                var (outcome, job) = await service.CancelAsync(jobId, user.UserId(), user.IsAdmin());
                return outcome switch
                {
                    CancelOutcome.NotFound => NotFound(jobId),
                    CancelOutcome.AlreadyFinished => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict,
                        title: "Job already finished", detail: $"Job {jobId} is {job!.State}; there is nothing to cancel."),
                    CancelOutcome.Cancelled => TypedResults.Ok(job),
                    _ => TypedResults.Accepted($"/api/jobs/{jobId}", job),
                };
            })
            .WithSummary("Cancels a job: a queued one at once (200), a running one cooperatively (202, poll the job).");
    }

    private static IResult NotFound(Guid jobId) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Job not found", detail: $"There is no job {jobId} of yours.");
}
