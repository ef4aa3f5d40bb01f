using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.IntegrationTests;

/// <summary>The portal's routing over the ONNX Runtime host, on real sessions: ordering of changes and what gets released.</summary>
public sealed class ModelHostTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private static readonly InferenceSettings Settings = new() { WarmUp = false };

    [Fact]
    public async Task AnOlderGenerationArrivingLate_ChangesNothing()
    {
        var host = portal.Services.GetRequiredService<ModelHost>();
        var (one, two) = (WriteModel(), WriteModel());

        Assert.NotNull(await host.ApplyAsync("late-job", 2, [new ServedVersion(2, 100, two)], Settings, CancellationToken.None));
        var stale = await host.ApplyAsync("late-job", 1, [new ServedVersion(1, 100, one)], Settings, CancellationToken.None);

        Assert.Null(stale);
        Assert.Equal([2], host.RouteOf("late-job")!.Targets.Select(t => t.Version));
        Assert.Null(host.Loaded("late-job", 1));
        await host.UnloadAsync("late-job");
    }

    [Fact]
    public async Task AChangeWhoseRowIsGone_LoadsNothing_SoANewDeploymentOfThatNameKeepsItsOwn()
    {
        var host = portal.Services.GetRequiredService<ModelHost>();
        var (theirs, ours) = (WriteModel(), WriteModel());
        // The new deployment of the name, generation 1, is served.
        Assert.NotNull(await host.ApplyAsync("reused-name", 1, [new ServedVersion(1, 100, ours)], Settings, CancellationToken.None));

        // A job of the undeployed one (generation 3) arrives late: its row is gone.
        var late = await host.ApplyAsync("reused-name", 3, [new ServedVersion(7, 100, theirs)], Settings, CancellationToken.None,
            stillWanted: _ => Task.FromResult(false));

        Assert.Null(late);
        Assert.Equal([1], host.RouteOf("reused-name")!.Targets.Select(t => t.Version));
        Assert.Null(host.Loaded("reused-name", 7));
        // And the new deployment's own next change still applies (the late job left no generation behind).
        Assert.NotNull(await host.ApplyAsync("reused-name", 2, [new ServedVersion(2, 100, ours)], Settings, CancellationToken.None));
        await host.UnloadAsync("reused-name");
    }

    [Fact]
    public async Task VersionsNoLongerServed_AreReleased_WeightZeroOnesToo()
    {
        var host = portal.Services.GetRequiredService<ModelHost>();
        var (one, two) = (WriteModel(), WriteModel());

        await host.ApplyAsync("weights", 1, [new ServedVersion(1, 100, one), new ServedVersion(2, 0, two)], Settings, CancellationToken.None);
        Assert.NotNull(host.Loaded("weights", 2)); // loaded for calls by number, though it takes no routed traffic
        Assert.Equal([1], host.RouteOf("weights")!.Targets.Select(t => t.Version));
        await host.ApplyAsync("weights", 2, [new ServedVersion(1, 100, one)], Settings, CancellationToken.None);

        Assert.Null(host.Loaded("weights", 2));
        Assert.NotNull(host.Loaded("weights", 1));
        await host.UnloadAsync("weights");
        Assert.Null(host.Loaded("weights", 1));
        Assert.False(host.IsServing("weights"));
    }

    // Under the portal's data folder, which the factory deletes.
    private string WriteModel()
    {
        var folder = Directory.CreateDirectory(Path.Combine(portal.DataDirectory, "host-tests", Guid.NewGuid().ToString("N"))).FullName;
        return TestModels.Write(TestModels.Mlp(), folder);
    }
}
