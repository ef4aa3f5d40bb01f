using System.Net;
using System.Net.Http.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// The infer routes skip the middleware pipeline (and with it the error handler), so they answer unexpected faults
/// themselves. A portal of its own: the test breaks its database.
/// </summary>
public sealed class InferenceFaultTests
{
    [Fact]
    public async Task AFaultNobodyExpected_IsA500WithTheProtocolsErrorBody_AndThePortalServesOn()
    {
        await using var portal = new PortalFactory();
        var api = portal.CreateApiClient();
        var infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = new[] { 1f, 2f, 3f, 4f } } } };
        // The first call proves the key (and caches it), so the fault below is the deployment lookup's alone.
        Assert.Equal(HttpStatusCode.NotFound, (await api.PostAsJsonAsync("/v2/models/none-yet/infer", infer)).StatusCode);

        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            await db.Database.ExecuteSqlRawAsync("ALTER TABLE Deployments RENAME TO DeploymentsGone");
        }

        using var response = await api.PostAsJsonAsync("/v2/models/not-cached/infer", infer);
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Contains("logged", (await response.JsonAsync()).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.OK, (await portal.CreateClient().GetAsync("/v2/health/live")).StatusCode);
    }
}
