using System.Security.Claims;
using Bunit;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Jobs;
using Microsoft.AspNetCore.Components;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Tests;

public sealed class DeploymentsPageTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public DeploymentsPageTests() => Services.AddDeploymentServices(_db);

    private async Task<string> SignInAsync(string email)
    {
        var user = await _db.AddUserAsync(email);
        AddAuthorization().SetAuthorized(email).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        return user.Id;
    }

    [Fact]
    public async Task NoDeployments_SaysToDeployFromTheModelPage()
    {
        await SignInAsync("empty@test.local");

        var page = Render<DeploymentsPage>();

        page.WaitForAssertion(() => Assert.Contains("No deployments yet", page.Markup));
        Assert.Contains("Deploy a model version from its model page", page.Markup);
        Assert.Empty(page.FindAll("[data-testid=deployment-list]"));
    }

    [Fact]
    public async Task ADeployment_IsListed_WithItsState_Split_Figures_AndEndpoint()
    {
        var userId = await SignInAsync("canary@test.local");
        var modelId = await _db.AddModelAsync(userId, "iris", 3, 4);
        await _db.AddDeploymentAsync(userId, modelId, "iris-live", DeploymentStates.Ready, (3, 90), (4, 10));
        var metrics = Services.GetRequiredService<DeploymentMetrics>();
        for (var i = 0; i < 30; i++) metrics.Record("iris-live", TimeSpan.FromMilliseconds(4), 200);
        metrics.Record("iris-live", TimeSpan.FromMilliseconds(1), 400, "Input 'features' is missing.");

        var page = Render<DeploymentsPage>();

        var row = page.WaitForElement("[data-testid=deployment-row][data-name=iris-live]");
        Assert.Equal("/deployments/iris-live", page.Find("[data-testid=deployment-link]").GetAttribute("href"));
        Assert.Equal("v3 90% · v4 10%", page.Find("[data-testid=deployment-split]").TextContent.Trim());
        Assert.Equal("Ready", page.Find("[data-testid=deployment-state]").GetAttribute("data-state"));
        Assert.NotEqual("0", page.Find("[data-testid=deployment-rate]").TextContent.Trim());
        Assert.Equal("1", page.Find("[data-testid=deployment-errors]").TextContent.Trim());
        Assert.Contains("/v2/models/iris-live/infer", row.Closest("tr")!.TextContent);
        Assert.Contains("4.00", page.Markup);
    }

    [Fact]
    public async Task HomePage_ListsTheUsersDeployments_OrSaysHowToMakeOne()
    {
        var userId = await SignInAsync("home@test.local");
        var empty = Render<Features.Home.HomePage>();
        empty.WaitForAssertion(() => Assert.Contains("No deployments yet", empty.Find("[data-testid=home-deployments]").TextContent));

        var modelId = await _db.AddModelAsync(userId, "iris", 3, 4);
        await _db.AddDeploymentAsync(userId, modelId, "iris-home", DeploymentStates.Ready, (3, 90), (4, 10));
        var home = Render<Features.Home.HomePage>();

        home.WaitForAssertion(() => Assert.Contains("iris-home", home.Find("[data-testid=home-deployments]").TextContent));
        var card = home.Find("[data-testid=home-deployments]");
        Assert.DoesNotContain("No deployments yet", card.TextContent);
        Assert.Contains("v3 / v4", card.TextContent);
        Assert.Contains(card.QuerySelectorAll("a"), a => a.GetAttribute("href") == "/deployments/iris-home");
    }

    [Fact]
    public async Task OtherUsersDeployments_AreNotListed()
    {
        var other = await _db.AddUserAsync("other@test.local");
        var modelId = await _db.AddModelAsync(other.Id, "theirs", 1);
        await _db.AddDeploymentAsync(other.Id, modelId, "theirs-v1", DeploymentStates.Ready, (1, 100));
        await SignInAsync("me@test.local");

        var page = Render<DeploymentsPage>();

        page.WaitForAssertion(() => Assert.Contains("No deployments yet", page.Markup));
        Assert.DoesNotContain("theirs-v1", page.Markup);
    }

    [Fact]
    public async Task EveryoneInTheQuery_StartsAnAdminOnEveryonesDeployments()
    {
        var other = await _db.AddUserAsync("owner@test.local");
        var modelId = await _db.AddModelAsync(other.Id, "theirs", 1);
        await _db.AddDeploymentAsync(other.Id, modelId, "theirs-v1", DeploymentStates.Ready, (1, 100));
        var admin = await _db.AddUserAsync("admin@test.local");
        var authorization = AddAuthorization();
        // The role as a claim beside the id (with SetRoles after SetClaims, the page got no id claim).
        authorization.SetAuthorized("admin@test.local").SetClaims(new Claim(ClaimTypes.NameIdentifier, admin.Id), new Claim(ClaimTypes.Role, "Admin"));
        Services.GetRequiredService<NavigationManager>().NavigateTo("/deployments?everyone=true");

        var page = Render<DeploymentsPage>();

        page.WaitForElement("[data-testid=deployment-row][data-name=theirs-v1]");
    }

    [Fact]
    public async Task StateChanges_ShowWithoutAReload_WhenTheDeployJobReports()
    {
        var userId = await SignInAsync("watcher@test.local");
        var modelId = await _db.AddModelAsync(userId, "iris", 1);
        await _db.AddDeploymentAsync(userId, modelId, "iris-v1", DeploymentStates.Loading, (1, 100));
        var page = Render<DeploymentsPage>();
        page.WaitForAssertion(() => Assert.Equal("Loading", page.Find("[data-testid=deployment-state]").GetAttribute("data-state")));

        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            await db.Deployments.ExecuteUpdateAsync(s => s.SetProperty(d => d.State, DeploymentStates.Failed).SetProperty(d => d.StateMessage, "v1: the file changed on disk."));
        }
        var job = new JobView(Guid.NewGuid(), DeployJob.Kind, "Deploy iris-v1 (iris v1)", userId, JobState.Failed, 1, null, "v1: the file changed on disk.", null,
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        await Services.GetRequiredService<JobNotifier>().PublishAsync(job);

        page.WaitForAssertion(() => Assert.Equal("Failed", page.Find("[data-testid=deployment-state]").GetAttribute("data-state")));
    }

    public new void Dispose() => _db.Dispose();
}
