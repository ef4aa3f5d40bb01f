using MaaS.Portal.Features.Deployments;

namespace MaaS.Portal.Tests;

public sealed class DeploymentDirectoryTests : IDisposable
{
    private readonly TestDatabase _db = new();

    [Fact]
    public async Task KnownNamesAreKept_AndUnknownOnesAreNot_SoCallersCannotGrowIt()
    {
        var owner = await _db.AddUserAsync("directory@test.local");
        var modelId = await _db.AddModelAsync(owner.Id, "directory-model", 1);
        await _db.AddDeploymentAsync(owner.Id, modelId, "known", DeploymentStates.Ready, (1, 100));
        var directory = new DeploymentDirectory(_db.Factory, TimeProvider.System);

        for (var i = 0; i < 200; i++) Assert.Null(await directory.FindAsync($"unknown-{i}", CancellationToken.None));
        Assert.Equal("known", (await directory.FindAsync("known", CancellationToken.None))!.Name);

        Assert.Equal(1, directory.KeptCount);
    }

    public void Dispose() => _db.Dispose();
}
