using System.Text.Encodings.Web;
using System.Text.Json;

namespace MaaS.Portal.Features.Inference;

/// <summary>
/// Errors under /v2 that the inference routes do not write themselves (a missing or refused key, a wrong method, an
/// unknown route, an unhandled exception) keep the protocol's <c>{"error": "..."}</c> body instead of problem details,
/// as the API contract says: Triton's and KServe's clients read <c>error</c> and fail on anything else.
/// </summary>
public sealed class V2ErrorWriter : IProblemDetailsWriter
{
    private static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public bool CanWrite(ProblemDetailsContext context) => context.HttpContext.Request.Path.StartsWithSegments("/v2");

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var problem = context.ProblemDetails;
        var message = problem.Detail ?? problem.Title ?? $"The request failed with status {context.HttpContext.Response.StatusCode}.";
        return new ValueTask(context.HttpContext.Response.WriteAsJsonAsync(new { error = message }, Json, "application/json; charset=utf-8"));
    }
}
