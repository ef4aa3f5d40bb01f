using System.Net;
using System.Text.Json;
using MaaS.Portal.Testing;

namespace MaaS.Portal.IntegrationTests;

public sealed class OperationsTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    [Fact]
    public async Task Healthz_Returns200_WithoutAuthentication()
    {
        var response = await portal.CreateClient().GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Readyz_ReportsDatabaseAndJobStorage()
    {
        var body = await portal.CreateClient().GetStringAsync("/readyz");
        using var json = JsonDocument.Parse(body);
        Assert.Equal("Healthy", json.RootElement.GetProperty("status").GetString());
        var checks = json.RootElement.GetProperty("checks");
        Assert.Equal("Healthy", checks.GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("Healthy", checks.GetProperty("job-storage").GetProperty("status").GetString());
    }

    [Fact]
    public async Task OpenApiDocument_DescribesJobsAndKeys_WithBearerAuth()
    {
        using var json = JsonDocument.Parse(await portal.CreateClient().GetStringAsync("/openapi/v1.json"));
        var paths = json.RootElement.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/jobs/{jobId}/cancel", out _));
        Assert.True(paths.TryGetProperty("/api/keys", out _));
        // The inference routes are short-circuited past the middleware but stay documented.
        Assert.True(paths.GetProperty("/v2/models/{name}/infer").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/v2/models/{name}/versions/{version}/infer").TryGetProperty("post", out _));
        Assert.Equal("bearer", json.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").GetProperty("scheme").GetString());
    }

    [Fact]
    public async Task ApiDocs_ServesTheReferencePage_FromThePortalItself()
    {
        var client = portal.CreateClient();
        var page = await client.GetStringAsync("/api/docs/");
        Assert.Contains("scalar.js", page);
        // The page's script is served locally, not from a CDN (the portal may run without internet).
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/docs/scalar.js")).StatusCode);
    }

    [Fact]
    public async Task StaticAssets_FromTopLevelWwwroot_AreServed()
    {
        var response = await portal.CreateClient().GetAsync("/app.css");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(".empty-state", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task UnknownApiPath_ReturnsProblemDetails()
    {
        var response = await portal.CreateApiClient().GetAsync("/api/no-such-thing");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task OversizedRequestBody_IsRejectedByKestrel_With413()
    {
        // The limit is Kestrel's, so this runs the real server on a loopback port rather than the in-memory one.
        await using var kestrel = new PortalFactory();
        kestrel.UseKestrel(0);
        kestrel.StartServer();
        var client = kestrel.CreateApiClient();
        // Like curl for large bodies: wait for the server's go-ahead, so the 413 arrives before the upload would.
        client.DefaultRequestHeaders.ExpectContinue = true;
        var tooBig = new string('x', 11 * 1024 * 1024);
        var response = await client.PostAsync("/api/keys", new StringContent($"{{\"name\":\"{tooBig}\"}}", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }
}
