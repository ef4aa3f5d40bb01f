using System.Security.Cryptography;

namespace MaaS.Portal.Storage;

/// <summary>A stored blob: its SHA-256 (lower-case hex) and size in bytes.</summary>
public sealed record BlobRef(string Sha256, long Length);

/// <summary>
/// Content-addressed files under <c>blobs/ab/abcdef…</c>. Writes go to tmp/ first, are flushed to disk and then
/// renamed into place, so a reader never sees a half-written blob and identical bytes are stored once.
/// </summary>
public sealed class BlobStore(DataPaths paths)
{
    private const int BufferSize = 1 << 20;
    private readonly SemaphoreSlim _references = new(1, 1);

    /// <summary>
    /// Held while blobs are stored and the rows that refer to them are written, and while a deletion checks that no row
    /// refers to a blob and deletes it. Identical bytes are stored once, so without it a deletion could remove the blob a
    /// registration has just found already stored, between its check and the registration's rows.
    /// </summary>
    public async Task<IDisposable> LockReferencesAsync(CancellationToken cancellationToken = default)
    {
        await _references.WaitAsync(cancellationToken);
        return new Release(_references);
    }

    private sealed class Release(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) semaphore.Release();
        }
    }

    /// <summary>Copies <paramref name="content"/> into the store, hashing on the way in.</summary>
    public async Task<BlobRef> PutAsync(Stream content, CancellationToken cancellationToken = default)
    {
        var tempPath = NewTempPath();
        try
        {
            string sha;
            long length;
            await using (var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                file.Flush(flushToDisk: true);
                length = file.Length;
                sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            return AdoptTempFile(tempPath, new BlobRef(sha, length));
        }
        finally
        {
            File.Delete(tempPath); // no-op once the file has been moved into the store
        }
    }

    /// <summary>
    /// Moves a file already written and hashed under tmp/ (an upload, a job output) into the store by atomic rename.
    /// The caller vouches for the hash; a file with the same hash already stored wins and the temp file is dropped.
    /// </summary>
    public BlobRef AdoptTempFile(string tempPath, BlobRef blob)
    {
        var target = PathOf(blob.Sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        if (File.Exists(target))
        {
            File.Delete(tempPath);
            return blob;
        }
        try
        {
            File.Move(tempPath, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            // Another writer stored the same bytes between our check and the rename.
            File.Delete(tempPath);
        }
        return blob;
    }

    /// <summary>A fresh path under tmp/ on the same file system as the store, so the final rename is atomic.</summary>
    public string NewTempPath(string suffix = ".part") => Path.Combine(paths.Temp, $"{Guid.NewGuid():N}{suffix}");

    public bool Exists(string sha256) => File.Exists(PathOf(sha256));

    public Stream OpenRead(string sha256) =>
        new FileStream(PathOf(sha256), FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);

    public void Delete(string sha256) => File.Delete(PathOf(sha256));

    /// <summary>Every stored hash, for maintenance jobs.</summary>
    public IEnumerable<string> List() =>
        Directory.Exists(paths.Blobs)
            ? Directory.EnumerateFiles(paths.Blobs, "*", SearchOption.AllDirectories).Select(f => Path.GetFileName(f)).Where(IsValidHash)
            : [];

    public long TotalBytes() =>
        Directory.Exists(paths.Blobs)
            ? Directory.EnumerateFiles(paths.Blobs, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length)
            : 0;

    /// <summary>The file path of a hash. Rejects anything but 64 lower-case hex digits, so no caller can escape the store.</summary>
    public string PathOf(string sha256)
    {
        if (!IsValidHash(sha256))
        {
            throw new ArgumentException($"'{sha256}' is not a SHA-256 in lower-case hex.", nameof(sha256));
        }
        return Path.Combine(paths.Blobs, sha256[..2], sha256);
    }

    public static bool IsValidHash(string? sha256) =>
        sha256 is { Length: 64 } && sha256.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));

    /// <summary>Removes temp files left by a crash; anything in tmp/ older than <paramref name="olderThan"/> is orphaned.</summary>
    public int CleanTemp(TimeSpan olderThan)
    {
        if (!Directory.Exists(paths.Temp)) return 0;
        var cutoff = DateTime.UtcNow - olderThan;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(paths.Temp))
        {
            if (File.GetLastWriteTimeUtc(file) < cutoff)
            {
                File.Delete(file);
                removed++;
            }
        }
        return removed;
    }
}
