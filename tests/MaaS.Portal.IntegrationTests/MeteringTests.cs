using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MaaS.Onnx.Testing;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// Metering end to end: real V2 requests through a real deployment, flushed into minute rows on real SQLite, read back
/// through /api/usage and /metrics.
/// </summary>
public sealed partial class MeteringTests(MeteringTests.Portal portal) : IClassFixture<MeteringTests.Portal>
{
    /// <summary>
    /// The portal, with a way to make a request look local: the test server has no network connection, so a test header
    /// stands in for one from 127.0.0.1.
    /// </summary>
    public sealed class Portal : PortalFactory
    {
        public const string LocalHeader = "X-Test-Loopback";

        public Portal()
        {
            ConfigureTestServices = services => services.AddTransient<IStartupFilter, LoopbackFilter>();
        }

        private sealed class LoopbackFilter : IStartupFilter
        {
            public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
            {
                app.Use((context, nextMiddleware) =>
                {
                    context.Connection.RemoteIpAddress = context.Request.Headers.ContainsKey(LocalHeader) ? IPAddress.Loopback : IPAddress.Parse("203.0.113.7");
                    return nextMiddleware(context);
                });
                next(app);
            };
        }
    }

    private readonly HttpClient _api = portal.CreateApiClient();
    private static readonly float[] Row = [0.5f, -1.25f, 2f, 0.75f];
    private static readonly object Infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } };
    private const string Bad = """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2]}]}""";

    [Fact]
    public async Task Requests_AreFlushedAsMinuteRows_WithErrorsVcpuSecondsAndBytes()
    {
        await DeployMlpAsync(_api, "meter-basic", new { intraOpThreads = 2 });

        for (var i = 0; i < 7; i++) Assert.Equal(HttpStatusCode.OK, (await _api.PostAsJsonAsync("/v2/models/meter-basic/infer", Infer)).StatusCode);
        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.BadRequest, (await PostBadAsync(_api, "meter-basic")).StatusCode);
        await FlushAsync();

        var rows = await RowsAsync("meter-basic");
        Assert.Equal(10, rows.Sum(r => r.Requests));
        Assert.Equal(3, rows.Sum(r => r.Errors));
        Assert.True(rows.Sum(r => r.VcpuSeconds) > 0);
        // Two threads per run: vCPU-seconds are twice the compute time.
        Assert.Equal(2 * rows.Sum(r => r.ComputeSeconds), rows.Sum(r => r.VcpuSeconds), 9);
        Assert.True(rows.Sum(r => r.BytesIn) > 0 && rows.Sum(r => r.BytesOut) > 0);
        Assert.All(rows, r => Assert.NotNull(r.ApiKeyId));
        Assert.Equal(7, rows.Where(r => r.Version == 1).Sum(r => r.Requests));
        // The loaded model's memory is metered too, as bytes × seconds loaded.
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            var memory = await db.MemoryMinutes.Where(m => m.DeploymentName == "meter-basic").ToListAsync();
            Assert.NotEmpty(memory);
            Assert.True(memory.Sum(m => m.ByteSeconds) > 0 && memory.All(m => m.ResidentBytes > 0));
        }

        // A second flush adds to the same minute's row rather than writing another.
        for (var i = 0; i < 2; i++) await _api.PostAsJsonAsync("/v2/models/meter-basic/infer", Infer);
        await FlushAsync();
        rows = await RowsAsync("meter-basic");
        Assert.Equal(12, rows.Sum(r => r.Requests));
        Assert.Equal(rows.Count, rows.Select(r => (r.Minute, r.Version, r.ApiKeyId, r.OwnerId, r.ModelId)).Distinct().Count());
    }

    [Fact]
    public async Task UsageOfADeletedDeployment_StaysCounted_AndIsMarkedDeleted()
    {
        await DeployMlpAsync(_api, "meter-gone");
        for (var i = 0; i < 3; i++) await _api.PostAsJsonAsync("/v2/models/meter-gone/infer", Infer);
        await FlushAsync();
        await _api.PostAsJsonAsync("/v2/models/meter-gone/infer", Infer);
        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync("/api/deployments/meter-gone")).StatusCode);
        await FlushAsync();

        Assert.Equal(4, (await RowsAsync("meter-gone")).Sum(r => r.Requests));
        var report = await UsageAsync(_api, "deployment");
        var gone = report.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("key").GetString() == "meter-gone");
        Assert.True(gone.GetProperty("deleted").GetBoolean());
        Assert.Equal(4, gone.GetProperty("usage").GetProperty("requests").GetInt64());
        Assert.True(gone.GetProperty("usage").GetProperty("memoryByteSeconds").GetDouble() > 0);
    }

    [Fact]
    public async Task Metrics_AreValidPrometheusText_WithTheRequestCounters()
    {
        await DeployMlpAsync(_api, "meter-prom");
        for (var i = 0; i < 3; i++) await _api.PostAsJsonAsync("/v2/models/meter-prom/infer", Infer);
        await PostBadAsync(_api, "meter-prom");

        var response = await _api.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType?.ToString());
        var samples = ParsePrometheus(await response.Content.ReadAsStringAsync());
        Assert.Equal(3, samples["maas_inference_requests_total{deployment=\"meter-prom\",version=\"1\",outcome=\"ok\"}"]);
        Assert.Equal(1, samples["maas_inference_requests_total{deployment=\"meter-prom\",version=\"0\",outcome=\"client_error\"}"]);
        Assert.Equal(4, samples["maas_inference_request_duration_seconds_count{deployment=\"meter-prom\"}"]);
        Assert.Equal(4, samples["maas_inference_request_duration_seconds_bucket{deployment=\"meter-prom\",le=\"+Inf\"}"]);
        Assert.Equal(3, samples["maas_inference_queue_seconds_count{deployment=\"meter-prom\"}"]);
        Assert.Equal(3, samples["maas_inference_batch_size_bucket{deployment=\"meter-prom\",le=\"1\"}"]);
        Assert.True(samples["maas_model_memory_bytes{deployment=\"meter-prom\",version=\"1\"}"] > 0);
        Assert.True(samples["maas_deployments{state=\"Ready\"}"] >= 1);
    }

    [Fact]
    public async Task Metrics_NeedAnAdminKey_UnlessTheRequestIsLocal()
    {
        var anonymous = portal.CreateClient();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/metrics")).StatusCode);

        var local = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        local.Headers.Add(Portal.LocalHeader, "1");
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(local)).StatusCode);

        // Through a proxy on the same machine, a request is not local.
        var proxied = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        proxied.Headers.Add(Portal.LocalHeader, "1");
        proxied.Headers.Add("X-Forwarded-For", "198.51.100.4");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.SendAsync(proxied)).StatusCode);

        // DNS rebinding: a page on another domain pointed at 127.0.0.1 arrives over loopback but names its own host.
        foreach (var (host, status) in new[] { ("evil.example", HttpStatusCode.Unauthorized), ("127.0.0.1:5000", HttpStatusCode.OK), ("[::1]:5000", HttpStatusCode.OK) })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            request.Headers.Add(Portal.LocalHeader, "1");
            request.Headers.Host = host;
            Assert.Equal(status, (await anonymous.SendAsync(request)).StatusCode);
        }

        var (user, _) = await UserAsync("metrics-user@test.local");
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/metrics")).StatusCode);
    }

    [Fact]
    public async Task UsageApi_GroupsByUserModelDeploymentAndDay_AndShowsUsersOnlyTheirOwn()
    {
        var (other, otherId) = await UserAsync("usage-other@test.local");
        await DeployMlpAsync(other, "meter-theirs", modelName: "their scorer");
        await DeployMlpAsync(_api, "meter-mine");
        for (var i = 0; i < 2; i++) await other.PostAsJsonAsync("/v2/models/meter-theirs/infer", Infer);
        await PostBadAsync(other, "meter-theirs");
        for (var i = 0; i < 5; i++) await _api.PostAsJsonAsync("/v2/models/meter-mine/infer", Infer);
        await FlushAsync();

        // The admin sees every user; the other user's group holds exactly their three requests.
        var byUser = await UsageAsync(_api, "user");
        Assert.True(byUser.GetProperty("allUsers").GetBoolean());
        var theirs = Group(byUser, otherId);
        Assert.Equal("usage-other@test.local", theirs.GetProperty("label").GetString());
        Assert.Equal((3L, 1L), (Requests(theirs), theirs.GetProperty("usage").GetProperty("errors").GetInt64()));
        Assert.Contains(byUser.GetProperty("groups").EnumerateArray(), g => g.GetProperty("label").GetString() == PortalFactory.AdminEmail);

        // The user sees only their own, however they group it.
        var own = await UsageAsync(other, "user");
        Assert.False(own.GetProperty("allUsers").GetBoolean());
        Assert.Equal(otherId, Assert.Single(own.GetProperty("groups").EnumerateArray()).GetProperty("key").GetString());
        var ownDeployments = await UsageAsync(other, "deployment");
        var deployment = Assert.Single(ownDeployments.GetProperty("groups").EnumerateArray());
        Assert.Equal(("meter-theirs", 3L, false), (deployment.GetProperty("key").GetString(), Requests(deployment), deployment.GetProperty("deleted").GetBoolean()));
        var ownModels = await UsageAsync(other, "model");
        Assert.Equal("their scorer", Assert.Single(ownModels.GetProperty("groups").EnumerateArray()).GetProperty("label").GetString());
        var ownDays = await UsageAsync(other, "day");
        var today = Assert.Single(ownDays.GetProperty("groups").EnumerateArray());
        // The requests were sent a moment ago: today, or yesterday when the day turned since.
        var days = new[] { DateTime.UtcNow, DateTime.UtcNow.AddMinutes(-1) }.Select(d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        Assert.Contains(today.GetProperty("key").GetString(), days);
        Assert.Equal(3, Requests(today));
        Assert.Equal(3, ownDays.GetProperty("totals").GetProperty("requests").GetInt64());

        // The admin's deployment view has both, and the totals add up.
        var all = await UsageAsync(_api, "deployment");
        Assert.Equal(5, Requests(Group(all, "meter-mine")));
        Assert.Equal(3, Requests(Group(all, "meter-theirs")));
        Assert.Equal(all.GetProperty("groups").EnumerateArray().Sum(Requests), all.GetProperty("totals").GetProperty("requests").GetInt64());
        // A period before the traffic is empty.
        var before = JsonDocument.Parse(await other.GetStringAsync($"/api/usage?groupBy=user&from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z")).RootElement;
        Assert.Empty(before.GetProperty("groups").EnumerateArray());
    }

    [Theory]
    [InlineData("groupBy=colour", "'groupBy' is one of")]
    [InlineData("from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "'to' must be after 'from'")]
    [InlineData("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "at most 731 days")]
    [InlineData("from=0001-01-01T00:00:00Z&to=0001-01-02T00:00:00Z", "between the years 2000 and 2100")]
    public async Task UsageApi_RefusesBadQueries(string query, string reason)
    {
        var response = await _api.GetAsync($"/api/usage?{query}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, (await response.JsonAsync()).GetProperty("detail").GetString());
    }

    private Task FlushAsync() => portal.Services.GetRequiredService<UsageFlusher>().FlushAsync();

    private async Task<List<UsageMinute>> RowsAsync(string deployment)
    {
        await using var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        return await db.UsageMinutes.AsNoTracking().Where(r => r.DeploymentName == deployment).ToListAsync();
    }

    private static async Task<JsonElement> UsageAsync(HttpClient client, string groupBy)
    {
        var response = await client.GetAsync($"/api/usage?groupBy={groupBy}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    private static JsonElement Group(JsonElement report, string key) =>
        report.GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("key").GetString() == key);

    private static long Requests(JsonElement group) => group.GetProperty("usage").GetProperty("requests").GetInt64();

    private static Task<HttpResponseMessage> PostBadAsync(HttpClient client, string deployment) =>
        client.PostAsync($"/v2/models/{deployment}/infer", new StringContent(Bad, Encoding.UTF8, "application/json"));

    private async Task<(HttpClient Client, string UserId)> UserAsync(string email)
    {
        var admin = portal.Services.GetRequiredService<UserAdministration>();
        if ((await admin.ListAsync()).All(u => u.Email != email)) await portal.RegisterAsync(email, "Other-Passw0rd!");
        var userId = (await admin.ListAsync()).Single(u => u.Email == email).Id;
        var key = await portal.Services.GetRequiredService<ApiKeyService>().CreateAsync(userId, "metering");
        return (portal.CreateApiClient(key.Secret), userId);
    }

    /// <summary>Every sample line of a Prometheus text exposition, by name and labels; fails on a line that is not one.</summary>
    private static Dictionary<string, double> ParsePrometheus(string text)
    {
        var samples = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# HELP ", StringComparison.Ordinal) || line.StartsWith("# TYPE ", StringComparison.Ordinal)) continue;
            var match = SampleLine().Match(line);
            Assert.True(match.Success, $"Not a Prometheus sample line: {line}");
            var value = match.Groups["value"].Value;
            samples.Add(match.Groups["series"].Value, value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture));
        }
        return samples;
    }

    [GeneratedRegex("""^(?<series>[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)?\})?) (?<value>\S+)$""")]
    private static partial Regex SampleLine();
}
