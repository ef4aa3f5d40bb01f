using MaaS.Portal.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Data;

public static class DataExtensions
{
    /// <summary>
    /// The one place that chooses the portal's database. SQLite by default; a PostgreSQL provider would go here.
    /// </summary>
    public static void AddPortalData(this WebApplicationBuilder builder, DataPaths paths)
    {
        var connectionString = SqliteConnectionString(paths.PortalDatabase);
        // The factory serves Blazor components (one short-lived context per operation); it also registers a
        // scoped PortalDbContext for Identity and API endpoints.
        // Single queries, said outright (EF warns on every query with two collection includes otherwise): the only
        // such include is a chain (model → versions → files), whose join does not multiply rows, and one query reads
        // one consistent snapshot where split queries would need a transaction.
        builder.Services.AddDbContextFactory<PortalDbContext>(options =>
            options.UseSqlite(connectionString, sqlite => sqlite.UseQuerySplittingBehavior(QuerySplittingBehavior.SingleQuery)));
        builder.Services.AddHostedService<DatabaseInitializer>();
    }

    /// <summary>
    /// Microsoft.Data.Sqlite retries a busy database until the command timeout runs out, so DefaultTimeout
    /// is the busy timeout. WAL is switched on once, at start-up, and persists in the file.
    /// </summary>
    public static string SqliteConnectionString(string path) => new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Cache = SqliteCacheMode.Private,
        DefaultTimeout = 30,
        Pooling = true,
    }.ToString();
}
