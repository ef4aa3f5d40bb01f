using System.Text.Json;
using System.Text.Json.Serialization;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Inference;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace MaaS.Portal.Features.Operations;

public sealed class LimitsOptions
{
    public const string Section = "Limits";

    /// <summary>Default cap on any request body; upload endpoints raise it for themselves.</summary>
    public long MaxRequestBodyBytes { get; set; } = 10 * 1024 * 1024;

    /// <summary>
    /// Largest message a browser may send over the Blazor circuit: SignalR's 32 KB default, kept (hardening: it is there
    /// for security; files stream in chunks). Text fields that could be longer cap their length.
    /// </summary>
    public long MaxCircuitMessageBytes { get; set; } = 32 * 1024;
}

/// <summary>Health endpoints, OpenAPI, problem details and request limits.</summary>
public static class OperationsExtensions
{
    public static void AddOperations(this WebApplicationBuilder builder)
    {
        var limits = builder.Configuration.GetSection(LimitsOptions.Section).Get<LimitsOptions>() ?? new LimitsOptions();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = limits.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.AddServerHeader = false;
        });
        builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = limits.MaxRequestBodyBytes);
        builder.Services.AddSignalR(hub => hub.MaximumReceiveMessageSize = limits.MaxCircuitMessageBytes);

        // Writers are tried in the order they were registered, so the /v2 one goes before AddProblemDetails' default.
        builder.Services.AddSingleton<IProblemDetailsWriter, V2ErrorWriter>();
        builder.Services.AddProblemDetails(problems => problems.CustomizeProblemDetails = context =>
        {
            // Validation failures list their fields under 'errors'; 'detail' says the same in one line for people and logs.
            if (context.ProblemDetails is HttpValidationProblemDetails { Detail: null } validation && validation.Errors.Count > 0)
                validation.Detail = string.Join(" ", validation.Errors.SelectMany(field => field.Value));
            // A JSON endpoint refuses another content type before any handler runs, so no one else words it.
            if (context.ProblemDetails is { Status: StatusCodes.Status415UnsupportedMediaType, Detail: null } unsupported)
                unsupported.Detail = $"The body was sent as '{context.HttpContext.Request.ContentType ?? "nothing"}', which this endpoint does not read: " +
                                     "send JSON with 'Content-Type: application/json'.";
        });
        builder.Services.AddExceptionHandler<BadRequestHandler>();
        // Binding failures throw in every environment (by default only in Development), so BadRequestHandler words them.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(routes => routes.ThrowOnBadRequest = true);
        // States and other enums travel as their names ("Running"), as the API contract writes them.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        // Data annotations on API request types are checked before handlers run (400 with the field named).
        builder.Services.AddValidation();
        builder.Services.AddHealthChecks().AddDbContextCheck<PortalDbContext>("database", tags: ["ready"]);
        builder.Services.AddOpenApi(openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "MaaS Portal API";
            document.Info.Description = "Management API of the MaaS Portal. Authenticate with 'Authorization: Bearer <api key>'.";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["Bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key created under 'API keys' in the portal.",
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("Bearer", document)] = [] }];
            return Task.CompletedTask;
        }));
    }

    public static bool IsApiRequest(this HttpContext context) =>
        context.Request.Path.StartsWithSegments("/api") || context.Request.Path.StartsWithSegments("/v2");

    /// <summary>API callers get problem details; people get the error page.</summary>
    public static void UseErrorHandling(this WebApplication app)
    {
        app.UseWhen(ctx => ctx.IsApiRequest(), api =>
        {
            api.UseExceptionHandler();
            api.UseStatusCodePages();
        });
        app.UseWhen(ctx => !ctx.IsApiRequest(), ui => ui.UseExceptionHandler("/Error", createScopeForErrors: true));
    }

    public static void MapOperations(this WebApplication app)
    {
        // Live: the process answers. Ready: the database and job storage answer too.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/readyz", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains("ready"),
            ResponseWriter = WriteHealthAsync,
        });
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/api/docs", scalar => scalar
            .WithTitle("MaaS Portal API")
            .WithOpenApiRoutePattern("/openapi/{documentName}.json"));
    }

    private static Task WriteHealthAsync(HttpContext context, Microsoft.Extensions.Diagnostics.HealthChecks.HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
        }, JsonSerializerOptions.Web));
    }
}
