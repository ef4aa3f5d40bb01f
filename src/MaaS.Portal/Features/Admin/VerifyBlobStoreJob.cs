using System.Security.Cryptography;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;

namespace MaaS.Portal.Features.Admin;

public sealed record BlobStoreReport(int Checked, long Bytes, IReadOnlyList<string> Corrupt);

/// <summary>
/// Re-hashes every stored blob and reports files whose bytes no longer match their name (disk faults, manual
/// edits). Read-only, so running it twice is harmless.
/// </summary>
public sealed class VerifyBlobStoreJob(BlobStore blobs, ILogger<VerifyBlobStoreJob> logger) : IPortalJob
{
    public const string Kind = "verify-blobs";

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        await context.ReportAsync(0, "listing blobs", cancellationToken);
        var hashes = blobs.List().ToList();
        var corrupt = new List<string>();
        long bytes = 0;
        for (var i = 0; i < hashes.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await using (var stream = blobs.OpenRead(hashes[i]))
            {
                bytes += stream.Length;
                var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
                if (actual != hashes[i])
                {
                    logger.LogWarning("Blob {Expected} hashes to {Actual}", hashes[i], actual);
                    corrupt.Add(hashes[i]);
                }
            }
            await context.ReportAsync((i + 1.0) / hashes.Count, $"checking {hashes.Count} blobs", cancellationToken);
        }
        if (corrupt.Count > 0)
        {
            throw new JobFailedException($"{corrupt.Count} of {hashes.Count} blobs do not match their hash: {string.Join(", ", corrupt.Take(5))}{(corrupt.Count > 5 ? ", …" : "")}");
        }
        return new BlobStoreReport(hashes.Count, bytes, corrupt);
    }
}
