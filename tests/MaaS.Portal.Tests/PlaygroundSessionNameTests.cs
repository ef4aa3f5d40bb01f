using MaaS.Portal.Features.Playground;

namespace MaaS.Portal.Tests;

public sealed class PlaygroundSessionNameTests
{
    [Fact]
    public void ModelsWhoseSlugsBeginAlike_AndUsers_GetTheirOwnSessions_InNamesThatFitTheUsageTables()
    {
        const string slug = "resnet50-imagenet-finetuned-company-products";
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());

        var a = PlaygroundSessions.NameFor("user-1", first, slug, 1);
        var b = PlaygroundSessions.NameFor("user-1", second, slug + "-2", 1);
        var c = PlaygroundSessions.NameFor("user-2", first, slug, 1);

        Assert.Equal(3, new[] { a, b, c }.Distinct().Count());
        Assert.Equal(a, PlaygroundSessions.NameFor("user-1", first, slug, 1));
        Assert.StartsWith($"{PlaygroundSessions.NamePrefix}resnet50-imagenet-fi:v1:", a);
        Assert.True(PlaygroundSessions.NameFor(new string('u', 450), first, new string('s', 62), int.MaxValue).Length <= 63);
    }
}
