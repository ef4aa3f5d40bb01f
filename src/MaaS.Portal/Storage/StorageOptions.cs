using System.ComponentModel.DataAnnotations;

namespace MaaS.Portal.Storage;

/// <summary>Where the portal keeps its state: the two SQLite files, the blob store and temp files.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>Relative paths resolve against the content root, never the working directory.</summary>
    [Required(AllowEmptyStrings = false)]
    public string DataDirectory { get; set; } = "data";
}

/// <summary>The resolved, checked locations under <see cref="StorageOptions.DataDirectory"/>.</summary>
public sealed record DataPaths(string Root)
{
    public string PortalDatabase => Path.Combine(Root, "maas.db");
    public string JobsDatabase => Path.Combine(Root, "hangfire.db");
    public string Blobs => Path.Combine(Root, "blobs");
    public string Temp => Path.Combine(Root, "tmp");
    /// <summary>ASP.NET Core data-protection keys: cookies stay valid across restarts.</summary>
    public string Keys => Path.Combine(Root, "keys");

    public static DataPaths Resolve(string dataDirectory, string contentRoot) =>
        new(Path.GetFullPath(Path.Combine(contentRoot, dataDirectory)));

    /// <summary>
    /// Creates the folders and proves they are writable. Throws with the path and the setting named,
    /// so a misconfigured portal refuses to start with a message an operator can act on.
    /// </summary>
    public void EnsureWritable()
    {
        try
        {
            foreach (var dir in new[] { Root, Blobs, Temp, Keys })
            {
                Directory.CreateDirectory(dir);
            }
            var probe = Path.Combine(Temp, $".write-probe-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "ok");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException(
                $"The data directory '{Root}' is missing or not writable ({ex.Message}). " +
                $"Set '{StorageOptions.Section}:{nameof(StorageOptions.DataDirectory)}' to a folder the portal can write to.", ex);
        }
    }
}
