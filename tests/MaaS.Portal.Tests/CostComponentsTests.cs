using System.Security.Claims;
using Bunit;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Metering;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Tests;

/// <summary>The cost pages' components on a real database: tables, CSV, the dashboard's totals and chart, budgets.</summary>
public sealed class CostComponentsTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public CostComponentsTests()
    {
        Services.AddSingleton(TimeProvider.System);
        Services.AddCostServices(_db);
    }

    void IDisposable.Dispose() => _db.Dispose();

    [Fact]
    public async Task PriceForm_StartsFromTheScheduledPrices_AndSendsOnlyWhatTheAdminChanged()
    {
        var prices = Services.GetRequiredService<PriceSheets>();
        var hour = PriceSheets.HourOf(DateTimeOffset.UtcNow);
        Assert.Empty((await prices.ChangeAsync(new PriceChange(null, 6m, null, null, null, hour.AddHours(3), "dearer"), "admin")).Errors);
        var panel = Render<PriceSheetPanel>();
        panel.WaitForAssertion(() => Assert.Equal("6", panel.Find("[data-testid=price-vcpu] input, input[data-testid=price-vcpu]").GetAttribute("value")));

        // A currency change from six hours on: compute stays at the scheduled 6.
        panel.Find("[data-testid=price-currency] input, input[data-testid=price-currency]").Change("usd");
        panel.Find("[data-testid=price-hours] input, input[data-testid=price-hours]").Change("6");
        panel.Find("button[data-testid=price-save]").Click();

        panel.WaitForAssertion(() =>
        {
            var latest = prices.GetAsync().GetAwaiter().GetResult().History[0];
            Assert.Equal((hour.AddHours(6), "USD", 6m), (latest.EffectiveFrom!.Value, latest.Currency, latest.VcpuHour));
        });
    }

    private static CostRow Row(string label, long requests, decimal compute, bool deleted = false) =>
        new(label, label, deleted, null, null, requests, requests / 10, 0.012, 1, 0, 0, CostLine.Zero with { InferenceCompute = compute },
            UsageQuantities.Zero with { Requests = requests, Errors = requests / 10 });

    [Fact]
    public void CostTable_ListsRows_MostExpensiveFirst_AndSortsByAColumnOnClick()
    {
        var table = Render<CostTable>(p => p.Add(t => t.Name, "users").Add(t => t.Title, "Users").Add(t => t.KeyTitle, "User").Add(t => t.Currency, "USD")
            .Add(t => t.Rows, [Row("cheap@x", 5, 0.5m), Row("dear@x", 50, 7m), Row("gone", 30, 1m, deleted: true)]));

        Assert.Equal(["dear@x", "gone", "cheap@x"], Labels(table));
        Assert.Contains("deleted", table.FindAll("tbody tr")[1].TextContent);
        Assert.Contains("12 ms", table.Markup);
        // The total comes first after the name, the currency in the headers rather than in every cell.
        Assert.Equal("7.00", table.FindAll("tbody tr")[0].QuerySelectorAll("td")[1].TextContent.Trim());
        Assert.Contains("Cost (USD)", table.FindAll("th")[1].TextContent);

        table.FindAll(".mud-table-sort-label").Single(h => h.TextContent.Trim() == "Requests").Click();
        Assert.Equal(["cheap@x", "gone", "dear@x"], Labels(table));
    }

    [Fact]
    public void CostTable_ExportsTheRowsAsCsv_AndSaysSoWhenEmpty()
    {
        var export = JSInterop.SetupVoid("maasDownload", _ => true);
        var table = Render<CostTable>(p => p.Add(t => t.Name, "models").Add(t => t.Title, "Models").Add(t => t.KeyTitle, "Model").Add(t => t.Currency, "EUR")
            .Add(t => t.Rows, [Row("=cmd|' /C calc'!A0", 4, 2m)]));

        table.Find("[data-testid=csv-models]").Click();

        var call = Assert.Single(export.Invocations);
        Assert.Equal("costs-models.csv", call.Arguments[0]);
        var csv = (string)call.Arguments[2]!;
        Assert.StartsWith("model,owner,deleted,requests", csv);
        Assert.Contains("total_EUR", csv);
        // A label a spreadsheet would run as a formula is defused.
        Assert.Contains("'=cmd|' /C calc'!A0", csv);

        var empty = Render<CostTable>(p => p.Add(t => t.Name, "x").Add(t => t.Title, "X").Add(t => t.KeyTitle, "X").Add(t => t.Currency, "EUR")
            .Add(t => t.Rows, []).Add(t => t.Empty, "Nothing here yet."));
        Assert.Contains("Nothing here yet.", empty.Find("[data-testid=empty-x]").TextContent);
        Assert.True(empty.Find("[data-testid=csv-x]").HasAttribute("disabled"));
    }

    [Fact]
    public async Task Dashboard_ShowsTotalsAChartAndTheUsersTable_FromRealUsage()
    {
        var user = await _db.AddUserAsync("heavy@test.local");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            db.UsageMinutes.Add(new UsageMinute
            {
                Minute = UsageMeter.MinuteOf(DateTimeOffset.UtcNow), DeploymentName = "busy", OwnerId = user.Id, ModelId = Guid.NewGuid(),
                Requests = 1200, Errors = 12, VcpuSeconds = 7200, ComputeSeconds = 3600, LatencyHistogram = "20:1200",
            });
            await db.SaveChangesAsync();
        }
        AddAuthorization().SetAuthorized("admin@test.local").SetRoles("Admin");

        var dashboard = Render<CostDashboard>();

        dashboard.WaitForAssertion(() => Assert.Contains("1,200 requests", dashboard.Find("[data-testid=total-total]").TextContent), TimeSpan.FromSeconds(10));
        // 2 vCPU-hours at the default 0.048 per vCPU-hour.
        Assert.Contains("0.0960 USD", dashboard.Find("[data-testid=total-compute]").TextContent);
        Assert.NotEmpty(dashboard.FindAll("[data-testid=cost-chart]"));
        Assert.Contains("heavy@test.local", dashboard.Find("[data-testid=table-users]").TextContent);
        Assert.Contains("1.0%", dashboard.Find("[data-testid=total-requests]").TextContent);
    }

    [Fact]
    public void Dashboard_WithNothingUsed_SaysWhatToDo()
    {
        var dashboard = Render<CostDashboard>();

        dashboard.WaitForAssertion(() => Assert.Contains("Nothing cost anything in this period", dashboard.Find("[data-testid=chart-empty]").TextContent));
        dashboard.WaitForAssertion(() => Assert.Contains("Compress a deployed model", dashboard.Find("[data-testid=savings-empty]").TextContent));
    }

    [Fact]
    public async Task BudgetBanner_WarnsTheUserAtEightyPercent_AndRaisesTheAlertOnce()
    {
        var user = await _db.AddUserAsync("near@test.local");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            // 0.90 of a 1.00 budget: 2.25 million requests at the default 0.0004 per 1,000.
            db.UsageMinutes.Add(new UsageMinute
            {
                // This minute: a minute ago may be last month, at the turn of a month.
                Minute = UsageMeter.MinuteOf(DateTimeOffset.UtcNow), DeploymentName = "d", OwnerId = user.Id, ModelId = Guid.NewGuid(), Requests = 2_250_000,
            });
            await db.SaveChangesAsync();
        }
        AddAuthorization().SetAuthorized("near@test.local").SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var budgets = Services.GetRequiredService<BudgetService>();
        Assert.Null(await budgets.SetAsync(user.Id, 1m, "admin@test.local"));

        var banner = Render<BudgetBanner>();

        banner.WaitForAssertion(() => Assert.Contains("You have used 90%", banner.Find("[data-testid=budget-banner]").TextContent));
        await budgets.RaiseAlertsAsync();
        Assert.Equal([80], (await budgets.AlertsAsync(user.Id)).Select(a => a.Percent));
        Assert.Null((await budgets.StatusAsync(user.Id)).DeployRefusal);
    }

    private static List<string> Labels(IRenderedComponent<CostTable> table) =>
        table.FindAll("tbody tr").Select(r => r.QuerySelector("td")!.TextContent.Replace("deleted", "").Trim()).ToList();
}
