using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Playground;
using MaaS.Portal.Features.Training;
using MaaS.Portal.Testing;
using MaaS.Training.Tests;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// Datasets and training through the API end to end: a real CSV upload profiled and stored, a real Hangfire job
/// training with ML.NET, the ONNX export admitted by the probe, a new model version with its report, deployed in the
/// ONNX Runtime host and called over V2.
/// </summary>
public sealed class TrainingApiTests(PortalFactory portal) : IClassFixture<PortalFactory>
{
    private readonly HttpClient _api = portal.CreateApiClient();

    [Fact]
    public async Task UploadTrainDeploy_V2InferenceAnswersWhatMlNetPredicted()
    {
        var dataset = await UploadAsync(SyntheticCsv.Binary(rows: 300), "loans.csv");
        Assert.Equal(300, dataset.GetProperty("rowCount").GetInt64());
        Assert.Equal("binary", Column(dataset, "approved").GetProperty("suggestedTask").GetString()!.ToLowerInvariant());

        var response = await _api.PostAsJsonAsync("/api/training", new
        {
            datasetId = dataset.GetProperty("id").GetString(), labelColumn = "approved", trainer = "lightgbm", modelName = "loan approval",
        });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await response.JsonAsync();
        Assert.Equal($"/api/jobs/{job.GetProperty("id").GetString()}", response.Headers.Location?.ToString());
        var done = await WaitForJobAsync(job);
        Assert.True(done.GetProperty("state").GetString() == "Succeeded", done.ToString());
        var result = done.GetProperty("result");
        Assert.Equal(1, result.GetProperty("version").GetInt32());
        var slug = result.GetProperty("modelSlug").GetString()!;
        Assert.Equal("loan-approval", slug);

        var version = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/1")).RootElement;
        var lineage = version.GetProperty("lineage");
        Assert.Equal("train", lineage.GetProperty("operation").GetString());
        Assert.Equal("trained from dataset loans with LightGBM", lineage.GetProperty("detail").GetString());
        Assert.Equal(dataset.GetProperty("id").GetString(), lineage.GetProperty("options").GetProperty("datasetId").GetString());
        Assert.Contains(version.GetProperty("files").EnumerateArray(), f => f.GetProperty("role").GetString() == "labels");
        Assert.Equal(["x1", "x2", "color", "member"], version.GetProperty("inputs").EnumerateArray().Select(i => i.GetProperty("name").GetString()));
        Assert.Equal("BYTES", version.GetProperty("inputs")[2].GetProperty("datatype").GetString());
        var report = TrainingReportView.FromReport(version.GetProperty("report"))!;
        Assert.Equal("lightgbm", report.Trainer);
        Assert.True(report.Agreement.Agrees);
        Assert.InRange(report.Metrics.Classification!.Accuracy, 0.75, 1.0);
        Assert.Equal(["no", "yes"], report.Classes);

        // The training record shows the trainer's run too.
        var run = JsonDocument.Parse(await _api.GetStringAsync($"/api/training/{job.GetProperty("id").GetString()}")).RootElement;
        Assert.Equal("lightgbm", Assert.Single(run.GetProperty("trainerRuns").EnumerateArray()).GetProperty("trainer").GetString());

        var deployed = await _api.PostAsJsonAsync("/api/deployments", new { name = "loans", modelId = slug, version = 1 });
        Assert.Equal(HttpStatusCode.Accepted, deployed.StatusCode);
        var deployJob = await WaitForJobAsync((await deployed.JsonAsync()).GetProperty("job"));
        Assert.True(deployJob.GetProperty("state").GetString() == "Succeeded", deployJob.ToString());

        // ML.NET's predictions for the first validation rows are in the report; V2 must answer the same, in one batch.
        // JSON has no NaN, so rows with a missing number are left to the binary extension (not used here).
        var examples = report.Examples.Where(e => !e.Inputs.Values.Contains("NaN")).ToList();
        Assert.True(examples.Count >= 3);
        var inputs = report.Inputs.Select(input => new
        {
            name = input.InputName,
            shape = new[] { examples.Count, 1 },
            datatype = input.ElementType == "string" ? "BYTES" : "FP32",
            data = input.ElementType == "string"
                ? examples.Select(e => (object)e.Inputs[input.InputName]).ToArray()
                : examples.Select(e => (object)float.Parse(e.Inputs[input.InputName], CultureInfo.InvariantCulture)).ToArray(),
        }).ToArray();
        var answer = await _api.PostAsJsonAsync("/v2/models/loans/infer", new { inputs });
        var body = await answer.JsonAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, body.ToString());
        var outputs = body.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!);
        var labels = outputs["PredictedLabel.output"].GetProperty("data").EnumerateArray().Select(v => v.GetString()).ToList();
        Assert.Equal(examples.Select(e => e.PredictedLabel), labels);
        var scores = outputs["Score.output"].GetProperty("data").EnumerateArray().Select(v => v.GetSingle()).ToList();
        var expected = examples.SelectMany(e => e.Scores).ToList();
        Assert.Equal(expected.Count, scores.Count);
        for (var i = 0; i < expected.Count; i++) Assert.True(Math.Abs(expected[i] - scores[i]) < 1e-4, $"score {i}: ML.NET {expected[i]}, V2 {scores[i]}");
    }

    [Fact]
    public async Task Train_Regression_AsANewVersionOfAnExistingModel_WithAuto()
    {
        var dataset = await UploadAsync(SyntheticCsv.Regression(rows: 200), "prices.csv");
        var datasetId = dataset.GetProperty("id").GetString();
        var first = await WaitForJobAsync(await (await _api.PostAsJsonAsync("/api/training", new { datasetId, labelColumn = "price", trainer = "sdca", modelName = "prices" })).JsonAsync());
        Assert.Equal("Succeeded", first.GetProperty("state").GetString());

        var second = await WaitForJobAsync(await (await _api.PostAsJsonAsync("/api/training",
            new { datasetId, labelColumn = "price", task = "regression", trainer = "auto", modelId = "prices", timeBudgetSeconds = 60 })).JsonAsync());

        Assert.True(second.GetProperty("state").GetString() == "Succeeded", second.ToString());
        Assert.Equal(2, second.GetProperty("result").GetProperty("version").GetInt32());
        var version = JsonDocument.Parse(await _api.GetStringAsync("/api/models/prices/versions/2")).RootElement;
        var report = TrainingReportView.FromReport(version.GetProperty("report"))!;
        Assert.Equal(4, report.Runs.Count);
        Assert.Equal(report.Runs.Where(r => r.Metrics is not null).MinBy(r => r.Metrics!.Loss)!.Trainer, report.Trainer);
        Assert.InRange(report.Metrics.Regression!.RSquared, 0.7, 1.0);
        Assert.NotEmpty(report.PredictedVersusActual);
        Assert.DoesNotContain(version.GetProperty("files").EnumerateArray(), f => f.GetProperty("role").GetString() == "labels");
    }

    [Fact]
    public async Task Cancel_StopsARunningTraining_AndRegistersNothing()
    {
        var dataset = await UploadAsync(SyntheticCsv.Multiclass(rows: 20_000), "many flowers.csv");
        var response = await _api.PostAsJsonAsync("/api/training", new
        {
            datasetId = dataset.GetProperty("id").GetString(), labelColumn = "species", trainer = "auto", modelName = "cancelled flowers",
        });
        var jobId = (await response.JsonAsync()).GetProperty("id").GetString();

        // Once the first trainer has reported, the others are still to come: cancel then.
        await Poll.UntilAsync(
            async () => await _api.GetAsync($"/api/training/{jobId}") is { StatusCode: HttpStatusCode.OK } r ? (await r.JsonAsync()).GetProperty("trainerRuns").GetArrayLength() : 0,
            count => count >= 1, TimeSpan.FromSeconds(60));
        // While it trains, its dataset cannot be deleted from under it.
        var datasetPath = $"/api/datasets/{dataset.GetProperty("id").GetString()}";
        var inUse = await _api.DeleteAsync(datasetPath);
        Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);
        Assert.Contains("being trained on", (await inUse.JsonAsync()).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.Accepted, (await _api.PostAsync($"/api/jobs/{jobId}/cancel", null)).StatusCode);

        var done = await Poll.UntilAsync(
            async () => JsonDocument.Parse(await _api.GetStringAsync($"/api/jobs/{jobId}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled", TimeSpan.FromSeconds(60));
        Assert.Equal("Cancelled", done.GetProperty("state").GetString());
        Assert.DoesNotContain("cancelled-flowers", await _api.GetStringAsync("/api/models"));
        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync(datasetPath)).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.GetAsync(datasetPath)).StatusCode);
    }

    [Fact]
    public async Task ADatasetWithAQueuedTrainingJob_CannotBeDeleted_UntilTheJobEnds()
    {
        var dataset = await UploadAsync(SyntheticCsv.Multiclass(rows: 50), "queued flowers.csv");
        var id = dataset.GetProperty("id").GetString()!;
        var factory = portal.Services.GetRequiredService<Microsoft.EntityFrameworkCore.IDbContextFactory<MaaS.Portal.Data.PortalDbContext>>();
        // Queued, not yet picked up by a worker: the arguments are all it has (its run record comes when it starts).
        var queued = new MaaS.Portal.Jobs.JobRecord
        {
            Kind = TrainingJob.Kind, OwnerId = "someone", Title = "waiting to train", ArgumentsJson = JsonSerializer.Serialize(new { datasetId = id }),
        };
        await using (var db = await factory.CreateDbContextAsync())
        {
            db.Jobs.Add(queued);
            await db.SaveChangesAsync();
        }

        Assert.Equal(HttpStatusCode.Conflict, (await _api.DeleteAsync($"/api/datasets/{id}")).StatusCode);

        await using (var db = await factory.CreateDbContextAsync())
        {
            await db.Jobs.Where(j => j.Id == queued.Id).ExecuteUpdateAsync(u => u.SetProperty(j => j.State, MaaS.Portal.Jobs.JobState.Cancelled));
        }
        Assert.Equal(HttpStatusCode.NoContent, (await _api.DeleteAsync($"/api/datasets/{id}")).StatusCode);
    }

    [Fact]
    public async Task Upload_RefusesWhatIsNotACsv_NamingTheProblem_AndStoresNothing()
    {
        var before = portal.Services.DataFiles().Blobs.Length;

        var binary = await _api.PostAsync("/api/datasets", Csv(new byte[] { 0x50, 0x4B, 3, 4, 0, 0, 1, 2, 0, 0 }, "archive.csv"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, binary.StatusCode);
        Assert.Contains("not a CSV", (await binary.JsonAsync()).GetProperty("detail").GetString());

        var prose = await _api.PostAsync("/api/datasets", Csv(Encoding.UTF8.GetBytes("Dear reader\nthis is a letter\n"), "letter.csv"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, prose.StatusCode);

        var lines = SyntheticCsv.Binary(rows: 50).Split('\n');
        lines[30] += ",surplus";
        var ragged = await _api.PostAsync("/api/datasets", Csv(Encoding.UTF8.GetBytes(string.Join('\n', lines)), "ragged.csv"));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, ragged.StatusCode);
        var problem = await ragged.JsonAsync();
        Assert.Equal(31, problem.GetProperty("row").GetInt64());
        Assert.Contains("Row 31 has 6 fields but the header has 5 columns", problem.GetProperty("detail").GetString());

        Assert.Equal(before, portal.Services.DataFiles().Blobs.Length);
        Assert.DoesNotContain(portal.Services.DataFiles().Temp, f => f.EndsWith(".csv"));
    }

    [Fact]
    public async Task Upload_OverTheLimit_Gets413_NamingTheSetting()
    {
        await using var small = new PortalFactory
        {
            ConfigureTestServices = services => services.Configure<TrainingOptions>(o => o.MaxDatasetBytes = 4096),
        };
        var response = await small.CreateApiClient().PostAsync("/api/datasets", Csv(Encoding.UTF8.GetBytes(SyntheticCsv.Binary(rows: 400)), "big.csv"));

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("Training:MaxDatasetBytes", (await response.JsonAsync()).GetProperty("detail").GetString());
        Assert.Empty(small.Services.DataFiles().Blobs);
    }

    [Fact]
    public async Task Train_FailsClearly_AndRegistersNothing_ForALabelWithOneClass()
    {
        var csv = "x,kind\n" + string.Concat(Enumerable.Range(0, 60).Select(i => $"{i},only\n"));
        var done = await TrainAsync(await UploadAsync(csv, "single.csv"), new { labelColumn = "kind", task = "binary", trainer = "sdca" });

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        Assert.Contains("one class only ('only')", done.GetProperty("message").GetString());
        Assert.DoesNotContain("single", await _api.GetStringAsync("/api/models"));
    }

    [Fact]
    public async Task Train_FailsClearly_ForALabelWithThousandsOfClasses()
    {
        var csv = "x,user\n" + string.Concat(Enumerable.Range(0, 2500).Select(i => $"{i % 13},u{i}\n"));
        var done = await TrainAsync(await UploadAsync(csv, "users.csv"), new { labelColumn = "user", task = "multiclass", trainer = "sdca" });

        Assert.Equal("Failed", done.GetProperty("state").GetString());
        Assert.Contains("2,500 distinct values", done.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Train_NamesRowAndColumn_OfANonNumberInAColumnSetToNumeric()
    {
        var rows = string.Concat(Enumerable.Range(0, 60).Select(i => i == 40 ? "12 years,b\n" : $"{i},{(i % 2 == 0 ? "a" : "b")}\n"));
        var bad = await UploadAsync("age,group\n" + rows, "ages.csv");
        // One value in sixty is not a number: profiling does not call the column numeric, and warns about the row.
        Assert.NotEqual("numeric", Column(bad, "age").GetProperty("type").GetString()!.ToLowerInvariant());
        Assert.Contains("'12 years' in row 42", Column(bad, "age").GetProperty("warning").GetString());
        var retyped = await _api.PutAsJsonAsync($"/api/datasets/{bad.GetProperty("id").GetString()}/column-types", new { columnTypes = new Dictionary<string, string> { ["age"] = "numeric" } });
        Assert.Equal(HttpStatusCode.OK, retyped.StatusCode);
        Assert.Equal("numeric", Column(await retyped.JsonAsync(), "age").GetProperty("type").GetString()!.ToLowerInvariant());

        var done = await TrainAsync(bad, new { labelColumn = "group", trainer = "sdca" });
        Assert.Equal("Failed", done.GetProperty("state").GetString());
        Assert.Contains("Row 42, column 'age': '12 years' is not a number", done.GetProperty("message").GetString());
    }

    [Fact]
    public async Task StartTraining_Refuses_BadRequests_AndOtherUsersDatasets()
    {
        var dataset = await UploadAsync(SyntheticCsv.Multiclass(rows: 50), "flowers.csv");
        var id = dataset.GetProperty("id").GetString();

        var noLabel = await _api.PostAsJsonAsync("/api/training", new { datasetId = id, labelColumn = "petals" });
        Assert.Equal(HttpStatusCode.BadRequest, noLabel.StatusCode);
        Assert.Contains("no column 'petals'", (await noLabel.JsonAsync()).GetProperty("detail").GetString());
        var badTrainer = await _api.PostAsJsonAsync("/api/training", new { datasetId = id, labelColumn = "species", trainer = "xgboost", task = "ranking" });
        var detail = (await badTrainer.JsonAsync()).GetProperty("detail").GetString();
        Assert.Contains("'trainer' is one of", detail);
        Assert.Contains("'task' is one of", detail);
        // A number is not a task's name, though .NET's enum parsing would take it.
        var numbered = await _api.PostAsJsonAsync("/api/training", new { datasetId = id, labelColumn = "species", task = "1" });
        Assert.Contains("'task' is one of", (await numbered.JsonAsync()).GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/api/training", new { datasetId = Guid.NewGuid(), labelColumn = "species" })).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _api.PostAsJsonAsync("/api/training", new { datasetId = id, labelColumn = "species", modelId = "no-such-model" })).StatusCode);

        const string email = "trainer@test.local";
        await portal.RegisterAsync(email, "User-Passw0rd!");
        var userId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == email).Id;
        var user = portal.CreateApiClient((await portal.Services.GetRequiredService<ApiKeyService>().CreateAsync(userId, "training")).Secret);
        Assert.Equal(HttpStatusCode.NotFound, (await user.GetAsync($"/api/datasets/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await user.PostAsJsonAsync("/api/training", new { datasetId = id, labelColumn = "species" })).StatusCode);
        Assert.DoesNotContain(id!, await user.GetStringAsync("/api/datasets"));
    }

    [Fact]
    public async Task ATrainedModel_IsTriedInThePlayground_ColumnByColumn_AndReadsAsItsLabelledClasses()
    {
        var dataset = await UploadAsync(SyntheticCsv.Binary(rows: 300), "playground-loans.csv");
        var done = await TrainAsync(dataset, new { labelColumn = "approved", trainer = "sdca", modelName = "loan playground" });
        Assert.True(done.GetProperty("state").GetString() == "Succeeded", done.ToString());
        var slug = done.GetProperty("result").GetProperty("modelSlug").GetString()!;
        var version = JsonDocument.Parse(await _api.GetStringAsync($"/api/models/{slug}/versions/1")).RootElement;
        var report = TrainingReportView.FromReport(version.GetProperty("report"))!;
        var example = report.Examples.First(e => !e.Inputs.Values.Contains("NaN"));

        // Tried before deployment, as a person would: one field per column of the CSV, filled from a validation row.
        var playground = portal.Services.GetRequiredService<PlaygroundService>();
        var adminId = (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;
        var (target, unavailable) = await playground.OpenVersionAsync(slug, 1, adminId, isAdmin: true);
        Assert.Null(unavailable);
        var form = new PlaygroundForm(target!);
        Assert.Equal(report.Inputs.Select(i => i.InputName), form.Inputs.Select(i => i.Specs[0].Name));
        foreach (var input in form.Inputs)
        {
            var value = example.Inputs[input.Specs[0].Name];
            if (input is NumericInputState numeric) numeric.Json = $"[[{value}]]";
            else if (input is StringInputState text) text.Values[0] = value;
            else Assert.Fail($"Input '{input.Specs[0].Name}' got a {input.GetType().Name}, not a numeric or text field.");
        }

        var run = await playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None);

        Assert.True(run.Succeeded, run.Error);
        var readings = form.Read(run);
        Assert.Equal([example.PredictedLabel!], readings.Single(r => r.Name == "PredictedLabel.output").FirstValues);
        var scores = readings.Single(r => r.Name == "Score.output");
        Assert.Equal(OutputKind.Classes, scores.Kind);
        Assert.Equal(example.PredictedLabel, scores.Top[0].Label);
        Assert.Equal(example.Scores.Max(), scores.Top[0].Score, 4);
    }

    private static ByteArrayContent Csv(byte[] bytes, string fileName)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        return content;
    }

    private async Task<JsonElement> UploadAsync(string csv, string fileName)
    {
        var form = new MultipartFormDataContent();
        var part = new ByteArrayContent(Encoding.UTF8.GetBytes(csv));
        part.Headers.ContentType = new MediaTypeHeaderValue("text/csv");
        form.Add(part, "file", fileName);
        var response = await _api.PostAsync("/api/datasets", form);
        var body = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
        return body;
    }

    private async Task<JsonElement> TrainAsync(JsonElement dataset, object request)
    {
        var body = JsonSerializer.SerializeToNode(request)!.AsObject();
        body["datasetId"] = dataset.GetProperty("id").GetString();
        var response = await _api.PostAsJsonAsync("/api/training", body);
        var job = await response.JsonAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, job.ToString());
        return await WaitForJobAsync(job);
    }

    private static JsonElement Column(JsonElement dataset, string name) =>
        dataset.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private async Task<JsonElement> WaitForJobAsync(JsonElement job) =>
        await Poll.UntilAsync(
            async () => JsonDocument.Parse(await _api.GetStringAsync($"/api/jobs/{job.GetProperty("id").GetString()}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled",
            TimeSpan.FromSeconds(120));
}
