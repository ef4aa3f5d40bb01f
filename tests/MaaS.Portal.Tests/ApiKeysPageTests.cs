using System.Security.Claims;
using Bunit;
using MaaS.Portal.Features.ApiKeys;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Tests;

public sealed class ApiKeysPageTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();

    public ApiKeysPageTests()
    {
        Services.AddDeploymentServices(_db);
        Services.AddSingleton<ApiKeyService>();
    }

    [Fact]
    public async Task CreatingAKey_ShowsItsSecretOnce_AndListsIt()
    {
        var user = await _db.AddUserAsync("page@test.local");
        AddAuthorization().SetAuthorized(user.Email!).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var page = Render<ApiKeysPage>();
        Assert.Contains("No API keys", page.Markup);

        page.Find("input[data-testid=key-name]").Input("deploy script");
        page.Find("[data-testid=create-key]").Click();

        page.WaitForAssertion(() => Assert.Contains("maas_", page.Find("[data-testid=new-key]").TextContent));
        var secret = page.Find("code.secret").TextContent;
        var stored = Assert.Single(await Services.GetRequiredService<ApiKeyService>().ListAsync(user.Id));
        Assert.Equal("deploy script", stored.Name);
        Assert.Equal(ApiKeyService.PrefixOf(secret), stored.Prefix);

        // Leaving and coming back: the secret is gone for good.
        var again = Render<ApiKeysPage>();
        Assert.DoesNotContain(secret, again.Markup);
        Assert.Contains("deploy script", again.Markup);
    }

    [Fact]
    public async Task AKey_CanExpire_AndBeLimitedToDeployments_WhichTheListShows()
    {
        var user = await _db.AddUserAsync("scoped@test.local");
        AddAuthorization().SetAuthorized(user.Email!).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var expiry = DateTime.UtcNow.Date.AddDays(30);
        var page = Render<ApiKeysPage>();

        page.Find("input[data-testid=key-name]").Input("nightly batch");
        Input(page, "key-expiry").Change(expiry.ToString("yyyy-MM-dd"));
        Input(page, "key-scope").Input("iris-v1, ResNet-Prod");
        page.Find("[data-testid=create-key]").Click();

        page.WaitForAssertion(() => Assert.Contains("maas_", page.Find("[data-testid=new-key]").TextContent));
        var stored = Assert.Single(await Services.GetRequiredService<ApiKeyService>().ListAsync(user.Id));
        Assert.Equal(new DateTimeOffset(expiry, TimeSpan.Zero), stored.ExpiresAt);
        Assert.Equal(["iris-v1", "resnet-prod"], stored.Deployments!);
        Assert.Equal("iris-v1, resnet-prod", page.Find("[data-testid=key-scope-cell]").TextContent.Trim());
        Assert.NotEqual("never", page.Find("[data-testid=key-expires]").TextContent.Trim());
        Assert.Equal("active", page.Find("[data-testid=key-status]").TextContent.Trim());
        Assert.Contains("200/s (default)", page.Markup);
    }

    [Fact]
    public async Task TheUsersDeployments_AreOfferedForTheScope()
    {
        var user = await _db.AddUserAsync("offered@test.local");
        var modelId = await _db.AddModelAsync(user.Id, "iris", 1);
        await _db.AddDeploymentAsync(user.Id, modelId, "iris-v1", Features.Deployments.DeploymentStates.Ready, (1, 100));
        AddAuthorization().SetAuthorized(user.Email!).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var page = Render<ApiKeysPage>();

        page.Find("[data-testid=scope-suggestion]").Click();

        page.WaitForAssertion(() => Assert.Equal("iris-v1", Input(page, "key-scope").GetAttribute("value")));
        Assert.Empty(page.FindAll("[data-testid=scope-suggestion]"));
    }

    [Fact]
    public async Task AScopeThatIsNoDeploymentName_IsRefused_WithTheServicesWords()
    {
        var user = await _db.AddUserAsync("typo@test.local");
        AddAuthorization().SetAuthorized(user.Email!).SetClaims(new Claim(ClaimTypes.NameIdentifier, user.Id));
        var page = Render<ApiKeysPage>();

        page.Find("input[data-testid=key-name]").Input("typo");
        Input(page, "key-scope").Input("iris_v1");
        page.Find("[data-testid=create-key]").Click();

        page.WaitForAssertion(() => Assert.Equal("'deployments' lists deployment names (lower-case letters, digits and '-').",
            page.Find("[data-testid=key-error]").TextContent.Trim()));
        Assert.Empty(await Services.GetRequiredService<ApiKeyService>().ListAsync(user.Id));
    }

    private static AngleSharp.Dom.IElement Input(IRenderedComponent<ApiKeysPage> page, string testId) =>
        page.Find($"input[data-testid={testId}], [data-testid={testId}] input");

    public new void Dispose() => _db.Dispose();
}
