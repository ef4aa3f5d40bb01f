using System.Security.Claims;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Features.Playground;

public static class PlaygroundExtensions
{
    public static void AddPlayground(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<PlaygroundOptions>()
            .Bind(builder.Configuration.GetSection(PlaygroundOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<PlaygroundSessions>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PlaygroundSessions>());
        builder.Services.AddSingleton<Metering.ITemporaryModels>(sp => sp.GetRequiredService<PlaygroundSessions>());
        builder.Services.AddSingleton<PlaygroundService>();
        builder.Services.AddSingleton<PlaygroundRequests>();
        builder.Services.AddSingleton<PlaygroundHistory>();
    }

    /// <summary>request.json for snippets whose body is too large to write out; cookie users, their own requests only.</summary>
    public static void MapPlayground(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ui/playground/requests/{id:guid}/request.json", (Guid id, ClaimsPrincipal user, PlaygroundRequests requests) =>
                requests.Find(id, user.UserId()) is { } body
                    ? Results.File(body, "application/json", "request.json")
                    : Results.NotFound())
            .RequireAuthorization()
            .ExcludeFromDescription();
    }
}
