using System.Net.Http.Headers;
using System.Text;
using MaaS.Onnx.Testing;
using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

/// <summary>The browser check for deployments: deploy from the model page, watch it come up, call it, undeploy.</summary>
[Collection(BrowserCollection.Name)]
public sealed class DeploymentTests(BrowserFixture browser)
{
    [Fact]
    public async Task DeployFromTheModelPage_BecomesReady_AnswersTheCurlExample_AndUndeploysAfterConfirmation()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("operator@test.local", "Operator-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "tiny-classifier.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp()),
        });
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/tiny-classifier?version=1", new() { Timeout = 60_000 });

        // The dialog names the deployment after the model and version; Deploy goes to the list, which shows it come up.
        await page.ClickAsync("[data-testid=deploy-v1]");
        await page.Locator("[data-testid=deploy-dialog]").WaitForAsync();
        Assert.Equal("tiny-classifier-v1", await page.Locator("input[data-testid=deploy-name], [data-testid=deploy-name] input").InputValueAsync());
        await page.ScreenshotAsync("deploy-dialog");
        await page.ClickAsync("[data-testid=deploy-start]");
        await page.WaitForURLAsync("**/deployments");
        var row = page.Locator("tr", new() { Has = page.Locator("[data-name=tiny-classifier-v1]") });
        await row.Locator("[data-testid=deployment-state][data-state=Ready]").WaitForAsync(new() { Timeout = 60_000 });
        Assert.Contains("/v2/models/tiny-classifier-v1/infer", await row.InnerTextAsync());
        await page.ScreenshotAsync("deployments-list");

        // A key for this deployment only, made on the keys page with the deployment offered for its scope.
        await page.GotoAsync("/keys");
        await page.WaitForCircuitAsync();
        await page.Locator("input[data-testid=key-name], [data-testid=key-name] input").FillAsync("e2e caller");
        await page.Locator("[data-testid=scope-suggestion]", new() { HasText = "tiny-classifier-v1" }).ClickAsync();
        await page.ClickAsync("[data-testid=create-key]");
        var secret = await page.Locator("code.secret").InnerTextAsync();
        Assert.Contains("tiny-classifier-v1", await page.Locator("[data-testid=key-scope-cell]").InnerTextAsync());

        await page.GotoAsync("/deployments");
        await page.WaitForCircuitAsync();
        await page.ClickAsync("[data-testid=deployment-link]");
        await page.WaitForURLAsync("**/deployments/tiny-classifier-v1");
        Assert.Contains("tiny-classifier-v1", await page.Locator("[data-testid=deployment-title]").InnerTextAsync());
        Assert.DoesNotContain("—", await page.Locator("[data-testid=cold-start]").InnerTextAsync());

        // The page's curl example, sent as written (with the key in place of the placeholder), is a valid request.
        var curl = await page.Locator("[data-testid=curl-example]").InnerTextAsync();
        var body = curl[(curl.IndexOf("-d '", StringComparison.Ordinal) + 4)..].TrimEnd().TrimEnd('\'');
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        for (var i = 0; i < 5; i++)
        {
            using var response = await http.PostAsync("/v2/models/tiny-classifier-v1/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
        // Live figures refresh every two seconds.
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=live-rate]')?.innerText.trim() !== '0'", null, new() { Timeout = 10_000 });
        await page.ScreenshotAsync("deployment-detail");

        await page.ClickAsync("[data-testid=undeploy]");
        Assert.Contains("stops answering", await page.Locator(".mud-dialog").InnerTextAsync());
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Undeploy", Exact = true }).ClickAsync();
        await page.WaitForURLAsync("**/deployments");
        await page.GetByText("No deployments yet").WaitForAsync();
        using var gone = await http.PostAsync("/v2/models/tiny-classifier-v1/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(404, (int)gone.StatusCode);
    }
}
