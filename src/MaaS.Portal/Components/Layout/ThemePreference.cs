using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Components.Layout;

/// <summary>The light/dark choice, stored on the user so it follows them to any browser.</summary>
public sealed class ThemePreference(IDbContextFactory<PortalDbContext> dbFactory)
{
    public async Task<bool> IsDarkAsync(string userId)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        return await db.Users.Where(u => u.Id == userId).Select(u => u.PrefersDarkMode).SingleOrDefaultAsync();
    }

    public async Task SetDarkAsync(string userId, bool dark)
    {
        await using var db = await dbFactory.CreateDbContextAsync();
        await db.Users.Where(u => u.Id == userId).ExecuteUpdateAsync(s => s.SetProperty(u => u.PrefersDarkMode, dark));
    }
}
