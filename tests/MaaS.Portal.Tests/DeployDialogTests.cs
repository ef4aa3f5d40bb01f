using Bunit;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace MaaS.Portal.Tests;

public sealed class DeployDialogTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public DeployDialogTests() => Services.AddDeploymentServices(_db);

    private async Task<(IRenderedComponent<MudDialogProvider> Provider, IDialogReference Dialog)> OpenAsync(
        string userId, string slug = "iris", int version = 1, params int[] versions)
    {
        Render<MudPopoverProvider>();
        var provider = Render<MudDialogProvider>();
        var parameters = new DialogParameters<DeployDialog>
        {
            { d => d.ModelSlug, slug },
            { d => d.Versions, versions.Length == 0 ? [version] : versions },
            { d => d.Version, version },
            { d => d.UserId, userId },
        };
        var dialog = await provider.InvokeAsync(() => Services.GetRequiredService<IDialogService>().ShowAsync<DeployDialog>("Deploy", parameters));
        provider.WaitForElement("[data-testid=deploy-start]");
        return (provider, dialog);
    }

    private static AngleSharp.Dom.IElement Input(IRenderedComponent<MudDialogProvider> dialog, string testId) =>
        dialog.Find($"input[data-testid={testId}], [data-testid={testId}] input");

    private static bool DeployDisabled(IRenderedComponent<MudDialogProvider> dialog) =>
        dialog.Find("[data-testid=deploy-start]").HasAttribute("disabled");

    [Fact]
    public async Task Name_StartsAsSlugAndVersion_AndTheEndpointIsShown()
    {
        var (dialog, _) = await OpenAsync("alice", "iris", 3, 3, 2, 1);

        Assert.Equal("iris-v3", Input(dialog, "deploy-name").GetAttribute("value"));
        Assert.Contains("/v2/models/iris-v3/infer", dialog.Markup);
        Assert.False(DeployDisabled(dialog));
    }

    [Fact]
    public async Task BadName_SaysWhy_AndDisablesDeploy_UntilItIsFixed()
    {
        var (dialog, _) = await OpenAsync("alice");

        Input(dialog, "deploy-name").Input("-not_a/slug");
        dialog.WaitForAssertion(() => Assert.Contains("1–63 lower-case letters, digits and '-', starting with a letter or digit.", dialog.Markup));
        Assert.True(DeployDisabled(dialog));

        Input(dialog, "deploy-name").Input(new string('a', 64));
        dialog.WaitForAssertion(() => Assert.True(DeployDisabled(dialog)));

        Input(dialog, "deploy-name").Input("iris-canary");
        dialog.WaitForAssertion(() => Assert.False(DeployDisabled(dialog)));
        Assert.DoesNotContain("starting with a letter or digit", dialog.Markup);
        Assert.Contains("/v2/models/iris-canary/infer", dialog.Markup);
    }

    [Fact]
    public async Task SettingOutOfRange_SaysTheLimit_AndDisablesDeploy()
    {
        var (dialog, _) = await OpenAsync("alice");
        Assert.Equal("1", Input(dialog, "setting-instances").GetAttribute("value"));
        Assert.Equal("30000", Input(dialog, "setting-timeout").GetAttribute("value"));

        Input(dialog, "setting-instances").Input("0");

        dialog.WaitForAssertion(() => Assert.Contains($"Instances are 1 to {new DeploymentsOptions().MaxInstances}.", dialog.Markup));
        Assert.True(DeployDisabled(dialog));
    }

    [Fact]
    public async Task CudaIsOffered_OnlyWhereTheRuntimeHasIt()
    {
        var (dialog, _) = await OpenAsync("alice");

        if (ModelHost.CudaAvailable) Assert.DoesNotContain("no CUDA provider", dialog.Markup);
        else Assert.Contains("this machine's runtime has no CUDA provider", dialog.Markup);
    }

    [Fact]
    public async Task RefusalFromTheService_IsShownInTheDialog_WhichStaysOpen()
    {
        var user = await _db.AddUserAsync("nobody@test.local");
        var (dialog, _) = await OpenAsync(user.Id, "nobodys-model");

        dialog.Find("[data-testid=deploy-start]").Click();

        dialog.WaitForAssertion(() => Assert.Contains("Model 'nobodys-model' has no version 1 of yours.",
            dialog.Find("[data-testid=deploy-errors]").TextContent));
        Assert.NotEmpty(dialog.FindAll("[data-testid=deploy-dialog]"));
    }

    [Fact]
    public async Task Deploy_StoresThePendingDeploymentWithItsSettings_AndClosesWithTheChange()
    {
        var user = await _db.AddUserAsync("deployer@test.local");
        await _db.AddModelAsync(user.Id, "iris", 1, 2);
        var (dialog, reference) = await OpenAsync(user.Id, "iris", 2, 2, 1);
        Input(dialog, "setting-instances").Input("2");
        Input(dialog, "setting-batch").Input("8");
        Input(dialog, "setting-delay").Input("5");

        dialog.Find("[data-testid=deploy-start]").Click();

        var result = await reference.Result.WaitAsync(TimeSpan.FromSeconds(10));
        var change = Assert.IsType<DeploymentChange>(result!.Data);
        Assert.Equal("iris-v2", change.Deployment!.Name);
        Assert.Equal(DeployJob.Kind, change.Job!.Kind);
        await using var db = await Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        var stored = await db.Deployments.Include(d => d.Targets).SingleAsync();
        Assert.Equal((DeploymentStates.Pending, 2, 8, 5), (stored.State, stored.Instances, stored.MaxBatchSize, stored.BatchingDelayMilliseconds));
        Assert.Equal(2, Assert.Single(stored.Targets).Version);
    }

    public new void Dispose() => _db.Dispose();
}
