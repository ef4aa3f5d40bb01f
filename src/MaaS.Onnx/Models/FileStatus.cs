using System.Runtime.InteropServices;

namespace MaaS.Onnx.Models;

/// <summary>
/// lstat for the external-data rules: .NET exposes neither a file's type bits nor its hard-link count, so on Linux this
/// calls statx, whose buffer layout (unlike struct stat's) is the same on every architecture.
/// </summary>
internal static class FileStatus
{
    public readonly record struct Info(bool Exists, bool IsSymbolicLink, bool IsRegularFile, long LinkCount, long Length);

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7ff;
    private const int ENOENT = 2, ENOTDIR = 20;

    public static Info Lstat(string path)
    {
        if (!OperatingSystem.IsLinux()) return Portable(path);
        var buffer = new byte[256];
        if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return default;
            throw new IOException($"Could not inspect '{path}' (errno {errno}).");
        }
        // struct statx: stx_nlink (u32) at 16, stx_mode (u16) at 28, stx_size (u64) at 40.
        var links = BitConverter.ToUInt32(buffer, 16);
        var type = BitConverter.ToUInt16(buffer, 28) & 0xF000;
        var size = (long)BitConverter.ToUInt64(buffer, 40);
        return new Info(true, IsSymbolicLink: type == 0xA000, IsRegularFile: type == 0x8000, links, size);
    }

    // Elsewhere (development on Windows or macOS) the link count is not available; the symlink and type checks remain.
    private static Info Portable(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return new Info(true, IsSymbolicLink: true, IsRegularFile: false, 1, 0);
        if (Directory.Exists(path)) return new Info(true, false, IsRegularFile: false, 1, 0);
        return info.Exists ? new Info(true, false, true, 1, info.Length) : default;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int statx(int dirfd, [MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags, uint mask, [Out] byte[] buffer);
}
