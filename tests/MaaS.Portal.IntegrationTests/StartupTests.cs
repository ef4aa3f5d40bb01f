using System.Net;
using MaaS.Portal.Data;
using MaaS.Portal.Jobs;
using MaaS.Portal.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

public sealed class StartupTests
{
    [Fact]
    public async Task RunningJobOfADeadProcess_IsMarkedFailedWithTheReason_AfterRestart()
    {
        var dataDirectory = PortalFactory.NewDataDirectory();
        var startedAt = DateTimeOffset.UtcNow.AddDays(-2);
        var lastReport = startedAt.AddHours(12);
        Guid jobId;
        await using (var first = new PortalFactory { DataDirectory = dataDirectory })
        {
            var dbFactory = first.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>();
            await using var db = await dbFactory.CreateDbContextAsync();
            var owner = await db.Users.FirstAsync();
            // As the process left it when it was killed mid-job.
            // It started two days ago and last reported progress a day and a half ago; then the portal was down.
            var job = new JobRecord
            {
                Kind = "compress", OwnerId = owner.Id, Title = "interrupted", State = JobState.Running, Stage = "rewriting",
                StartedAt = startedAt, LastReportAt = lastReport,
            };
            db.Jobs.Add(job);
            await db.SaveChangesAsync();
            jobId = job.Id;
        }
        SqliteConnection.ClearAllPools();

        await using var second = new PortalFactory { DataDirectory = dataDirectory };
        var view = await second.Services.GetRequiredService<JobService>().GetAsync(jobId, "", isAdmin: true);
        Assert.Equal(JobState.Failed, view!.State);
        Assert.Contains("Interrupted", view.Message);
        Assert.Contains("rewriting", view.Message);
        // It ran until its last report, so its compute is charged for 12 hours, not for the two days until the restart.
        Assert.Equal(lastReport.ToUnixTimeMilliseconds(), view.FinishedAt!.Value.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task QueuedJobTheQueueNoLongerHolds_IsMarkedFailed_AfterRestart()
    {
        var dataDirectory = PortalFactory.NewDataDirectory();
        Guid lostId;
        await using (var first = new PortalFactory { DataDirectory = dataDirectory })
        {
            await using var db = await first.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
            var owner = await db.Users.FirstAsync();
            // Saved, then the process died before Hangfire got it: no Hangfire job id.
            var lost = new JobRecord { Kind = "compress", OwnerId = owner.Id, Title = "never queued" };
            db.Jobs.Add(lost);
            await db.SaveChangesAsync();
            lostId = lost.Id;
        }
        SqliteConnection.ClearAllPools();

        await using var second = new PortalFactory { DataDirectory = dataDirectory };
        var view = await second.Services.GetRequiredService<JobService>().GetAsync(lostId, "", isAdmin: true);
        Assert.Equal(JobState.Failed, view!.State);
        Assert.Contains("Lost from the job queue", view.Message);
    }

    [Fact]
    public async Task Bootstrap_IsIdempotent_AcrossRestarts()
    {
        var dataDirectory = PortalFactory.NewDataDirectory();
        await using (var first = new PortalFactory { DataDirectory = dataDirectory })
        {
            Assert.Equal(HttpStatusCode.OK, (await first.CreateApiClient().GetAsync("/api/jobs")).StatusCode);
        }
        SqliteConnection.ClearAllPools();
        await using var second = new PortalFactory { DataDirectory = dataDirectory };
        Assert.Equal(HttpStatusCode.OK, (await second.CreateApiClient().GetAsync("/api/jobs")).StatusCode);
        await using var db = await second.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        Assert.Equal(1, await db.Users.CountAsync(u => u.Email == PortalFactory.AdminEmail));
        Assert.Equal(1, await db.ApiKeys.CountAsync());
    }

    [Fact]
    public async Task DatabaseFiles_LiveInTheDataDirectory_InWalMode()
    {
        await using var portal = new PortalFactory();
        _ = portal.Services;
        Assert.True(File.Exists(Path.Combine(portal.DataDirectory, "maas.db")));
        Assert.True(File.Exists(Path.Combine(portal.DataDirectory, "hangfire.db")));
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(portal.DataDirectory, "maas.db")}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public void UnwritableDataDirectory_StopsStartup_NamingThePathAndTheSetting()
    {
        // A regular file where the folder should be: no one, not even root, can create the folder.
        var blocker = Path.GetTempFileName();
        var dataDirectory = Path.Combine(blocker, "data");
        try
        {
            using var portal = new PortalFactory { DataDirectory = dataDirectory };
            var error = Assert.ThrowsAny<Exception>(() => portal.Services);
            var message = error.ToString();
            Assert.Contains(dataDirectory, message);
            Assert.Contains("Storage:DataDirectory", message);
        }
        finally
        {
            File.Delete(blocker);
        }
    }

    [Fact]
    public async Task RecurringJobs_FollowTheirScheduleSettings()
    {
        // The test factory switches both schedules off with these settings (tests run the jobs themselves).
        await using var portal = new PortalFactory();
        _ = portal.Services;
        using var connection = portal.Services.GetRequiredService<Hangfire.JobStorage>().GetConnection();
        var schedules = Hangfire.Storage.StorageConnectionExtensions.GetRecurringJobs(connection).ToDictionary(j => j.Id, j => j.Cron);
        Assert.Equal(Hangfire.Cron.Never(), schedules["housekeeping"]);
        Assert.Equal(Hangfire.Cron.Never(), schedules["cost-rollup"]);
    }
}
