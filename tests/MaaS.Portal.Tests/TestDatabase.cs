using Hangfire;
using Hangfire.Storage.SQLite;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace MaaS.Portal.Tests;

/// <summary>A real, migrated SQLite database (and Hangfire storage) in a temporary data directory.</summary>
public sealed class TestDatabase : IDisposable
{
    public TestDatabase()
    {
        Paths = new DataPaths(Path.Combine(Path.GetTempPath(), "maas-unit", Guid.NewGuid().ToString("N")));
        Paths.EnsureWritable();
        var options = new DbContextOptionsBuilder<PortalDbContext>().UseSqlite(DataExtensions.SqliteConnectionString(Paths.PortalDatabase)).Options;
        Factory = new PooledDbContextFactory<PortalDbContext>(options);
        using var db = Factory.CreateDbContext();
        db.Database.Migrate();
        JobStorage = new SQLiteStorage(Paths.JobsDatabase, new SQLiteStorageOptions());
    }

    public DataPaths Paths { get; }
    public IDbContextFactory<PortalDbContext> Factory { get; }
    public JobStorage JobStorage { get; }

    public async Task<PortalUser> AddUserAsync(string email)
    {
        await using var db = await Factory.CreateDbContextAsync();
        var user = new PortalUser { UserName = email, Email = email, NormalizedEmail = email.ToUpperInvariant(), NormalizedUserName = email.ToUpperInvariant() };
        db.Users.Add(user);
        await db.SaveChangesAsync();
        return user;
    }

    public void Dispose()
    {
        (JobStorage as IDisposable)?.Dispose();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Paths.Root, recursive: true); } catch (IOException) { }
    }
}
