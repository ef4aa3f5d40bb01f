using System.Security.Cryptography;
using MaaS.Portal.Data;
using MaaS.Portal.Features.ApiKeys;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Accounts;

/// <summary>
/// Ensures the roles exist and there is an admin. With <c>MaaS:Bootstrap:*</c> set, that admin and key exist
/// after every start (idempotent); without, the first run creates one with a random password, logged once.
/// </summary>
public sealed class AdminBootstrapper(
    IServiceScopeFactory scopeFactory,
    IOptions<BootstrapOptions> options,
    ILogger<AdminBootstrapper> logger) : IHostedService
{
    public const string GeneratedAdminEmail = "admin@maas.local";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var roles = scope.ServiceProvider.GetRequiredService<RoleManager<IdentityRole>>();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var db = scope.ServiceProvider.GetRequiredService<PortalDbContext>();

        foreach (var role in Roles.All)
        {
            if (!await roles.RoleExistsAsync(role)) Check(await roles.CreateAsync(new IdentityRole(role)), $"create role {role}");
        }

        var bootstrap = options.Value;
        if (!string.IsNullOrWhiteSpace(bootstrap.AdminEmail) && !string.IsNullOrWhiteSpace(bootstrap.AdminPassword))
        {
            var admin = await EnsureAdminAsync(users, bootstrap.AdminEmail, bootstrap.AdminPassword);
            if (!string.IsNullOrWhiteSpace(bootstrap.AdminApiKey))
            {
                await EnsureApiKeyAsync(db, admin, bootstrap.AdminApiKey, cancellationToken);
            }
            return;
        }

        if ((await users.GetUsersInRoleAsync(Roles.Admin)).Count == 0)
        {
            var password = GeneratePassword();
            await EnsureAdminAsync(users, GeneratedAdminEmail, password);
            // Printed once: the next start finds an admin and says nothing.
            logger.LogWarning("Created the first admin account {Email} with password {Password} . Log in and change it (Account > Change password).",
                GeneratedAdminEmail, password);
        }
    }

    private static async Task<PortalUser> EnsureAdminAsync(UserManager<PortalUser> users, string email, string password)
    {
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            user = new PortalUser { UserName = email, Email = email, EmailConfirmed = true };
            Check(await users.CreateAsync(user, password), $"create admin {email}");
        }
        else if (!await users.CheckPasswordAsync(user, password))
        {
            // Configuration is the source of truth for the automation account.
            Check(await users.RemovePasswordAsync(user), $"reset password of {email}");
            Check(await users.AddPasswordAsync(user, password), $"set password of {email}");
        }
        if (user.IsDisabled || user.LockoutEnd is not null)
        {
            user.IsDisabled = false;
            user.LockoutEnd = null;
            Check(await users.UpdateAsync(user), $"enable {email}");
        }
        foreach (var role in Roles.All)
        {
            if (!await users.IsInRoleAsync(user, role)) Check(await users.AddToRoleAsync(user, role), $"add {email} to {role}");
        }
        return user;
    }

    private static async Task EnsureApiKeyAsync(PortalDbContext db, PortalUser admin, string secret, CancellationToken cancellationToken)
    {
        var hash = ApiKeyService.Hash(secret);
        var key = await db.ApiKeys.SingleOrDefaultAsync(k => k.SecretHash == hash, cancellationToken);
        if (key is null)
        {
            db.ApiKeys.Add(new ApiKey { OwnerId = admin.Id, Name = "bootstrap", Prefix = ApiKeyService.PrefixOf(secret), SecretHash = hash });
        }
        else
        {
            key.OwnerId = admin.Id;
            key.RevokedAt = null;
        }
        await db.SaveChangesAsync(cancellationToken);
    }

    private static string GeneratePassword() =>
        // Meets Identity's defaults: upper, lower, digit and a non-alphanumeric character.
        $"Mp-{Convert.ToBase64String(RandomNumberGenerator.GetBytes(15)).Replace('/', 'x').Replace('+', 'y')}9a";

    private static void Check(IdentityResult result, string what)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException($"Bootstrap could not {what}: {string.Join("; ", result.Errors.Select(e => e.Description))}");
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
