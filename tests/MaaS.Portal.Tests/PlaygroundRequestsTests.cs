using MaaS.Portal.Features.Playground;

namespace MaaS.Portal.Tests;

public sealed class PlaygroundRequestsTests
{
    [Fact]
    public void EachUserKeepsTheirNewestFew_SoOneUsersRunsDoNotPushOutAnothersDownload()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow);
        var requests = new PlaygroundRequests(clock);
        var theirs = requests.Keep("bob", "bob's body"u8.ToArray());
        var mine = Enumerable.Range(0, PlaygroundRequests.MaxKeptPerUser + 2).Select(i =>
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            return requests.Keep("alice", new[] { (byte)i });
        }).ToList();

        Assert.NotNull(requests.Find(theirs, "bob"));
        Assert.Null(requests.Find(theirs, "alice"));
        Assert.All(mine.Take(2), id => Assert.Null(requests.Find(id, "alice")));
        Assert.All(mine.Skip(2), id => Assert.NotNull(requests.Find(id, "alice")));
    }
}
