using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Features.SampleSets;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using MaaS.Portal.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;
using SkiaSharp;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>Request bodies and files for sample-set uploads.</summary>
internal static class SampleSetUploads
{
    /// <summary>A BERT-style vocabulary small enough to read: [CLS] is 2, [SEP] 3, "the" 5, "cat" 6.</summary>
    public const string Vocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\ncat\nsits\non\nmat\n.\n##s\n";

    public static MultipartFormDataContent Form(byte[] file, string fileName, string? kind = null, string? name = null,
        string? modelId = null, string? normalization = null, byte[]? vocabulary = null)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(file);
        part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(part, "file", fileName);
        if (kind is not null) form.Add(new StringContent(kind), "kind");
        if (name is not null) form.Add(new StringContent(name), "name");
        if (modelId is not null) form.Add(new StringContent(modelId), "modelId");
        if (normalization is not null) form.Add(new StringContent(normalization), "normalization");
        if (vocabulary is not null) form.Add(new ByteArrayContent(vocabulary), "vocabulary", "vocab.txt");
        return form;
    }

    public static byte[] Text(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Three pictures of other sizes than any model's input, one of them grayscale.</summary>
    public static byte[] ImageZip() => Zip(
        ("photos/red.png", TestImages.Solid(40, 20, SKColors.Red)),
        ("photos/gray.png", TestImages.GrayPng(12, 12, 200)),
        ("photos/gradient.jpg", TestImages.Jpeg(64, 48, (x, y) => new SKColor((byte)(x * 4), (byte)(y * 5), 128))),
        ("README.txt", Text("not an image, ignored")),
        ("__MACOSX/photos/._red.png", Text("AppleDouble metadata, ignored")));

    public static string TensorSample(string name, int[] shape, string data, string datatype = "FP32") =>
        $$"""{"inputs":[{"name":"{{name}}","shape":[{{string.Join(",", shape)}}],"datatype":"{{datatype}}","data":[{{data}}]}]}""";
}

/// <summary>The sample-sets API end to end: real uploads into real SQLite and blob files, and samples shaped for real models.</summary>
public sealed class SampleSetsApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();
    private SampleSetService Service => portal.Services.GetRequiredService<SampleSetService>();

    private async Task<string> AdminIdAsync() =>
        (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;

    private async Task<string> UploadModelAsync(byte[] model, string name)
    {
        var response = await _api.PostAsync("/api/models", ModelUploads.Form(model, "model.onnx", name: name));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("model").GetProperty("slug").GetString()!;
    }

    private async Task<JsonElement> CreateAsync(MultipartFormDataContent form)
    {
        var response = await _api.PostAsync("/api/sample-sets", form);
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return await response.JsonAsync();
    }

    private async Task<(HttpStatusCode Status, string Detail)> RefusedAsync(MultipartFormDataContent form)
    {
        var response = await _api.PostAsync("/api/sample-sets", form);
        var body = await response.JsonAsync();
        return (response.StatusCode, body.GetProperty("detail").GetString()!);
    }

    private async Task<IReadOnlyList<SignatureTensor>> InputsAsync(string slug) =>
        (await portal.Services.GetRequiredService<ModelRegistry>().GetVersionAsync(slug, 1, await AdminIdAsync(), true))!.Inputs;

    [Fact]
    public async Task ImageZip_AttachedToAModel_IsListedFetchedAndDeleted_WithItsFile()
    {
        var slug = await UploadModelAsync(TestModels.Bytes(TestModels.ConvNet()), "conv for images");
        var zip = SampleSetUploads.ImageZip();

        var created = await CreateAsync(SampleSetUploads.Form(zip, "holiday photos.zip", modelId: slug, normalization: "zero-one"));

        var id = created.GetProperty("id").GetString();
        Assert.Equal("holiday photos", created.GetProperty("name").GetString());
        Assert.Equal("images", created.GetProperty("kind").GetString());
        Assert.Equal(3, created.GetProperty("sampleCount").GetInt32());
        Assert.Equal(slug, created.GetProperty("modelSlug").GetString());
        Assert.Equal("zero-one", created.GetProperty("normalization").GetString());
        Assert.Equal(zip.Length, created.GetProperty("sizeBytes").GetInt64());
        var sha = created.GetProperty("sha256").GetString()!;
        Assert.True(portal.Services.GetRequiredService<BlobStore>().Exists(sha));

        var listed = JsonDocument.Parse(await _api.GetStringAsync($"/api/sample-sets?modelId={slug}")).RootElement;
        Assert.Equal([id], listed.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal("[]", await _api.GetStringAsync("/api/sample-sets?modelId=no-such-model"));
        Assert.Equal(id, JsonDocument.Parse(await _api.GetStringAsync($"/api/sample-sets/{id}")).RootElement.GetProperty("id").GetString());

        var preview = JsonDocument.Parse(await _api.GetStringAsync($"/api/sample-sets/{id}/preview")).RootElement.GetProperty("samples");
        Assert.Equal(["photos/red.png", "photos/gray.png", "photos/gradient.jpg"], preview.EnumerateArray().Select(s => s.GetProperty("label").GetString()));
        Assert.StartsWith("data:image/png;base64,", preview[0].GetProperty("imageDataUrl").GetString());
        Assert.Equal(40, preview[0].GetProperty("width").GetInt32());

        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/sample-sets/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync($"/api/sample-sets/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.DeleteAsync($"/api/sample-sets/{id}")).StatusCode);
        Assert.False(portal.Services.GetRequiredService<BlobStore>().Exists(sha));
    }

    [Fact]
    public async Task TextLines_WithAVocabulary_CountOneSamplePerNonEmptyLine()
    {
        var created = await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text("the cat sits\n\n  on the mat. \r\nthe cats\n"), "questions.txt",
            vocabulary: SampleSetUploads.Text(SampleSetUploads.Vocabulary)));

        Assert.Equal("text", created.GetProperty("kind").GetString());
        Assert.Equal(3, created.GetProperty("sampleCount").GetInt32());
        Assert.True(created.GetProperty("hasVocabulary").GetBoolean());
        Assert.Equal(JsonValueKind.Null, created.GetProperty("normalization").ValueKind);

        var preview = JsonDocument.Parse(await _api.GetStringAsync($"/api/sample-sets/{created.GetProperty("id").GetString()}/preview")).RootElement.GetProperty("samples");
        Assert.Equal("on the mat.", preview[1].GetProperty("text").GetString());
        Assert.Equal("line 3", preview[1].GetProperty("label").GetString());
        Assert.Equal(6, preview[1].GetProperty("tokenCount").GetInt32()); // [CLS] on the mat . [SEP]
    }

    [Fact]
    public async Task TensorsJson_IsCheckedAndCounted()
    {
        var one = SampleSetUploads.TensorSample("input", [1, 4], "5.1,3.5,1.4,0.2");
        var created = await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text($$"""{"samples":[{{one}},{{one}}]}"""), "iris.json"));

        Assert.Equal("tensors", created.GetProperty("kind").GetString());
        Assert.Equal(2, created.GetProperty("sampleCount").GetInt32());
        var preview = JsonDocument.Parse(await _api.GetStringAsync($"/api/sample-sets/{created.GetProperty("id").GetString()}/preview")).RootElement;
        var tensor = preview.GetProperty("samples")[0].GetProperty("tensors")[0];
        Assert.Equal("FP32", tensor.GetProperty("datatype").GetString());
        Assert.Equal("5.1, 3.5, 1.4, 0.2", tensor.GetProperty("firstValues").GetString());
    }

    [Fact]
    public async Task TensorsWithAWrongShape_AreRefused_NamingTheSample()
    {
        var good = SampleSetUploads.TensorSample("x", [1, 4], "1,2,3,4");
        var bad = SampleSetUploads.TensorSample("x", [1, 4], "1,2,3");

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(SampleSetUploads.Text($"[{good},{bad}]"), "samples.json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("Sample 2, input 'x': the shape needs 4 values but \"data\" has 3.", detail);
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    [Fact]
    public async Task CorruptImage_IsRefused_NamingItsEntry()
    {
        var zip = Zip(("photos/fine.png", TestImages.Solid(8, 8, SKColors.Blue)), ("photos/broken.jpg", TestImages.NotAnImage()));

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "photos.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.StartsWith("Image 'photos/broken.jpg': The file is not an image", detail);
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    [Fact]
    public async Task TruncatedImage_IsRefused_SayingSo()
    {
        var photo = TestImages.Png(64, 64, (x, y) => new SKColor((byte)(x * 4), (byte)(y * 4), (byte)(x ^ y)));
        var zip = Zip(("cut.png", TestImages.Truncated(photo, 0.6)));

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "photos.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("'cut.png'", detail);
        Assert.Contains("truncated", detail);
    }

    [Fact]
    public async Task ImageDeclaringBillionsOfPixels_IsRefused_WithThePixelLimit()
    {
        var zip = Zip(("huge.png", TestImages.PngDeclaring(100_000, 100_000)));

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "huge.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("limit is 50 megapixels", detail);
    }

    [Theory]
    [InlineData("../escape.png")]
    [InlineData("/etc/cron.d/job.png")]
    [InlineData("photos/../../escape.png")]
    [InlineData("C:/Windows/evil.png")]
    [InlineData("..\\escape.png")]
    public async Task ZipWithAPathOutsideTheArchive_IsRefused(string entryName)
    {
        var zip = Zip(("fine.png", TestImages.Solid(8, 8, SKColors.Blue)), (entryName, TestImages.Solid(8, 8, SKColors.Red)));

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "photos.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("points outside the archive", detail);
    }

    [Fact]
    public async Task ZipBomb_IsRefused_BeforeUnpacking()
    {
        // 40 MB of zeros deflate to about 40 KB; declared honestly, the entry is over the 32 MB per-image limit.
        var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            await using var entry = archive.CreateEntry("bomb.png", CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 40; i++) entry.Write(zeros);
        }
        Assert.True(buffer.Length < 1 << 20);

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(buffer.ToArray(), "bomb.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("Image 'bomb.png' unpacks to 40 MiB, more than the limit of 32 MiB per image.", detail);
    }

    [Fact]
    public async Task ZipThatLiesAboutItsSizes_IsNotUnpackedBeyondThem()
    {
        // The same bomb with its local and central headers rewritten to claim 1 KB unpacked.
        var buffer = new MemoryStream();
        using (var archive = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            await using var entry = archive.CreateEntry("liar.png", CompressionLevel.SmallestSize).Open();
            var zeros = new byte[1 << 20];
            for (var i = 0; i < 40; i++) entry.Write(zeros);
        }
        var bytes = buffer.ToArray();
        PatchUncompressedSizes(bytes, 40u << 20, 1024u);

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(bytes, "liar.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        // Reading stops at the declared 1 KB (and would at the per-image cap): what comes out is no image, and is refused as such.
        Assert.StartsWith("Image 'liar.png': The file is not an image", detail);
    }

    private static void PatchUncompressedSizes(byte[] zip, uint from, uint to)
    {
        var find = BitConverter.GetBytes(from);
        var patched = 0;
        for (var i = 0; i <= zip.Length - 4; i++)
        {
            if (zip.AsSpan(i, 4).SequenceEqual(find))
            {
                BitConverter.GetBytes(to).CopyTo(zip, i);
                patched++;
            }
        }
        Assert.Equal(2, patched);
    }

    [Fact]
    public async Task NotAZip_ForAnImageSet_IsRefused()
    {
        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(TestImages.Solid(8, 8, SKColors.Red), "photo.png", kind: "images"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("not a .zip", detail);
    }

    [Fact]
    public async Task BinaryText_IsRefused()
    {
        var (status, detail) = await RefusedAsync(SampleSetUploads.Form([0x41, 0x42, 0xFF, 0xFE, 0x0A], "lines.txt"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("not UTF-8", detail);
    }

    [Theory]
    [InlineData("pictures", null, null, "'kind' is one of images, text, tensors")]
    [InlineData(null, "sepia", null, "'normalization' is one of imagenet")]
    [InlineData(null, null, "no-such-model", "no model 'no-such-model'")]
    public async Task BadFields_AreRefused_BeforeTheContent(string? kind, string? normalization, string? modelId, string reason)
    {
        var form = SampleSetUploads.Form(SampleSetUploads.ImageZip(), "photos.zip", kind: kind, normalization: normalization, modelId: modelId);

        var (status, detail) = await RefusedAsync(form);

        Assert.Equal(modelId is null ? HttpStatusCode.BadRequest : HttpStatusCode.NotFound, status);
        Assert.Contains(reason, detail);
        Assert.Empty(portal.Services.DataFiles().Temp);
    }

    [Fact]
    public async Task FileOfUnknownType_WithoutKind_IsRefused_SayingWhatToSend()
    {
        var (status, detail) = await RefusedAsync(SampleSetUploads.Form([1, 2, 3], "samples.bin"));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("'kind'", detail);
    }

    [Fact]
    public async Task NonMultipartBody_Is415()
    {
        var response = await _api.PostAsync("/api/sample-sets", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task OtherUsers_CannotSeeOrDeleteASet_OrAttachToAModelTheyCannotSee()
    {
        const string email = "sampler@test.local";
        await portal.RegisterAsync(email, "User-Passw0rd!");
        var userId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        var user = portal.CreateApiClient((await portal.Services.GetRequiredService<ApiKeyService>().CreateAsync(userId, "samples")).Secret);
        var slug = await UploadModelAsync(TestModels.Bytes(TestModels.Mlp(opset: 15)), "admins tabular");
        var adminsSet = (await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text("hello\n"), "admin.txt"))).GetProperty("id").GetString();

        Assert.Equal(HttpStatusCode.NotFound, (await user.GetAsync($"/api/sample-sets/{adminsSet}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.DeleteAsync($"/api/sample-sets/{adminsSet}")).StatusCode);
        Assert.DoesNotContain(adminsSet!, await user.GetStringAsync("/api/sample-sets"));
        var attach = await user.PostAsync("/api/sample-sets", SampleSetUploads.Form(SampleSetUploads.Text("hi\n"), "mine.txt", modelId: slug));
        Assert.Equal(HttpStatusCode.NotFound, attach.StatusCode);
        var error = await Assert.ThrowsAsync<SampleSetException>(() =>
            Service.LoadSamplesAsync(Guid.Parse(adminsSet!), userId, false, [], 1, CancellationToken.None));
        Assert.Contains("no sample set", error.Message);
    }

    [Fact]
    public async Task DeletingTheModel_DeletesItsSampleSets()
    {
        var slug = await UploadModelAsync(TestModels.Bytes(TestModels.ConvNet(opset: 14)), "short-lived conv");
        var id = (await CreateAsync(SampleSetUploads.Form(SampleSetUploads.ImageZip(), "photos.zip", modelId: slug))).GetProperty("id").GetString();

        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/models/{slug}")).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync($"/api/sample-sets/{id}")).StatusCode);
    }

    [Fact]
    public async Task Housekeeping_KeepsTheFilesOfSampleSets()
    {
        var blobs = portal.Services.GetRequiredService<BlobStore>();
        var created = await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text("kept line\nand another\n"), "kept.txt",
            vocabulary: SampleSetUploads.Text(SampleSetUploads.Vocabulary + "kept\n")));
        var id = Guid.Parse(created.GetProperty("id").GetString()!);
        string[] hashes;
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            var set = await db.SampleSets.SingleAsync(s => s.Id == id);
            hashes = [set.Sha256, set.VocabularySha256!];
        }
        foreach (var hash in hashes) File.SetLastWriteTimeUtc(blobs.PathOf(hash), DateTime.UtcNow.AddHours(-2));

        var jobs = portal.Services.GetRequiredService<JobService>();
        var job = await jobs.EnqueueAsync<HousekeepingJob>(HousekeepingJob.Kind, HousekeepingTrigger.SystemOwner, "housekeeping");
        var done = await Poll.UntilAsync(() => jobs.GetAsync(job.Id, "", true), j => j!.IsFinished);

        Assert.Equal(JobState.Succeeded, done!.State);
        Assert.All(hashes, hash => Assert.True(blobs.Exists(hash)));
        var samples = await Service.LoadSamplesAsync(id, await AdminIdAsync(), true,
            [new SignatureTensor("input_ids", "INT64", "int64", [-1, -1], null)], 5, CancellationToken.None);
        Assert.Equal(2, samples.Count);
    }

    [Fact]
    public async Task LoadSamples_ShapesImagesForARealModel_ThatOnnxRuntimeRuns()
    {
        var model = TestModels.Bytes(TestModels.ConvNet(opset: 15));
        var slug = await UploadModelAsync(model, "conv for loading");
        var id = Guid.Parse((await CreateAsync(SampleSetUploads.Form(SampleSetUploads.ImageZip(), "photos.zip", modelId: slug))).GetProperty("id").GetString()!);
        var inputs = await InputsAsync(slug);

        var samples = await Service.LoadSamplesAsync(id, await AdminIdAsync(), true, inputs, 2, CancellationToken.None);

        Assert.Equal(2, samples.Count);
        using var session = new InferenceSession(model);
        foreach (var sample in samples)
        {
            var tensor = Assert.Single(sample.Inputs);
            Assert.Equal("image", tensor.Name);
            Assert.Equal([1L, 3, 8, 8], tensor.Shape);
            using var value = tensor.ToOrtValue();
            using var runOptions = new RunOptions();
            using var outputs = session.Run(runOptions, [tensor.Name], [value], session.OutputNames);
            Assert.Equal(2, outputs[0].GetTensorDataAsSpan<float>().Length);
        }
        // Red, resized and cropped, normalised the ImageNet way: red high, green and blue low.
        var red = (float[])samples[0].Inputs[0].Values;
        Assert.All(red[..64], v => Assert.Equal((1 - 0.485f) / 0.229f, v, 2));
        Assert.All(red[64..128], v => Assert.Equal(-0.456f / 0.224f, v, 2));
    }

    [Fact]
    public async Task LoadSamples_RefusesImagesForAModelWithoutAnImageInput()
    {
        var slug = await UploadModelAsync(TestModels.Bytes(TestModels.Mlp(opset: 14)), "tabular for images");
        var id = Guid.Parse((await CreateAsync(SampleSetUploads.Form(SampleSetUploads.ImageZip(), "photos.zip"))).GetProperty("id").GetString()!);

        var error = await Assert.ThrowsAsync<SampleSetException>(async () =>
            await Service.LoadSamplesAsync(id, await AdminIdAsync(), true, await InputsAsync(slug), 10, CancellationToken.None));

        Assert.Contains("Input 'input' has shape [?, 4]; an image input has four dimensions", error.Message);
    }

    [Fact]
    public async Task LoadSamples_MatchesTensorsToTheModelsInputs_ByNameTypeAndShape()
    {
        var slug = await UploadModelAsync(TestModels.Bytes(TestModels.Mlp(opset: 13)), "tabular for tensors");
        var inputs = await InputsAsync(slug);
        async Task<Guid> UploadAsync(string json) =>
            Guid.Parse((await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text(json), "t.json"))).GetProperty("id").GetString()!);
        var good = await UploadAsync($"[{SampleSetUploads.TensorSample("input", [2, 4], "1,2,3,4,5,6,7,8")},{SampleSetUploads.TensorSample("input", [1, 4], "1,2,3,4")}]");
        var wrongName = await UploadAsync(SampleSetUploads.TensorSample("features", [1, 4], "1,2,3,4"));
        var wrongShape = await UploadAsync($"[{SampleSetUploads.TensorSample("input", [1, 4], "1,2,3,4")},{SampleSetUploads.TensorSample("input", [1, 5], "1,2,3,4,5")}]");
        var wrongType = await UploadAsync(SampleSetUploads.TensorSample("input", [1, 4], "1,2,3,4", "INT64"));
        var admin = await AdminIdAsync();

        var samples = await Service.LoadSamplesAsync(good, admin, true, inputs, 10, CancellationToken.None);

        Assert.Equal([[2L, 4], [1L, 4]], samples.Select(s => s.Inputs[0].Shape));
        Assert.Contains("Sample 1 has input 'features', which the model does not have (it takes input FP32 [?, 4])",
            (await Assert.ThrowsAsync<SampleSetException>(() => Service.LoadSamplesAsync(wrongName, admin, true, inputs, 10, CancellationToken.None))).Message);
        Assert.Contains("Sample 2, input 'input': shape [1, 5] does not fit the model's [?, 4]",
            (await Assert.ThrowsAsync<SampleSetException>(() => Service.LoadSamplesAsync(wrongShape, admin, true, inputs, 10, CancellationToken.None))).Message);
        Assert.Contains("the values are INT64 but the model takes FP32",
            (await Assert.ThrowsAsync<SampleSetException>(() => Service.LoadSamplesAsync(wrongType, admin, true, inputs, 10, CancellationToken.None))).Message);
    }

    [Fact]
    public async Task LoadSamples_TokenisesText_ForBertInputs_AndAsksForAVocabularyWhenThereIsNone()
    {
        SignatureTensor[] bert =
        [
            new("input_ids", "INT64", "int64", [-1, -1], ["batch", "sequence"]),
            new("attention_mask", "INT64", "int64", [-1, -1], ["batch", "sequence"]),
        ];
        var withVocabulary = Guid.Parse((await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text("the cat sits\non the mats\n"), "s.txt",
            vocabulary: SampleSetUploads.Text(SampleSetUploads.Vocabulary)))).GetProperty("id").GetString()!);
        var without = Guid.Parse((await CreateAsync(SampleSetUploads.Form(SampleSetUploads.Text("the cat sits\n"), "s.txt", name: "plain lines"))).GetProperty("id").GetString()!);
        var admin = await AdminIdAsync();

        var samples = await Service.LoadSamplesAsync(withVocabulary, admin, true, bert, 10, CancellationToken.None);

        Assert.Equal(2, samples.Count);
        Assert.Equal([2L, 5, 6, 7, 3], (long[])samples[0].Inputs[0].Values);
        Assert.Equal([2L, 8, 5, 9, 11, 3], (long[])samples[1].Inputs[0].Values);
        Assert.All((long[])samples[1].Inputs[1].Values, v => Assert.Equal(1, v));
        var error = await Assert.ThrowsAsync<SampleSetException>(() => Service.LoadSamplesAsync(without, admin, true, bert, 10, CancellationToken.None));
        Assert.Contains("attach a vocab.txt", error.Message);
    }
}

public sealed class SmallSampleLimitsPortalFactory : PortalFactory
{
    public const long UploadLimit = 16 * 1024;

    protected override void ConfigureWebHost(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("SampleSets:MaxUploadBytes", UploadLimit.ToString());
        builder.UseSetting("SampleSets:MaxSamples", "5");
        builder.UseSetting("SampleSets:MaxZipEntries", "20");
    }
}

public sealed class SampleSetLimitsTests(SmallSampleLimitsPortalFactory portal) : IClassFixture<SmallSampleLimitsPortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();

    private async Task<(HttpStatusCode Status, string Detail)> RefusedAsync(MultipartFormDataContent form)
    {
        var response = await _api.PostAsync("/api/sample-sets", form);
        return (response.StatusCode, (await response.JsonAsync()).GetProperty("detail").GetString()!);
    }

    [Fact]
    public async Task FileOverTheUploadLimit_Is413_NamingTheLimit_AndLeavesNothing()
    {
        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(new byte[SmallSampleLimitsPortalFactory.UploadLimit + 1], "big.txt"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Equal("The file is larger than the limit of 16 KiB (setting SampleSets:MaxUploadBytes).", detail);
        Assert.Empty(portal.Services.DataFiles().Temp);
        Assert.Empty(portal.Services.DataFiles().Blobs);
    }

    [Fact]
    public async Task MoreSamplesThanTheLimit_AreRefused_WithTheLimit()
    {
        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(SampleSetUploads.Text("a\nb\nc\nd\ne\nf\n"), "lines.txt"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("The set has more than 5 samples, the limit per set (setting SampleSets:MaxSamples).", detail);
    }

    [Fact]
    public async Task MoreImagesThanTheLimit_AreRefused_WithTheLimit()
    {
        var image = TestImages.Solid(4, 4, SKColors.Green);
        var zip = Zip(Enumerable.Range(1, 6).Select(i => ($"{i}.png", image)).ToArray());

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "six.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Contains("more than 5 images", detail);
    }

    [Fact]
    public async Task ZipListingTooManyEntries_IsRefused_FromItsDirectoryRecord()
    {
        var zip = Zip(Enumerable.Range(1, 30).Select(i => ($"notes/{i}.txt", new byte[] { 1 })).ToArray());

        var (status, detail) = await RefusedAsync(SampleSetUploads.Form(zip, "many.zip"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("The .zip lists 30 entries; the limit is 20 (setting SampleSets:MaxZipEntries).", detail);
    }
}
