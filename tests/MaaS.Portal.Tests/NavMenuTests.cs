using Bunit;
using MaaS.Portal.Components.Layout;
using MaaS.Portal.Features.Accounts;

namespace MaaS.Portal.Tests;

public sealed class NavMenuTests : MudTestBase
{
    [Fact]
    public void Admins_SeeTheAdminSection_WithTheJobDashboard()
    {
        AddAuthorization().SetAuthorized("admin@test.local").SetRoles(Roles.Admin);
        var menu = Render<NavMenu>();
        Assert.Equal("/admin/jobs", menu.Find("[data-testid=nav-job-dashboard]").GetAttribute("href"));
        Assert.Contains("Users", menu.Markup);
    }

    [Fact]
    public void Users_DoNotSeeTheAdminSection()
    {
        AddAuthorization().SetAuthorized("user@test.local").SetRoles(Roles.User);
        var menu = Render<NavMenu>();
        Assert.Empty(menu.FindAll("[data-testid=nav-job-dashboard]"));
        Assert.DoesNotContain("/admin/users", menu.Markup);
        Assert.Contains("/jobs", menu.Markup);
    }

    [Fact]
    public void Deployments_IsAnEnabledLink()
    {
        AddAuthorization().SetAuthorized("user@test.local").SetRoles(Roles.User);
        var menu = Render<NavMenu>();
        var link = menu.Find("[data-testid=nav-deployments]");
        Assert.Equal("/deployments", link.GetAttribute("href"));
        Assert.DoesNotContain("disabled", link.ClassName ?? "");
    }

    [Fact]
    public void Training_IsInTheNav()
    {
        AddAuthorization().SetAuthorized("user@test.local").SetRoles(Roles.User);
        var menu = Render<NavMenu>();
        Assert.Equal("/training", menu.Find("[data-testid=nav-training]").GetAttribute("href"));
    }
}
