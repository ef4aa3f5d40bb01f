using Bunit;
using Hangfire;
using MaaS.Onnx.Models;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MudBlazor;

namespace MaaS.Portal.Tests;

public sealed class CompressDialogTests : MudTestBase, IDisposable
{
    private static readonly Dictionary<string, int> ConvNet = new() { ["Conv"] = 20, ["Relu"] = 20, ["Gemm"] = 1, ["GlobalAveragePool"] = 1 };
    private static readonly Dictionary<string, int> Transformer = new() { ["MatMul"] = 48, ["Softmax"] = 6, ["Gather"] = 1, ["Add"] = 60 };

    private readonly TestDatabase _db = new();

    public CompressDialogTests()
    {
        Services.AddSingleton(_db.Factory);
        Services.AddSingleton(_db.Paths);
        Services.AddSingleton(new BlobStore(_db.Paths));
        Services.AddSingleton(new ModelProbeClient());
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new ModelsOptions()));
        Services.AddLogging();
        Services.AddSingleton<ModelRegistry>();
        Services.AddSingleton(new JobNotifier(NullLogger<JobNotifier>.Instance));
        Services.AddSingleton<JobCancellations>();
        Services.AddSingleton<IBackgroundJobClient>(new BackgroundJobClient(_db.JobStorage));
        Services.AddSingleton<JobService>();
        Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(new Features.SampleSets.SampleSetsOptions()));
        Services.AddSingleton<Features.SampleSets.SampleSetService>();
        Services.AddSingleton<CompressionService>();
    }

    private async Task<IRenderedComponent<MudDialogProvider>> OpenAsync(IReadOnlyDictionary<string, int> ops, string? recipe = null, string slug = "resnet")
    {
        Render<MudPopoverProvider>();
        var provider = Render<MudDialogProvider>();
        var parameters = new DialogParameters<CompressDialog>
        {
            { d => d.ModelSlug, slug },
            { d => d.Version, 1 },
            { d => d.OpHistogram, ops },
            { d => d.UserId, "alice" },
            { d => d.Recipe, recipe },
        };
        await provider.InvokeAsync(() => Services.GetRequiredService<IDialogService>().ShowAsync<CompressDialog>("Compress", parameters));
        provider.WaitForElement("[data-testid=compress-start]");
        return provider;
    }

    private static bool StartDisabled(IRenderedComponent<MudDialogProvider> dialog) =>
        dialog.Find("[data-testid=compress-start]").HasAttribute("disabled");

    private static AngleSharp.Dom.IElement Input(IRenderedComponent<MudDialogProvider> dialog, string testId) =>
        dialog.Find($"input[data-testid={testId}], [data-testid={testId}] input");

    [Fact]
    public async Task ConvHeavyModel_GetsStaticInt8Suggested_AndPreselected_WithItsCalibrationOptions()
    {
        var dialog = await OpenAsync(ConvNet);

        var suggestion = dialog.Find("[data-testid=recipe-suggestion]").TextContent;
        Assert.Contains("Suggested: INT8 static (calibrated), because 20 Conv node(s)", suggestion);
        Assert.Equal(CompressionRecipes.Find(CompressionRecipes.Int8Static)!.Summary, dialog.Find("[data-testid=recipe-summary]").TextContent);
        Assert.NotEmpty(dialog.FindAll("[data-testid=option-calibration]"));
        Assert.Contains("minmax keeps every value in range", dialog.Markup);
        Assert.False(StartDisabled(dialog));
    }

    [Fact]
    public async Task MatMulHeavyModel_GetsDynamicInt8Suggested_AndPreselected()
    {
        var dialog = await OpenAsync(Transformer);

        Assert.Contains("Suggested: INT8 dynamic, because 48 MatMul/Gemm node(s)", dialog.Find("[data-testid=recipe-suggestion]").TextContent);
        Assert.Equal(CompressionRecipes.Find(CompressionRecipes.Int8Dynamic)!.Summary, dialog.Find("[data-testid=recipe-summary]").TextContent);
        Assert.NotEmpty(dialog.FindAll("[data-testid=option-quantizeEmbeddings]"));
        Assert.Empty(dialog.FindAll("[data-testid=option-calibration]"));
        Assert.Equal("Generate inputs", Input(dialog, "sample-set-select").GetAttribute("value"));
    }

    [Fact]
    public async Task GateOutOfRange_DisablesStart_AndSaysWhy_UntilItIsFixed()
    {
        var dialog = await OpenAsync(Transformer);
        Assert.Equal("0.99", Input(dialog, "gate-min-cosine").GetAttribute("value"));

        Input(dialog, "gate-min-cosine").Input("1.5");
        dialog.WaitForAssertion(() => Assert.Contains("Gate 'minCosine' must be between -1 and 1", dialog.Markup));
        Assert.True(StartDisabled(dialog));

        Input(dialog, "gate-min-cosine").Input("0.98");
        Input(dialog, "gate-max-latency").Input("0");
        dialog.WaitForAssertion(() => Assert.Contains("Gate 'maxLatencyRatio' must be above 0 and at most 100", dialog.Markup));
        Assert.DoesNotContain("Gate 'minCosine'", dialog.Markup);
        Assert.True(StartDisabled(dialog));

        Input(dialog, "gate-max-latency").Input("1.2");
        dialog.WaitForAssertion(() => Assert.False(StartDisabled(dialog)));
        Assert.DoesNotContain("Gate '", dialog.Markup);
    }

    [Fact]
    public async Task OptionOutOfRange_ShowsTheCatalogsMessage_AndDisablesStart()
    {
        var dialog = await OpenAsync(ConvNet, recipe: CompressionRecipes.Prune);
        Assert.Equal("0.5", dialog.Find("[data-testid=option-sparsity] input").GetAttribute("value"));
        Assert.Contains("The share of weights set to zero.", dialog.Markup);

        dialog.Find("[data-testid=option-sparsity] input").Input("0.99");

        dialog.WaitForAssertion(() => Assert.Contains("Option 'sparsity' must be between 0.05 and 0.95; 0.99 is not.", dialog.Markup));
        Assert.True(StartDisabled(dialog));
    }

    [Fact]
    public async Task RefusalFromTheService_IsShownInTheDialog_WhichStaysOpen()
    {
        var dialog = await OpenAsync(Transformer, slug: "nobodys-model");

        dialog.Find("[data-testid=compress-start]").Click();

        dialog.WaitForAssertion(() => Assert.Contains("Model 'nobodys-model' has no version 1 of yours.",
            dialog.Find("[data-testid=compress-errors]").TextContent));
        Assert.NotEmpty(dialog.FindAll("[data-testid=compress-dialog]"));
    }

    public new void Dispose() => _db.Dispose();
}
