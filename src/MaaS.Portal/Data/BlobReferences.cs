using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Data;

/// <summary>
/// Which rows refer to a blob: version files, sample sets and their vocabularies, datasets. Identical bytes are stored
/// once, so a blob goes only when none does, checked and deleted under the store's reference lock
/// (<see cref="BlobStore.LockReferencesAsync"/>), which registrations hold from storing files until their rows exist.
/// </summary>
public static class BlobReferences
{
    public static async Task<bool> IsReferencedAsync(PortalDbContext db, string hash, CancellationToken cancellationToken) =>
        await db.VersionFiles.AnyAsync(f => f.Sha256 == hash, cancellationToken)
        || await db.SampleSets.AnyAsync(s => s.Sha256 == hash || s.VocabularySha256 == hash, cancellationToken)
        || await db.Datasets.AnyAsync(d => d.Sha256 == hash, cancellationToken);

    /// <summary>Deletes each of <paramref name="hashes"/> that no row refers to any more. Returns the bytes freed.</summary>
    public static async Task<long> DeleteUnreferencedAsync(PortalDbContext db, BlobStore blobs, IEnumerable<string?> hashes, CancellationToken cancellationToken)
    {
        using var references = await blobs.LockReferencesAsync(cancellationToken);
        long freed = 0;
        foreach (var hash in hashes.OfType<string>().Distinct())
        {
            if (await IsReferencedAsync(db, hash, cancellationToken) || !blobs.Exists(hash)) continue;
            freed += new FileInfo(blobs.PathOf(hash)).Length;
            blobs.Delete(hash);
        }
        return freed;
    }
}
