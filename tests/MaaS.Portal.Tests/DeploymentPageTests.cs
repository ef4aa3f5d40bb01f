using System.Security.Claims;
using Bunit;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Deployments;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;

namespace MaaS.Portal.Tests;

public sealed class DeploymentPageTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public DeploymentPageTests() => Services.AddDeploymentServices(_db);

    private async Task<string> SignInWithDeploymentAsync(string email, string name, params (int Version, int Weight)[] traffic)
    {
        var user = await _db.AddUserAsync(email);
        AddAuthorization().SetAuthorized(email).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var modelId = await _db.AddModelAsync(user.Id, "iris", 1, 2);
        await _db.AddDeploymentAsync(user.Id, modelId, name, DeploymentStates.Ready, traffic);
        return user.Id;
    }

    [Fact]
    public async Task Summary_CallExample_AndRecentErrors_AreShown()
    {
        await SignInWithDeploymentAsync("reader@test.local", "iris-prod", (1, 100));
        Services.GetRequiredService<DeploymentMetrics>().Record("iris-prod", TimeSpan.FromMilliseconds(2), 400, "Input 'features' has shape [1, 5]; the model takes [batch, 4].");

        var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-prod"));

        page.WaitForElement("[data-testid=deployment-summary]");
        Assert.Equal("iris-prod", page.Find("[data-testid=deployment-title]").TextContent);
        Assert.Equal("42 ms", page.Find("[data-testid=cold-start]").TextContent);
        var curl = page.WaitForElement("[data-testid=curl-example]").TextContent;
        Assert.Contains("/v2/models/iris-prod/infer", curl);
        Assert.Contains("Authorization: Bearer <your API key>", curl);
        Assert.Contains("{\"name\": \"features\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [0, 0, 0, 0]}", curl);
        Assert.Equal("/keys", page.Find("[data-testid=keys-link]").GetAttribute("href"));
        Assert.Contains("has shape [1, 5]", page.Find("[data-testid=recent-errors]").TextContent);
        Assert.NotEmpty(page.FindAll("[data-testid=requests-chart] svg"));
    }

    [Fact]
    public async Task Instances_ShowWhatTheHostRuns_WithRequestsPerRunWhenItBatches()
    {
        await SignInWithDeploymentAsync("operator@test.local", "iris-busy", (1, 100), (2, 0));
        var host = Services.GetRequiredService<ModelHost>();
        var path = Path.Combine(Path.GetTempPath(), $"mlp-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(path, TestModels.Bytes(TestModels.Mlp()));
        try
        {
            // A real ONNX Runtime session per version, batching with room for the whole burst.
            var settings = new InferenceSettings { Instances = 2, MaxBatchSize = 8, BatchingDelay = TimeSpan.FromMilliseconds(20) };
            await host.ApplyAsync("iris-busy", 1, [new ServedVersion(1, 100, path), new ServedVersion(2, 0, path)], settings, CancellationToken.None);
            await Task.WhenAll(Enumerable.Range(0, 6).Select(i => host.InferAsync("iris-busy", 1,
                InferenceRequest.Of(InferenceTensor.FromValues<float>("input", [1, 4], [i, 1, 2, 3])), CancellationToken.None)));
            var stats = host.Loaded("iris-busy", 1)!.Statistics;
            Assert.Equal(6, stats.BatchedRequests);

            var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-busy"));

            var v1 = page.WaitForElement("[data-testid=deployment-instances] tr[data-version='1']");
            Assert.Equal("0 of 2", v1.QuerySelector("[data-testid=busy]")!.TextContent);
            Assert.Equal("0", v1.QuerySelector("[data-testid=waiting]")!.TextContent);
            Assert.Equal((6.0 / stats.Runs).ToString("0.0"), v1.QuerySelector("[data-testid=requests-per-run]")!.TextContent);
            Assert.Equal(stats.LargestBatch.ToString(), v1.QuerySelector("[data-testid=largest-run]")!.TextContent);
            // Version 2 is loaded (weight 0: callers reach it by number) and has not run yet.
            var v2 = page.Find("[data-testid=deployment-instances] tr[data-version='2']");
            Assert.Equal("—", v2.QuerySelector("[data-testid=requests-per-run]")!.TextContent);
        }
        finally
        {
            await host.UnloadAsync("iris-busy");
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Instances_AreNotShown_WhenTheHostHasNothingLoaded()
    {
        await SignInWithDeploymentAsync("idle@test.local", "iris-idle", (1, 100));

        var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-idle"));

        page.WaitForElement("[data-testid=deployment-live]");
        Assert.Empty(page.FindAll("[data-testid=deployment-instances]"));
    }

    [Fact]
    public async Task Undeploy_AsksFirst_ThenRemovesIt_AndGoesBackToTheList()
    {
        await SignInWithDeploymentAsync("leaver@test.local", "iris-old", (1, 100));
        Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-old"));
        page.WaitForElement("[data-testid=undeploy]");

        page.Find("[data-testid=undeploy]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Undeploy iris-old?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Keep it").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("Undeploy iris-old?", dialogs.Markup));
        Assert.Equal(1, await CountAsync());

        page.Find("[data-testid=undeploy]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Undeploy iris-old?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Undeploy").Click();

        page.WaitForAssertion(() => Assert.EndsWith("/deployments", Services.GetRequiredService<NavigationManager>().Uri));
        Assert.Equal(0, await CountAsync());
    }

    [Fact]
    public async Task Split_AsksFirst_ThenStoresTheWeights()
    {
        await SignInWithDeploymentAsync("canary@test.local", "iris-canary", (1, 100));
        Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-canary"));
        page.WaitForElement("[data-testid=deployment-changes]");
        page.FindAll(".mud-tab").Single(t => t.TextContent.Trim() == "Traffic split").Click();
        page.WaitForElement("[data-testid=apply-split]");

        page.Find("[data-testid=apply-split]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Send 90% of iris-canary's requests to v1 and 10% to v2?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Split").Click();

        page.WaitForAssertion(() => Assert.Contains("v1 90% · v2 10%", page.Find("[data-testid=deployment-split]").TextContent));
        await using var db = await _db.Factory.CreateDbContextAsync();
        var targets = await db.DeploymentTargets.OrderBy(t => t.Version).ToListAsync();
        Assert.Equal([(1, 90), (2, 10)], targets.Select(t => (t.Version, t.Weight)));
    }

    [Fact]
    public async Task UnknownName_SaysSo()
    {
        await SignInWithDeploymentAsync("lost@test.local", "iris-here", (1, 100));

        var page = Render<DeploymentPage>(p => p.Add(c => c.Name, "iris-elsewhere"));

        page.WaitForAssertion(() => Assert.Contains("There is no deployment 'iris-elsewhere' of yours.", page.Markup));
    }

    private async Task<int> CountAsync()
    {
        await using var db = await _db.Factory.CreateDbContextAsync();
        return await db.Deployments.CountAsync();
    }

    public new void Dispose() => _db.Dispose();
}
