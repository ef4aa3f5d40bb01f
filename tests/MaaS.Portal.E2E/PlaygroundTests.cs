using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using MaaS.Onnx.Testing;
using MaaS.Portal.Testing;
using Microsoft.Playwright;
using Onnx;
using SkiaSharp;

namespace MaaS.Portal.E2E;

/// <summary>
/// The issue's browser checks for the playground: a generated classifier deployed with labels gives its top 5 by
/// name; ResNet-18, tried before any deployment, takes an uploaded image and answers.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class PlaygroundTests(BrowserFixture browser)
{
    private static readonly string[] Animals = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep", "goat", "duck", "frog"];
    private static readonly float[] Features = [1f, 2f, 3f, 4f];

    [Fact]
    public async Task DeployedClassifierWithLabels_GivesItsTop5ByName_TimesRuns_AndShowsTheCallAsCode()
    {
        var page = await browser.NewPageAsync();
        await page.RegisterAsync("tryer@test.local", "Tryer-Passw0rd!");
        await page.GotoAsync("/models");
        await page.WaitForCircuitAsync();
        await page.ChooseModelFileAsync(new FilePayload
        {
            Name = "animals.onnx", MimeType = "application/octet-stream", Buffer = TenClassClassifier(out var weights, out var bias),
        });
        await page.Locator("[data-testid=labels-file]").SetInputFilesAsync(new FilePayload
        {
            Name = "labels.txt", MimeType = "text/plain", Buffer = System.Text.Encoding.UTF8.GetBytes(string.Join("\n", Animals)),
        });
        await page.ClickAsync("[data-testid=upload-start]");
        await page.WaitForURLAsync("**/models/animals?version=1", new() { Timeout = 60_000 });

        await page.ClickAsync("[data-testid=deploy-v1]");
        await page.Locator("[data-testid=deploy-dialog]").WaitForAsync();
        await page.ClickAsync("[data-testid=deploy-start]");
        await page.WaitForURLAsync("**/deployments");
        var row = page.Locator("tr", new() { Has = page.Locator("[data-name=animals-v1]") });
        await row.Locator("[data-testid=deployment-state][data-state=Ready]").WaitForAsync(new() { Timeout = 60_000 });

        await page.GotoAsync("/deployments/animals-v1");
        await page.WaitForCircuitAsync();
        await page.ClickAsync("[data-testid=playground-link]");
        await page.WaitForURLAsync("**/deployments/animals-v1/playground");
        await page.WaitForCircuitAsync();
        await page.Locator("[data-testid=playground-title]").WaitForAsync();
        Assert.Contains("[batch, 4]", await page.Locator("[data-testid=input-shape]").InnerTextAsync());

        // Live validation in the browser: three values where the shape wants four is named, then fixed.
        var json = page.Locator("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea");
        await json.FillAsync("[[1, 2, 3]]");
        await page.Locator("[data-testid=tensor-error]", new() { HasText = "Dimension 1 has 3 values" }).WaitForAsync();
        await json.FillAsync("[[1, 2, 3, 4]]");
        await page.Locator("[data-testid=tensor-error]").WaitForAsync(new() { State = WaitForSelectorState.Detached });
        await page.ClickAsync("[data-testid=run]");

        await page.Locator("[data-testid=top-label]").Nth(4).WaitForAsync(new() { Timeout = 30_000 });
        var expected = Logits(weights, bias).Select((v, i) => (Label: Animals[i], Value: v)).OrderByDescending(p => p.Value).Take(5).Select(p => p.Label).ToList();
        Assert.Equal(expected, await page.Locator("[data-testid=top-label]").AllInnerTextsAsync());
        Assert.Contains("softmax applied", await page.Locator("[data-testid=output]").InnerTextAsync());
        Assert.Matches(@"^[\d.]+ (µs|ms|s)$", await page.Locator("[data-testid=compute-ms]").InnerTextAsync());
        Assert.Matches(@"^[\d.]+ (µs|ms|s)$", await page.Locator("[data-testid=round-trip-ms]").InnerTextAsync());

        await page.ClickAsync("[data-testid=run-20]");
        var benchmark = await page.Locator("[data-testid=benchmark]").InnerTextAsync(new() { Timeout = 30_000 });
        Assert.Matches(@"20 runs: round trip p50 [\d.]+ (µs|ms|s), p95 [\d.]+ (µs|ms|s)", benchmark);
        Assert.True(await page.Locator("[data-testid=history-entry]").CountAsync() >= 2);

        // The curl snippet, sent with a real key in place of the placeholder, answers as the page did.
        var curl = await page.Locator("[data-testid=snippet-curl]").InnerTextAsync();
        Assert.Contains("/v2/models/animals-v1/infer", curl);
        Assert.Contains("<your API key>", curl);
        await page.ScreenshotAsync("playground-classifier");
        var body = curl[(curl.IndexOf("--data-binary '", StringComparison.Ordinal) + 15)..].TrimEnd().TrimEnd('\'');
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PortalFactory.AdminApiKey);
        using var response = await http.PostAsync("/v2/models/animals-v1/infer", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var data = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("outputs")[0].GetProperty("data");
        var served = data.EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(expected, served.Select((v, i) => (Label: Animals[i], Value: v)).OrderByDescending(p => p.Value).Take(5).Select(p => p.Label));

        // A request from the history runs again and is added to it.
        var before = await page.Locator("[data-testid=history-entry]").CountAsync();
        await page.Locator("[data-testid=history-rerun]").First.ClickAsync();
        await page.WaitForFunctionAsync($"() => document.querySelectorAll('[data-testid=history-entry]').length > {before}");
        Assert.Contains("logits: " + expected[0], await page.Locator("[data-testid=history-output]").First.InnerTextAsync());

        // Undeployed while the page is open: the page says so, and stays usable.
        using (var undeployed = await http.DeleteAsync("/api/deployments/animals-v1")) Assert.True(undeployed.IsSuccessStatusCode);
        await page.ClickAsync("[data-testid=run]");
        Assert.Contains("animals-v1' is gone", await page.Locator("[data-testid=target-gone]").InnerTextAsync());
        await json.FillAsync("[[1, 2]]");
        await page.Locator("[data-testid=tensor-error]").WaitForAsync();
    }

    [Fact]
    public async Task ResNet18TriedBeforeDeployment_TakesAnUploadedImage_ShowsThePreview_AndAnswers()
    {
        using var http = new HttpClient { BaseAddress = new Uri(browser.BaseUrl), Timeout = TimeSpan.FromMinutes(3) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", PortalFactory.AdminApiKey);
        var form = new MultipartFormDataContent();
        var file = new StreamContent(File.OpenRead(Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx")));
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "resnet18.onnx");
        form.Add(new StringContent("ResNet-18 playground"), "name");
        using var uploaded = await http.PostAsync("/api/models", form);
        Assert.True(uploaded.IsSuccessStatusCode, await uploaded.Content.ReadAsStringAsync());
        var slug = JsonDocument.Parse(await uploaded.Content.ReadAsStringAsync()).RootElement.GetProperty("model").GetProperty("slug").GetString();

        var page = await browser.NewPageAsync();
        await page.LogInAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);
        await page.GotoAsync($"/models/{slug}");
        await page.WaitForCircuitAsync();
        await page.ClickAsync("[data-testid=try-v1]");
        await page.WaitForURLAsync($"**/models/{slug}/versions/1/playground");
        await page.Locator("[data-testid=image-editor]").WaitForAsync(new() { Timeout = 60_000 });
        await page.WaitForCircuitAsync();
        Assert.Contains("temporary session", await page.Locator("[data-testid=session-note]").InnerTextAsync());
        Assert.Contains("NCHW", await page.Locator("[data-testid=image-plan]").InnerTextAsync());

        // A 320 × 240 picture: sky over grass with a red disc, a real PNG the browser uploads.
        var png = TestImages.Png(320, 240, (x, y) =>
            (x - 160) * (x - 160) + (y - 120) * (y - 120) < 50 * 50 ? new SKColor(220, 30, 30) : y < 140 ? new SKColor(120, 170, 240) : new SKColor(40, 150, 50));
        // The keyboard reaches the picker, though it lies invisibly over the drop zone: it is in the tab order.
        Assert.True(await page.Locator("[data-testid=image-editor] input[type=file]").EvaluateAsync<bool>("input => input.tabIndex >= 0"));
        await page.Locator("[data-testid=image-editor] input[type=file]").ChooseFileAsync(new FilePayload { Name = "scene.png", MimeType = "image/png", Buffer = png });
        await page.Locator("[data-testid=image-preview]").WaitForAsync();
        Assert.Contains("320 × 240 PNG", await page.Locator("[data-testid=image-info]").InnerTextAsync());
        await page.ClickAsync("[data-testid=run]");

        await page.Locator("[data-testid=embedding-norm]").WaitForAsync(new() { Timeout = 60_000 });
        Assert.Contains("Embedding of 512 values", await page.Locator("[data-testid=embedding-norm]").InnerTextAsync());
        Assert.Contains("[1, 512, 1, 1]", await page.Locator("[data-testid=output-shape]").InnerTextAsync());
        Assert.Matches(@"^[\d.]+ (µs|ms|s)$", await page.Locator("[data-testid=compute-ms]").InnerTextAsync());
        // The body (150,528 floats) is too long to write out: the snippets read request.json, offered as a download.
        Assert.Contains("--data-binary @request.json", await page.Locator("[data-testid=snippet-curl]").InnerTextAsync());
        await page.Locator("[data-testid=request-download]").WaitForAsync();
        await page.ScreenshotAsync("playground-resnet18");
    }

    /// <summary>features float [batch, 4] → MatMul (W [4, 10]) → Add (B [10]) → logits float [batch, 10].</summary>
    private static byte[] TenClassClassifier(out float[] weights, out float[] bias)
    {
        weights = Enumerable.Range(0, 40).Select(i => (float)Math.Round(Math.Sin(i * 1.7) * 0.8, 3)).ToArray();
        bias = Enumerable.Range(0, 10).Select(j => (float)Math.Round(Math.Cos(j) * 0.3, 3)).ToArray();
        var graph = new GraphProto { Name = "animals" };
        graph.Input.Add(TestModels.TensorValue("features", TensorProto.Types.DataType.Float, TestModels.Batch, 4));
        graph.Output.Add(TestModels.TensorValue("logits", TensorProto.Types.DataType.Float, TestModels.Batch, 10));
        graph.Initializer.Add(TestModels.FloatTensor("W", [4, 10], weights));
        graph.Initializer.Add(TestModels.FloatTensor("B", [10], bias));
        graph.Node.Add(TestModels.Node("MatMul", "fc", ["features", "W"], ["h"]));
        graph.Node.Add(TestModels.Node("Add", "fc_bias", ["h", "B"], ["logits"]));
        var model = new ModelProto { IrVersion = TestModels.DefaultIrVersion, Graph = graph, ProducerName = "e2e" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = TestModels.DefaultOpset });
        return model.ToByteArray();
    }

    private static double[] Logits(float[] weights, float[] bias) =>
        Enumerable.Range(0, 10).Select(j => Enumerable.Range(0, 4).Sum(i => (double)Features[i] * weights[i * 10 + j]) + bias[j]).ToArray();
}
