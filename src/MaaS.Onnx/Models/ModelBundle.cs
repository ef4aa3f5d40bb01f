using System.IO.Compression;

namespace MaaS.Onnx.Models;

/// <summary>
/// Unpacks an uploaded .zip bundle (one .onnx model and its external-data files) without trusting anything in it:
/// no path leaves the target folder (zip slip, CVE-2023-48299), no links, no duplicates, and the bytes written are
/// counted as they are inflated, so a zip bomb stops at the limit whatever its headers claim.
/// </summary>
public static class ModelBundle
{
    // Unix file-type bits of an entry made on Unix (the high 16 bits of ExternalAttributes hold st_mode).
    private const int TypeMask = 0xF000, RegularFile = 0x8000, Directory = 0x4000;

    /// <summary>
    /// Extracts the bundle into <paramref name="targetDirectory"/>, flattening a single top folder, and returns the full
    /// path of its .onnx file. Files go either all at the zip's root or all in one folder; nothing deeper.
    /// </summary>
    public static string ExtractZip(string zipPath, string targetDirectory, long maxTotalBytes, int maxEntries = 1000)
    {
        var target = System.IO.Directory.CreateDirectory(targetDirectory).FullName;
        ZipArchive archive;
        try
        {
            archive = ZipFile.OpenRead(zipPath);
        }
        catch (InvalidDataException)
        {
            throw Rejected("The bundle is not a readable .zip file.");
        }

        var written = new List<string>();
        try
        {
            using (archive)
            {
                var files = PlanFiles(archive, maxEntries, maxTotalBytes);
                long total = 0;
                var buffer = new byte[81920];
                foreach (var (entry, name) in files)
                {
                    var path = Path.Join(target, name);
                    // CreateNew: never overwrite or follow whatever already sits at that name.
                    using var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                    written.Add(path);
                    using var input = OpenEntry(entry);
                    int read;
                    while ((read = ReadEntry(input, buffer, entry.FullName)) > 0)
                    {
                        total += read;
                        if (total > maxTotalBytes)
                        {
                            throw Rejected($"The bundle unpacks to more than {ModelAdmission.Bytes(maxTotalBytes)}, the most accepted.");
                        }
                        output.Write(buffer, 0, read);
                    }
                }
                return Path.Join(target, files.Single(f => IsModel(f.Name)).Name);
            }
        }
        catch
        {
            foreach (var path in written) File.Delete(path);
            throw;
        }
    }

    /// <summary>Validates every entry before anything is written; returns the files with their flattened names.</summary>
    private static List<(ZipArchiveEntry Entry, string Name)> PlanFiles(ZipArchive archive, int maxEntries, long maxTotalBytes)
    {
        if (archive.Entries.Count > maxEntries)
        {
            throw Rejected($"The bundle has {archive.Entries.Count:N0} entries, more than the {maxEntries:N0} accepted.");
        }
        var files = new List<(ZipArchiveEntry Entry, string[] Segments)>();
        long declared = 0;
        foreach (var entry in archive.Entries)
        {
            var name = entry.FullName;
            if (name.Length == 0 || name.Any(char.IsControl)) throw Rejected("The bundle has an entry with an empty or unprintable name.");
            if (name.Contains('\\')) throw Rejected($"The bundle entry '{name}' uses backslashes; zip paths use '/'.");
            if (name.Length >= 2 && char.IsAsciiLetter(name[0]) && name[1] == ':') throw Rejected($"The bundle entry '{name}' is a Windows drive path.");
            if (name.StartsWith('/')) throw Rejected($"The bundle entry '{name}' is an absolute path.");
            var isFolder = name.EndsWith('/');
            var segments = (isFolder ? name[..^1] : name).Split('/');
            if (segments.Contains("..")) throw Rejected($"The bundle entry '{name}' leaves the folder it is unpacked into.");
            if (segments.Any(s => s.Length == 0 || s == "." || s.Contains(':')))
            {
                throw Rejected($"The bundle entry '{name}' is not a plain path.");
            }
            var type = (entry.ExternalAttributes >> 16) & TypeMask;
            if (type == 0xA000) throw Rejected($"The bundle entry '{name}' is a symbolic link; bundles may hold only files.");
            if (type != 0 && type != RegularFile && type != Directory)
            {
                throw Rejected($"The bundle entry '{name}' is not a regular file.");
            }
            if (isFolder || type == Directory)
            {
                if (entry.Length > 0) throw Rejected($"The bundle entry '{name}' is a folder with contents.");
                if (segments.Length > 1) throw Rejected($"The bundle has nested folders ('{name}'); put the files at its root or in one folder.");
                continue;
            }
            if (entry.IsEncrypted) throw Rejected($"The bundle entry '{name}' is encrypted.");
            declared += entry.Length;
            if (declared > maxTotalBytes)
            {
                throw Rejected($"The bundle unpacks to more than {ModelAdmission.Bytes(maxTotalBytes)}, the most accepted.");
            }
            files.Add((entry, segments));
        }

        if (files.Any(f => f.Segments.Length > 2))
        {
            var deep = files.First(f => f.Segments.Length > 2).Entry.FullName;
            throw Rejected($"The bundle has nested folders ('{deep}'); put the files at its root or in one folder.");
        }
        var folders = files.Select(f => f.Segments.Length == 2 ? f.Segments[0] : "").Distinct(StringComparer.Ordinal).ToList();
        if (folders.Count > 1)
        {
            throw Rejected("The bundle mixes files from several folders; put them all at its root or all in one folder.");
        }

        var flattened = files.Select(f => (f.Entry, Name: f.Segments[^1])).ToList();
        // Case-insensitive: on a case-insensitive file system two such names would overwrite each other.
        var duplicate = flattened.GroupBy(f => f.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw Rejected($"The bundle holds '{duplicate.Key}' more than once.");

        var models = flattened.Where(f => IsModel(f.Name)).Select(f => f.Name).ToList();
        if (models.Count == 0) throw Rejected("The bundle holds no .onnx model.");
        if (models.Count > 1)
        {
            throw Rejected($"The bundle holds {models.Count} .onnx models ({string.Join(", ", models.Select(m => $"'{m}'"))}); upload one model per bundle.");
        }
        return flattened;
    }

    private static Stream OpenEntry(ZipArchiveEntry entry)
    {
        try
        {
            return entry.Open();
        }
        catch (InvalidDataException e)
        {
            throw Rejected($"The bundle entry '{entry.FullName}' cannot be unpacked ({e.Message.TrimEnd('.')}).");
        }
    }

    private static int ReadEntry(Stream input, byte[] buffer, string name)
    {
        try
        {
            return input.Read(buffer, 0, buffer.Length);
        }
        catch (InvalidDataException e)
        {
            throw Rejected($"The bundle entry '{name}' is damaged ({e.Message.TrimEnd('.')}).");
        }
    }

    private static bool IsModel(string name) => name.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase);

    private static ModelRejectedException Rejected(string message) => new(AdmissionChecks.Bundle, message);
}
