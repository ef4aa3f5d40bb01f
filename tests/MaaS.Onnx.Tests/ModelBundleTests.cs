using System.Buffers.Binary;
using System.IO.Compression;
using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;

namespace MaaS.Onnx.Tests;

public sealed class ModelBundleTests : IDisposable
{
    private const long Limit = 1L << 20;
    private readonly TempFolder temp = new();
    private readonly byte[] mlp = TestModels.Bytes(TestModels.ExternalDataModel("weights.bin"));
    private readonly byte[] weights = new byte[16];

    public void Dispose() => temp.Dispose();

    [Fact]
    public void ExtractZip_UnpacksModelAndDataFiles_FromTheRoot()
    {
        var zip = Zip(("model.onnx", mlp), ("weights.bin", weights));
        var target = Path.Combine(temp.Path, "out");

        var modelPath = ExtractZip(zip, target);

        Assert.Equal(Path.Combine(target, "model.onnx"), modelPath);
        Assert.Equal(mlp, File.ReadAllBytes(modelPath));
        Assert.Equal(weights, File.ReadAllBytes(Path.Combine(target, "weights.bin")));
        ModelAdmission.Admit(modelPath, long.MaxValue);
    }

    [Fact]
    public void ExtractZip_FlattensOneTopFolder()
    {
        var zip = Zip(("resnet/", []), ("resnet/model.onnx", mlp), ("resnet/weights.bin", weights));
        var target = Path.Combine(temp.Path, "out");

        var modelPath = ExtractZip(zip, target);

        Assert.Equal(Path.Combine(target, "model.onnx"), modelPath);
        Assert.Equal(["model.onnx", "weights.bin"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName).Order());
    }

    [Theory]
    [InlineData("../evil.onnx", "leaves the folder it is unpacked into")]
    [InlineData("a/../../evil.onnx", "leaves the folder it is unpacked into")]
    [InlineData("/tmp/evil.onnx", "is an absolute path")]
    [InlineData("..\\evil.onnx", "uses backslashes")]
    [InlineData("C:/evil.onnx", "is a Windows drive path")]
    [InlineData("a/b/evil.onnx", "nested folders")]
    [InlineData("./evil.onnx", "is not a plain path")]
    public void ExtractZip_RejectsEntry_ThatIsNotAPlainName(string name, string words)
    {
        var zip = Zip((name, mlp));
        var target = temp.Sub("deep/out");

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, target));

        Assert.Equal(AdmissionChecks.Bundle, rejected.Check);
        Assert.Contains(words, rejected.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
        Assert.False(File.Exists(Path.Combine(temp.Path, "deep", "evil.onnx")));
        Assert.False(File.Exists("/tmp/evil.onnx"));
    }

    [Fact]
    public void ExtractZip_RejectsSymlinkEntry()
    {
        var zip = Zip(("model.onnx", mlp), ("weights.bin", "/etc/passwd"u8.ToArray()));
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Update))
        {
            // What `zip --symlinks` writes: S_IFLNK | 0777 in the Unix mode bits, the target as the content.
            archive.GetEntry("weights.bin")!.ExternalAttributes = unchecked((int)(0xA1FFu << 16));
        }

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, temp.Sub("out")));

        Assert.Equal("The bundle entry 'weights.bin' is a symbolic link; bundles may hold only files.", rejected.Message);
    }

    [Fact]
    public void ExtractZip_RejectsTwoModels()
    {
        var zip = Zip(("a.onnx", mlp), ("b.onnx", mlp));

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, temp.Sub("out")));

        Assert.Equal("The bundle holds 2 .onnx models ('a.onnx', 'b.onnx'); upload one model per bundle.", rejected.Message);
    }

    [Fact]
    public void ExtractZip_RejectsBundleWithoutModel()
    {
        var zip = Zip(("weights.bin", weights));

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, temp.Sub("out")));

        Assert.Equal("The bundle holds no .onnx model.", rejected.Message);
    }

    [Fact]
    public void ExtractZip_RejectsDuplicateNames()
    {
        var zip = Zip(("model.onnx", mlp), ("weights.bin", weights), ("Weights.BIN", weights));

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, temp.Sub("out")));

        Assert.Contains("more than once", rejected.Message);
    }

    [Fact]
    public void ExtractZip_RejectsTooManyEntries()
    {
        var zip = Zip(Enumerable.Range(0, 5).Select(i => ($"w{i}.bin", weights)).Append(("model.onnx", mlp)).ToArray());

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelBundle.ExtractZip(zip, temp.Sub("out"), Limit, maxEntries: 3));

        Assert.Equal("The bundle has 6 entries, more than the 3 accepted.", rejected.Message);
    }

    [Fact]
    public void ExtractZip_RejectsZipBomb_ThatDeclaresItsSize()
    {
        var zip = Zip(("model.onnx", mlp), ("weights.bin", new byte[8 * Limit]));
        var target = temp.Sub("out");

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(zip, target));

        Assert.Equal("The bundle unpacks to more than 1 MiB, the most accepted.", rejected.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
    }

    [Fact]
    public void ExtractZip_NeverWritesPastTheLimit_WhenHeadersLieAboutTheSize()
    {
        // The headers say 100 bytes; the entry inflates to 8 MiB, eight times the limit.
        var zip = Zip(("model.onnx", mlp), ("weights.bin", new byte[8 * Limit]));
        DeclareUncompressedSize(zip, "weights.bin", 100);
        var target = temp.Sub("out");

        var failure = Record.Exception(() => ExtractZip(zip, target));

        if (failure is not null) Assert.Equal(AdmissionChecks.Bundle, Assert.IsType<ModelRejectedException>(failure).Check);
        var written = Directory.EnumerateFiles(target).Sum(f => new FileInfo(f).Length);
        Assert.True(written <= Limit, $"{written} bytes written");
    }

    [Fact]
    public void ExtractZip_RejectsFileThatIsNotAZip()
    {
        var path = TestModels.WriteFile(temp.Path, "bundle.zip", TestModels.JpegLikeBytes());

        var rejected = Assert.Throws<ModelRejectedException>(() => ExtractZip(path, temp.Sub("out")));

        Assert.Equal("The bundle is not a readable .zip file.", rejected.Message);
    }

    private static string ExtractZip(string zip, string target) => ModelBundle.ExtractZip(zip, target, Limit);

    private string Zip(params (string Name, byte[] Content)[] entries)
    {
        var path = Path.Combine(temp.Path, $"{Guid.NewGuid():N}.zip");
        using var archive = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, content) in entries)
        {
            using var stream = archive.CreateEntry(name, CompressionLevel.Optimal).Open();
            stream.Write(content);
        }
        return path;
    }

    /// <summary>Rewrites an entry's uncompressed size in its local header and central directory record.</summary>
    private static void DeclareUncompressedSize(string zip, string entryName, uint size)
    {
        var bytes = File.ReadAllBytes(zip);
        var name = System.Text.Encoding.UTF8.GetBytes(entryName);
        var patched = 0;
        for (var i = 0; i + 46 < bytes.Length; i++)
        {
            var signature = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i));
            if (signature == 0x04034b50 && bytes.AsSpan(i + 30, name.Length).SequenceEqual(name))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i + 22), size);
                patched++;
            }
            else if (signature == 0x02014b50 && bytes.AsSpan(i + 46, name.Length).SequenceEqual(name))
            {
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i + 24), size);
                patched++;
            }
        }
        Assert.Equal(2, patched);
        File.WriteAllBytes(zip, bytes);
    }
}
