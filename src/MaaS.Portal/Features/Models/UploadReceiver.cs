using System.Security.Cryptography;
using MaaS.Portal.Storage;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Models;

/// <summary>An upload on disk under tmp/, hashed on the way in. Its name is the client's and is not trusted.</summary>
public sealed record ReceivedFile(string TempPath, string Sha256, long Length, string ClientFileName, bool IsZip) : IDisposable
{
    public void Dispose() => File.Delete(TempPath);
}

public sealed class UploadTooLargeException(long limit) : Exception($"The upload is larger than the limit of {Format.Bytes(limit)}.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// Streams an upload body to tmp/ with a 1 MB buffer, hashing as it goes, so memory stays flat whatever the size.
/// Anything that goes wrong (limit, client gone, cancel) deletes the partial file.
/// </summary>
public sealed class UploadReceiver(BlobStore blobs, IOptions<ModelsOptions> options)
{
    private const int BufferSize = 1 << 20;

    public async Task<ReceivedFile> ReceiveAsync(Stream body, string? clientFileName, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxUploadBytes;
        var tempPath = blobs.NewTempPath(".upload");
        try
        {
            long length = 0;
            var header = new byte[4];
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var file = new FileStream(tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous))
            {
                var buffer = new byte[BufferSize];
                int read;
                while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    if (length < header.Length) Array.Copy(buffer, 0, header, (int)length, (int)Math.Min(read, header.Length - length));
                    length += read;
                    if (length > limit) throw new UploadTooLargeException(limit);
                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }
                file.Flush(flushToDisk: true);
            }
            var isZip = length >= 4 && header is [0x50, 0x4B, 0x03, 0x04];
            return new ReceivedFile(tempPath, Convert.ToHexStringLower(hash.GetHashAndReset()), length, clientFileName ?? "", isZip);
        }
        catch
        {
            File.Delete(tempPath);
            throw;
        }
    }
}

public static class Format
{
    /// <summary>
    /// A duration as people read it, with enough digits to tell a small one from zero: 18 µs, 2.8 ms, 45.6 ms, 1.25 s.
    /// A tiny model's run takes microseconds; "0.0 ms" would read as "did not run".
    /// </summary>
    public static string Duration(TimeSpan duration) => duration.TotalSeconds switch
    {
        < 0.001 => $"{duration.TotalSeconds * 1e6:0} µs",
        < 1 => $"{duration.TotalMilliseconds:0.#} ms",
        _ => $"{duration.TotalSeconds:0.##} s",
    };

    /// <summary><see cref="Duration(TimeSpan)"/> of a count of milliseconds.</summary>
    public static string Milliseconds(double milliseconds) => Duration(TimeSpan.FromMilliseconds(milliseconds));

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.##} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.#} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes} bytes",
    };
}
