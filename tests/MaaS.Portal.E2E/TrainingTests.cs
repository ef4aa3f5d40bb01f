using System.Text;
using MaaS.Training.Tests;
using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

/// <summary>The flow in a real browser: upload a CSV, look at its columns, train, watch the trainers, open the model.</summary>
[Collection(BrowserCollection.Name)]
public sealed class TrainingTests(BrowserFixture browser)
{
    [Fact]
    public async Task NewUser_UploadsACsv_Trains_WatchesEachTrainer_AndOpensTheModel()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("analyst@test.local", "Analyst-Passw0rd!");
        await page.GotoAsync("/training");
        await page.WaitForCircuitAsync();
        Assert.Contains("No datasets yet", await page.Locator("[data-testid=datasets-empty]").InnerTextAsync());

        await page.Locator("[data-testid=dataset-upload] input[type=file]").ChooseFileAsync(new FilePayload
        {
            Name = "loans.csv", MimeType = "text/csv", Buffer = Encoding.UTF8.GetBytes(SyntheticCsv.Binary(rows: 300)),
        });

        // The dataset opens with its inferred column types and first rows.
        await page.Locator("[data-testid=dataset-details]").WaitForAsync(new() { Timeout = 30_000 });
        Assert.Contains("300 rows · 5 columns · comma-separated", await page.Locator("[data-testid=dataset-summary]").InnerTextAsync());
        Assert.Equal("Categorical", await page.Locator("[data-testid=dataset-column][data-column=color]").GetAttributeAsync("data-type"));
        Assert.Equal("Boolean", await page.Locator("[data-testid=dataset-column][data-column=member]").GetAttributeAsync("data-type"));
        Assert.Equal(11, await page.Locator("[data-testid=dataset-preview] tr").CountAsync());
        Assert.Contains("Nothing trained from this dataset yet", await page.Locator("[data-testid=training-jobs-empty]").InnerTextAsync());

        // The form starts on the last column, 'approved', with its suggested task (binary) and the Auto trainer.
        await page.ClickAsync("[data-testid=train-start]");
        var job = page.Locator("[data-testid=training-job]").First;
        await job.Locator("[data-testid=training-progress]").WaitForAsync();

        await page.Locator("[data-testid=training-job][data-state=Succeeded]").WaitForAsync(new() { Timeout = 120_000 });
        Assert.Equal("100", await job.Locator("[data-testid=training-progress]").GetAttributeAsync("data-value"));
        Assert.Contains("done", await job.Locator("[data-testid=training-stage]").InnerTextAsync());
        Assert.Equal(4, await job.Locator("[data-testid=trainer-run][data-status=Trained]").CountAsync());
        Assert.Equal(4, await job.Locator("[data-testid=confusion-cell]").CountAsync());
        Assert.Contains("0 label differences", await job.Locator("[data-testid=onnx-agreement]").InnerTextAsync());
        await page.ScreenshotAsync("training-finished");

        await job.Locator("[data-testid=training-open-model]").ClickAsync();
        await page.WaitForURLAsync("**/models/loans-approved?version=1");
        await page.Locator("[data-testid=training-report]").WaitForAsync();
        Assert.Contains("x1", await page.Locator("[data-testid=signature-inputs]").InnerTextAsync());
        Assert.Contains("PredictedLabel.output", await page.Locator("[data-testid=signature-outputs]").InnerTextAsync());
    }

    [Fact]
    public async Task UploadingAFileThatIsNotACsv_SaysWhyInWords()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("poet@test.local", "Poet-Passw0rd!");
        await page.GotoAsync("/training");
        await page.WaitForCircuitAsync();

        await page.Locator("[data-testid=dataset-upload] input[type=file]").ChooseFileAsync(new FilePayload
        {
            Name = "poem.csv", MimeType = "text/csv", Buffer = Encoding.UTF8.GetBytes("Roses are red\nviolets are blue\n"),
        });

        var error = page.Locator("[data-testid=dataset-error]");
        await error.WaitForAsync();
        Assert.Contains("does not look like a CSV", await error.InnerTextAsync());
        Assert.Contains("No datasets yet", await page.ContentAsync());
    }
}
