using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Jobs;
using MaaS.Portal.Testing;
using Microsoft.Extensions.DependencyInjection;
using Onnx;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// Compression through the API end to end: a real upload, a real Hangfire job running the real passes, ONNX Runtime
/// evaluating parent and candidate, the probe admitting the result, and a new version in SQLite and the blob store.
/// </summary>
public sealed class CompressionApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();

    [Fact]
    public async Task Fp16_MakesTheNextVersion_WithLineageReportAndFloat32Signature()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "wide fp16");

        var response = await CompressAsync(slug, 1, new { recipe = "fp16" });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.JsonAsync();
        Assert.Equal("compress", job.GetProperty("kind").GetString());
        Assert.Equal($"/api/jobs/{job.GetProperty("id").GetString()}", response.Headers.Location?.ToString());

        var done = await WaitForJobAsync(job);
        Assert.Equal("Succeeded", done.GetProperty("state").GetString());
        Assert.Equal(1.0, done.GetProperty("progress").GetDouble());
        Assert.Equal(2, done.GetProperty("result").GetProperty("version").GetInt32());
        Assert.Contains("of the size", done.GetProperty("message").GetString());

        var version = await GetVersionAsync(slug, 2);
        Assert.Equal("Ready", version.GetProperty("status").GetString());
        var lineage = version.GetProperty("lineage");
        Assert.Equal(1, lineage.GetProperty("parentVersion").GetInt32());
        Assert.Equal("compress", lineage.GetProperty("operation").GetString());
        Assert.Equal("fp16", lineage.GetProperty("options").GetProperty("recipe").GetString());
        Assert.Equal("true", lineage.GetProperty("options").GetProperty("options").GetProperty("keepIoTypes").GetString());
        // Callers keep the float32 contract; the weights inside are float16.
        Assert.Equal("FP32", version.GetProperty("inputs")[0].GetProperty("datatype").GetString());
        Assert.True(version.GetProperty("initializerBytesByType").TryGetProperty("float16", out _));

        var report = CompressionReportView.FromReport(version.GetProperty("report"))!;
        Assert.Equal("fp16", report.Recipe);
        Assert.InRange(report.SizeRatio, 0.45, 0.6);
        Assert.True(report.Gate!.Passed);
        Assert.Equal(0.99, report.Gate.Limits.MinCosine);
        var output = Assert.Single(report.Evaluation!.Outputs);
        Assert.True(output.MeanCosine > 0.9999, $"cosine {output.MeanCosine}");
        Assert.True(report.Evaluation.Original.P50Milliseconds > 0 && report.Evaluation.Candidate.P95Milliseconds > 0);
        Assert.True(report.Passes.Single().Rewritten > 0);

        // The new version is a real artifact: it downloads and its bytes are the recorded hash's.
        var file = await _api.GetByteArrayAsync($"/api/models/{slug}/versions/2/file");
        Assert.Equal(version.GetProperty("sha256").GetString(), Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file)));
    }

    [Fact]
    public async Task Int8Dynamic_MakesAQuarterSizeVersion_ThatAgreesWithItsParent()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "wide int8");

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new { recipe = "int8-dynamic", options = new { perChannel = true } })).JsonAsync());

        Assert.Equal("Succeeded", done.GetProperty("state").GetString());
        var version = await GetVersionAsync(slug, 2);
        var report = CompressionReportView.FromReport(version.GetProperty("report"))!;
        Assert.InRange(report.SizeRatio, 0.2, 0.4);
        Assert.True(report.Evaluation!.MinMeanCosine > 0.99, $"cosine {report.Evaluation.MinMeanCosine}");
        Assert.Contains("MatMulInteger", version.GetProperty("opHistogram").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task AResultThatMissesTheGate_IsKept_MarkedRejectedByGate_WithTheReason()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "wide gate");

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new
        {
            recipe = "prune",
            options = new { sparsity = 0.9, skipFirstAndLast = false },
            gate = new { minCosine = 0.9999 },
        })).JsonAsync());

        Assert.Equal("Succeeded", done.GetProperty("state").GetString());
        Assert.Equal("RejectedByGate", done.GetProperty("result").GetProperty("status").GetString());
        Assert.Contains("Rejected by gate", done.GetProperty("message").GetString());
        var version = await GetVersionAsync(slug, 2);
        Assert.Equal("RejectedByGate", version.GetProperty("status").GetString());
        var gate = CompressionReportView.FromReport(version.GetProperty("report"))!.Gate!;
        Assert.False(gate.Passed);
        Assert.Contains(gate.Failures, f => f.Contains("below the gate's 0.9999"));
    }

    [Fact]
    public async Task ARecipeThatDoesNotApply_FailsFast_WithTheReason_AndMakesNoVersion()
    {
        var reluOnly = ReluModel();
        var slug = await UploadAsync(reluOnly, "relu only");

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new { recipe = "int8-dynamic" })).JsonAsync());

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        Assert.Equal("Recipe 'int8-dynamic' does not apply: the model has no MatMul, Gemm or Gather (embedding) node to quantize dynamically.",
            done.GetProperty("message").GetString());
        Assert.Single((await GetModelAsync(slug)).GetProperty("versions").EnumerateArray());
    }

    [Fact]
    public async Task ARecipeThatRewritesNothing_FailsWithTheSkipReasons()
    {
        // The only MatMul multiplies two activations: there is no constant weight to quantize.
        var slug = await UploadAsync(TestModels.SelfAttentionScores(), "scores only");

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new { recipe = "int8-dynamic" })).JsonAsync());

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        var message = done.GetProperty("message").GetString()!;
        Assert.StartsWith("Recipe 'int8-dynamic' changed nothing in this model, so no version was made.", message);
        Assert.Contains("computed, not constant", message);
        Assert.Single((await GetModelAsync(slug)).GetProperty("versions").EnumerateArray());
    }

    [Fact]
    public async Task CancellingMidJob_LeavesNoVersionAndNoWorkFolder()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "wide cancel");
        var jobs = portal.Services.GetRequiredService<JobService>();
        var notifier = portal.Services.GetRequiredService<JobNotifier>();
        var cancelled = new TaskCompletionSource<Guid>(TaskCreationOptions.RunContinuationsAsynchronously);
        // Subscribers run inside the job's progress report, so cancelling here lands exactly as rewriting starts.
        async Task CancelWhenRewriting(JobView view)
        {
            // Cancelling publishes the job again, which comes back here: only the first call cancels.
            if (view.Kind != CompressionJob.Kind || view.Stage != "rewriting" || !cancelled.TrySetResult(view.Id)) return;
            await jobs.CancelAsync(view.Id, "", isAdmin: true);
        }
        notifier.Changed += CancelWhenRewriting;
        try
        {
            var job = await (await CompressAsync(slug, 1, new { recipe = "int8-static" })).JsonAsync();
            var done = await WaitForJobAsync(job);

            Assert.Equal("Cancelled", done.GetProperty("state").GetString());
            Assert.Equal(job.GetProperty("id").GetGuid(), await cancelled.Task);
            Assert.Single((await GetModelAsync(slug)).GetProperty("versions").EnumerateArray());
            Assert.DoesNotContain(portal.Services.DataFiles().Temp, f => f.Contains($"{job.GetProperty("id").GetGuid():N}"));
            Assert.False(Directory.Exists(Path.Combine(portal.DataDirectory, "tmp", $"{job.GetProperty("id").GetGuid():N}.compress")));
        }
        finally
        {
            notifier.Changed -= CancelWhenRewriting;
        }
    }

    [Fact]
    public async Task CompressedVersions_CanBeCompressedAgain_AndNameTheirParent()
    {
        var slug = await UploadAsync(TestModels.ConvNet(), "conv chain");

        var first = await WaitForJobAsync(await (await CompressAsync(slug, 1, new { recipe = "optimize" })).JsonAsync());
        Assert.True(first.GetProperty("state").GetString() == "Succeeded", first.GetProperty("message").GetString());
        var second = await WaitForJobAsync(await (await CompressAsync(slug, 2, new { recipe = "int8-static", options = new { calibration = "entropy" }, gate = new { minCosine = 0.9 } })).JsonAsync());

        Assert.True(second.GetProperty("state").GetString() == "Succeeded", second.GetProperty("message").GetString());
        var version = await GetVersionAsync(slug, 3);
        Assert.Equal(2, version.GetProperty("lineage").GetProperty("parentVersion").GetInt32());
        Assert.Equal("entropy", version.GetProperty("lineage").GetProperty("options").GetProperty("options").GetProperty("calibration").GetString());
        Assert.Contains("QuantizeLinear", version.GetProperty("opHistogram").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Int8Static_CalibratesOnAnUploadedImageSampleSet_AndNamesItInTheLineage()
    {
        var slug = await UploadAsync(TestModels.ConvNet(), "conv calibrated");
        var photos = Enumerable.Range(0, 12).Select(i => ($"photos/{i}.png",
            TestImages.Png(20 + i, 16, (x, y) => new SkiaSharp.SKColor((byte)(x * 11 + i * 7), (byte)(y * 13), (byte)((x ^ y) * 9))))).ToArray();
        var created = await _api.PostAsync("/api/sample-sets", SampleSetUploads.Form(Zip(photos), "photos.zip", kind: "images", modelId: slug));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var setId = (await created.JsonAsync()).GetProperty("id").GetString();

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new
        {
            recipe = "int8-static",
            options = new { samples = 8 },
            calibrationSetId = setId,
            gate = new { minCosine = 0.9 },
        })).JsonAsync());

        Assert.True(done.GetProperty("state").GetString() == "Succeeded", done.GetProperty("message").GetString());
        var version = await GetVersionAsync(slug, 2);
        Assert.Equal(setId, version.GetProperty("lineage").GetProperty("options").GetProperty("calibrationSetId").GetString());
        var report = CompressionReportView.FromReport(version.GetProperty("report"))!;
        Assert.Equal(8, report.Passes.Single().Figures["calibrationSamples"]);
        // The four photos calibration did not read are the ones agreement is measured on.
        Assert.Equal(4, report.Evaluation!.SampleCount);
        Assert.False(report.Evaluation.GeneratedSamples);
    }

    [Fact]
    public async Task ASampleSetThatDoesNotExist_IsRefusedAtOnce_With404()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "mlp with no set");

        var response = await CompressAsync(slug, 1, new { recipe = "int8-static", calibrationSetId = Guid.NewGuid().ToString() });

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no sample set", (await response.JsonAsync()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task ASampleSetThatDoesNotFitTheModel_FailsTheJob_SayingWhy()
    {
        var slug = await UploadAsync(TestModels.WideMlp(), "mlp with photos");
        var created = await _api.PostAsync("/api/sample-sets",
            SampleSetUploads.Form(Zip(("a.png", TestImages.Solid(8, 8, SkiaSharp.SKColors.Red))), "photos.zip", kind: "images"));
        var setId = (await created.JsonAsync()).GetProperty("id").GetString();

        var done = await WaitForJobAsync(await (await CompressAsync(slug, 1, new { recipe = "int8-static", calibrationSetId = setId })).JsonAsync());

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        Assert.StartsWith("The sample set cannot be used: ", done.GetProperty("message").GetString());
        Assert.Single((await GetModelAsync(slug)).GetProperty("versions").EnumerateArray());
    }

    [Theory]
    [InlineData("""{"recipe": "int3"}""", "Unknown recipe 'int3'. Choose one of: optimize, fp16, int8-dynamic")]
    [InlineData("""{}""", "Name a recipe")]
    [InlineData("""{"recipe": "prune", "options": {"sparsity": 1.5}}""", "Option 'sparsity' must be between 0.05 and 0.95; 1.5 is not.")]
    [InlineData("""{"recipe": "prune", "options": {"sparsity": "half"}}""", "Option 'sparsity' takes a number.")]
    [InlineData("""{"recipe": "fp16", "options": {"bits": 8}}""", "Recipe 'fp16' has no option 'bits'; it takes keepIoTypes.")]
    [InlineData("""{"recipe": "int4-weight-only", "options": {"blockSize": 48}}""", "Option 'blockSize' takes one of 32, 64, 128.")]
    [InlineData("""{"recipe": "fp16", "gate": {"minCosine": 2}}""", "Gate 'minCosine' must be between -1 and 1")]
    [InlineData("""{"recipe": "fp16", "gate": {"maxLatencyRatio": -1}}""", "Gate 'maxLatencyRatio' must be above 0")]
    [InlineData("""{"recipe": "fp16", "calibrationSetId": "../etc"}""", "'calibrationSetId' must be the id of one of your sample sets.")]
    public async Task BadRequests_AreRefusedWith400_NamingTheProblem(string body, string expected)
    {
        var slug = await SharedModelAsync();

        var response = await _api.PostAsync($"/api/models/{slug}/versions/1/compress", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(expected, (await response.JsonAsync()).GetProperty("detail").GetString());
    }

    [Fact]
    public async Task UnknownVersionsAndOtherUsersModels_Are404()
    {
        var slug = await SharedModelAsync();
        Assert.Equal(HttpStatusCode.NotFound, (await CompressAsync(slug, 99, new { recipe = "fp16" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await CompressAsync("no-such-model", 1, new { recipe = "fp16" })).StatusCode);

        const string email = "compress-other@test.local";
        await portal.RegisterAsync(email, "Other-Passw0rd!");
        var userId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        using var otherApi = portal.CreateApiClient((await portal.Services.GetRequiredService<ApiKeyService>().CreateAsync(userId, "mine")).Secret);
        var response = await otherApi.PostAsJsonAsync($"/api/models/{slug}/versions/1/compress", new { recipe = "fp16" });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task Recipes_AreListedWithTheirOptionsAndDefaults()
    {
        var recipes = JsonDocument.Parse(await _api.GetStringAsync("/api/compression/recipes")).RootElement;

        var names = recipes.EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
        Assert.Equal(["optimize", "fp16", "int8-dynamic", "int8-static", "int4-weight-only", "prune", "smallest", "fastest", "balanced"], names);
        var sparsity = recipes.EnumerateArray().Single(r => r.GetProperty("name").GetString() == "prune")
            .GetProperty("options").EnumerateArray().Single(o => o.GetProperty("key").GetString() == "sparsity");
        Assert.Equal("0.5", sparsity.GetProperty("default").GetString());
        Assert.False(string.IsNullOrEmpty(sparsity.GetProperty("explanation").GetString()));
    }

    private string? _sharedSlug;

    private async Task<string> SharedModelAsync() => _sharedSlug ??= await UploadAsync(TestModels.Mlp(), "shared mlp");

    private async Task<string> UploadAsync(ModelProto model, string name)
    {
        var response = await _api.PostAsync("/api/models", Form(TestModels.Bytes(model), "model.onnx", name: name));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("model").GetProperty("slug").GetString()!;
    }

    private Task<HttpResponseMessage> CompressAsync(string slug, int version, object body) =>
        _api.PostAsJsonAsync($"/api/models/{slug}/versions/{version}/compress", body);

    private async Task<JsonElement> WaitForJobAsync(JsonElement job) =>
        await Poll.UntilAsync(
            async () => JsonDocument.Parse(await _api.GetStringAsync($"/api/jobs/{job.GetProperty("id").GetString()}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled",
            TimeSpan.FromSeconds(90));

    private async Task<JsonElement> GetVersionAsync(string slug, int version) =>
        JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/{version}")).RootElement;

    private async Task<JsonElement> GetModelAsync(string slug) =>
        JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}")).RootElement;

    /// <summary>"x" float [batch, 4] → Relu → "y": nothing any quantizer could touch.</summary>
    private static ModelProto ReluModel()
    {
        var graph = new GraphProto { Name = "relu" };
        graph.Input.Add(TestModels.TensorValue("x", TensorProto.Types.DataType.Float, TestModels.Batch, 4));
        graph.Output.Add(TestModels.TensorValue("y", TensorProto.Types.DataType.Float, TestModels.Batch, 4));
        graph.Node.Add(TestModels.Node("Relu", "relu", ["x"], ["y"]));
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "tests" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }
}
