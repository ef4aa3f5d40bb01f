using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using MaaS.Onnx.Tests;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Features.Playground;
using MaaS.Portal.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using static MaaS.Portal.IntegrationTests.ModelUploads;

namespace MaaS.Portal.IntegrationTests;

/// <summary>
/// The playground's requests take the V2 API's path: the same body gives the same answer over REST, is metered, and a
/// version tried before deployment gets a temporary session that goes when idle.
/// </summary>
public sealed class PlaygroundTests(PlaygroundTests.Portal portal) : IClassFixture<PlaygroundTests.Portal>
{
    /// <summary>A portal whose temporary sessions are released after five idle seconds, looked for every second.</summary>
    public sealed class Portal : PortalFactory
    {
        public Portal()
        {
            ConfigureTestServices = services => services.Configure<PlaygroundOptions>(o =>
            {
                o.SessionIdleTimeout = TimeSpan.FromSeconds(5);
                o.SweepInterval = TimeSpan.FromSeconds(1);
            });
        }
    }

    private readonly HttpClient _api = portal.CreateApiClient();
    private PlaygroundService Playground => portal.Services.GetRequiredService<PlaygroundService>();

    [Fact]
    public async Task DeploymentPlayground_AnswersWhatTheV2ApiAnswers_ForTheSameBody_WithLabels_AndIsMetered()
    {
        var slug = await UploadAsync(TestModels.Bytes(TestModels.Mlp()), "pg-mlp", labels: "setosa\nversicolor\nvirginica");
        await DeployAsync(slug, "pg-mlp");
        var adminId = await AdminIdAsync();

        var (target, unavailable) = await Playground.OpenDeploymentAsync("pg-mlp", adminId, isAdmin: true);
        Assert.Null(unavailable);
        Assert.Equal(["setosa", "versicolor", "virginica"], target!.Labels);
        var form = new PlaygroundForm(target);
        var numeric = Assert.IsType<NumericInputState>(Assert.Single(form.Inputs));
        numeric.Fill(NumericInputState.FillKind.Random, -2, 2, new Random(7));
        var body = form.BuildBody();

        var run = await Playground.RunAsync(target, body, adminId, isAdmin: true, CancellationToken.None);
        var rest = await _api.PostAsync("/v2/models/pg-mlp/infer", new ByteArrayContent(body.ToArray()) { Headers = { { "Content-Type", "application/json" } } });

        Assert.True(run.Succeeded, run.Error);
        Assert.Equal(HttpStatusCode.OK, rest.StatusCode);
        var expected = V2Codec.ParseResponse(await rest.Content.ReadAsByteArrayAsync());
        var output = Assert.Single(run.Outputs);
        Assert.Equal(expected.Outputs[0].Shape, output.Shape);
        Assert.Equal(expected.Outputs[0].ToArray<float>(), output.ToArray<float>());
        Assert.NotNull(run.ComputeTime);
        Assert.True(run.RoundTrip >= run.ComputeTime);

        // Read for people: three classes with the labels file's names, probabilities summing to one.
        var reading = OutputAnalysis.Read(output, target.Labels);
        Assert.Equal(OutputKind.Classes, reading.Kind);
        Assert.Equal(["setosa", "versicolor", "virginica"], reading.Top.Select(t => t.Label).Order());
        Assert.Equal(1, reading.Top.Sum(t => t.Score), 5);

        // Metered like any request: one for the playground (no key) and one for the API key, in the owner's usage.
        await portal.Services.GetRequiredService<UsageFlusher>().FlushAsync();
        await using var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync();
        var rows = await db.UsageMinutes.Where(u => u.DeploymentName == "pg-mlp").ToListAsync();
        Assert.Equal(1, rows.Where(r => r.ApiKeyId == null).Sum(r => r.Requests));
        Assert.Equal(1, rows.Where(r => r.ApiKeyId != null).Sum(r => r.Requests));
        Assert.All(rows, r => Assert.Equal(adminId, r.OwnerId));
    }

    [Fact]
    public async Task ABadBody_GetsTheSameErrorAsOverRest_AndAnUndeployedTarget_SaysItIsGone()
    {
        var slug = await UploadAsync(TestModels.Bytes(TestModels.Mlp()), "pg-gone");
        await DeployAsync(slug, "pg-gone");
        var adminId = await AdminIdAsync();
        var (target, _) = await Playground.OpenDeploymentAsync("pg-gone", adminId, isAdmin: true);
        var bad = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"input","shape":[1,5],"datatype":"FP32","data":[1,2,3,4,5]}]}""");

        var run = await Playground.RunAsync(target!, bad, adminId, true, CancellationToken.None);
        var rest = await _api.PostAsync("/v2/models/pg-gone/infer", new ByteArrayContent(bad) { Headers = { { "Content-Type", "application/json" } } });

        Assert.Equal((int)rest.StatusCode, run.Status);
        Assert.Equal(JsonDocument.Parse(await rest.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetString(), run.Error);
        Assert.Contains("dimension 1", run.Error);

        var undeployed = await _api.DeleteAsync("/api/deployments/pg-gone");
        Assert.True(undeployed.IsSuccessStatusCode, $"{(int)undeployed.StatusCode}");
        var gone = await Playground.RunAsync(target!, new PlaygroundForm(target!).BuildBody(), adminId, true, CancellationToken.None);
        Assert.True(gone.TargetGone);
        Assert.Contains("is gone", gone.Error);
    }

    [Fact]
    public async Task AVersionTriedBeforeDeployment_RunsInATemporarySession_AnswersAsItsDeploymentDoes_AndIsReleasedWhenIdle()
    {
        var slug = await UploadAsync(TestModels.Bytes(TestModels.Mlp()), "pg-try");
        var adminId = await AdminIdAsync();
        var host = portal.Services.GetRequiredService<ModelHost>();

        var (target, unavailable) = await Playground.OpenVersionAsync(slug, 1, adminId, isAdmin: true);
        Assert.Null(unavailable);
        Assert.Equal(PlaygroundTargetKind.Version, target!.Kind);
        Assert.StartsWith(PlaygroundSessions.NamePrefix, target.Name);
        Assert.True(host.IsServing(target.Name));
        var form = new PlaygroundForm(target);
        ((NumericInputState)form.Inputs[0]).Json = "[[0.5, -1.25, 2, 0.75]]";
        var body = form.BuildBody();
        var tried = await Playground.RunAsync(target, body, adminId, true, CancellationToken.None);
        Assert.True(tried.Succeeded, tried.Error);

        await DeployAsync(slug, "pg-try");
        var rest = await _api.PostAsync("/v2/models/pg-try/infer", new ByteArrayContent(body.ToArray()) { Headers = { { "Content-Type", "application/json" } } });
        Assert.Equal(V2Codec.ParseResponse(await rest.Content.ReadAsByteArrayAsync()).Outputs[0].ToArray<float>(), tried.Outputs[0].ToArray<float>());

        // Metered under the session's private name, to the user who tried it.
        await portal.Services.GetRequiredService<UsageFlusher>().FlushAsync();
        await using (var db = await portal.Services.GetRequiredService<IDbContextFactory<PortalDbContext>>().CreateDbContextAsync())
        {
            var row = await db.UsageMinutes.SingleAsync(u => u.DeploymentName == target.Name);
            Assert.Equal((1L, adminId, 1), (row.Requests, row.OwnerId, row.Version));
        }

        // Its memory is metered like a deployment's, to the user who opened it.
        var memory = await portal.Services.GetRequiredService<LoadedMemory>().ListAsync();
        Assert.Contains(memory, m => m.Deployment == target.Name && m.OwnerId == adminId && m.Bytes > 0);

        // Idle for longer than the (test's) five seconds: the sweeper releases the session; a new request opens it again.
        await Poll.UntilAsync(() => Task.FromResult(host.IsServing(target.Name)), serving => !serving, TimeSpan.FromSeconds(20));
        Assert.Null(portal.Services.GetRequiredService<PlaygroundSessions>().Find(target.Name));
        var again = await Playground.RunAsync(target, body, adminId, true, CancellationToken.None);
        Assert.True(again.Succeeded, again.Error);
        Assert.Equal(tried.Outputs[0].ToArray<float>(), again.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task History_KeepsTheNewestRequestsPerTarget_AndExamplesAttachedByTheOwner_AreSeenByOthers()
    {
        var history = portal.Services.GetRequiredService<PlaygroundHistory>();
        var slug = await UploadAsync(TestModels.Bytes(TestModels.Mlp()), "pg-history");
        var adminId = await AdminIdAsync();
        var (target, _) = await Playground.OpenVersionAsync(slug, 1, adminId, isAdmin: true);
        var form = new PlaygroundForm(target!);
        var body = form.BuildBody();
        var run = await Playground.RunAsync(target!, body, adminId, true, CancellationToken.None);
        for (var i = 0; i < 53; i++)
            await history.AddAsync(adminId, target!.HistoryKey, run, $"input {i}", PlaygroundForm.OutputSummary(run, form.Read(run)), body);

        var entries = await history.ListAsync(adminId, target!.HistoryKey);
        Assert.Equal(50, entries.Count);
        Assert.Equal("input 52", entries[0].InputSummary);
        // Listed without bodies; the body comes on its own, to its owner only.
        Assert.True(entries[0].CanRerun);
        Assert.Equal(Encoding.UTF8.GetString(body.Span), await history.RequestOfAsync(entries[0].Id, adminId));
        Assert.Null(await history.RequestOfAsync(entries[0].Id, "someone-else"));
        Assert.Empty(await history.ListAsync("someone-else", target.HistoryKey));

        var attached = await history.SaveExampleAsync(target.ModelId, adminId, isModelOwner: true, "ones", shared: true, Encoding.UTF8.GetString(body.Span));
        await history.SaveExampleAsync(target.ModelId, adminId, isModelOwner: true, "mine", shared: false, Encoding.UTF8.GetString(body.Span));
        var notOwner = await history.SaveExampleAsync(target.ModelId, "visitor", isModelOwner: false, "theirs", shared: true, Encoding.UTF8.GetString(body.Span));
        Assert.False(notOwner.Shared);
        Assert.Equal(["ones", "theirs"], (await history.ListExamplesAsync(target.ModelId, "visitor")).Select(e => e.Name));
        Assert.Equal(["mine", "ones"], (await history.ListExamplesAsync(target.ModelId, adminId)).Select(e => e.Name));
        Assert.Empty(form.Load(attached.RequestJson));
        Assert.Equal(attached.RequestJson, Encoding.UTF8.GetString(form.BuildBody().Span));
    }

    [Fact]
    public async Task MiniLm_WithItsVocabularyAttached_TakesText_GivesTheKnownSentenceEmbedding_AndComparesTwoSentences()
    {
        var slug = await UploadAsync(await File.ReadAllBytesAsync(RealModels.MiniLmPath), "pg-minilm");
        var set = await _api.PostAsync("/api/sample-sets", SampleSetUploads.Form(SampleSetUploads.Text("a first sentence\n"), "lines.txt", kind: "text",
            name: "sentences", modelId: slug, vocabulary: await File.ReadAllBytesAsync(RealModels.MiniLmVocabularyPath)));
        Assert.Equal(HttpStatusCode.Created, set.StatusCode);
        var adminId = await AdminIdAsync();

        var (target, unavailable) = await Playground.OpenVersionAsync(slug, 1, adminId, isAdmin: true);
        Assert.Null(unavailable);
        var form = new PlaygroundForm(target!);
        var text = Assert.IsType<TextInputState>(Assert.Single(form.Inputs));
        text.Text = "This is an example sentence";
        Assert.Equal(["[CLS]", "this", "is", "an", "example", "sentence", "[SEP]"], text.Tokens);

        var first = await Playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None);
        Assert.True(first.Succeeded, first.Error);
        var sentence = form.Read(first).First(r => r.Name == "last_hidden_state");
        Assert.Equal(OutputKind.Embedding, sentence.Kind);
        // test-models.md's known answer: mean pooling, then L2 normalisation.
        double[] known = [0.067657, 0.063496, 0.048713, 0.079305, 0.037448];
        for (var i = 0; i < known.Length; i++) Assert.Equal(known[i], sentence.Embedding![i] / sentence.Norm!.Value, 4);

        text.Text = "Here is a sentence given as an example";
        var close = form.Read(await Playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None)).First(r => r.Name == "last_hidden_state");
        text.Text = "The stock market fell sharply on Tuesday";
        var far = form.Read(await Playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None)).First(r => r.Name == "last_hidden_state");
        var similar = OutputAnalysis.Cosine(sentence.Embedding!, close.Embedding!);
        var unrelated = OutputAnalysis.Cosine(sentence.Embedding!, far.Embedding!);
        Assert.True(similar > unrelated + 0.2, $"similar {similar:0.###}, unrelated {unrelated:0.###}");
    }

    [Fact]
    public async Task ASlowRun_LeavesTheCallerFree_CanBeCancelled_AndTheDeploymentServesTheNextRequest()
    {
        // 2,000 MatMuls of [3900, 256] × [256, 256]: about 500 GFLOP, seconds on any CPU.
        var slug = await UploadAsync(TestModels.Bytes(InferenceTestModels.Slow(layers: 2000)), "pg-slow");
        await DeployAsync(slug, "pg-slow");
        var adminId = await AdminIdAsync();
        var (target, _) = await Playground.OpenDeploymentAsync("pg-slow", adminId, isAdmin: true);
        var form = new PlaygroundForm(target!);
        var rows = (NumericInputState)form.Inputs[0];
        rows.SetDimension(0, 3900);
        rows.Fill(NumericInputState.FillKind.Ones);
        using var cancel = new CancellationTokenSource();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var running = Playground.RunAsync(target!, form.BuildBody(), adminId, true, cancel.Token);
        var handedBack = clock.Elapsed;
        await Task.Delay(500);
        Assert.False(running.IsCompleted, "the slow run should still be going");
        cancel.Cancel();
        var cancelledAt = clock.Elapsed;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);

        // The page's thread got its task back at once, and the run stopped soon after the cancel, inside ONNX Runtime.
        Assert.True(handedBack < TimeSpan.FromSeconds(1), $"RunAsync took {handedBack} to hand back its task");
        Assert.True(clock.Elapsed - cancelledAt < TimeSpan.FromSeconds(5), $"stopping took {clock.Elapsed - cancelledAt}");
        rows.SetDimension(0, 1);
        rows.Fill(NumericInputState.FillKind.Ones);
        var next = await Playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None);
        Assert.True(next.Succeeded, next.Error);
        Assert.All(next.Outputs[0].ToArray<float>(), v => Assert.Equal(1f, v));
    }

    [Fact]
    public async Task AZipMapClassifier_WithLabels_IsReadAsTopClasses_AndItsLabelAsANumber()
    {
        var slug = await UploadAsync(TestModels.Bytes(InferenceTestModels.ZipMapClassifier()), "pg-zipmap", labels: "spam\nham");
        var adminId = await AdminIdAsync();
        var (target, unavailable) = await Playground.OpenVersionAsync(slug, 1, adminId, isAdmin: true);
        Assert.Null(unavailable);
        var form = new PlaygroundForm(target!);
        ((NumericInputState)form.Inputs[0]).Json = "[[0.2, 0.8]]";

        var run = await Playground.RunAsync(target!, form.BuildBody(), adminId, true, CancellationToken.None);

        Assert.True(run.Succeeded, run.Error);
        var readings = form.Read(run);
        var probabilities = readings.Single(r => r.Name == "probabilities");
        Assert.Equal(OutputKind.Classes, probabilities.Kind);
        Assert.Equal(["ham", "spam"], probabilities.Top.Select(t => t.Label));
        Assert.Equal(0.8, probabilities.Top[0].Score, 5);
        Assert.Equal(["1"], readings.Single(r => r.Name == "label").FirstValues);
        Assert.Equal("label [1]: 1; probabilities: ham 80.0%", PlaygroundForm.OutputSummary(run, readings));
    }

    private async Task<string> AdminIdAsync() =>
        (await portal.Services.GetRequiredService<UserAdministration>().ListAsync()).Single(u => u.Email == PortalFactory.AdminEmail).Id;

    private async Task<string> UploadAsync(byte[] model, string name, string? labels = null)
    {
        var response = await _api.PostAsync("/api/models", Form(model, "model.onnx", name: name, labels: labels));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync()).GetProperty("model").GetProperty("slug").GetString()!;
    }

    private async Task DeployAsync(string slug, string name)
    {
        var created = await _api.PostAsJsonAsync("/api/deployments", new { name, modelId = slug, version = 1 });
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var job = (await created.JsonAsync()).GetProperty("job").GetProperty("id").GetString();
        var done = await Poll.UntilAsync(
            async () => JsonDocument.Parse(await _api.GetStringAsync($"/api/jobs/{job}")).RootElement,
            j => j.GetProperty("state").GetString() is "Succeeded" or "Failed" or "Cancelled",
            TimeSpan.FromSeconds(60));
        Assert.True(done.GetProperty("state").GetString() == "Succeeded", done.GetProperty("message").GetString());
    }
}
