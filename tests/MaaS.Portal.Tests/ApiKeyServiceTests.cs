using MaaS.Portal.Features.ApiKeys;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Tests;

public sealed class ApiKeyServiceTests : IDisposable
{
    private readonly TestDatabase _db = new();

    [Fact]
    public async Task Create_StoresOnlyTheHash_AndAShortPrefix()
    {
        var owner = await _db.AddUserAsync("keys@test.local");
        var created = await new ApiKeyService(_db.Factory).CreateAsync(owner.Id, "ci");

        await using var db = await _db.Factory.CreateDbContextAsync();
        var stored = await db.ApiKeys.SingleAsync();
        Assert.Equal(ApiKeyService.Hash(created.Secret), stored.SecretHash);
        Assert.DoesNotContain(created.Secret, stored.SecretHash);
        Assert.True(created.Secret.StartsWith(stored.Prefix, StringComparison.Ordinal) && stored.Prefix.Length < created.Secret.Length / 2);
    }

    [Fact]
    public async Task Secrets_AreUnique()
    {
        var owner = await _db.AddUserAsync("unique@test.local");
        var service = new ApiKeyService(_db.Factory);
        var a = await service.CreateAsync(owner.Id, "a");
        var b = await service.CreateAsync(owner.Id, "b");
        Assert.NotEqual(a.Secret, b.Secret);
    }

    [Fact]
    public async Task Revoke_OnlyTouchesTheOwnersKeys()
    {
        var owner = await _db.AddUserAsync("owner@test.local");
        var stranger = await _db.AddUserAsync("stranger@test.local");
        var service = new ApiKeyService(_db.Factory);
        var key = await service.CreateAsync(owner.Id, "mine");

        Assert.False(await service.RevokeAsync(stranger.Id, key.Key.Id));
        Assert.Null((await service.ListAsync(owner.Id)).Single().RevokedAt);
        Assert.True(await service.RevokeAsync(owner.Id, key.Key.Id));
        Assert.NotNull((await service.ListAsync(owner.Id)).Single().RevokedAt);
    }

    public void Dispose() => _db.Dispose();
}
