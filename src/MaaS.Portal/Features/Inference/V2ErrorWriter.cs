namespace MaaS.Portal.Features.Inference;

/// <summary>
/// Errors under /v2 that the inference routes do not write themselves (a missing or refused key, a wrong method, an
/// unknown route, an unhandled exception) keep the protocol's <c>{"error": "..."}</c> body instead of problem details,
/// as the API contract says: Triton's and KServe's clients read <c>error</c> and fail on anything else.
/// </summary>
public sealed class V2ErrorWriter : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => context.HttpContext.Request.Path.StartsWithSegments("/v2");

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var message = context.ProblemDetails.Detail ?? context.ProblemDetails.Title ?? $"The request failed with status {http.Response.StatusCode}.";
        return new ValueTask(InferenceApi.Error(http.Response.StatusCode, message).ExecuteAsync(http));
    }
}
