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

    [Theory]
    // FIPS 180-2's "abc" vector, an empty key, and a non-ASCII one (hashed as UTF-8).
    [InlineData("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")]
    [InlineData("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("é", "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c")]
    public void Hash_IsLowerHexSha256OfTheUtf8Bytes(string secret, string expected)
    {
        Assert.Equal(expected, ApiKeyService.Hash(secret));
        Assert.Equal(expected, ApiKeyService.Hash(secret.AsSpan()));
    }

    [Fact]
    public void Hash_OfAHeaderSpan_MatchesTheStoredHash()
    {
        const string header = "Bearer mk_0123456789abcdef ";
        Assert.Equal(ApiKeyService.Hash("mk_0123456789abcdef"), ApiKeyService.Hash(header.AsSpan("Bearer ".Length).Trim()));
    }

    public void Dispose() => _db.Dispose();
}
