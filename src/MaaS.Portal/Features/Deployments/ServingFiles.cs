using System.Security.Cryptography;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;

namespace MaaS.Portal.Features.Deployments;

/// <summary>Where ONNX Runtime finds a version's files: shared by the deploy job and the playground's temporary sessions.</summary>
public static class ServingFiles
{
    /// <summary>
    /// The path ONNX Runtime opens for a version, after checking every file against its hash. A single-file model is
    /// its blob; a bundle is copied once under serving/&lt;sha&gt;/ with its files' own names (external data is found by
    /// name next to the .onnx), written to a temp folder and renamed so a half copy is never used.
    /// </summary>
    public static async Task<string> MaterialiseAsync(BlobStore blobs, DataPaths paths, ModelVersion version, CancellationToken cancellationToken)
    {
        var payload = version.Files.Where(f => f.Role != FileRoles.Labels).ToList();
        foreach (var file in payload)
        {
            if (!blobs.Exists(file.Sha256)) throw new DeploymentFailedException($"v{version.Number}: file '{file.FileName}' is missing from the store.");
            await using var stream = blobs.OpenRead(file.Sha256);
            var actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancellationToken));
            if (actual != file.Sha256)
                throw new DeploymentFailedException($"v{version.Number}: file '{file.FileName}' does not match its recorded SHA-256 (stored bytes changed); upload the model again.");
        }
        if (payload.Count == 1) return blobs.PathOf(version.Sha256);

        var folder = Path.Combine(Root(paths), FolderName(payload));
        if (!Directory.Exists(folder))
        {
            var temp = Path.Combine(paths.Temp, $"{Guid.NewGuid():N}.serving");
            Directory.CreateDirectory(temp);
            foreach (var file in payload)
            {
                await using var source = blobs.OpenRead(file.Sha256);
                await using var target = File.Create(Path.Combine(temp, file.FileName));
                await source.CopyToAsync(target, cancellationToken);
            }
            Directory.CreateDirectory(Path.GetDirectoryName(folder)!);
            try
            {
                Directory.Move(temp, folder);
            }
            catch (IOException) when (Directory.Exists(folder))
            {
                Directory.Delete(temp, recursive: true); // another load materialised it first
            }
        }
        return Path.Combine(folder, version.ModelFileName);
    }

    /// <summary>Where bundles' copies live: serving/ under the data directory.</summary>
    public static string Root(DataPaths paths) => Path.Combine(paths.Root, "serving");

    /// <summary>
    /// A bundle copy's folder name: named after every file of the bundle (labels aside), since two bundles may share
    /// the .onnx graph but not their weights.
    /// </summary>
    public static string FolderName(IEnumerable<VersionFile> payload)
    {
        var identity = string.Join("\n", payload.Where(f => f.Role != FileRoles.Labels).OrderBy(f => f.FileName, StringComparer.Ordinal).Select(f => $"{f.FileName}:{f.Sha256}"));
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(identity)));
    }
}
