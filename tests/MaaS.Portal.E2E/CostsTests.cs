using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

/// <summary>The cost dashboard in a real browser: an admin sees real traffic as money and a chart, and drills into it; a user does not.</summary>
[Collection(BrowserCollection.Name)]
public sealed class CostsTests(BrowserFixture browser)
{
    [Fact]
    public async Task Admin_SeesTrafficAsMoney_WithAChart_AndDrillsIntoADeploymentsHours()
    {
        await DeployAndCallAsync("cost-e2e", requests: 6);
        await browser.Portal.Services.GetRequiredService<UsageFlusher>().FlushAsync();

        var page = await browser.NewPageAsync();
        await page.LogInAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);
        await page.ClickAsync("[data-testid=nav-costs]");
        await page.WaitForURLAsync("**/admin/costs");
        await page.WaitForCircuitAsync();

        await page.Locator("[data-testid=cost-chart] svg").WaitForAsync();
        Assert.Contains("USD", await page.Locator("[data-testid=total-total]").InnerTextAsync());
        Assert.Contains("requests", await page.Locator("[data-testid=total-total]").InnerTextAsync());
        Assert.Contains(PortalFactory.AdminEmail, await page.Locator("[data-testid=table-users]").InnerTextAsync());
        await page.ScreenshotAsync("costs-dashboard");

        await page.GetByRole(AriaRole.Tab, new() { Name = "By deployment" }).ClickAsync();
        var row = page.Locator("[data-testid=table-deployments] tr", new() { HasText = "cost-e2e" });
        Assert.Contains("6", await row.InnerTextAsync());
        await row.ClickAsync();
        await page.Locator("[data-testid=table-hourly]").WaitForAsync();
        Assert.Contains("cost-e2e", await page.Locator("[data-testid=drill-path]").InnerTextAsync());

        // Another period picks other buckets: a day per bar.
        await page.ClickAsync("[data-testid=period-30d]");
        await page.Locator("[data-testid=table-hourly]").WaitForAsync();
        await page.ScreenshotAsync("costs-deployment-hours");
    }

    [Fact]
    public async Task User_HasNoCostsLink_IsRefusedTheDashboard_AndSeesOnlyTheirOwnUsage()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("cost-user@test.local", "CostUser-Passw0rd!");

        Assert.Equal(0, await page.Locator("[data-testid=nav-costs]").CountAsync());
        await page.GotoAsync("/admin/costs");
        await page.GetByText("it needs the Admin role").WaitForAsync();
        Assert.Equal(0, await page.Locator("[data-testid=cost-chart]").CountAsync());

        await page.GotoAsync("/usage");
        await page.WaitForCircuitAsync();
        await page.Locator("[data-testid=total-total]").WaitForAsync();
        Assert.Equal(0, await page.Locator("[data-testid=tab-users]").CountAsync());
        Assert.Contains("No monthly budget", await page.Locator("[data-testid=my-budget]").InnerTextAsync());
    }

    private async Task DeployAndCallAsync(string name, int requests)
    {
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PortalFactory.AdminApiKey);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(TestModels.Bytes(TestModels.Mlp()));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "model.onnx");
        form.Add(new StringContent(name), "name");
        var upload = await http.PostAsync("/api/models", form);
        Assert.True(upload.IsSuccessStatusCode, await upload.Content.ReadAsStringAsync());
        var slug = JsonDocument.Parse(await upload.Content.ReadAsStringAsync()).RootElement.GetProperty("model").GetProperty("slug").GetString();
        var created = await http.PostAsJsonAsync("/api/deployments", new { name, modelId = slug, version = 1 });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = new[] { 0.5f, -1f, 2f, 0.25f } } } };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await http.GetAsync($"/v2/models/{name}/ready")).StatusCode != System.Net.HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the deployment did not become ready in 60 s");
            await Task.Delay(200);
        }
        for (var i = 0; i < requests; i++)
        {
            var response = await http.PostAsJsonAsync($"/v2/models/{name}/infer", infer);
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }
    }
}
