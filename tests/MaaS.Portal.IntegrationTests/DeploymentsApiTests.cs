using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Testing;
using MaaS.Onnx.Tests;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Inference;
using MaaS.Portal.Storage;
using MaaS.Portal.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// Deployments and the V2 inference API end to end: real uploads, a real deploy job loading real ONNX Runtime sessions,
/// real HTTP calls, and the answers compared with ONNX Runtime run directly on the same file.
/// </summary>
public sealed class DeploymentsApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();

    private static readonly float[] Row = [0.5f, -1.25f, 2f, 0.75f];

    [Fact]
    public async Task Deploy_ThenInferOverJson_GivesWhatOnnxRuntimeGives()
    {
        var slug = await UploadAsync(TestModels.Mlp(), "mlp json");

        var created = await _api.PostAsJsonAsync("/api/deployments", new { name = "mlp-json", modelId = slug, version = 1, settings = new { instances = 2 } });
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var job = (await created.JsonAsync()).GetProperty("job");
        Assert.Equal($"/api/jobs/{job.GetProperty("id").GetString()}", created.Headers.Location?.ToString());
        await WaitForJobAsync(job);
        var deployment = JsonDocument.Parse(await _api.GetStringAsync("/api/deployments/mlp-json")).RootElement.GetProperty("deployment");
        Assert.Equal("Ready", deployment.GetProperty("state").GetString());
        Assert.True(deployment.GetProperty("coldStartMilliseconds").GetDouble() > 0);

        var response = await _api.PostAsJsonAsync("/v2/models/mlp-json/infer", new
        {
            id = "req-7",
            inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } },
        });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal("mlp-json", body.GetProperty("model_name").GetString());
        Assert.Equal("1", body.GetProperty("model_version").GetString());
        Assert.Equal("req-7", body.GetProperty("id").GetString());
        var output = body.GetProperty("outputs")[0];
        Assert.Equal("output", output.GetProperty("name").GetString());
        Assert.Equal("FP32", output.GetProperty("datatype").GetString());
        Assert.Equal([1L, 3L], output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        var expected = RunDirectly(TestModels.Mlp(), Row);
        var actual = output.GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task MetadataHealthAndReadiness_FollowTheProtocol()
    {
        await DeployAsync(TestModels.Mlp(), "mlp-meta");

        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/health/ready")).StatusCode);
        var server = JsonDocument.Parse(await _api.GetStringAsync("/v2")).RootElement;
        Assert.Contains("binary_tensor_data", server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));

        var metadata = JsonDocument.Parse(await _api.GetStringAsync("/v2/models/mlp-meta")).RootElement;
        Assert.Equal(["1"], metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        var input = metadata.GetProperty("inputs")[0];
        Assert.Equal("input", input.GetProperty("name").GetString());
        Assert.Equal("FP32", input.GetProperty("datatype").GetString());
        Assert.Equal([-1L, 4L], input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/models/mlp-meta/versions/1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/models/mlp-meta/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/models/mlp-meta/versions/1/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync("/v2/models/mlp-meta/versions/2/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync("/v2/models/nobody-here")).StatusCode);
        // Every string in the protocol is case-sensitive: the name too.
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync("/v2/models/MLP-META")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/Mlp-Meta/infer", new { inputs = Array.Empty<object>() })).StatusCode);
        // Probes and load balancers may ask with HEAD.
        foreach (var path in new[] { "/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/mlp-meta/ready", "/v2/models/mlp-meta/versions/1/ready" })
        {
            Assert.Equal(HttpStatusCode.OK, (await _api.SendAsync(new HttpRequestMessage(HttpMethod.Head, path))).StatusCode);
        }
    }

    [Fact]
    public async Task Metadata_OfAZipMapClassifier_GivesItsMapOutputAsABytesVector_AsInferenceAnswersIt()
    {
        await DeployAsync(InferenceTestModels.ZipMapClassifier(), "zipmap-meta");

        var metadata = JsonDocument.Parse(await _api.GetStringAsync("/v2/models/zipmap-meta")).RootElement;
        var outputs = metadata.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        Assert.Equal([-1L], outputs["probabilities"].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
        Assert.Equal("BYTES", outputs["probabilities"].GetProperty("datatype").GetString());

        var answer = await (await _api.PostAsJsonAsync("/v2/models/zipmap-meta/infer",
            new { inputs = new[] { new { name = "x", shape = new[] { 3, 2 }, datatype = "FP32", data = new[] { 1f, 2, 3, 4, 5, 6 } } } })).JsonAsync();
        var probabilities = answer.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "probabilities");
        Assert.Equal([3L], probabilities.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()));
    }

    [Fact]
    public async Task AChangeWhoseLoadFails_LeavesTheOldVersionCallableByNumber_AndTheNewOneNotReady()
    {
        var slug = await UploadAsync(TestModels.Mlp(), "mlp failed change");
        var added = await _api.PostAsync($"/api/models/{slug}/versions", Form(TestModels.Bytes(TestModels.Mlp(opset: 16))));
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        await DeployExistingAsync(slug, "mlp-failed-change");
        // Version 2's stored bytes no longer match their hash, so its load fails and version 1 keeps serving.
        var sha = (await added.JsonAsync()).GetProperty("version").GetProperty("sha256").GetString()!;
        var blob = portal.Services.GetRequiredService<BlobStore>().PathOf(sha);
        File.SetAttributes(blob, FileAttributes.Normal);
        await File.WriteAllBytesAsync(blob, TestModels.Bytes(TestModels.ConvNet()));

        var patched = await _api.PatchAsJsonAsync("/api/deployments/mlp-failed-change", new { version = 2 });
        Assert.Equal(HttpStatusCode.Accepted, patched.StatusCode);
        await WaitForJobAsync((await patched.JsonAsync()).GetProperty("job"), expect: "Failed");

        var infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } };
        var routed = await _api.PostAsJsonAsync("/v2/models/mlp-failed-change/infer", infer);
        Assert.Equal("1", (await routed.JsonAsync()).GetProperty("model_version").GetString());
        var byNumber = await _api.PostAsJsonAsync("/v2/models/mlp-failed-change/versions/1/infer", infer);
        Assert.Equal(HttpStatusCode.OK, byNumber.StatusCode);
        Assert.Equal("1", (await byNumber.JsonAsync()).GetProperty("model_version").GetString());
        var wanted = await _api.PostAsJsonAsync("/v2/models/mlp-failed-change/versions/2/infer", infer);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, wanted.StatusCode);
        Assert.Contains("not loaded", (await wanted.JsonAsync()).GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.GetAsync("/v2/models/mlp-failed-change/versions/2/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.GetAsync("/v2/models/mlp-failed-change/versions/1/ready")).StatusCode);
        var metadata = JsonDocument.Parse(await _api.GetStringAsync("/v2/models/mlp-failed-change")).RootElement;
        Assert.Equal(["1", "2"], metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/mlp-failed-change/versions/3/infer", infer)).StatusCode);
    }

    [Fact]
    public async Task AChangeCancelledWhileLoading_LeavesTheDeploymentFailedNotLoading_AndTheOldVersionServing()
    {
        await DeployAsync(TestModels.Mlp(), "mlp-cancelled-change");
        Guid id;
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            id = (await db.Deployments.SingleAsync(d => d.Name == "mlp-cancelled-change")).Id;
        }
        using var scope = portal.Services.CreateScope();
        var deployJob = scope.ServiceProvider.GetRequiredService<Features.Deployments.DeployJob>();
        using var cancel = new CancellationTokenSource();

        // The user cancels just as the sessions start loading.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => deployJob.ApplyAsync(id, (_, stage) =>
        {
            if (stage == "loading and warming up") cancel.Cancel();
            return Task.CompletedTask;
        }, cancel.Token));

        var row = JsonDocument.Parse(await _api.GetStringAsync("/api/deployments/mlp-cancelled-change")).RootElement.GetProperty("deployment");
        Assert.Equal("Failed", row.GetProperty("state").GetString());
        Assert.Contains("cancelled", row.GetProperty("message").GetString());
        var infer = await _api.PostAsJsonAsync("/v2/models/mlp-cancelled-change/infer", new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } });
        Assert.Equal(HttpStatusCode.OK, infer.StatusCode);
    }

    [Fact]
    public async Task AnEmptyOutputsList_AsksForEveryOutput()
    {
        await EnsureDeployedAsync("mlp-bad");

        var response = await _api.PostAsJsonAsync("/v2/models/mlp-bad/infer",
            new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } }, outputs = Array.Empty<object>() });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("output", (await response.JsonAsync()).GetProperty("outputs")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task RequestsWithoutAContentType_AsTritonsClientSendsThem_AreServed()
    {
        await EnsureDeployedAsync("mlp-bad");
        var json = JsonSerializer.SerializeToUtf8Bytes(new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } });
        var content = new ByteArrayContent(json);
        Assert.Null(content.Headers.ContentType);

        var response = await _api.PostAsync("/v2/models/mlp-bad/infer", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(RunDirectly(TestModels.Mlp(), Row), (await response.JsonAsync()).GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray());
    }

    [Theory]
    [InlineData("POST", "/api/deployments", """{"name": "a", "modelId": "m", "version": "x"}""", "application/json", 400, "$.version")]
    [InlineData("POST", "/api/deployments", """{not json""", "application/json", 400, "JSON")]
    [InlineData("POST", "/api/deployments", """{"name": "a"}""", "application/x-www-form-urlencoded", 415, "application/x-www-form-urlencoded")]
    [InlineData("GET", "/api/usage?from=yesterday", null, null, 400, "from")]
    [InlineData("GET", "/api/jobs?all=yes", null, null, 400, "all")]
    [InlineData("PATCH", "/api/deployments/mlp-bad", """{"traffic": [{"version": 1, "weight": 2147483647}, {"version": 2, "weight": 2147483647}]}""", "application/json", 400, "0 to 1000")]
    [InlineData("PATCH", "/api/deployments/mlp-bad", """{"traffic": [null]}""", "application/json", 400, "null")]
    [InlineData("PATCH", "/api/deployments/mlp-bad", """{"version": -1}""", "application/json", 400, "1 or more")]
    [InlineData("POST", "/api/keys", """{"name": "ci", "deployments": [null]}""", "application/json", 400, "empty or null")]
    [InlineData("POST", "/api/keys", """{}""", "application/json", 400, "Name")]
    public async Task MalformedManagementRequests_GetTheirStatus_WithADetailThatSaysWhy(string method, string path, string? body, string? contentType, int status, string mentions)
    {
        await EnsureDeployedAsync("mlp-bad");
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, contentType!);

        var response = await _api.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(mentions, (await response.JsonAsync()).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("POST", "/v2/models/mlp-bad/infer", "not-a-key", 401)]
    [InlineData("GET", "/v2/models/mlp-bad", "not-a-key", 401)]
    [InlineData("GET", "/v2/models/mlp-bad/ready", null, 401)]
    // GET has no route there (the UI's pages take any GET path, so routing says 404), and POST none here (405).
    [InlineData("GET", "/v2/models/mlp-bad/infer", PortalFactory.AdminApiKey, 404)]
    [InlineData("POST", "/v2/repository/index", PortalFactory.AdminApiKey, 405)]
    public async Task ErrorsOutsideTheRoutes_StillAnswerWithTheProtocolsErrorBody(string method, string path, string? key, int status)
    {
        await EnsureDeployedAsync("mlp-bad");
        using var client = portal.CreateClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (method == "POST") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");

        var response = await client.SendAsync(request);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.JsonAsync();
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("error").GetString()));
        Assert.False(body.TryGetProperty("title", out _));
    }

    [Fact]
    public async Task BinaryTensorExtension_CarriesInputsAndOutputsAsRawLittleEndianBytes()
    {
        await DeployAsync(TestModels.Mlp(), "mlp-binary");
        var header = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", parameters = new { binary_data_size = 16 } } },
            outputs = new[] { new { name = "output", parameters = new { binary_data = true } } },
        }));
        var raw = new byte[16];
        for (var i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(raw.AsSpan(i * 4), Row[i]);
        var content = new ByteArrayContent([.. header, .. raw]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add("Inference-Header-Content-Length", header.Length.ToString());

        var response = await _api.PostAsync("/v2/models/mlp-binary/infer", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var length = int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single());
        var bytes = await response.Content.ReadAsByteArrayAsync();
        var json = JsonDocument.Parse(bytes.AsMemory(0, length)).RootElement;
        var output = json.GetProperty("outputs")[0];
        Assert.Equal(12, output.GetProperty("parameters").GetProperty("binary_data_size").GetInt32());
        Assert.False(output.TryGetProperty("data", out _));
        var values = Enumerable.Range(0, 3).Select(i => BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(length + i * 4))).ToArray();
        Assert.Equal(RunDirectly(TestModels.Mlp(), Row), values);
    }

    [Theory]
    [InlineData("""{"inputs": []}""", 400, "input")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "INT64", "data": [1, 2, 3, 4]}]}""", 400, "input")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3]}]}""", 400, "input")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}""", 400, "input")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [1, -4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}""", 400, "")]
    // A shape whose element count overflows (or passes the per-tensor limit) declares a tensor too large to take: 413.
    [InlineData("""{"inputs": [{"name": "input", "shape": [4611686018427387904, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}""", 413, "limit")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}, {"name": "extra", "shape": [1], "datatype": "FP32", "data": [1]}]}""", 400, "extra")]
    [InlineData("""{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}], "outputs": [{"name": "nope"}]}""", 400, "nope")]
    [InlineData("""not json at all""", 400, "")]
    public async Task BadRequests_Get400WithAnErrorBody(string body, int status, string mentions)
    {
        await EnsureDeployedAsync("mlp-bad");

        var response = await _api.PostAsync("/v2/models/mlp-bad/infer", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.Equal(status, (int)response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error").GetString()!;
        Assert.Contains(mentions, error);
    }

    [Fact]
    public async Task ErrorBodies_ReadAsWritten_ForPeopleUsingCurl()
    {
        await EnsureDeployedAsync("mlp-bad");

        var response = await _api.PostAsync("/v2/models/mlp-bad/infer", new StringContent("""{"inputs": []}""", Encoding.UTF8, "application/json"));

        // The raw text, as curl prints it: the quotes around the input's name as they are, as on the portal's other routes.
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith("""{"error":"missing input 'input'""", text);
        Assert.DoesNotContain(@"\u0027", text);
    }

    [Fact]
    public async Task DeeplyNestedJson_UnsupportedContentType_AndUnknownVersions_AreRefused()
    {
        await EnsureDeployedAsync("mlp-bad");
        var nested = "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": " + new string('[', 500) + new string(']', 500) + "}]}";
        Assert.Equal(HttpStatusCode.BadRequest, (await _api.PostAsync("/v2/models/mlp-bad/infer", new StringContent(nested, Encoding.UTF8, "application/json"))).StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await _api.PostAsync("/v2/models/mlp-bad/infer", new StringContent("x", Encoding.UTF8, "text/plain"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/mlp-bad/versions/9/infer", new { inputs = Array.Empty<object>() })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/mlp-bad/versions/x/infer", new { inputs = Array.Empty<object>() })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/no-such/infer", new { inputs = Array.Empty<object>() })).StatusCode);
    }

    [Theory]
    [InlineData("application/json", true)]
    [InlineData("Application/JSON; charset=utf-8", true)]
    [InlineData(" application/octet-stream ", true)]
    [InlineData("application/octet-stream;foo=bar", true)]
    [InlineData("application/jsonx", false)]
    [InlineData("application/json-patch+json", false)]
    [InlineData("text/json", false)]
    [InlineData(";application/json", false)]
    [InlineData("", false)]
    [InlineData("text/plain", false)]
    [InlineData("multipart/form-data; boundary=x", false)]
    // Triton's and KServe's clients send none; curl -d labels a JSON body as a form.
    [InlineData(null, true)]
    [InlineData("application/x-www-form-urlencoded", true)]
    public void ContentTypes_TheInferRouteTakes(string? contentType, bool taken) =>
        Assert.Equal(taken, InferenceEndpoint.IsV2ContentType(contentType));

    [Fact]
    public async Task BodiesOverTheDeploymentsLimit_Get413()
    {
        await DeployAsync(TestModels.Mlp(), "mlp-small-limit", new { maxRequestBytes = 1024 });
        var data = Enumerable.Repeat(1.5f, 400).ToArray();

        var response = await _api.PostAsJsonAsync("/v2/models/mlp-small-limit/infer", new { inputs = new[] { new { name = "input", shape = new[] { 100, 4 }, datatype = "FP32", data } } });

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("1,024 bytes", (await response.JsonAsync()).GetProperty("error").GetString());
    }

    [Fact]
    public async Task BodiesAtTheLimit_AreServed_AndOneByteOver_Get413_InJsonAndBinary()
    {
        // Triton's boundary pair (http_input_size_limit_test): exactly the limit is served, one byte more is refused.
        const int limit = 1024;
        await DeployAsync(TestModels.Mlp(), "mlp-boundary", new { maxRequestBytes = limit });
        var expected = RunDirectly(TestModels.Mlp(), Row);

        byte[] Json(int size)
        {
            var json = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [0.5, -1.25, 2, 0.75]}]}""";
            return Encoding.UTF8.GetBytes(json[..^1] + new string(' ', size - json.Length) + "}");
        }
        (byte[] Body, int HeaderLength) Binary(int size)
        {
            var header = """{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}]}""";
            header = header[..^1] + new string(' ', size - 16 - header.Length) + "}";
            var body = new byte[size];
            var headerLength = Encoding.UTF8.GetBytes(header, body);
            for (var i = 0; i < 4; i++) BinaryPrimitives.WriteSingleLittleEndian(body.AsSpan(headerLength + i * 4), Row[i]);
            return (body, headerLength);
        }
        async Task<HttpResponseMessage> SendAsync(byte[] body, int? headerLength)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(headerLength is null ? "application/json" : "application/octet-stream");
            if (headerLength is { } length) content.Headers.Add("Inference-Header-Content-Length", length.ToString());
            return await _api.PostAsync("/v2/models/mlp-boundary/infer", content);
        }

        var jsonAt = await SendAsync(Json(limit), null);
        var (binaryBody, binaryHeader) = Binary(limit);
        var binaryAt = await SendAsync(binaryBody, binaryHeader);
        var jsonOver = await SendAsync(Json(limit + 1), null);
        var (binaryOverBody, binaryOverHeader) = Binary(limit + 1);
        var binaryOver = await SendAsync(binaryOverBody, binaryOverHeader);

        Assert.Equal(HttpStatusCode.OK, jsonAt.StatusCode);
        Assert.Equal(expected, (await jsonAt.JsonAsync()).GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray());
        Assert.Equal(HttpStatusCode.OK, binaryAt.StatusCode);
        Assert.Equal(expected, (await binaryAt.JsonAsync()).GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray());
        foreach (var over in new[] { jsonOver, binaryOver })
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, over.StatusCode);
            Assert.Contains("1,024 bytes", (await over.JsonAsync()).GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task AMalformedRequestBesideValidOnes_LeavesEachValidCallerItsOwnAnswer()
    {
        await DeployAsync(TestModels.Mlp(), "mlp-mixed", new { maxBatchSize = 8, batchingDelayMilliseconds = 5 });
        var rows = Enumerable.Range(0, 12).Select(i => new[] { i * 0.1f, -i * 0.2f, 1f, i }).ToList();

        var calls = rows.Select(row => _api.PostAsJsonAsync("/v2/models/mlp-mixed/infer",
            new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = row } } })).ToList();
        var bad = _api.PostAsync("/v2/models/mlp-mixed/infer", new StringContent("""{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[1,2]}]}""", Encoding.UTF8, "application/json"));
        await Task.WhenAll([.. calls, bad]);

        Assert.Equal(HttpStatusCode.BadRequest, (await bad).StatusCode);
        for (var i = 0; i < rows.Count; i++)
        {
            var answer = await (await calls[i]).JsonAsync();
            var expected = RunDirectly(TestModels.Mlp(), rows[i]);
            var actual = answer.GetProperty("outputs")[0].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToArray();
            Assert.Equal(expected.Length, actual.Length);
            // A batched GEMM may sum in another order than a one-row run; another caller's row would be off by far more.
            for (var j = 0; j < expected.Length; j++) Assert.True(Math.Abs(expected[j] - actual[j]) < 1e-5, $"row {i}, value {j}: {expected[j]} vs {actual[j]}");
        }
    }

    [Fact]
    public async Task TrafficSplit_ServesBothVersions_AndNoRequestFailsDuringTheChange()
    {
        var slug = await UploadAsync(TestModels.Mlp(), "mlp split");
        Assert.Equal(HttpStatusCode.Created, (await _api.PostAsync($"/api/models/{slug}/versions", Form(TestModels.Bytes(TestModels.Mlp(opset: 14))))).StatusCode);
        await DeployExistingAsync(slug, "mlp-split");

        using var stop = new CancellationTokenSource();
        var failures = 0;
        var served = new System.Collections.Concurrent.ConcurrentBag<string>();
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await _api.PostAsJsonAsync("/v2/models/mlp-split/infer", new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } });
                if (response.StatusCode != HttpStatusCode.OK) Interlocked.Increment(ref failures);
                else served.Add((await response.JsonAsync()).GetProperty("model_version").GetString()!);
            }
        });
        var patched = await _api.PatchAsJsonAsync("/api/deployments/mlp-split", new { traffic = new[] { new { version = 1, weight = 50 }, new { version = 2, weight = 50 } } });
        Assert.Equal(HttpStatusCode.Accepted, patched.StatusCode);
        await WaitForJobAsync((await patched.JsonAsync()).GetProperty("job"));
        await Poll.UntilAsync(() => Task.FromResult(served.Count(v => v == "2")), n => n >= 3);
        await stop.CancelAsync();
        await load;

        Assert.Equal(0, failures);
        Assert.Contains("1", served);
        var deployment = JsonDocument.Parse(await _api.GetStringAsync("/api/deployments/mlp-split")).RootElement.GetProperty("deployment");
        Assert.Equal([1, 2], deployment.GetProperty("traffic").EnumerateArray().Select(t => t.GetProperty("version").GetInt32()));
        // A version can be asked for by number while both serve.
        var v2 = await _api.PostAsJsonAsync("/v2/models/mlp-split/versions/2/infer", new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } });
        Assert.Equal("2", (await v2.JsonAsync()).GetProperty("model_version").GetString());
        // While deployed, the model and its versions cannot be deleted.
        Assert.Equal(HttpStatusCode.Conflict, (await _api.DeleteAsync($"/api/models/{slug}/versions/2")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await _api.DeleteAsync($"/api/models/{slug}")).StatusCode);
    }

    [Fact]
    public async Task Keys_RevokedExpiredOrScopedElsewhere_AndOtherUsers_CannotCall()
    {
        await EnsureDeployedAsync("mlp-bad");
        var keys = portal.Services.GetRequiredService<ApiKeyService>();
        var adminId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;
        var infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } };

        var revoked = await keys.CreateAsync(adminId, "revoked");
        await keys.RevokeAsync(adminId, revoked.Key.Id);
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.CreateApiClient(revoked.Secret).PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);

        var expiring = await keys.CreateAsync(adminId, "expiring", DateTimeOffset.UtcNow.AddHours(1));
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            await db.ApiKeys.Where(k => k.Id == expiring.Key.Id).ExecuteUpdateAsync(s => s.SetProperty(k => k.ExpiresAt, DateTimeOffset.UtcNow.AddMinutes(-1)));
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.CreateApiClient(expiring.Secret).PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);

        var scopedElsewhere = await keys.CreateAsync(adminId, "scoped", deployments: ["some-other"]);
        Assert.Equal(HttpStatusCode.NotFound, (await portal.CreateApiClient(scopedElsewhere.Secret).PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        var scopedHere = await keys.CreateAsync(adminId, "scoped here", deployments: ["mlp-bad"]);
        var scoped = portal.CreateApiClient(scopedHere.Secret);
        Assert.Equal(HttpStatusCode.OK, (await scoped.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await scoped.GetAsync("/v2/models/mlp-bad")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await scoped.GetAsync("/v2/models/mlp-bad/ready")).StatusCode);
        // A scoped key calls its deployments and nothing else: no management, no new (unscoped) keys, not even as an admin's.
        foreach (var refused in new[]
        {
            await scoped.GetAsync("/api/models"),
            await scoped.PostAsJsonAsync("/api/keys", new { name = "escalated" }),
            await scoped.DeleteAsync("/api/deployments/mlp-bad"),
            await scoped.GetAsync("/api/admin/prices"),
        })
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("scoped to deployments", (await refused.JsonAsync()).GetProperty("detail").GetString());
        }
        Assert.Equal(HttpStatusCode.OK, (await scoped.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);

        const string email = "deploy-other@test.local";
        await portal.RegisterAsync(email, "Other-Passw0rd!");
        var userId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        var other = portal.CreateApiClient((await keys.CreateAsync(userId, "other")).Secret);
        Assert.Equal(HttpStatusCode.NotFound, (await other.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync("/api/deployments/mlp-bad")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await portal.CreateClient().PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);

        // Inference skips the middleware pipeline and checks keys itself: the answer is the same 401 as elsewhere, on
        // both routes, and a browser's log-in cookie (which the UI accepts) does not stand in for a key.
        foreach (var path in new[] { "/v2/models/mlp-bad/infer", "/v2/models/mlp-bad/versions/1/infer" })
        {
            using var response = await portal.CreateApiClient("mk_not-a-real-key").PostAsJsonAsync(path, infer);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Contains("Authorization: Bearer", await response.Content.ReadAsStringAsync());
        }
        var malformed = portal.CreateClient();
        foreach (var header in new[] { "Basic YWRtaW46cGFzcw==", "Bearer ", "Bearer " + new string('k', 201), "Token " + PortalFactory.AdminApiKey })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v2/models/mlp-bad/infer") { Content = JsonContent.Create(infer) };
            request.Headers.TryAddWithoutValidation("Authorization", header);
            Assert.Equal(HttpStatusCode.Unauthorized, (await malformed.SendAsync(request)).StatusCode);
        }
        // A key that has just worked (and so sits in the key cache) stops working the moment it is revoked.
        var used = await keys.CreateAsync(adminId, "used then revoked");
        var usedClient = portal.CreateApiClient(used.Secret);
        Assert.Equal(HttpStatusCode.OK, (await usedClient.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        await keys.RevokeAsync(adminId, used.Key.Id);
        Assert.Equal(HttpStatusCode.Unauthorized, (await usedClient.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);

        var browser = await portal.CreateLoggedInClientAsync(PortalFactory.AdminEmail, PortalFactory.AdminPassword);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/deployments")).StatusCode);
    }

    [Fact]
    public async Task AKeysRateLimit_Answers429WithRetryAfter()
    {
        await EnsureDeployedAsync("mlp-bad");
        var keys = portal.Services.GetRequiredService<ApiKeyService>();
        var adminId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;
        var limited = await keys.CreateAsync(adminId, "slow");
        Assert.Equal(HttpStatusCode.NoContent, (await _api.PutAsJsonAsync($"/api/keys/{limited.Key.Id}/rate-limit", new { requestsPerSecond = 0.5 })).StatusCode);
        var client = portal.CreateApiClient(limited.Secret);
        var infer = new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } };

        Assert.Equal(HttpStatusCode.OK, (await client.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer)).StatusCode);
        var refused = await client.PostAsJsonAsync("/v2/models/mlp-bad/infer", infer);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.InRange(int.Parse(refused.Headers.GetValues("Retry-After").Single()), 1, 2);
        Assert.Contains("Rate limit", (await refused.JsonAsync()).GetProperty("error").GetString());
    }

    [Fact]
    public async Task AModelThatFailsToLoad_IsMarkedFailed_AndTheHealthyOneKeepsServing()
    {
        await EnsureDeployedAsync("mlp-bad");
        var slug = await UploadAsync(TestModels.ConvNet(), "conv tampered");
        var sha = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/1")).RootElement.GetProperty("sha256").GetString()!;
        // Stored bytes that no longer match their hash: the deploy job must refuse them.
        var blob = portal.Services.GetRequiredService<BlobStore>().PathOf(sha);
        File.SetAttributes(blob, FileAttributes.Normal);
        await File.WriteAllBytesAsync(blob, TestModels.Bytes(TestModels.Mlp()));

        var created = await _api.PostAsJsonAsync("/api/deployments", new { name = "conv-tampered", modelId = slug, version = 1 });
        var job = await WaitForJobAsync((await created.JsonAsync()).GetProperty("job"), expect: "Failed");

        Assert.Contains("does not match its recorded SHA-256", job.GetProperty("message").GetString());
        var failed = JsonDocument.Parse(await _api.GetStringAsync("/api/deployments/conv-tampered")).RootElement.GetProperty("deployment");
        Assert.Equal("Failed", failed.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _api.PostAsJsonAsync("/v2/models/conv-tampered/infer", new { inputs = Array.Empty<object>() })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _api.PostAsJsonAsync("/v2/models/mlp-bad/infer",
            new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } })).StatusCode);
    }

    [Fact]
    public async Task Undeploy_StopsServing_AndBadSettingsAreRefused()
    {
        var slug = await UploadAsync(TestModels.Mlp(), "mlp undeploy");
        var refused = await _api.PostAsJsonAsync("/api/deployments", new { name = "Bad Name!", modelId = slug, version = 1, settings = new { instances = 0, maxBatchSize = 100000 } });
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var detail = (await refused.JsonAsync()).GetProperty("detail").GetString()!;
        Assert.Contains("'name' must be", detail);
        Assert.Contains("'instances' is 1 to", detail);
        Assert.Contains("'maxBatchSize' is 1", detail);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/api/deployments", new { name = "x", modelId = slug, version = 5 })).StatusCode);

        await DeployExistingAsync(slug, "mlp-undeploy");
        Assert.Equal(HttpStatusCode.Conflict, (await _api.PostAsJsonAsync("/api/deployments", new { name = "mlp-undeploy", modelId = slug, version = 1 })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync("/api/deployments/mlp-undeploy")).StatusCode);

        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/v2/models/mlp-undeploy/infer", new { inputs = Array.Empty<object>() })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync("/api/deployments/mlp-undeploy")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/models/{slug}")).StatusCode);
    }

    [Fact]
    public async Task AfterARestart_TheSameDeploymentsComeBackReady()
    {
        var folder = PortalFactory.NewDataDirectory();
        try
        {
            await using (var first = new PortalFactory { DataDirectory = folder })
            {
                var api = first.CreateApiClient();
                var upload = await api.PostAsync("/api/models", Form(TestModels.Bytes(TestModels.Mlp()), name: "restart mlp"));
                var slug = (await upload.JsonAsync()).GetProperty("model").GetProperty("slug").GetString();
                var created = await api.PostAsJsonAsync("/api/deployments", new { name = "survivor", modelId = slug, version = 1 });
                var jobId = (await created.JsonAsync()).GetProperty("job").GetProperty("id").GetString();
                await Poll.UntilAsync(async () => JsonDocument.Parse(await api.GetStringAsync($"/api/jobs/{jobId}")).RootElement.GetProperty("state").GetString(), s => s == "Succeeded");
            }

            await using var second = new PortalFactory { DataDirectory = folder };
            var client = second.CreateApiClient();
            await Poll.UntilAsync(async () => (await client.GetAsync("/v2/health/ready")).StatusCode, s => s == HttpStatusCode.OK);
            var state = JsonDocument.Parse(await client.GetStringAsync("/api/deployments/survivor")).RootElement.GetProperty("deployment").GetProperty("state").GetString();
            Assert.Equal("Ready", state);
            var response = await client.PostAsJsonAsync("/v2/models/survivor/infer", new { inputs = new[] { new { name = "input", shape = new[] { 1, 4 }, datatype = "FP32", data = Row } } });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>The model's answer for one row, from ONNX Runtime run directly on the same bytes.</summary>
    internal static float[] RunDirectly(ModelProto model, float[] row)
    {
        using var session = new InferenceSession(TestModels.Bytes(model));
        using var input = OrtValue.CreateTensorValueFromMemory(row, [1, 4]);
        // Held in a variable: a RunOptions only passed inline can be finalized (and freed) while the run still reads it.
        using var runOptions = new RunOptions();
        using var outputs = session.Run(runOptions, ["input"], [input], ["output"]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static readonly SemaphoreSlim SharedGate = new(1, 1);

    /// <summary>One deployment several tests share (they only call it).</summary>
    private async Task EnsureDeployedAsync(string name)
    {
        await SharedGate.WaitAsync();
        try
        {
            if ((await _api.GetAsync($"/api/deployments/{name}")).StatusCode == HttpStatusCode.OK) return;
            await DeployAsync(TestModels.Mlp(), name);
        }
        finally
        {
            SharedGate.Release();
        }
    }

    private async Task DeployAsync(ModelProto model, string name, object? settings = null) =>
        await DeployExistingAsync(await UploadAsync(model, name), name, settings);

    private async Task DeployExistingAsync(string slug, string name, object? settings = null)
    {
        var created = await _api.PostAsJsonAsync("/api/deployments", new { name, modelId = slug, version = 1, settings });
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        await WaitForJobAsync((await created.JsonAsync()).GetProperty("job"));
    }

    private async Task<string> UploadAsync(ModelProto model, string name)
    {
        var response = await _api.PostAsync("/api/models", Form(TestModels.Bytes(model), "model.onnx", name: name));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("model").GetProperty("slug").GetString()!;
    }

    private async Task<JsonElement> WaitForJobAsync(JsonElement job, string expect = "Succeeded")
    {
        var done = await Poll.UntilAsync(
            async () => JsonDocument.Parse(await _api.GetStringAsync($"/api/jobs/{job.GetProperty("id").GetString()}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled",
            TimeSpan.FromSeconds(60));
        Assert.True(done.GetProperty("state").GetString() == expect, done.GetProperty("message").GetString());
        return done;
    }
}
