using System.Buffers.Binary;
using System.IO.Compression;
using MaaS.Onnx.Samples;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Features.SampleSets;

/// <summary>
/// Reads an image set's .zip without extracting it: the entry count is checked from the end-of-central-directory
/// record before <see cref="ZipArchive"/> loads the directory, entries with paths outside the archive or links refuse
/// the whole file, and every image is read into memory with a hard cap, whatever sizes the archive declares.
/// </summary>
public sealed class ImageArchive : IDisposable
{
    private readonly ZipArchive _zip;

    private ImageArchive(ZipArchive zip, IReadOnlyList<ZipArchiveEntry> images)
    {
        _zip = zip;
        Images = images;
    }

    /// <summary>The image entries, in archive order.</summary>
    public IReadOnlyList<ZipArchiveEntry> Images { get; }

    public static ImageArchive Open(string path, SampleSetsOptions limits)
    {
        var declared = DeclaredEntryCount(path);
        if (declared > limits.MaxZipEntries)
        {
            throw new SampleSetException($"The .zip lists {declared:N0} entries; the limit is {limits.MaxZipEntries:N0} (setting SampleSets:MaxZipEntries).");
        }
        ZipArchive zip;
        try
        {
            zip = ZipFile.OpenRead(path);
        }
        catch (InvalidDataException ex)
        {
            throw new SampleSetException($"The file is not a valid .zip archive ({ex.Message}).");
        }
        try
        {
            var images = new List<ZipArchiveEntry>();
            long unpacked = 0;
            foreach (var entry in zip.Entries)
            {
                var name = entry.FullName.Replace('\\', '/');
                if (IsOutside(name)) throw new SampleSetException($"The .zip entry '{Shown(entry.FullName)}' points outside the archive; archives with such paths are refused.");
                if ((entry.ExternalAttributes >> 16 & 0xF000) == 0xA000) throw new SampleSetException($"The .zip entry '{Shown(entry.FullName)}' is a symbolic link; archives with links are refused.");
                if (name.EndsWith('/') || IsHiddenOrMetadata(name) || !ImagePreprocessor.IsImageFileName(name)) continue;
                if (entry.Length > limits.MaxImageBytes)
                {
                    throw new SampleSetException($"Image '{Shown(entry.FullName)}' unpacks to {Format.Bytes(entry.Length)}, more than the limit of {Format.Bytes(limits.MaxImageBytes)} per image.");
                }
                unpacked += entry.Length;
                if (unpacked > limits.MaxUnpackedBytes)
                {
                    throw new SampleSetException($"The .zip's images unpack to more than {Format.Bytes(limits.MaxUnpackedBytes)}, the limit (setting SampleSets:MaxUnpackedBytes).");
                }
                images.Add(entry);
                if (images.Count > limits.MaxSamples)
                {
                    throw new SampleSetException($"The .zip holds more than {limits.MaxSamples:N0} images; the limit is {limits.MaxSamples:N0} samples per set (setting SampleSets:MaxSamples).");
                }
            }
            if (images.Count == 0)
            {
                throw new SampleSetException($"The .zip holds no images; put {string.Join(", ", ImagePreprocessor.Extensions)} files in it.");
            }
            return new ImageArchive(zip, images);
        }
        catch
        {
            zip.Dispose();
            throw;
        }
    }

    /// <summary>An entry's bytes, refusing more than <paramref name="maxBytes"/> however the entry is declared.</summary>
    public static byte[] Read(ZipArchiveEntry entry, long maxBytes)
    {
        try
        {
            using var stream = entry.Open();
            var buffer = new MemoryStream((int)Math.Min(Math.Max(entry.Length, 0), maxBytes));
            var chunk = new byte[81920];
            int read;
            while ((read = stream.Read(chunk)) > 0)
            {
                if (buffer.Length + read > maxBytes)
                {
                    throw new SampleSetException($"Image '{Shown(entry.FullName)}' unpacks to more than {Format.Bytes(maxBytes)}, the limit per image.");
                }
                buffer.Write(chunk, 0, read);
            }
            return buffer.ToArray();
        }
        catch (InvalidDataException ex)
        {
            throw new SampleSetException($"The .zip entry '{Shown(entry.FullName)}' is damaged ({ex.Message}).");
        }
    }

    /// <summary>An entry name fit to quote in a message: no control characters, at most 200 characters.</summary>
    public static string Shown(string name)
    {
        var clean = new string(name.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return clean.Length > 200 ? clean[..200] + "…" : clean;
    }

    private static bool IsOutside(string name) =>
        name.StartsWith('/') || (name.Length >= 2 && name[1] == ':') || name.Split('/').Any(part => part == "..");

    /// <summary>macOS adds __MACOSX/ folders and ._ files (AppleDouble metadata with the image's own extension).</summary>
    private static bool IsHiddenOrMetadata(string name) =>
        name.StartsWith("__MACOSX/", StringComparison.Ordinal) || name.Split('/')[^1].StartsWith('.');

    /// <summary>
    /// The entry count the archive's end records declare (ZIP64 included), read from the file's tail. A .zip the
    /// central directory of which cannot be found is refused here.
    /// </summary>
    internal static long DeclaredEntryCount(string path)
    {
        using var file = File.OpenRead(path);
        var tailLength = (int)Math.Min(file.Length, 22 + 65535);
        var tail = new byte[tailLength];
        file.Seek(-tailLength, SeekOrigin.End);
        file.ReadExactly(tail);
        for (var at = tailLength - 22; at >= 0; at--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(tail.AsSpan(at)) != 0x06054b50) continue;
            long entries = BinaryPrimitives.ReadUInt16LittleEndian(tail.AsSpan(at + 10));
            if (entries != 0xFFFF) return entries;
            // ZIP64: the locator sits just before the end record and points at the ZIP64 end record.
            var locator = file.Length - tailLength + at - 20;
            if (locator < 0) break;
            var buffer = new byte[56];
            file.Seek(locator, SeekOrigin.Begin);
            file.ReadExactly(buffer.AsSpan(0, 20));
            if (BinaryPrimitives.ReadUInt32LittleEndian(buffer) != 0x07064b50) break;
            var record = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(8));
            if (record < 0 || record > file.Length - 56) break;
            file.Seek(record, SeekOrigin.Begin);
            file.ReadExactly(buffer);
            if (BinaryPrimitives.ReadUInt32LittleEndian(buffer) != 0x06064b50) break;
            var count = BinaryPrimitives.ReadInt64LittleEndian(buffer.AsSpan(32));
            return count < 0 ? long.MaxValue : count;
        }
        throw new SampleSetException("The file is not a valid .zip archive (its central directory is missing).");
    }

    public void Dispose() => _zip.Dispose();
}
