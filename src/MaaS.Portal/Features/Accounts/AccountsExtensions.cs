using System.Security.Claims;
using MaaS.Portal.Data;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Storage;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;

namespace MaaS.Portal.Features.Accounts;

public static class AccountsExtensions
{
    /// <summary>Authorization policy for /api: API keys only, so no cookie can be ridden cross-site into the API.</summary>
    public const string ApiPolicy = "Api";
    public const string AdminApiPolicy = "AdminApi";
    /// <summary>V2 model metadata and readiness: any valid key; which deployments it may see is checked per request.</summary>
    public const string InferencePolicy = "Inference";

    public static void AddAccounts(this WebApplicationBuilder builder, DataPaths paths)
    {
        var services = builder.Services;
        services.AddDataProtection().SetApplicationName("MaaS.Portal").PersistKeysToFileSystem(new DirectoryInfo(paths.Keys));
        services.AddOptions<BootstrapOptions>().Bind(builder.Configuration.GetSection(BootstrapOptions.Section));
        services.AddCascadingAuthenticationState();
        services.AddScoped<IdentityRedirectManager>();
        services.AddScoped<AuthenticationStateProvider, RevalidatingAuthenticationStateProvider>();

        services.AddAuthentication(options =>
            {
                options.DefaultScheme = IdentityConstants.ApplicationScheme;
                options.DefaultSignInScheme = IdentityConstants.ExternalScheme;
            })
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddIdentityCookies();

        services.ConfigureApplicationCookie(cookie =>
        {
            cookie.LoginPath = "/Account/Login";
            cookie.AccessDeniedPath = "/Account/AccessDenied";
            cookie.ExpireTimeSpan = TimeSpan.FromHours(8);
            cookie.SlidingExpiration = true;
            cookie.Cookie.Name = "maas.auth";
            cookie.Cookie.HttpOnly = true;
            cookie.Cookie.SameSite = SameSiteMode.Lax;
            // Machines get status codes, people get the log-in page.
            cookie.Events.OnRedirectToLogin = ctx => StatusOrRedirect(ctx, StatusCodes.Status401Unauthorized);
            cookie.Events.OnRedirectToAccessDenied = ctx => StatusOrRedirect(ctx, StatusCodes.Status403Forbidden);
        });
        // A disabled account, new password or role change renews the security stamp; cookies notice within a minute.
        services.Configure<SecurityStampValidatorOptions>(o => o.ValidationInterval = TimeSpan.FromMinutes(1));

        services.AddIdentityCore<PortalUser>(options =>
            {
                options.SignIn.RequireConfirmedAccount = false;
                options.User.RequireUniqueEmail = true;
                options.Password.RequiredLength = 8;
                options.Lockout.MaxFailedAccessAttempts = 5;
                options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(15);
                options.Lockout.AllowedForNewUsers = true;
            })
            .AddRoles<IdentityRole>()
            .AddEntityFrameworkStores<PortalDbContext>()
            .AddSignInManager<PortalSignInManager>()
            .AddDefaultTokenProviders();

        services.AddAuthorizationBuilder()
            // A key scoped to deployments is for calling them (V2 inference) and nothing else: on the management API it
            // would otherwise upload, delete and mint unscoped keys for its owner (hardening, auth: "management endpoints
            // reject API keys that lack the scope"). Unscoped keys manage; scoped keys get 403 here.
            .AddPolicy(ApiPolicy, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser()
                .RequireAssertion(context => !ApiKeyClaims.IsScoped(context.User)))
            .AddPolicy(AdminApiPolicy, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireRole(Roles.Admin)
                .RequireAssertion(context => !ApiKeyClaims.IsScoped(context.User)))
            .AddPolicy(InferencePolicy, policy => policy.AddAuthenticationSchemes(ApiKeyAuthenticationHandler.SchemeName).RequireAuthenticatedUser());

        services.AddSingleton<ApiKeyCache>();
        services.AddSingleton<ApiKeyAuthenticator>();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<Admin.UserAdministration>();
        // After the database initializer: the roles table must exist.
        services.AddHostedService<AdminBootstrapper>();
    }

    private static Task StatusOrRedirect(RedirectContext<Microsoft.AspNetCore.Authentication.Cookies.CookieAuthenticationOptions> ctx, int status)
    {
        var path = ctx.Request.Path;
        if (path.StartsWithSegments("/api") || path.StartsWithSegments("/v2") || path.StartsWithSegments("/admin/jobs") && status == 403)
        {
            ctx.Response.StatusCode = status;
            return Task.CompletedTask;
        }
        ctx.Response.Redirect(ctx.RedirectUri);
        return Task.CompletedTask;
    }

    /// <summary>Form posts the statically rendered account pages need.</summary>
    public static void MapAccountEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/Account/Logout", async (ClaimsPrincipal user, SignInManager<PortalUser> signInManager, [FromForm] string? returnUrl) =>
        {
            await signInManager.SignOutAsync();
            return TypedResults.LocalRedirect("~/Account/Login");
        }).ExcludeFromDescription();
    }
}
