using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace MaaS.Portal.Features.Operations;

/// <summary>
/// A request ASP.NET Core could not bind (a body that is not JSON, a string where a number goes, a query value that
/// does not parse, a content type it does not read) answers with its status (400, 415, 413) and a problem detail that
/// says what was wrong, where it was, as the API contract asks. Left alone, it would be a bare 400 in production and a
/// 500 where the framework throws for it.
/// </summary>
public sealed class BadRequestHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad || http.Response.HasStarted) return false;
        // The JSON reader's own words name the path and position: "... could not be converted to System.Int32. Path: $.version ...".
        var detail = bad.InnerException is JsonException json ? $"{bad.Message} {json.Message}" : bad.Message;
        http.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            Exception = exception,
            ProblemDetails = { Status = bad.StatusCode, Title = "The request could not be read", Detail = detail },
        });
    }
}
