using MaaS.Portal.Features.Accounts;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Admin;

public sealed record UserSummary(string Id, string Email, bool IsAdmin, bool IsDisabled, bool IsLockedOut, DateTimeOffset CreatedAt);

/// <summary>
/// What admins do to accounts. Each call runs in its own DI scope, so a long-lived Blazor circuit never holds
/// a stale UserManager or DbContext.
/// </summary>
public sealed class UserAdministration(IServiceScopeFactory scopeFactory, ApiKeys.ApiKeyCache? keyCache = null)
{
    public async Task<IReadOnlyList<UserSummary>> ListAsync()
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var admins = (await users.GetUsersInRoleAsync(Roles.Admin)).Select(u => u.Id).ToHashSet();
        var all = await users.Users.AsNoTracking().OrderBy(u => u.Email).ToListAsync();
        var now = DateTimeOffset.UtcNow;
        return all.Select(u => new UserSummary(u.Id, u.Email ?? u.UserName ?? u.Id, admins.Contains(u.Id), u.IsDisabled,
            u.LockoutEnd > now, u.CreatedAt)).ToList();
    }

    /// <summary>Grants or takes the Admin role. The last admin cannot be demoted, nor can admins demote themselves.</summary>
    public Task<string?> SetAdminAsync(string actingUserId, string userId, bool admin) => ChangeAsync(userId, async (users, user) =>
    {
        if (!admin)
        {
            if (user.Id == actingUserId) return "You cannot take the Admin role from yourself; ask another admin.";
            if ((await users.GetUsersInRoleAsync(Roles.Admin)).Count <= 1) return "This is the last admin; make someone else admin first.";
        }
        var result = admin ? await users.AddToRoleAsync(user, Roles.Admin) : await users.RemoveFromRoleAsync(user, Roles.Admin);
        keyCache?.ForgetUser(user.Id);
        // Role claims live in the cookie; a new stamp makes open sessions pick up the change.
        return Errors(result) ?? Errors(await users.UpdateSecurityStampAsync(user));
    });

    /// <summary>Disables or re-enables an account. Disabled: no log-in, sessions end within a minute, API keys stop working.</summary>
    public Task<string?> SetDisabledAsync(string actingUserId, string userId, bool disabled) => ChangeAsync(userId, async (users, user) =>
    {
        if (disabled && user.Id == actingUserId) return "You cannot disable your own account.";
        user.IsDisabled = disabled;
        if (!disabled) user.LockoutEnd = null;
        keyCache?.ForgetUser(user.Id); // cached keys of a disabled owner stop at once
        return Errors(await users.UpdateAsync(user)) ?? Errors(await users.UpdateSecurityStampAsync(user));
    });

    private async Task<string?> ChangeAsync(string userId, Func<UserManager<PortalUser>, PortalUser, Task<string?>> change)
    {
        await using var scope = scopeFactory.CreateAsyncScope();
        var users = scope.ServiceProvider.GetRequiredService<UserManager<PortalUser>>();
        var user = await users.FindByIdAsync(userId);
        return user is null ? "That account no longer exists." : await change(users, user);
    }

    private static string? Errors(IdentityResult result) =>
        result.Succeeded ? null : string.Join(" ", result.Errors.Select(e => e.Description));
}
