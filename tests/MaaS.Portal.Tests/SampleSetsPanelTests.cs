using System.Security.Claims;
using System.Text;
using Bunit;
using MaaS.Onnx.Models;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Features.SampleSets;
using MaaS.Portal.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using MudBlazor;

namespace MaaS.Portal.Tests;

public sealed class SampleSetsPanelTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public SampleSetsPanelTests()
    {
        Services.AddSingleton(_db.Factory);
        Services.AddSingleton(_db.Paths);
        Services.AddSingleton(new BlobStore(_db.Paths));
        Services.AddSingleton(new ModelProbeClient());
        Services.AddSingleton(Options.Create(new ModelsOptions()));
        Services.AddSingleton(Options.Create(new SampleSetsOptions()));
        Services.AddLogging();
        Services.AddSingleton<ModelRegistry>();
        Services.AddSingleton<SampleSetService>();
    }

    private async Task<string> SignInWithAModelAsync(string email, string slug)
    {
        var user = await _db.AddUserAsync(email);
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            db.Models.Add(new RegisteredModel { Slug = slug, Name = slug, OwnerId = user.Id });
            await db.SaveChangesAsync();
        }
        AddAuthorization().SetAuthorized(email).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        return user.Id;
    }

    private Task<SampleSetView> AddTextSetAsync(string userId, string slug, string name, string lines) =>
        Services.GetRequiredService<SampleSetService>().CreateAsync(new MemoryStream(Encoding.UTF8.GetBytes(lines)), "lines.txt", null,
            new SampleSetUpload(Name: name, ModelIdOrSlug: slug), userId, false, CancellationToken.None);

    [Fact]
    public async Task NoSets_ShowsWhatToUpload()
    {
        await SignInWithAModelAsync("empty@test.local", "bare-model");

        var panel = Render<SampleSetsPanel>(p => p.Add(c => c.ModelId, "bare-model"));

        var empty = panel.WaitForElement("[data-testid=sample-sets-empty]");
        Assert.Contains("No sample sets yet", empty.TextContent);
        Assert.Contains(".zip of images", empty.TextContent);
        Assert.Contains("vocab.txt", empty.TextContent);
        Assert.Empty(panel.FindAll("[data-testid=sample-set-list]"));
    }

    [Fact]
    public async Task TheModelsSets_AreListed_WithKindCountAndSize_AndOtherModelsSetsAreNot()
    {
        var userId = await SignInWithAModelAsync("lister@test.local", "listed-model");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            db.Models.Add(new RegisteredModel { Slug = "other-model", Name = "other", OwnerId = userId });
            await db.SaveChangesAsync();
        }
        await AddTextSetAsync(userId, "listed-model", "support questions", "how do I reset my password?\nwhere is my invoice?\n\n");
        await AddTextSetAsync(userId, "other-model", "elsewhere", "not this one\n");

        var panel = Render<SampleSetsPanel>(p => p.Add(c => c.ModelId, "listed-model"));

        var list = panel.WaitForElement("[data-testid=sample-set-list]");
        Assert.Contains("support questions", list.TextContent);
        Assert.Contains("text · no vocabulary", list.TextContent);
        Assert.Contains("lines.txt", list.TextContent);
        Assert.Contains("50 bytes", list.TextContent);
        Assert.DoesNotContain("elsewhere", list.TextContent);
        Assert.Empty(panel.FindAll("[data-testid=sample-sets-empty]"));

        panel.Find("[data-testid=preview-sample-set]").Click();

        var preview = panel.WaitForElement("[data-testid=sample-set-preview]");
        Assert.Contains("line 1", preview.TextContent);
        Assert.Contains("where is my invoice?", preview.TextContent);
    }

    [Fact]
    public async Task Delete_AsksFirst_ThenRemovesTheSet()
    {
        var userId = await SignInWithAModelAsync("deleter@test.local", "deleting-model");
        await AddTextSetAsync(userId, "deleting-model", "short-lived", "one line\n");
        Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var panel = Render<SampleSetsPanel>(p => p.Add(c => c.ModelId, "deleting-model"));

        panel.WaitForElement("[data-testid=delete-sample-set]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Delete 'short-lived' (1 sample)?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Delete").Click();

        panel.WaitForElement("[data-testid=sample-sets-empty]");
        Assert.Empty(await Services.GetRequiredService<SampleSetService>().ListAsync(userId, false));
    }

    [Fact]
    public async Task UploadForm_SendsTheChosenFile_ToTheModel_AndShowsRefusalsInWords()
    {
        var userId = await SignInWithAModelAsync("uploader@test.local", "upload-model");
        Render<MudPopoverProvider>();
        var panel = Render<SampleSetsPanel>(p => p.Add(c => c.ModelId, "upload-model"));
        panel.WaitForElement("[data-testid=add-sample-set]").Click();

        // A .json whose second sample is short: refused with the reason, nothing listed.
        const string bad = """[{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]},{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1]}]}]""";
        panel.FindComponent<Microsoft.AspNetCore.Components.Forms.InputFile>().UploadFiles(InputFileContent.CreateFromText(bad, "samples.json"));
        panel.WaitForAssertion(() => Assert.Contains("samples.json", panel.Find("[data-testid=sample-file]").TextContent));
        panel.Find("[data-testid=sample-set-start]").Click();
        panel.WaitForAssertion(() => Assert.Contains("Sample 2, input 'x'", panel.Find("[data-testid=sample-set-error]").TextContent));

        const string good = """{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1,2]}]}""";
        panel.FindComponent<Microsoft.AspNetCore.Components.Forms.InputFile>().UploadFiles(InputFileContent.CreateFromText(good, "one.json"));
        panel.WaitForAssertion(() => Assert.Contains("one.json", panel.Find("[data-testid=sample-file]").TextContent));
        panel.Find("[data-testid=sample-set-start]").Click();

        var list = panel.WaitForElement("[data-testid=sample-set-list]");
        Assert.Contains("tensors", list.TextContent);
        var stored = Assert.Single(await Services.GetRequiredService<SampleSetService>().ListAsync(userId, false, "upload-model"));
        Assert.Equal(("one", SampleSetKinds.Tensors, 1), (stored.Name, stored.Kind, stored.SampleCount));
        Assert.Empty(Directory.GetFiles(_db.Paths.Temp));
    }

    public new void Dispose() => _db.Dispose();
}
