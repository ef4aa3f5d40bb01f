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
