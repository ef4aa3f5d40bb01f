using System.Net;
using System.Security.Claims;
using System.Text;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Deployments;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Metering;

public static class MeteringApi
{
    public const string PrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// <c>GET /metrics</c> in the Prometheus text format. Anonymous from the machine itself (a Prometheus agent or
    /// node exporter beside the portal, the usual set-up, needs no secret in its configuration); from anywhere else it
    /// takes an admin's API key (<c>Authorization: Bearer</c>, which Prometheus' <c>authorization</c> block sends),
    /// because deployment names and traffic are other users' business. A request that came through a proxy (it
    /// carries X-Forwarded-For or Forwarded) does not count as local even when the proxy is on the same machine, nor does
    /// one that names another host than localhost or a loopback address;
    /// <see cref="MeteringOptions.AnonymousMetricsFromLoopback"/> turns the loopback exception off altogether.
    /// </summary>
    public static void MapMetricsEndpoint(this IEndpointRouteBuilder app)
    {
        app.MapGet("/metrics", async (HttpContext http, InferenceMetrics metrics, LoadedMemory memory, IDbContextFactory<PortalDbContext> dbFactory,
                IOptions<MeteringOptions> options) =>
            {
                if (!(options.Value.AnonymousMetricsFromLoopback && IsLocal(http)))
                {
                    var auth = await http.AuthenticateAsync(ApiKeyAuthenticationHandler.SchemeName);
                    if (!auth.Succeeded)
                    {
                        http.Response.Headers.WWWAuthenticate = "Bearer";
                        return Results.Text("An admin's API key is needed: Authorization: Bearer <key>.\n", "text/plain", statusCode: 401);
                    }
                    if (!auth.Principal.IsAdmin()) return Results.Text("Metrics are for admins.\n", "text/plain", statusCode: 403);
                }
                var loaded = await memory.ListAsync(http.RequestAborted);
                await using var db = await dbFactory.CreateDbContextAsync(http.RequestAborted);
                var states = await db.Deployments.GroupBy(d => d.State).Select(g => new { State = g.Key, Count = g.Count() })
                    .ToDictionaryAsync(s => s.State, s => s.Count, http.RequestAborted);
                string[] known = [DeploymentStates.Pending, DeploymentStates.Loading, DeploymentStates.Ready, DeploymentStates.Failed, DeploymentStates.Stopped];
                var text = new StringBuilder();
                metrics.WriteTo(text,
                    loaded.Select(l => (l.Deployment, l.Version, l.Bytes)),
                    known.Union(states.Keys).Select(s => (s, states.GetValueOrDefault(s))));
                return Results.Text(text.ToString(), PrometheusContentType);
            })
            .AllowAnonymous()
            .ExcludeFromDescription();
    }

    /// <summary>
    /// From this machine, to this machine by a loopback name. The Host check stops DNS rebinding: a web page whose own
    /// domain has been pointed at 127.0.0.1 reaches the portal from the user's browser over loopback, but names its domain.
    /// </summary>
    private static bool IsLocal(HttpContext http) =>
        http.Connection.RemoteIpAddress is { } ip && IPAddress.IsLoopback(ip)
        && !http.Request.Headers.ContainsKey("X-Forwarded-For") && !http.Request.Headers.ContainsKey("Forwarded")
        && IsLoopbackName(http.Request.Host.Host);

    private static bool IsLoopbackName(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address);
}
