using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using MaaS.Portal.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

public sealed class JobsPortalFactory : PortalFactory
{
    public JobsPortalFactory() => ConfigureTestServices = services => services.AddTransient<BlockingTestJob>();
}

public sealed class JobsApiTests(JobsPortalFactory portal) : IClassFixture<JobsPortalFactory>
{
    private JobService Jobs => portal.Services.GetRequiredService<JobService>();

    private async Task<string> AdminIdAsync() =>
        (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;

    private async Task<JsonElement> GetJobAsync(HttpClient client, Guid id) =>
        JsonDocument.Parse(await client.GetStringAsync($"/api/jobs/{id}")).RootElement;

    [Fact]
    public async Task VerifyBlobsJob_RunsInHangfire_AndReportsItsResultThroughTheApi()
    {
        var blobs = portal.Services.GetRequiredService<BlobStore>();
        await blobs.PutAsync(new MemoryStream("one"u8.ToArray()));
        await blobs.PutAsync(new MemoryStream("two"u8.ToArray()));
        var job = await Jobs.EnqueueAsync<VerifyBlobStoreJob>(VerifyBlobStoreJob.Kind, await AdminIdAsync(), "verify");

        var client = portal.CreateApiClient();
        var done = await Poll.UntilAsync(() => GetJobAsync(client, job.Id), j => j.GetProperty("state").GetString() is "Succeeded" or "Failed");

        Assert.Equal("Succeeded", done.GetProperty("state").GetString());
        Assert.Equal(1.0, done.GetProperty("progress").GetDouble());
        Assert.Equal(2, done.GetProperty("result").GetProperty("checked").GetInt32());
        Assert.Contains(job.Id.ToString(), await client.GetStringAsync("/api/jobs"));
    }

    [Fact]
    public async Task VerifyBlobsJob_Fails_NamingTheCorruptBlob()
    {
        var blobs = portal.Services.GetRequiredService<BlobStore>();
        var blob = await blobs.PutAsync(new MemoryStream("will rot"u8.ToArray()));
        await File.WriteAllTextAsync(blobs.PathOf(blob.Sha256), "rotten");
        try
        {
            var job = await Jobs.EnqueueAsync<VerifyBlobStoreJob>(VerifyBlobStoreJob.Kind, await AdminIdAsync(), "verify");
            var done = await Poll.UntilAsync(() => Jobs.GetAsync(job.Id, "", true), j => j!.IsFinished);

            Assert.Equal(JobState.Failed, done!.State);
            Assert.Contains(blob.Sha256, done.Message);
        }
        finally
        {
            blobs.Delete(blob.Sha256);
        }
    }

    [Fact]
    public async Task CancellingARunningJob_StopsIt_AndRecordsCancelled()
    {
        var job = await Jobs.EnqueueAsync<BlockingTestJob>(BlockingTestJob.Kind, await AdminIdAsync(), "blocking");
        var client = portal.CreateApiClient();
        var running = await Poll.UntilAsync(() => GetJobAsync(client, job.Id), j => j.GetProperty("stage").GetString() == "waiting");
        Assert.Equal("Running", running.GetProperty("state").GetString());
        Assert.Equal(0.5, running.GetProperty("progress").GetDouble());

        var cancel = await client.PostAsync($"/api/jobs/{job.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal($"/api/jobs/{job.Id}", cancel.Headers.Location?.ToString());

        var done = await Poll.UntilAsync(() => GetJobAsync(client, job.Id), j => j.GetProperty("state").GetString() != "Running");
        Assert.Equal("Cancelled", done.GetProperty("state").GetString());

        var again = await client.PostAsync($"/api/jobs/{job.Id}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
    }

    [Fact]
    public async Task JobNotifier_PublishesEveryChange_FromQueuedToSucceeded()
    {
        var notifier = portal.Services.GetRequiredService<JobNotifier>();
        var seen = new List<JobView>();
        Task Record(JobView view)
        {
            lock (seen) seen.Add(view);
            return Task.CompletedTask;
        }
        notifier.Changed += Record;
        try
        {
            var job = await Jobs.EnqueueAsync<VerifyBlobStoreJob>(VerifyBlobStoreJob.Kind, await AdminIdAsync(), "verify");
            List<JobView> Seen()
            {
                lock (seen) return seen.ToList();
            }
            await Poll.UntilAsync(() => Task.FromResult(Seen()), s => s.Any(v => v.Id == job.Id && v.IsFinished));
            var states = Seen().Where(v => v.Id == job.Id).Select(v => v.State).ToList();
            Assert.Equal(JobState.Queued, states[0]);
            Assert.Contains(JobState.Running, states);
            Assert.Equal(JobState.Succeeded, states[^1]);
        }
        finally
        {
            notifier.Changed -= Record;
        }
    }

    [Fact]
    public async Task SomeoneElsesJob_Returns404_AndCannotBeCancelled()
    {
        var job = await Jobs.EnqueueAsync<VerifyBlobStoreJob>(VerifyBlobStoreJob.Kind, await AdminIdAsync(), "admin's job");
        const string email = "other@test.local", password = "Other-Passw0rd!";
        await portal.RegisterAsync(email, password);
        var otherId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        var key = await portal.Services.GetRequiredService<Features.ApiKeys.ApiKeyService>().CreateAsync(otherId, "other");
        var other = portal.CreateApiClient(key.Secret);

        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync($"/api/jobs/{job.Id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsync($"/api/jobs/{job.Id}/cancel", null)).StatusCode);
        Assert.DoesNotContain(job.Id.ToString(), await other.GetStringAsync("/api/jobs?all=true"));
    }

    [Fact]
    public async Task RunnerClaimsEachJobOnce_WhenHangfireHandsItToTwoWorkers()
    {
        // Enqueue a blocking job, then invoke the runner a second time as a duplicate delivery would.
        var job = await Jobs.EnqueueAsync<BlockingTestJob>(BlockingTestJob.Kind, await AdminIdAsync(), "claimed once");
        await Poll.UntilAsync(() => Jobs.GetAsync(job.Id, "", true), j => j!.State == JobState.Running);

        using var scope = portal.Services.CreateScope();
        var duplicate = scope.ServiceProvider.GetRequiredService<JobRunner<BlockingTestJob>>();
        var second = duplicate.RunAsync(job.Id, CancellationToken.None);
        // The duplicate returns at once instead of running the job a second time.
        Assert.Same(second, await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(10))));

        await Jobs.CancelAsync(job.Id, "", true);
        var done = await Poll.UntilAsync(() => Jobs.GetAsync(job.Id, "", true), j => j!.IsFinished);
        Assert.Equal(JobState.Cancelled, done!.State);
    }

    [Fact]
    public async Task HangfiresAbortSignal_DoesNotStopARun_OnlyTheUsersCancelDoes()
    {
        // Hangfire cancels its token for a job whose state moved on, as a second delivery of the same job makes it do.
        var ownerId = await AdminIdAsync();
        Guid jobId;
        await using (var db = await portal.Services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<MaaS.Portal.Data.PortalDbContext>>().CreateDbContextAsync())
        {
            var record = new JobRecord { Kind = BlockingTestJob.Kind, OwnerId = ownerId, Title = "aborted by Hangfire" };
            db.Jobs.Add(record);
            await db.SaveChangesAsync();
            jobId = record.Id;
        }
        using var scope = portal.Services.CreateScope();
        var runner = scope.ServiceProvider.GetRequiredService<JobRunner<BlockingTestJob>>();

        var run = runner.RunAsync(jobId, new CancellationToken(canceled: true));

        await Poll.UntilAsync(() => Jobs.GetAsync(jobId, "", true), j => j!.Stage == "waiting");
        Assert.False(run.IsCompleted);
        Assert.Equal(JobState.Running, (await Jobs.GetAsync(jobId, "", true))!.State);
        await Jobs.CancelAsync(jobId, "", true);
        await run.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(JobState.Cancelled, (await Jobs.GetAsync(jobId, "", true))!.State);
    }
}
