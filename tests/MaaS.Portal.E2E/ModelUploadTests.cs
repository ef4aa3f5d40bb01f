using MaaS.Onnx.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

/// <summary>The issue's "done when": a new user puts ResNet-18 on the Models page, watches it upload, and reads it.</summary>
[Collection(BrowserCollection.Name)]
public sealed class ModelUploadTests(BrowserFixture browser)
{
    private static readonly string ResNet18 = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    [Fact]
    public async Task NewUser_UploadsResNet18_WithProgress_AndReadsItsSignatureAndGraphStatistics()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("vision@test.local", "Vision-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        Assert.Contains("No models yet", await page.ContentAsync());
        // The picker is reachable by keyboard: it takes focus (its label shows it), though it is out of sight.
        await page.Locator("[data-testid=model-file]").FocusAsync();
        Assert.Equal("model-file", await page.EvaluateAsync<string>("document.activeElement?.dataset.testid ?? ''"));

        await page.ChooseModelFileAsync(ResNet18);
        // A labels file can be picked: its input becomes visible once the panel shows the chosen file (the wait times out if it stays hidden).
        await page.Locator("[data-testid=labels-file]").WaitForAsync(new() { State = WaitForSelectorState.Visible, Timeout = 10_000 });
        await page.Locator("input[data-testid=upload-name], [data-testid=upload-name] input").FillAsync("ResNet-18");
        await page.ClickAsync("[data-testid=upload-start]");
        // The status line names bytes, percent, speed and time left while the file moves, then the sandbox check.
        await page.Locator("[data-testid=upload-status]").WaitForAsync();
        var status = await page.Locator("[data-testid=upload-status]").InnerTextAsync();
        Assert.Matches(@"(of 60\.7 MiB \(\d+%\) · .+/s · .+ left)|(Checking the model)", status);

        await page.WaitForURLAsync("**/models/resnet-18?version=1", new() { Timeout = 60_000 });
        await page.Locator("[data-testid=signature-inputs]").WaitForAsync();
        var inputs = await page.Locator("[data-testid=signature-inputs]").InnerTextAsync();
        Assert.Contains("Input247", inputs);
        Assert.Contains("[1, 3, 224, 224]", inputs);
        Assert.Contains("FP32", inputs);
        Assert.Contains("Pooling395_Output_0", await page.Locator("[data-testid=signature-outputs]").InnerTextAsync());
        Assert.Equal("74", await page.Locator("[data-testid=node-count]").InnerTextAsync());
        Assert.Equal("15,908,800", await page.Locator("[data-testid=parameter-count]").InnerTextAsync());
        Assert.True(await page.Locator("[data-testid=op-chart] svg").First.IsVisibleAsync());
        Assert.Contains("CNTK", await page.Locator("[data-testid=graph-stats]").InnerTextAsync());
        await page.ScreenshotAsync("model-resnet18");
    }

    [Fact]
    public async Task DroppingAModel_OnTheModelsPage_RegistersIt()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("dropper@test.local", "Dropper-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();

        await DropFileAsync(page, "iris.onnx", TestModels.Bytes(TestModels.Mlp()));
        await page.Locator("[data-testid=upload-start]").ClickAsync();

        await page.WaitForURLAsync("**/models/iris?version=1");
        var inputs = await page.Locator("[data-testid=signature-inputs]").InnerTextAsync();
        Assert.Contains("[batch, 4]", inputs);
        await page.GotoAsync("/models");
        Assert.Contains("iris", await page.Locator("[data-testid=model-list]").InnerTextAsync());
        // The model's name is a link, so the keyboard reaches it as the mouse reaches the row.
        await page.WaitForCircuitAsync();
        await page.Locator("[data-testid=model-list] a[href='/models/iris']").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync("**/models/iris");
    }

    [Fact]
    public async Task RejectedUpload_SaysWhyInWords_AndAddsNoModel()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("photographer@test.local", "Photo-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();

        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "holiday.onnx", MimeType = "application/octet-stream", Buffer = TestModels.JpegLikeBytes(),
        });
        await page.ClickAsync("[data-testid=upload-start]");

        var error = page.Locator("[data-testid=upload-error]");
        await error.WaitForAsync();
        Assert.Contains("not an ONNX model: it looks like a JPEG image", await error.InnerTextAsync());
        Assert.Contains("No models yet", await page.ContentAsync());
    }

    [Fact]
    public async Task AFilePickedBeforeTheUploadScriptLoads_IsStillTaken()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("early@test.local", "Early-Passw0rd!");
        // Hold the upload panel's script back, as a slow connection would, and pick the file meanwhile.
        var script = await page.HoldAsync("**/js/model-upload*.js");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await script.Arrived;
        await page.Locator("[data-testid=model-file]").SetInputFilesAsync(new FilePayload
        {
            Name = "early-bird.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp()),
        });
        Assert.Equal(0, await page.Locator("[data-testid=drop-zone][data-ready=true]").CountAsync());

        script.Release();
        await page.Locator("[data-testid=drop-zone][data-ready=true]").WaitForAsync();
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/early-bird?version=1");
    }

    [Fact]
    public async Task LeavingThePageDuringAnUpload_AsksFirst_AndStayingLetsItFinish()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("stayer@test.local", "Stayer-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        // Hold the upload request, so the upload is in flight for as long as the test needs.
        var upload = await page.HoldAsync("**/ui/models/upload**");
        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "stayer.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp()),
        });
        await page.ClickAsync("[data-testid=upload-start]");
        await upload.Arrived;

        await page.Locator(".mud-navmenu a[href='/jobs']").ClickAsync();
        var dialog = page.Locator(".mud-dialog");
        await dialog.GetByText("stayer.onnx is still uploading").WaitForAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Stay", Exact = true }).ClickAsync();
        await dialog.WaitForAsync(new() { State = WaitForSelectorState.Detached });
        Assert.EndsWith("/models", new Uri(page.Url).AbsolutePath);

        upload.Release();
        await page.WaitForURLAsync("**/models/stayer?version=1");
    }

    [Fact]
    public async Task ANewVersion_UploadsFromTheModelPage_WhichKeepsThePanelOpenMeanwhile()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("versioner@test.local", "Versioner-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await page.ChooseModelFileAsync(new FilePayload { Name = "scorer.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp()) });
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/scorer?version=1");
        await page.WaitForCircuitAsync();

        var upload = await page.HoldAsync("**/ui/models/upload**");
        await page.ClickAsync("[data-testid=new-version]");
        await page.ChooseModelFileAsync(new FilePayload { Name = "scorer-v2.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp(opset: 15)) });
        await page.ClickAsync("[data-testid=upload-start]");
        await upload.Arrived;
        // Closing the panel would stop the upload: the button that closes it is off until the upload ends.
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=new-version]')?.disabled === true", null, new() { Timeout = 10_000 });

        upload.Release();
        await page.Locator("[data-testid=select-v2]").WaitForAsync();
        await page.WaitForFunctionAsync("() => document.querySelector('[data-testid=new-version]')?.disabled === false", null, new() { Timeout = 10_000 });
        Assert.Equal(0, await page.Locator("[data-testid=drop-zone]").CountAsync());
    }

    [Fact]
    public async Task CancellingAnUpload_StopsIt_SaysSo_AndLeavesNoFile()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("impatient@test.local", "Impatient-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        // A slow link (2 MB/s up) so there is an upload in flight to watch and cancel.
        var cdp = await page.Context.NewCDPSessionAsync(page);
        await cdp.SendAsync("Network.enable");
        await cdp.SendAsync("Network.emulateNetworkConditions", new Dictionary<string, object>
        {
            ["offline"] = false, ["latency"] = 0, ["downloadThroughput"] = -1, ["uploadThroughput"] = 2_000_000,
        });

        await page.ChooseModelFileAsync(ResNet18);
        await page.ClickAsync("[data-testid=upload-start]");
        var status = page.Locator("[data-testid=upload-status]");
        await page.WaitForFunctionAsync(@"() => /MiB\/s · .+ left/.test(document.querySelector('[data-testid=upload-status]')?.innerText ?? '')");
        Assert.Matches(@"^[\d.]+ (bytes|KiB|MiB) of 60\.7 MiB \(\d+%\) · [\d.]+ (KiB|MiB)/s · .+ left$", await status.InnerTextAsync());
        await page.ClickAsync("[data-testid=upload-cancel]");

        Assert.Contains("Upload cancelled. Nothing was stored.", await page.Locator("[data-testid=upload-error]").InnerTextAsync());
        var temp = browser.Portal.Services.GetRequiredService<MaaS.Portal.Storage.DataPaths>().Temp;
        for (var i = 0; i < 100 && Directory.EnumerateFileSystemEntries(temp).Any(); i++) await Task.Delay(100);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temp));
        await page.GotoAsync("/models");
        Assert.Contains("No models yet", await page.ContentAsync());
    }

    [Fact]
    public async Task DeletingAModel_AsksFirst_AndKeepingItChangesNothing()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("tidy@test.local", "Tidy-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "short-lived.onnx", MimeType = "application/octet-stream", Buffer = TestModels.Bytes(TestModels.Mlp()),
        });
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/short-lived?version=1");

        await page.ClickAsync("[data-testid=delete-model]");
        await page.GetByRole(AriaRole.Button, new() { Name = "Keep it" }).ClickAsync();
        await page.GotoAsync("/models/short-lived");
        Assert.Equal("short-lived", await page.Locator("[data-testid=model-name]").InnerTextAsync());

        await page.WaitForCircuitAsync();
        await page.ClickAsync("[data-testid=delete-model]");
        Assert.Contains("cannot be undone", await page.Locator(".mud-dialog").InnerTextAsync());
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        await page.WaitForURLAsync("**/models");
        await page.GetByText("No models yet").WaitForAsync();
    }

    /// <summary>Drops a file on the drop zone the way a desktop drag does: a drop event carrying a DataTransfer.</summary>
    private static async Task DropFileAsync(IPage page, string name, byte[] bytes)
    {
        var transfer = await page.EvaluateHandleAsync(@"([name, base64]) => {
            const bytes = Uint8Array.from(atob(base64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
            return transfer;
        }", new object[] { name, Convert.ToBase64String(bytes) });
        // A drop before the panel's script listens goes unheard, as it would for a person.
        var zone = page.Locator("[data-testid=drop-zone][data-ready=true]");
        await zone.DispatchEventAsync("dragenter", new { dataTransfer = transfer });
        await zone.DispatchEventAsync("drop", new { dataTransfer = transfer });
    }
}
