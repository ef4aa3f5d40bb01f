using System.Security.Claims;
using Bunit;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Playground;

namespace MaaS.Portal.Tests;

public sealed class PlaygroundIndexPageTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public PlaygroundIndexPageTests() => Services.AddDeploymentServices(_db);

    [Fact]
    public async Task ListsTheUsersDeployments_AndTheLatestVersionOfEachModel_ToTry()
    {
        var user = await _db.AddUserAsync("player@test.local");
        AddAuthorization().SetAuthorized("player@test.local").SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var iris = await _db.AddModelAsync(user.Id, "iris", 1, 2);
        await _db.AddDeploymentAsync(user.Id, iris, "iris-prod", DeploymentStates.Ready, (1, 100));
        var other = await _db.AddUserAsync("other@test.local");
        await _db.AddModelAsync(other.Id, "not-mine", 1);

        var page = Render<PlaygroundIndexPage>();

        page.WaitForElement("[data-testid=playground-deployment]");
        Assert.Equal("/deployments/iris-prod/playground", Assert.Single(page.FindAll("[data-testid=playground-deployment]")).GetAttribute("href"));
        Assert.Equal("/models/iris/versions/2/playground", Assert.Single(page.FindAll("[data-testid=playground-version]")).GetAttribute("href"));
        Assert.DoesNotContain("not-mine", page.Markup);
    }

    public new void Dispose() => _db.Dispose();
}
