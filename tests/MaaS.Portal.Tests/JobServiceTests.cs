using Bunit;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using MaaS.Portal.Components.Shared;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace MaaS.Portal.Tests;

public sealed class JobServiceTests : MudTestBase, IDisposable
{
    private readonly TestDatabase _db = new();
    private readonly JobNotifier _notifier = new(NullLogger<JobNotifier>.Instance);

    public JobServiceTests()
    {
        Services.AddSingleton(_db.Factory);
        Services.AddSingleton(_notifier);
        Services.AddSingleton<JobCancellations>();
        Services.AddSingleton<IBackgroundJobClient>(new FinishesAtOnce(_notifier));
        Services.AddSingleton<JobService>();
    }

    [Fact]
    public async Task AJobThatFinishesTheMomentItIsQueued_IsAnnouncedQueuedFirst_AndListedAsFinished()
    {
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

    public new void Dispose() => _db.Dispose();

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
