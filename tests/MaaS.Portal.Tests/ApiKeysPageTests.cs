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
        Services.AddSingleton(_db.Factory);
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

    public new void Dispose() => _db.Dispose();
}
