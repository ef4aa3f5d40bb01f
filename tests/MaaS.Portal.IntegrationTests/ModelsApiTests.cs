using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using MaaS.Portal.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>The models API end to end: real uploads through the real probe process into real SQLite and blob files.</summary>
public sealed class ModelsApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();

    private async Task<int> ModelRowCountAsync()
    {
        await using var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        return await db.Models.CountAsync() + await db.ModelVersions.CountAsync() + await db.VersionFiles.CountAsync();
    }

    [Fact]
    public async Task MultipartUpload_CreatesVersionOne_WithTheSignatureAndGraphStatistics()
    {
        var bytes = TestModels.Bytes(TestModels.Mlp());
        var response = await _api.PostAsync("/api/models", Form(bytes, "mlp.onnx", name: "Iris MLP", tags: "tabular, Demo", description: "four in, three out"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var created = await response.JsonAsync();
        var slug = created.GetProperty("model").GetProperty("slug").GetString();
        Assert.Equal("iris-mlp", slug);
        Assert.Equal(["tabular", "demo"], created.GetProperty("model").GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal($"/api/models/{slug}/versions/1", response.Headers.Location?.ToString());

        var version = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/1")).RootElement;
        var input = version.GetProperty("inputs")[0];
        Assert.Equal("input", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 4L], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(TestModels.Batch, input.GetProperty("dimensionNames")[0].GetString());
        Assert.Equal([-1L, 3L], version.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(67, version.GetProperty("parameterCount").GetInt64());
        Assert.Equal(5, version.GetProperty("nodeCount").GetInt32());
        Assert.Equal(2, version.GetProperty("opHistogram").GetProperty("MatMul").GetInt32());
        Assert.Equal(67 * 4, version.GetProperty("initializerBytesByType").GetProperty("float").GetInt64());
        Assert.Equal("Initializers", version.GetProperty("weightStorage").GetString());
        Assert.Equal(13, version.GetProperty("opsets")[0].GetProperty("version").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(bytes)), version.GetProperty("sha256").GetString());
        Assert.Equal("upload", version.GetProperty("lineage").GetProperty("operation").GetString());

        // The artifact comes back byte for byte.
        Assert.Equal(bytes, await _api.GetByteArrayAsync($"/api/models/{slug}/versions/1/file"));
    }

    [Fact]
    public async Task OctetStreamUpload_TakesTheNameFromTheQuery()
    {
        var response = await _api.PostAsync("/api/models?name=Raw%20Conv&tags=vision", Raw(TestModels.Bytes(TestModels.ConvNet())));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var model = (await response.JsonAsync()).GetProperty("model");
        Assert.Equal("Raw Conv", model.GetProperty("name").GetString());
        var listed = JsonDocument.Parse(await _api.GetStringAsync("/api/models?tag=vision")).RootElement;
        Assert.Contains(listed.EnumerateArray(), m => m.GetProperty("slug").GetString() == model.GetProperty("slug").GetString());
    }

    [Fact]
    public async Task SameBytesTwice_AreStoredOnce_AndTheBlobGoesWithTheLastVersionThatUsesIt()
    {
        var bytes = TestModels.Bytes(TestModels.Mlp(opset: 12));
        var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var blobs = portal.Services.GetRequiredService<BlobStore>();

        var first = await (await _api.PostAsync("/api/models", Form(bytes, name: "dedupe"))).JsonAsync();
        var slug = first.GetProperty("model").GetProperty("slug").GetString();
        var second = await _api.PostAsync($"/api/models/{slug}/versions", Form(bytes));
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(2, (await second.JsonAsync()).GetProperty("version").GetProperty("version").GetInt32());
        Assert.Single(blobs.List(), h => h == sha);

        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/models/{slug}/versions/1")).StatusCode);
        Assert.True(blobs.Exists(sha), "version 2 still uses the blob");
        var model = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}")).RootElement;
        Assert.Equal([2], model.GetProperty("versions").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()));

        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/models/{slug}")).StatusCode);
        Assert.False(blobs.Exists(sha));
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync($"/api/models/{slug}")).StatusCode);
    }

    [Fact]
    public async Task ZipBundle_WithExternalData_IsAdmitted_AndDownloadsAsAZip()
    {
        var model = TestModels.Bytes(TestModels.ExternalDataModel("weights.bin"));
        var bundle = Zip(("big/model.onnx", model), ("big/weights.bin", ExternalWeightBytes()));

        var response = await _api.PostAsync("/api/models", Form(bundle, "big.zip", name: "bundled"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var version = JsonDocument.Parse(await _api.GetStringAsync("/api/models/bundled/versions/1")).RootElement;
        var files = version.GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("fileName").GetString()!, f => f.GetProperty("role").GetString());
        Assert.Equal("model", files["model.onnx"]);
        Assert.Equal("external-data", files["weights.bin"]);
        var download = await _api.GetAsync("/api/models/bundled/versions/1/file");
        Assert.Equal("application/zip", download.Content.Headers.ContentType?.MediaType);
        using var zip = new System.IO.Compression.ZipArchive(await download.Content.ReadAsStreamAsync());
        Assert.Equal(["model.onnx", "weights.bin"], zip.Entries.Select(e => e.FullName).Order());
    }

    [Fact]
    public async Task LabelsFile_IsStoredWithTheVersion()
    {
        var response = await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 11)), name: "labelled", labels: "setosa\r\nversicolor\r\nvirginica\r\n"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.True((await response.JsonAsync()).GetProperty("version").GetProperty("hasLabels").GetBoolean());
        var version = JsonDocument.Parse(await _api.GetStringAsync("/api/models/labelled/versions/1")).RootElement;
        var labels = version.GetProperty("files").EnumerateArray().Single(f => f.GetProperty("role").GetString() == "labels");
        using var reader = new StreamReader(portal.Services.GetRequiredService<BlobStore>().OpenRead(labels.GetProperty("sha256").GetString()!));
        var text = await reader.ReadToEndAsync();
        Assert.Equal("setosa\nversicolor\nvirginica\n", text);
    }

    public static TheoryData<string, string, string> NotModels => new()
    {
        { "jpeg", AdmissionChecks.Format, "JPEG" },
        { "exe", AdmissionChecks.Format, "Windows program" },
        { "empty", "empty", "empty" },
        { "truncated", AdmissionChecks.Format, "cut short" },
    };

    [Theory]
    [MemberData(nameof(NotModels))]
    public async Task NotAModel_Is422_NamingTheCheck_AndLeavesNothingBehind(string kind, string check, string words)
    {
        var bytes = kind switch
        {
            "jpeg" => TestModels.JpegLikeBytes(),
            "exe" => TestModels.ExeLikeBytes(),
            "empty" => [],
            _ => TestModels.Truncated(TestModels.Bytes(TestModels.ConvNet()), 0.6),
        };
        var rowsBefore = await ModelRowCountAsync();
        var blobsBefore = portal.Services.DataFiles().Blobs;

        var response = await _api.PostAsync("/api/models", Form(bytes, $"{kind}.onnx"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Equal(check, problem.GetProperty("check").GetString());
        Assert.Contains(words, problem.GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(rowsBefore, await ModelRowCountAsync());
        Assert.Equal(blobsBefore, portal.Services.DataFiles().Blobs);
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    public static TheoryData<string> EscapingLocations => new() { "../weights.bin", "/etc/passwd", "/proc/self/environ", "sub/../../weights.bin", "*/_ORT_MEM_ADDR_/*" };

    [Theory]
    [MemberData(nameof(EscapingLocations))]
    public async Task ExternalDataOutsideTheBundle_Is422_NamingTheLocation(string location)
    {
        var bundle = Zip(("model.onnx", TestModels.Bytes(TestModels.ExternalDataModel(location))), ("weights.bin", ExternalWeightBytes()));
        var rowsBefore = await ModelRowCountAsync();

        var response = await _api.PostAsync("/api/models", Form(bundle, "escape.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Equal(AdmissionChecks.ExternalData, problem.GetProperty("check").GetString());
        Assert.Contains(location, problem.GetProperty("detail").GetString());
        Assert.Equal(rowsBefore, await ModelRowCountAsync());
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    [Fact]
    public async Task AllocationBomb_KillsOnlyTheProbe_AndThePortalKeepsServing()
    {
        var rowsBefore = await ModelRowCountAsync();

        var response = await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.ConstantOfShapeBomb()), "bomb.onnx"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.JsonAsync();
        Assert.Contains(problem.GetProperty("check").GetString(), new[] { AdmissionChecks.Memory, AdmissionChecks.Budget, AdmissionChecks.Runtime });
        Assert.Contains("could not be opened safely", problem.GetProperty("detail").GetString());
        Assert.Equal(rowsBefore, await ModelRowCountAsync());
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 14)), name: "after-bomb"))).StatusCode);
    }

    [Fact]
    public async Task HostileFileName_IsNeitherAPathNorMarkup()
    {
        var response = await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 15)), "../../<script>alert(1)</script>.onnx"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var model = (await response.JsonAsync()).GetProperty("model");
        var slug = model.GetProperty("slug").GetString()!;
        Assert.DoesNotContain("<", model.GetProperty("name").GetString());
        Assert.Matches("^[a-z0-9-]+$", slug);
        var version = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/1")).RootElement;
        var fileName = version.GetProperty("files")[0].GetProperty("fileName").GetString()!;
        Assert.Matches("^[A-Za-z0-9._-]+$", fileName);
        Assert.DoesNotContain("..", fileName);
        var paths = portal.Services.GetRequiredService<DataPaths>();
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(paths.Root)!, "*script*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task ClientThatDisconnectsMidUpload_LeavesNoTempFile()
    {
        using var disconnect = new CancellationTokenSource();
        var content = new StreamContent(new DisconnectingStream(failAfter: 3 << 20, disconnect));
        content.Headers.ContentType = new("application/octet-stream");

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _api.PostAsync("/api/models?name=gone", content, disconnect.Token));

        await Poll.UntilAsync(() => Task.FromResult(portal.Services.DataFiles().Temp), t => t.Length == 0);
        Assert.DoesNotContain("gone", await _api.GetStringAsync("/api/models"));
    }

    [Fact]
    public async Task WrongContentType_Is415_AndNoFilePart_Is400()
    {
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await _api.PostAsync("/api/models", new StringContent("{}", System.Text.Encoding.UTF8, "application/json"))).StatusCode);
        var form = new MultipartFormDataContent { { new StringContent("x"), "name" } };
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PostAsync("/api/models", form)).StatusCode);
    }

    [Fact]
    public async Task UsersSeeOnlyTheirOwnModels_AdminsSeeAll()
    {
        const string email = "modeller@test.local";
        await portal.RegisterAsync(email, "User-Passw0rd!");
        var userId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        var user = portal.CreateApiClient((await portal.Services.GetRequiredService<ApiKeyService>().CreateAsync(userId, "mine")).Secret);
        var adminsModel = (await (await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 16)), name: "admin only"))).JsonAsync())
            .GetProperty("model").GetProperty("slug").GetString();

        var usersUpload = await user.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 17)), name: "users own"));
        Assert.Equal(HttpStatusCode.Created, usersUpload.StatusCode);

        Assert.Equal(["users-own"], JsonDocument.Parse(await user.GetStringAsync("/api/models")).RootElement.EnumerateArray().Select(m => m.GetProperty("slug").GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await user.GetAsync($"/api/models/{adminsModel}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.GetAsync($"/api/models/{adminsModel}/versions/1/file")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.DeleteAsync($"/api/models/{adminsModel}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.PostAsync($"/api/models/{adminsModel}/versions", Form(TestModels.Bytes(TestModels.Mlp())))).StatusCode);
        Assert.Contains("users-own", await _api.GetStringAsync("/api/models"));
    }

    [Fact]
    public async Task Search_FindsByName()
    {
        await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 18)), name: "Searchable Zebra"));

        var found = JsonDocument.Parse(await _api.GetStringAsync("/api/models?search=zebra")).RootElement;

        Assert.Equal(["searchable-zebra"], found.EnumerateArray().Select(m => m.GetProperty("slug").GetString()));
    }

    [Fact]
    public async Task BrowserUpload_WithoutTheAntiforgeryToken_IsRefused()
    {
        var browser = await portal.CreateLoggedInClientAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);

        var response = await browser.PostAsync("/ui/models/upload", Form(TestModels.Bytes(TestModels.Mlp())));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Housekeeping_RemovesOldOrphans_AndKeepsWhatIsInUseOrRecent()
    {
        var blobs = portal.Services.GetRequiredService<BlobStore>();
        var paths = portal.Services.GetRequiredService<DataPaths>();
        var used = await (await _api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp(opset: 19)), name: "kept"))).JsonAsync();
        var usedSha = used.GetProperty("version").GetProperty("sha256").GetString()!;
        var orphan = await blobs.PutAsync(new MemoryStream("nobody refers to me"u8.ToArray()));
        var freshOrphan = await blobs.PutAsync(new MemoryStream("written a minute ago"u8.ToArray()));
        var oldTemp = Path.Combine(paths.Temp, "crashed.upload");
        var oldTempFolder = Directory.CreateDirectory(Path.Combine(paths.Temp, "crashed.admit")).FullName;
        await File.WriteAllTextAsync(oldTemp, "half an upload");
        await File.WriteAllTextAsync(Path.Combine(oldTempFolder, "model.onnx"), "half a bundle");
        var twoHoursAgo = DateTime.UtcNow.AddHours(-2);
        foreach (var path in new[] { blobs.PathOf(usedSha), blobs.PathOf(orphan.Sha256), oldTemp, Path.Combine(oldTempFolder, "model.onnx") }) File.SetLastWriteTimeUtc(path, twoHoursAgo);
        Directory.SetLastWriteTimeUtc(oldTempFolder, twoHoursAgo);
        // A job that started two hours ago and writes in a subfolder now: its folder's own time is old, its work is not.
        var busyFolder = Directory.CreateDirectory(Path.Combine(paths.Temp, $"{Guid.NewGuid():N}.compress")).FullName;
        await File.WriteAllTextAsync(Path.Combine(Directory.CreateDirectory(Path.Combine(busyFolder, "candidate")).FullName, "model.onnx"), "being written");
        Directory.SetLastWriteTimeUtc(busyFolder, twoHoursAgo);
        // A running job that has written nothing for two hours (a long calibration): its folder stays while it runs.
        var quietJob = new JobRecord { Kind = "compress", OwnerId = HousekeepingTrigger.SystemOwner, Title = "long compression", State = JobState.Running, StartedAt = DateTimeOffset.UtcNow.AddHours(-2) };
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            db.Jobs.Add(quietJob);
            await db.SaveChangesAsync();
        }
        var quietFolder = Directory.CreateDirectory(Path.Combine(paths.Temp, $"{quietJob.Id:N}.compress")).FullName;
        await File.WriteAllTextAsync(Path.Combine(quietFolder, "original.onnx"), "read two hours ago");
        File.SetLastWriteTimeUtc(Path.Combine(quietFolder, "original.onnx"), twoHoursAgo);
        Directory.SetLastWriteTimeUtc(quietFolder, twoHoursAgo);

        // Serving copies: one of a bundle that is still a version stays, one whose bundle is gone goes.
        var bundled = await (await _api.PostAsync("/api/models", Form(Zip(("model.onnx", TestModels.Bytes(TestModels.ExternalDataModel("weights.bin"))), ("weights.bin", ExternalWeightBytes())), "kept.zip", name: "kept bundle"))).JsonAsync();
        var bundleSha = bundled.GetProperty("version").GetProperty("sha256").GetString()!;
        List<VersionFile> bundleFiles;
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            var versionId = (await db.VersionFiles.FirstAsync(f => f.Sha256 == bundleSha)).VersionId;
            bundleFiles = await db.VersionFiles.Where(f => f.VersionId == versionId).ToListAsync();
        }
        Assert.Equal(2, bundleFiles.Count);
        var keptCopy = Directory.CreateDirectory(Path.Combine(ServingFiles.Root(paths), ServingFiles.FolderName(bundleFiles))).FullName;
        var goneCopy = Directory.CreateDirectory(Path.Combine(ServingFiles.Root(paths), new string('0', 64))).FullName;
        foreach (var copy in new[] { keptCopy, goneCopy })
        {
            await File.WriteAllTextAsync(Path.Combine(copy, "model.onnx"), "a copy");
            File.SetLastWriteTimeUtc(Path.Combine(copy, "model.onnx"), twoHoursAgo);
            Directory.SetLastWriteTimeUtc(copy, twoHoursAgo);
        }

        var jobs = portal.Services.GetRequiredService<JobService>();
        var job = await jobs.EnqueueAsync<HousekeepingJob>(HousekeepingJob.Kind, HousekeepingTrigger.SystemOwner, "housekeeping");
        var done = await Poll.UntilAsync(() => jobs.GetAsync(job.Id, "", true), j => j!.IsFinished);

        Assert.Equal(JobState.Succeeded, done!.State);
        Assert.Contains("2 temp entries, 1 unreferenced blobs and 1 unused serving copies", done.Message);
        Assert.True(Directory.Exists(keptCopy));
        Assert.False(Directory.Exists(goneCopy));
        Assert.False(blobs.Exists(orphan.Sha256));
        Assert.True(blobs.Exists(freshOrphan.Sha256));
        Assert.True(blobs.Exists(usedSha));
        Assert.False(File.Exists(oldTemp));
        Assert.False(Directory.Exists(oldTempFolder));
        Assert.True(File.Exists(Path.Combine(busyFolder, "candidate", "model.onnx")));
        Assert.True(File.Exists(Path.Combine(quietFolder, "original.onnx")));
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            await db.Jobs.Where(j => j.Id == quietJob.Id).ExecuteUpdateAsync(u => u.SetProperty(j => j.State, JobState.Failed));
        }
    }

    /// <summary>A request body whose client gives up part-way, aborting the request as a dropped connection does.</summary>
    private sealed class DisconnectingStream(long failAfter, CancellationTokenSource disconnect) : Stream
    {
        private long _position;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_position >= failAfter)
            {
                disconnect.Cancel();
                throw new OperationCanceledException(disconnect.Token);
            }
            var n = (int)Math.Min(count, failAfter - _position);
            Array.Fill(buffer, (byte)0x08, offset, n);
            _position += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

public sealed class SmallUploadLimitPortalFactory : PortalFactory
{
    public const long Limit = 64 * 1024;

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Models:MaxUploadBytes", Limit.ToString());
    }
}

public sealed class ModelUploadLimitTests(SmallUploadLimitPortalFactory portal) : IClassFixture<SmallUploadLimitPortalFactory>
{
    [Fact]
    public async Task UploadOverTheLimit_Is413_FromItsLength_BeforeTheBodyIsRead()
    {
        var response = await portal.CreateApiClient().PostAsync("/api/models?name=big", Raw(new byte[SmallUploadLimitPortalFactory.Limit * 8]));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("Models:MaxUploadBytes", (await response.JsonAsync()).GetProperty("detail").GetString());
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    [Fact]
    public async Task ChunkedUploadOverTheLimit_Is413_AfterReadingOnlyPastTheLimit()
    {
        var body = new CountingStream(total: 64L << 20);
        var content = new StreamContent(body, 16 * 1024);
        content.Headers.ContentType = new("application/octet-stream");

        var response = await portal.CreateApiClient().PostAsync("/api/models?name=big", content);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.True(body.Produced < 8L << 20, $"the server read {body.Produced} bytes of a 64 MiB body with a 64 KiB limit");
        await Poll.UntilAsync(() => Task.FromResult(portal.Services.DataFiles().Temp), t => t.Length == 0);
        Assert.Equal("[]", await portal.CreateApiClient().GetStringAsync("/api/models"));
    }

    private sealed class CountingStream(long total) : Stream
    {
        public long Produced { get; private set; }
        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = (int)Math.Min(count, total - Produced);
            Produced += n;
            return n;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Produced; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
