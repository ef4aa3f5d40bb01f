using System.Diagnostics;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Costs;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MaaS.Benchmarks;

/// <summary>
/// Issue 8's scale check: 30 days of minute buckets for 200 deployments (8.64 M usage rows and as many memory rows)
/// in a real, migrated SQLite file, rolled up by the portal's own roll-up, then the dashboard's queries timed.
///   dotnet run -c Release --project tests/MaaS.Benchmarks -- costs [--days N] [--deployments N]
/// </summary>
internal static class CostBenchmark
{
    public static async Task<int> RunAsync(string[] args)
    {
        var days = Option(args, "--days", 30);
        var deployments = Option(args, "--deployments", 200);
        var work = Directory.CreateTempSubdirectory("maas-costs-");
        try
        {
            var path = Path.Combine(work.FullName, "maas.db");
            var options = new DbContextOptionsBuilder<PortalDbContext>().UseSqlite(DataExtensions.SqliteConnectionString(path)).Options;
            var factory = new PooledDbContextFactory<PortalDbContext>(options);
            await using (var db = await factory.CreateDbContextAsync()) await db.Database.MigrateAsync();

            var end = new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero);
            var start = end.AddDays(-days);
            var clock = new FixedClock(end.AddMinutes(10));
            var seed = Stopwatch.StartNew();
            var rows = Seed(path, start, end, deployments);
            seed.Stop();
            Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}");
            Console.WriteLine($"seeded {rows:N0} usage minutes and {rows:N0} memory minutes ({deployments} deployments, {days} days) in {seed.Elapsed.TotalSeconds:0} s; " +
                $"database {new FileInfo(path).Length / 1048576.0:0} MiB");

            var rollup = new CostRollup(factory, clock, NullLogger<CostRollup>.Instance);
            var rolling = Stopwatch.StartNew();
            var result = await rollup.RunAsync();
            rolling.Stop();
            Console.WriteLine($"roll-up: {result.Hours} hours, {result.Days} days in {rolling.Elapsed.TotalSeconds:0.0} s " +
                $"({rows / rolling.Elapsed.TotalSeconds:N0} minute rows/s); an hourly run then takes {await TimeAsync(() => rollup.RunAsync()):0.00} s");

            var prices = new PriceSheets(factory, Options.Create(new CostsOptions()), clock);
            var reports = new CostReports(factory, prices, clock);
            var budgets = new BudgetService(factory, reports, prices, clock);
            var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
            var (week, _) = CostPeriods.Resolve(CostPeriodPresets.Week, null, null, berlin, clock.GetUtcNow());
            var (month, _) = CostPeriods.Resolve(CostPeriodPresets.Month, null, null, berlin, clock.GetUtcNow());
            var (today, _) = CostPeriods.Resolve(CostPeriodPresets.Today, null, null, berlin, clock.GetUtcNow());
            var queries = new (string Name, Func<Task> Run)[]
            {
                ("dashboard, 30 days, everyone (Europe/Berlin days)", () => reports.BuildAsync(new CostQuery(month!.From, month.To, Zone: berlin))),
                ("dashboard, 30 days, everyone (UTC days)", () => reports.BuildAsync(new CostQuery(start, end))),
                ("dashboard, 7 days, everyone", () => reports.BuildAsync(new CostQuery(week!.From, week.To, Zone: berlin))),
                ("dashboard, today, everyone (hourly)", () => reports.BuildAsync(new CostQuery(today!.From, today.To, Zone: berlin))),
                ("my usage, 30 days, one user", () => reports.BuildAsync(new CostQuery(month!.From, month.To, "user-3", Zone: berlin))),
                ("drill-down, 30 days, one deployment by hour", () => reports.BuildAsync(new CostQuery(month!.From, month.To, "user-3", "deployment-3", berlin), hourly: true)),
                ("budget status (this month so far, one user)", () => budgets.StatusAsync("user-7")),
            };
            Console.WriteLine("query: best of 3 (first run)   target < 1 s each");
            var worst = 0.0;
            foreach (var (name, run) in queries)
            {
                var times = new List<double>();
                for (var i = 0; i < 3; i++) times.Add(await TimeAsync(run));
                worst = Math.Max(worst, times.Min());
                Console.WriteLine($"  {name}: {times.Min():0.000} s ({times[0]:0.000} s)");
            }
            Console.WriteLine($"slowest query: {worst:0.000} s — {(worst < 1 ? "met" : "missed")}");
            return 0;
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            work.Delete(recursive: true);
        }
    }

    /// <summary>Writes the minute rows with one prepared statement per table in one transaction: the fastest SQLite allows.</summary>
    private static long Seed(string path, DateTimeOffset start, DateTimeOffset end, int deployments)
    {
        var toBinary = (Func<DateTimeOffset, long>)new DateTimeOffsetToBinaryConverter().ConvertToProviderExpression.Compile();
        using var connection = new SqliteConnection(DataExtensions.SqliteConnectionString(path));
        connection.Open();
        using (var pragma = connection.CreateCommand())
        {
            pragma.CommandText = "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL;";
            pragma.ExecuteNonQuery();
        }
        // Indexes are dropped for the bulk insert and built again after it: one sort instead of millions of B-tree inserts.
        var indexes = new List<(string Name, string Sql)>();
        using (var list = connection.CreateCommand())
        {
            list.CommandText = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('UsageMinutes', 'MemoryMinutes')";
            using var reader = list.ExecuteReader();
            while (reader.Read()) indexes.Add((reader.GetString(0), reader.GetString(1)));
        }
        foreach (var (name, _) in indexes) Execute(connection, $"DROP INDEX \"{name}\"");
        using var transaction = connection.BeginTransaction();
        using var usage = connection.CreateCommand();
        usage.CommandText = """
            INSERT INTO UsageMinutes (Minute, DeploymentName, Version, ApiKeyId, OwnerId, ModelId, Requests, Errors, ComputeSeconds, VcpuSeconds,
                BytesIn, BytesOut, QueueSeconds, LatencySeconds, LatencyHistogram)
            VALUES ($minute, $deployment, 1, NULL, $owner, $model, $requests, $errors, $compute, $vcpu, $in, $out, 0, $latency, $histogram)
            """;
        using var memory = connection.CreateCommand();
        memory.CommandText = """
            INSERT INTO MemoryMinutes (Minute, DeploymentName, OwnerId, ModelId, ResidentBytes, ByteSeconds)
            VALUES ($minute, $deployment, $owner, $model, $bytes, $byteSeconds)
            """;
        var u = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "$minute", "$deployment", "$owner", "$model", "$requests", "$errors", "$compute", "$vcpu", "$in", "$out", "$latency", "$histogram" })
            u[name] = usage.Parameters.Add(new SqliteParameter(name, null));
        var m = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "$minute", "$deployment", "$owner", "$model", "$bytes", "$byteSeconds" })
            m[name] = memory.Parameters.Add(new SqliteParameter(name, null));
        usage.Transaction = memory.Transaction = transaction;
        usage.Prepare();
        memory.Prepare();

        var random = new Random(8);
        var names = Enumerable.Range(0, deployments).Select(i => $"deployment-{i}").ToArray();
        // 20 users with 10 deployments each; two deployments per model. Guids as EF Core stores them: upper-case text.
        var owners = Enumerable.Range(0, deployments).Select(i => $"user-{i % 20}").ToArray();
        var models = Enumerable.Range(0, deployments / 2 + 1).Select(_ => Guid.NewGuid().ToString().ToUpperInvariant()).ToArray();
        long rows = 0;
        for (var minute = start; minute < end; minute = minute.AddMinutes(1))
        {
            var at = toBinary(minute);
            for (var d = 0; d < deployments; d++)
            {
                var requests = 20 + random.Next(100);
                var bucket = 14 + random.Next(6);
                u["$minute"].Value = at;
                u["$deployment"].Value = names[d];
                u["$owner"].Value = owners[d];
                u["$model"].Value = models[d / 2];
                u["$requests"].Value = requests;
                u["$errors"].Value = random.Next(3);
                u["$compute"].Value = requests * 0.004;
                u["$vcpu"].Value = requests * 0.008;
                u["$in"].Value = requests * 600L;
                u["$out"].Value = requests * 200L;
                u["$latency"].Value = requests * 0.006;
                u["$histogram"].Value = $"{bucket}:{requests - 3} {bucket + 4}:3";
                usage.ExecuteNonQuery();
                m["$minute"].Value = at;
                m["$deployment"].Value = names[d];
                m["$owner"].Value = owners[d];
                m["$model"].Value = models[d / 2];
                m["$bytes"].Value = 150_000_000L;
                m["$byteSeconds"].Value = 150_000_000.0 * 60;
                memory.ExecuteNonQuery();
                rows++;
            }
        }
        transaction.Commit();
        foreach (var (_, sql) in indexes) Execute(connection, sql);
        Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE); ANALYZE;");
        return rows;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static async Task<double> TimeAsync(Func<Task> run)
    {
        var clock = Stopwatch.StartNew();
        await run();
        return clock.Elapsed.TotalSeconds;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
