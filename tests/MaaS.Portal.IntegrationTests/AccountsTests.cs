using System.Net;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

public sealed class AccountsTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private HttpClient Anonymous() => portal.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

    [Theory]
    [InlineData("/")]
    [InlineData("/jobs")]
    [InlineData("/keys")]
    [InlineData("/admin/users")]
    public async Task Pages_RedirectAnonymousVisitors_ToLogIn(string path)
    {
        var response = await Anonymous().GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/Account/Login", response.Headers.Location?.PathAndQuery);
    }

    [Fact]
    public async Task LogInPage_IsOpenToEveryone()
    {
        var response = await Anonymous().GetAsync("/Account/Login");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task WrongPassword_ShowsAClearMessage_AndSetsNoCookie()
    {
        var client = Anonymous();
        var response = await PortalFactory.PostFormAsync(client, "/Account/Login", "login",
            new() { ["Input.Email"] = PortalFactory.AdminEmail, ["Input.Password"] = "not-the-password" });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Wrong email or password", await response.Content.ReadAsStringAsync());
        Assert.False(response.Headers.TryGetValues("Set-Cookie", out var cookies) && cookies.Any(c => c.StartsWith("maas.auth")));
    }

    [Fact]
    public async Task FiveFailedLogIns_LockTheAccount_EvenForTheRightPassword()
    {
        const string email = "lockme@test.local", password = "Lock-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var client = Anonymous();
        for (var i = 0; i < 5; i++)
        {
            await PortalFactory.PostFormAsync(client, "/Account/Login", "login", new() { ["Input.Email"] = email, ["Input.Password"] = "wrong" });
        }
        var response = await PortalFactory.PostFormAsync(client, "/Account/Login", "login", new() { ["Input.Email"] = email, ["Input.Password"] = password });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.EndsWith("/Account/Lockout", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public async Task RegisteredUser_SeesHome_ButGets403FromTheJobDashboard()
    {
        const string email = "plain@test.local", password = "Plain-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var user = await portal.CreateLoggedInClientAsync(email, password);

        Assert.Equal(HttpStatusCode.OK, (await user.GetAsync("/")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync("/admin/jobs")).StatusCode);
    }

    [Fact]
    public async Task Admin_OpensTheJobDashboard()
    {
        var admin = await portal.CreateLoggedInClientAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);
        var response = await admin.GetAsync("/admin/jobs");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("MaaS Portal · jobs", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AnonymousVisitor_IsSentToLogIn_FromTheJobDashboard()
    {
        var response = await Anonymous().GetAsync("/admin/jobs");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.StartsWith("/Account/Login", response.Headers.Location?.PathAndQuery);
    }

    [Fact]
    public async Task NonAdmin_GetsNoAdminPage()
    {
        const string email = "nosy@test.local", password = "Nosy-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var user = await portal.CreateLoggedInClientAsync(email, password);
        var response = await user.GetAsync("/admin/users");
        Assert.NotEqual(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain(PortalFactory.AdminEmail, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task DisabledAccount_CannotLogIn_AndIsToldWhy()
    {
        const string email = "disabled@test.local", password = "Disab-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var users = portal.Services.GetRequiredService<UserAdministration>();
        var all = await users.ListAsync();
        Assert.Null(await users.SetDisabledAsync(all.Single(u => u.Email == PortalFactory.AdminEmail).Id, all.Single(u => u.Email == email).Id, true));

        var response = await PortalFactory.PostFormAsync(Anonymous(), "/Account/Login", "login", new() { ["Input.Email"] = email, ["Input.Password"] = password });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("disabled by an administrator", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ChangePassword_TakesEffect()
    {
        const string email = "changer@test.local", password = "Chang-Passw0rd!", newPassword = "Newer-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var user = await portal.CreateLoggedInClientAsync(email, password);
        var response = await PortalFactory.PostFormAsync(user, "/Account/Manage/ChangePassword", "change-password",
            new() { ["Input.OldPassword"] = password, ["Input.NewPassword"] = newPassword, ["Input.ConfirmPassword"] = newPassword });
        Assert.Contains("Your password has been changed", await response.Content.ReadAsStringAsync());

        await Assert.ThrowsAsync<InvalidOperationException>(() => portal.CreateLoggedInClientAsync(email, password));
        Assert.NotNull(await portal.CreateLoggedInClientAsync(email, newPassword));
    }

    [Fact]
    public async Task LastAdmin_CannotBeDemoted_NorDisableThemselves()
    {
        var users = portal.Services.GetRequiredService<UserAdministration>();
        var adminId = (await users.ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;
        Assert.NotNull(await users.SetAdminAsync(adminId, adminId, false));
        Assert.NotNull(await users.SetDisabledAsync(adminId, adminId, true));
        Assert.True((await users.ListAsync()).Single(u => u.Id == adminId).IsAdmin);
    }
}
