using System.Security.Cryptography;
using MaaS.Portal.Storage;

namespace MaaS.Portal.Tests;

public sealed class BlobStoreTests : IDisposable
{
    private readonly DataPaths _paths = new(Path.Combine(Path.GetTempPath(), "maas-unit", Guid.NewGuid().ToString("N")));
    private readonly BlobStore _store;

    public BlobStoreTests()
    {
        _paths.EnsureWritable();
        _store = new BlobStore(_paths);
    }

    [Fact]
    public async Task Put_NamesTheBlobByItsSha256_AndKeepsItsBytes()
    {
        var bytes = RandomNumberGenerator.GetBytes(3 * 1024 * 1024 + 17);
        var blob = await _store.PutAsync(new MemoryStream(bytes));

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), blob.Sha256);
        Assert.Equal(bytes.Length, blob.Length);
        await using var stored = _store.OpenRead(blob.Sha256);
        var copy = new MemoryStream();
        await stored.CopyToAsync(copy);
        Assert.Equal(bytes, copy.ToArray());
    }

    [Fact]
    public async Task Put_StoresIdenticalBytesOnce_AndLeavesNoTempFiles()
    {
        var first = await _store.PutAsync(new MemoryStream("same"u8.ToArray()));
        var second = await _store.PutAsync(new MemoryStream("same"u8.ToArray()));

        Assert.Equal(first, second);
        Assert.Single(_store.List());
        Assert.Empty(Directory.EnumerateFiles(_paths.Temp));
    }

    [Fact]
    public async Task Put_LeavesNothingBehind_WhenCancelled()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.PutAsync(new MemoryStream(new byte[1024]), cancelled.Token));
        Assert.Empty(_store.List());
        Assert.Empty(Directory.EnumerateFiles(_paths.Temp));
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("abc")]
    [InlineData("/abcdef0123456789abcdef0123456789abcdef0123456789abcdef012345678")]
    public void PathOf_RejectsAnythingButALowerCaseSha256(string name)
    {
        Assert.Throws<ArgumentException>(() => _store.PathOf(name));
    }

    [Fact]
    public async Task CleanTemp_RemovesOnlyStaleFiles()
    {
        var stale = _store.NewTempPath();
        var fresh = _store.NewTempPath();
        await File.WriteAllTextAsync(stale, "left by a crash");
        await File.WriteAllTextAsync(fresh, "upload in progress");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddDays(-2));

        Assert.Equal(1, _store.CleanTemp(TimeSpan.FromDays(1)));
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(fresh));
    }

    public void Dispose() => Directory.Delete(_paths.Root, recursive: true);
}
