using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

public sealed class ApiKeysApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    [Fact]
    public async Task Api_Returns401WithProblemDetails_WithoutKey()
    {
        var response = await portal.CreateClient().GetAsync("/api/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
    }

    [Fact]
    public async Task Api_Returns401_WithUnknownKey()
    {
        var response = await portal.CreateApiClient("maas_not-a-real-key").GetAsync("/api/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Api_IgnoresCookieLogin_SoNoCookieCanBeRiddenIntoTheApi()
    {
        var browser = await portal.CreateLoggedInClientAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);
        var response = await browser.GetAsync("/api/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task CreatedKey_Works_UntilRevoked_AndSecretIsNeverListed()
    {
        var admin = portal.CreateApiClient();
        var created = await admin.PostAsJsonAsync("/api/keys", new { name = "script" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var body = JsonDocument.Parse(await created.Content.ReadAsStringAsync());
        var secret = body.RootElement.GetProperty("secret").GetString()!;
        var keyId = body.RootElement.GetProperty("key").GetProperty("id").GetString()!;
        Assert.StartsWith("maas_", secret);

        var withNewKey = portal.CreateApiClient(secret);
        Assert.Equal(HttpStatusCode.OK, (await withNewKey.GetAsync("/api/jobs")).StatusCode);
        var listed = await admin.GetStringAsync("/api/keys");
        Assert.Contains(keyId, listed);
        Assert.DoesNotContain(secret, listed);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/keys/{keyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await withNewKey.GetAsync("/api/jobs")).StatusCode);
    }

    [Fact]
    public async Task ACreatedKeysLocation_AnswersWithTheKey_WithoutItsSecret()
    {
        var admin = portal.CreateApiClient();
        var created = await admin.PostAsJsonAsync("/api/keys", new { name = "located" });
        var secret = (await created.JsonAsync()).GetProperty("secret").GetString()!;

        var key = await admin.GetAsync(created.Headers.Location);

        Assert.Equal(HttpStatusCode.OK, key.StatusCode);
        var text = await key.Content.ReadAsStringAsync();
        Assert.Equal("located", JsonDocument.Parse(text).RootElement.GetProperty("name").GetString());
        Assert.DoesNotContain(secret, text);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/api/keys/{Guid.NewGuid()}")).StatusCode);
    }

    [Fact]
    public async Task RevokingSomeoneElsesKey_Returns404()
    {
        var admin = portal.CreateApiClient();
        var id = Guid.NewGuid();
        var response = await admin.DeleteAsync($"/api/keys/{id}");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal($"You have no key with id {id}.", (await response.JsonAsync()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task CreatingKeyWithoutName_Returns400()
    {
        var response = await portal.CreateApiClient().PostAsJsonAsync("/api/keys", new { name = "" });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task DisabledUsersKeys_StopWorking()
    {
        const string email = "to-disable@test.local", password = "User-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var users = portal.Services.GetRequiredService<UserAdministration>();
        var user = (await users.ListAsync()).Single(u => u.Email == email);
        var adminId = (await users.ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;
        var keys = portal.Services.GetRequiredService<Features.ApiKeys.ApiKeyService>();
        var key = await keys.CreateAsync(user.Id, "theirs");
        Assert.Equal(HttpStatusCode.OK, (await portal.CreateApiClient(key.Secret).GetAsync("/api/jobs")).StatusCode);

        Assert.Null(await users.SetDisabledAsync(adminId, user.Id, disabled: true));

        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.CreateApiClient(key.Secret).GetAsync("/api/jobs")).StatusCode);
    }
}
