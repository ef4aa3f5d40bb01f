using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Tests;

/// <summary>
/// Identical bytes are stored once, so deleting a version's blobs must not interleave with a registration reusing them:
/// both take the blob store's reference lock (registration from storing the files until its rows are written).
/// </summary>
public sealed class BlobReferenceLockTests : IDisposable
{
    private readonly TestDatabase _db = new();
    private readonly ServiceProvider _services;

    public BlobReferenceLockTests()
    {
        var services = new ServiceCollection();
        services.AddDeploymentServices(_db);
        _services = services.BuildServiceProvider();
    }

    public void Dispose()
    {
        _services.Dispose();
        _db.Dispose();
    }

    [Fact]
    public async Task DeletingAVersion_WaitsWhileARegistrationHoldsTheReferences()
    {
        var owner = await _db.AddUserAsync("owner@test.local");
        await _db.AddModelAsync(owner.Id, "shared", 1, 2);
        var blobs = _services.GetRequiredService<BlobStore>();
        var registry = _services.GetRequiredService<ModelRegistry>();

        var registration = await blobs.LockReferencesAsync();
        var deleting = registry.DeleteVersionAsync("shared", 2, owner.Id, isAdmin: false);
        var finishedEarly = await Task.WhenAny(deleting, Task.Delay(500)) == deleting;
        registration.Dispose();

        Assert.False(finishedEarly, "the deletion checked references while a registration held them");
        Assert.Equal(DeleteOutcome.Deleted, await deleting);
        // Released means released: the next holder gets the lock at once.
        using var next = await blobs.LockReferencesAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
    }
}
