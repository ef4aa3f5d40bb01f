using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Portal.Features.Costs;
using Microsoft.Extensions.DependencyInjection;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>Costs end to end: real V2 traffic priced through /api/usage and /api/costs, the price sheet API, budgets.</summary>
public sealed partial class MeteringTests
{
    [Fact]
    public async Task UsageApi_PricesTheTraffic_AtTheSheetInForce()
    {
        await DeployMlpAsync(_api, "cost-priced");
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await _api.PostAsJsonAsync("/v2/models/cost-priced/infer", Infer)).StatusCode);
        await FlushAsync();

        var report = await UsageAsync(_api, "deployment");
        var group = Group(report, "cost-priced");
        var cost = group.GetProperty("cost");
        var defaults = new CostsOptions();
        Assert.Equal("USD", report.GetProperty("currency").GetString());
        Assert.Equal(5 / 1000m * defaults.PerThousandRequests, cost.GetProperty("requests").GetDecimal());
        Assert.True(cost.GetProperty("inferenceCompute").GetDecimal() > 0);
        Assert.True(cost.GetProperty("memory").GetDecimal() > 0, "the loaded model's memory is charged");
        Assert.True(group.GetProperty("p95LatencySeconds").GetDouble() > 0);
        Assert.True(report.GetProperty("totalCost").GetProperty("total").GetDecimal() >= cost.GetProperty("total").GetDecimal());

        // The dashboard's report: the same deployment, its hours on request, and a chart with every hour of the day so far.
        var now = DateTimeOffset.UtcNow;
        var costs = JsonDocument.Parse(await _api.GetStringAsync(
            $"/api/costs?from={Uri.EscapeDataString(now.AddHours(-3).ToString("o"))}&deployment=cost-priced&zone=Europe/Paris")).RootElement;
        Assert.Equal(5, costs.GetProperty("requests").GetInt64());
        Assert.Equal("hour", costs.GetProperty("seriesUnit").GetString());
        Assert.Equal(5, costs.GetProperty("hourly").EnumerateArray().Sum(h => h.GetProperty("requests").GetInt64()));
        Assert.Equal(5, costs.GetProperty("series").EnumerateArray().Sum(h => h.GetProperty("requests").GetInt64()));
    }

    [Fact]
    public async Task Prices_ChangeOnlyByAdmins_AndRefuseValuesThatMakeNoSense()
    {
        var (user, _) = await UserAsync("prices-user@test.local");
        Assert.Equal(HttpStatusCode.Forbidden, (await user.PutAsJsonAsync("/api/admin/prices", new { vcpuHour = 0.01m })).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/api/admin/prices")).StatusCode);

        var nextHour = PriceSheets.HourOf(DateTimeOffset.UtcNow).AddHours(1);
        await AssertRefusedAsync(new { vcpuHour = -1m }, "cannot be negative");
        await AssertRefusedAsync(new { perThousandRequests = 4000m }, "sanity limit");
        await AssertRefusedAsync(new { currency = "dollars" }, "ISO 4217");
        await AssertRefusedAsync(new { vcpuHour = 1m, effectiveFrom = nextHour.AddMinutes(30) }, "whole hour");
        await AssertRefusedAsync(new { vcpuHour = 1m, effectiveFrom = nextHour.AddHours(-25) }, "in the past");

        var accepted = await _api.PutAsJsonAsync("/api/admin/prices", new { vcpuHour = 0.05m, currency = "eur", effectiveFrom = nextHour.AddDays(30), note = "next month" });
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        var sheets = JsonDocument.Parse(await _api.GetStringAsync("/api/admin/prices")).RootElement;
        Assert.Equal("EUR", sheets.GetProperty("scheduled").GetProperty("currency").GetString());
        Assert.Equal(0.05m, sheets.GetProperty("scheduled").GetProperty("vcpuHour").GetDecimal());
        // Scheduled, not in force: today's costs keep today's prices.
        Assert.Equal("USD", sheets.GetProperty("current").GetProperty("currency").GetString());
        Assert.Contains(sheets.GetProperty("history").EnumerateArray(), h => h.GetProperty("note").GetString() == "next month");
    }

    [Fact]
    public async Task AUserOverBudget_CannotDeployAgain_UntilAnAdminLiftsIt_WhileWhatServesKeepsServing()
    {
        var (user, userId) = await UserAsync("budget-user@test.local");
        await DeployMlpAsync(user, "budget-first");
        for (var i = 0; i < 3; i++) await user.PostAsJsonAsync("/v2/models/budget-first/infer", Infer);
        await FlushAsync();

        // A budget of zero: anything spent is over it.
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PutAsJsonAsync($"/api/admin/budgets/{userId}", new { monthlyAmount = -5m })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _api.PutAsJsonAsync($"/api/admin/budgets/{userId}", new { monthlyAmount = 0m })).StatusCode);
        var status = JsonDocument.Parse(await user.GetStringAsync("/api/budget")).RootElement;
        Assert.Equal("Exceeded", status.GetProperty("level").GetString());

        var refused = await user.PostAsJsonAsync("/api/deployments", new { name = "budget-second", modelId = "budget-first", version = 1 });
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Contains("budget", (await refused.JsonAsync()).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, (await user.PostAsJsonAsync("/v2/models/budget-first/infer", Infer)).StatusCode);
        var alerts = await portal.Services.GetRequiredService<BudgetService>().AlertsAsync(userId);
        Assert.Equal([100, 80], alerts.Select(a => a.Percent));

        Assert.Equal(HttpStatusCode.NoContent, (await _api.PostAsJsonAsync($"/api/admin/budgets/{userId}/lift", new { lifted = true })).StatusCode);
        var allowed = await user.PostAsJsonAsync("/api/deployments", new { name = "budget-second", modelId = "budget-first", version = 1 });
        Assert.Equal(HttpStatusCode.Accepted, allowed.StatusCode);
    }

    private async Task AssertRefusedAsync(object change, string reason)
    {
        var response = await _api.PutAsJsonAsync("/api/admin/prices", change);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, (await response.JsonAsync()).GetProperty("detail").GetString());
    }
}
