using MaaS.Onnx.Testing;
using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

/// <summary>The issue's browser check: upload a small model, compress it to FP16 from the UI, watch it finish, compare.</summary>
[Collection(BrowserCollection.Name)]
public sealed class CompressionTests(BrowserFixture browser)
{
    [Fact]
    public async Task CompressToFp16_FromTheModelPage_ShowsProgressToTheEnd_ThenTheNewVersionAndTheComparison()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("squeezer@test.local", "Squeezer-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "wide-mlp.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.WideMlp()),
        });
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/wide-mlp?version=1", new() { Timeout = 60_000 });

        await page.ClickAsync("[data-testid=compress-v1]");
        var dialog = page.Locator("[data-testid=compress-dialog]");
        await dialog.WaitForAsync();
        // An MLP is all MatMul: the dialog suggests dynamic INT8 and says why.
        Assert.Contains("Suggested: INT8 dynamic, because", await page.Locator("[data-testid=recipe-suggestion]").InnerTextAsync());
        await page.Locator("[data-testid=recipe-select]").First.ClickAsync();
        await page.Locator("[data-recipe=fp16]").ClickAsync();
        await page.GetByText("Keep float32 inputs and outputs").WaitForAsync();
        await page.ClickAsync("[data-testid=compress-start]");
        await dialog.WaitForAsync(new() { State = WaitForSelectorState.Detached });

        var job = page.Locator("[data-testid=compress-job]").First;
        await job.WaitForAsync();
        Assert.Contains("Compress wide-mlp v1: FP16", await job.InnerTextAsync());
        await page.Locator("[data-testid=compress-job][data-state=Succeeded] [data-testid=compress-progress][data-value='100']")
            .WaitForAsync(new() { Timeout = 60_000 });
        Assert.Contains("100%", await job.InnerTextAsync());

        // The new version appears in the table without a reload.
        var versions = page.Locator("[data-testid=version-list]");
        await versions.GetByText("compressed: FP16").WaitForAsync();
        Assert.Contains("v2", await versions.InnerTextAsync());

        await page.ClickAsync("[data-testid=compress-open-version]");
        await page.WaitForURLAsync("**/models/wide-mlp?version=2");
        var report = page.Locator("[data-testid=compression-report]");
        await report.WaitForAsync();
        Assert.Contains("Passed the quality gate", await report.InnerTextAsync());

        await page.ClickAsync("[data-testid=compare-versions]");
        var table = page.Locator("[data-testid=comparison-table]");
        await table.WaitForAsync();
        var text = await table.InnerTextAsync();
        Assert.Contains("v1", text);
        Assert.Contains("v2", text);
        Assert.Contains("compressed from v1", text);
        Assert.Matches(@"Latency p50\s+[\d.]+ (µs|ms|s)\s+[\d.]+ (µs|ms|s)\s+×[\d.]+", text);
        Assert.True(await page.Locator("[data-testid=comparison-chart] svg").First.IsVisibleAsync());
        await page.ScreenshotAsync("compression-comparison");
    }
}
