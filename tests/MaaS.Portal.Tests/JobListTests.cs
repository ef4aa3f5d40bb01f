using Bunit;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using MaaS.Portal.Components.Shared;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using MudBlazor;

namespace MaaS.Portal.Tests;

public sealed class JobListTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();
    private readonly JobNotifier _notifier = new(NullLogger<JobNotifier>.Instance);

    public JobListTests()
    {
        Services.AddSingleton(_db.Factory);
        Services.AddSingleton(_notifier);
        Services.AddSingleton<JobCancellations>();
        Services.AddSingleton<IBackgroundJobClient>(new BackgroundJobClient(_db.JobStorage));
        Services.AddSingleton<JobService>();
    }

    private async Task<JobRecord> AddJobAsync(string ownerId, JobState state, string title = "Compress resnet18")
    {
        await using var db = await _db.Factory.CreateDbContextAsync();
        var job = new JobRecord { Kind = "test", OwnerId = ownerId, Title = title, State = state };
        db.Jobs.Add(job);
        await db.SaveChangesAsync();
        return job;
    }

    [Fact]
    public void NoJobs_ShowsTheEmptyState_SayingWhatHappensHere()
    {
        var list = Render<JobList>(p => p.Add(x => x.UserId, "nobody").Add(x => x.EmptyTitle, "Nothing running"));
        Assert.Contains("Nothing running", list.Markup);
        Assert.Empty(list.FindAll("[data-testid=job-list]"));
    }

    [Fact]
    public async Task ListsOnlyTheUsersOwnJobs()
    {
        await AddJobAsync("alice", JobState.Queued, "alice's job");
        await AddJobAsync("bob", JobState.Queued, "bob's job");

        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice"));

        Assert.Contains("alice's job", list.Markup);
        Assert.DoesNotContain("bob's job", list.Markup);
    }

    [Fact]
    public async Task ProgressPublishedByTheNotifier_ShowsWithoutReloading()
    {
        var job = await AddJobAsync("alice", JobState.Running);
        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice"));
        Assert.Contains("0%", list.Find("[data-testid=job-list]").TextContent);

        job.Progress = 0.6;
        job.Stage = "calibrating";
        await _notifier.PublishAsync(JobView.From(job));

        list.WaitForAssertion(() =>
        {
            Assert.Contains("60%", list.Markup);
            Assert.Contains("calibrating", list.Markup);
        });
    }

    [Fact]
    public async Task NewJobsOfTheUser_AppearLive_AndOthersDoNot()
    {
        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice"));

        await _notifier.PublishAsync(JobView.From(new JobRecord { Kind = "test", OwnerId = "bob", Title = "bob's new job" }));
        await _notifier.PublishAsync(JobView.From(new JobRecord { Kind = "test", OwnerId = "alice", Title = "alice's new job" }));

        list.WaitForAssertion(() => Assert.Contains("alice's new job", list.Markup));
        Assert.DoesNotContain("bob's new job", list.Markup);
    }

    [Fact]
    public async Task ActiveOnly_DropsAJobWhenItFinishes()
    {
        var job = await AddJobAsync("alice", JobState.Running, "finishing job");
        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice").Add(x => x.ActiveOnly, true));
        Assert.Contains("finishing job", list.Markup);

        job.State = JobState.Succeeded;
        await _notifier.PublishAsync(JobView.From(job));

        list.WaitForAssertion(() => Assert.DoesNotContain("finishing job", list.Markup));
    }

    [Fact]
    public async Task CancelButton_AsksFirst_ThenCancelsAQueuedJob()
    {
        var job = await AddJobAsync("alice", JobState.Queued);
        Render<MudPopoverProvider>();
        var dialogs = Render<MudDialogProvider>();
        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice"));

        list.FindAll("button").Single(b => b.TextContent.Contains("Cancel")).Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Stop 'Compress resnet18'?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Let it run").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("Stop 'Compress resnet18'?", dialogs.Markup));
        await using (var before = await _db.Factory.CreateDbContextAsync())
        {
            Assert.Equal(JobState.Queued, (await before.Jobs.SingleAsync(j => j.Id == job.Id)).State);
        }

        list.FindAll("button").Single(b => b.TextContent.Contains("Cancel")).Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Stop 'Compress resnet18'?", dialogs.Markup));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Stop it").Click();

        list.WaitForAssertion(() => Assert.Contains("Cancelled", list.Markup));
        await using var db = await _db.Factory.CreateDbContextAsync();
        Assert.Equal(JobState.Cancelled, (await db.Jobs.SingleAsync(j => j.Id == job.Id)).State);
        list.WaitForAssertion(() => Assert.Contains("Cancelled", list.Markup));
    }

    [Fact]
    public async Task AJobThatFinishesTheMomentItIsQueued_IsAnnouncedQueuedFirst_AndListedAsFinished()
    {
        Services.AddSingleton<IBackgroundJobClient>(new FinishesAtOnce(_notifier));
        var announced = new List<JobState>();
        _notifier.Changed += view =>
        {
            lock (announced) announced.Add(view.State);
            return Task.CompletedTask;
        };
        var list = Render<JobList>(p => p.Add(x => x.UserId, "alice"));

        await Services.GetRequiredService<JobService>().EnqueueAsync<VerifyBlobStoreJob>(VerifyBlobStoreJob.Kind, "alice", "verify");

        Assert.Equal([JobState.Queued, JobState.Succeeded], announced);
        list.WaitForAssertion(() => Assert.Equal("Succeeded", list.Find("[data-testid=job-list] [data-state]").GetAttribute("data-state")));
    }

    public new void Dispose()
    {
        _db.Dispose();
    }

    /// <summary>
    /// Hangfire as a worker that claims and finishes the job before Enqueue even returns: the announcement order a
    /// fast job on an idle worker can produce.
    /// </summary>
    private sealed class FinishesAtOnce(JobNotifier notifier) : IBackgroundJobClient
    {
        public string Create(Job job, IState state)
        {
            var id = (Guid)job.Args[0];
            var finished = new JobView(id, VerifyBlobStoreJob.Kind, "verify", "alice", JobState.Succeeded, 1, null, null, null,
                DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
            notifier.PublishAsync(finished).GetAwaiter().GetResult();
            return "1";
        }

        public bool ChangeState(string jobId, IState state, string expectedState) => false;
    }
}

