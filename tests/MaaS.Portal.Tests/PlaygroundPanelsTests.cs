using System.Text;
using Bunit;
using MaaS.Onnx.Inference;
using MaaS.Portal.Features.Playground;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime.Tensors;
using MudBlazor;

namespace MaaS.Portal.Tests;

/// <summary>The playground's panels around the form: saved examples (real SQLite), history, and the call as code.</summary>
public sealed class PlaygroundPanelsTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public PlaygroundPanelsTests()
    {
        Services.AddSingleton(_db.Factory);
        Services.AddSingleton(Options.Create(new PlaygroundOptions()));
        Services.AddSingleton(TimeProvider.System);
        Services.AddSingleton<PlaygroundHistory>();
    }

    private async Task<PlaygroundForm> FormAsync(string ownerId, bool isOwner)
    {
        var modelId = await _db.AddModelAsync(ownerId, $"m-{Guid.NewGuid():N}"[..12], 1);
        var spec = new TensorSpec("features", true, TensorElementType.Float, [-1, 4], ["batch", ""], "float");
        var target = new PlaygroundTarget(PlaygroundTargetKind.Deployment, "iris-prod", modelId, "iris", "Iris", 1, isOwner,
            new ModelSignature([spec], []), null, null);
        return new PlaygroundForm(target);
    }

    private static string? BodyOf(PlaygroundForm form) => Encoding.UTF8.GetString(form.BuildBody().Span);

    [Fact]
    public async Task Examples_SaveTheCurrentInputs_AndLoadThemBack_AndOnlyTheOwnerMayAttach()
    {
        var owner = await _db.AddUserAsync("owner@test.local");
        var form = await FormAsync(owner.Id, isOwner: true);
        var numeric = (NumericInputState)form.Inputs[0];
        numeric.Json = "[[5, 6, 7, 8]]";
        Render<MudPopoverProvider>();
        var panel = Render<PlaygroundExamples>(p => p.Add(e => e.Form, form).Add(e => e.UserId, owner.Id).Add(e => e.CurrentBody, () => BodyOf(form)));

        panel.Find("input[data-testid=example-name], [data-testid=example-name] input").Change("five to eight");
        panel.Find("input[data-testid=example-shared], [data-testid=example-shared] input").Change(true);
        panel.Find("button[data-testid=example-save]").Click();

        var saved = Assert.Single(await Services.GetRequiredService<PlaygroundHistory>().ListExamplesAsync(form.Target.ModelId, "a-visitor"));
        Assert.Equal(("five to eight", true), (saved.Name, saved.Shared));

        numeric.Json = "[[0, 0, 0, 0]]";
        await panel.InvokeAsync(() => panel.FindComponent<MudSelect<Guid?>>().Instance.ValueChanged.InvokeAsync(saved.Id));
        Assert.Equal("[[5, 6, 7, 8]]", numeric.Json);

        var visitorForm = await FormAsync(owner.Id, isOwner: false);
        var visitorPanel = Render<PlaygroundExamples>(p => p.Add(e => e.Form, visitorForm).Add(e => e.UserId, "a-visitor").Add(e => e.CurrentBody, () => BodyOf(visitorForm)));
        Assert.Empty(visitorPanel.FindAll("[data-testid=example-shared]"));
    }

    [Fact]
    public void History_ListsRequests_AndRunsOneAgain()
    {
        PlaygroundHistoryItem? rerun = null;
        var entries = new[]
        {
            new PlaygroundHistoryItem(2, DateTimeOffset.UtcNow, 200, "features [1, 4]: 1, 2, 3, 4", "logits: cat 33.1%", 1.5, 0.4, CanRerun: true),
            new PlaygroundHistoryItem(1, DateTimeOffset.UtcNow, 200, "image", "embedding", 250, 200, CanRerun: false),
        };
        var panel = Render<PlaygroundHistoryPanel>(p => p.Add(h => h.Entries, entries).Add(h => h.OnRerun, (PlaygroundHistoryItem e) => rerun = e));

        Assert.Equal(2, panel.FindAll("[data-testid=history-entry]").Count);
        Assert.Contains("1.5 ms", panel.FindAll("[data-testid=history-entry]")[0].TextContent);
        Assert.Contains("250 ms", panel.FindAll("[data-testid=history-entry]")[1].TextContent);
        // Only a request whose body was kept can run again.
        var buttons = panel.FindAll("button[data-testid=history-rerun]");
        Assert.Single(buttons);
        buttons[0].Click();
        Assert.Same(entries[0], rerun);
    }

    [Fact]
    public void CallSnippets_ShowTheBodyInline_OrOfferRequestJson_AndLinkToKeys()
    {
        const string body = """{"inputs":[{"name":"features","datatype":"FP32","shape":[1,4],"data":[1,2,3,4]}]}""";
        var panel = Render<CallSnippetsPanel>(p => p.Add(s => s.Url, "http://portal/v2/models/iris-prod/infer").Add(s => s.Body, body));
        Assert.Contains($"--data-binary '{body}'", panel.Find("[data-testid=snippet-curl]").TextContent);
        Assert.Equal("/keys", panel.Find("[data-testid=keys-link]").GetAttribute("href"));
        Assert.Empty(panel.FindAll("[data-testid=request-download]"));

        var large = "{\"inputs\":[" + new string(' ', CallSnippets.MaxInlineBytes) + "]}";
        var download = Render<CallSnippetsPanel>(p => p.Add(s => s.Url, "http://portal/v2/models/<deployment name>/infer").Add(s => s.Body, large)
            .Add(s => s.DownloadPath, "/ui/playground/requests/abc/request.json").Add(s => s.Deployed, false));
        Assert.Equal("/ui/playground/requests/abc/request.json", download.Find("[data-testid=request-download]").GetAttribute("href"));
        Assert.Contains("--data-binary @request.json", download.Find("[data-testid=snippet-curl]").TextContent);
        Assert.Contains("This version is not deployed", download.Markup);
    }

    public new void Dispose() => _db.Dispose();
}
