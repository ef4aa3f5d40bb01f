using System.Diagnostics;
using System.Text;
using System.Text.Json;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;

namespace MaaS.Onnx.Tests;

public sealed class InferenceHostTests
{
    private static readonly ModelKey Key = new("mlp", "1");

    internal static InferenceRequest MlpRequest(int rows, float seed)
    {
        var values = Enumerable.Range(0, rows * 4).Select(i => seed + 0.01f * i).ToArray();
        return InferenceRequest.Of(InferenceTensor.FromValues<float>("input", [rows, 4], values));
    }

    [Theory]
    [MemberData(nameof(InferenceCodecTests.EveryDatatype), MemberType = typeof(InferenceCodecTests))]
    public async Task EveryDatatype_RoundTripsThroughAnIdentityModel_InJsonAndBinary(string datatype, string data, InferenceTensor expected)
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Identity(InferenceTestModels.OnnxTypes[datatype], TestModels.Batch), folder, "identity.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("identity", "1"), path, new InferenceSettings());

        // JSON in, JSON out.
        var json = $$"""{"id":"r1","inputs":[{"name":"x","shape":[3],"datatype":"{{datatype}}","data":{{data}}}]}""";
        var request = V2Codec.ParseRequest(Encoding.UTF8.GetBytes(json));
        var result = await model.InferAsync(request);
        var body = V2Codec.EncodeResponse(result.ToResponse("identity", "1", request.Id));
        var response = V2Codec.ParseResponse(body.Body, body.HeaderLength);
        Assert.Equal("r1", response.Id);
        var output = Assert.Single(response.Outputs);
        Assert.Equal(("y", datatype), (output.Name, output.Datatype));
        AssertSame(expected, output);

        // Binary in, binary out.
        var binaryRequest = V2Codec.EncodeRequest(request with { BinaryDataOutput = true }, binaryInputs: true);
        var parsed = V2Codec.ParseRequest(binaryRequest.Body, binaryRequest.HeaderLength);
        var binaryBody = V2Codec.EncodeResponse((await model.InferAsync(parsed)).ToResponse("identity", "1", null));
        Assert.NotNull(binaryBody.HeaderLength);
        AssertSame(expected, Assert.Single(V2Codec.ParseResponse(binaryBody.Body, binaryBody.HeaderLength).Outputs));
    }

    private static void AssertSame(InferenceTensor expected, InferenceTensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        if (expected.Strings is not null) Assert.Equal(expected.Strings, actual.Strings);
        else Assert.Equal(expected.Data.ToArray(), actual.Data.ToArray());
    }

    [Theory]
    [InlineData(false, "0", "1")]
    [InlineData(true, "cat", "dog")]
    public async Task ZipMapClassifier_ReturnsOneJsonMapPerRow_AsBytes(bool stringLabels, string first, string second)
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.ZipMapClassifier(stringLabels), folder, "zipmap.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("zipmap", "1"), path, new InferenceSettings());

        var request = V2Codec.ParseRequest(Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[0.25,0.75],[0.5,0.125]]}]}"""));
        var result = await model.InferAsync(request);
        var json = Encoding.UTF8.GetString(V2Codec.EncodeResponse(result.ToResponse("zipmap", "1", null)).Body.Span);

        var label = result.Outputs.Single(o => o.Name == "label");
        Assert.Equal([1L, 0L], label.ToArray<long>());
        var probabilities = result.Outputs.Single(o => o.Name == "probabilities");
        Assert.Equal("BYTES", probabilities.Datatype);
        Assert.Equal([2L], probabilities.Shape);
        Assert.Equal($$"""{"{{first}}":0.25,"{{second}}":0.75}""", probabilities.Strings![0]);
        Assert.Equal($$"""{"{{first}}":0.5,"{{second}}":0.125}""", probabilities.Strings[1]);
        using var document = JsonDocument.Parse(json);
        var maps = document.RootElement.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "probabilities");
        Assert.Equal(0.75, JsonDocument.Parse(maps.GetProperty("data")[0].GetString()!).RootElement.GetProperty(second).GetDouble());
    }

    [Fact]
    public async Task Load_ReportsColdStartAndMemory_AndWarmsEveryInstance()
    {
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);

        await using var model = await LoadedModel.LoadAsync(Key, path, new InferenceSettings { Instances = 2, MaxBatchSize = 4 });

        var report = model.LoadReport;
        Assert.True(report.LoadTime > TimeSpan.Zero);
        Assert.True(report.WarmUpTime > TimeSpan.Zero);
        Assert.Null(report.WarmUpSkipped);
        Assert.True(report.WorkingSetAfter > 0 && report.WorkingSetBefore > 0);
        Assert.Equal((2, "CPUExecutionProvider", true), (report.Instances, report.ExecutionProvider, report.Batching));
        // Warm-up runs are not requests.
        Assert.Equal(0, model.Statistics.Runs);
        Assert.Equal(0, model.Statistics.Requests);
    }

    [Fact]
    public async Task Cuda_WhenThisBuildHasNone_FailsClearly()
    {
        if (LoadedModel.AvailableExecutionProviders().Contains("CUDAExecutionProvider")) return;
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);

        var error = await Assert.ThrowsAsync<ModelLoadException>(() =>
            LoadedModel.LoadAsync(Key, path, new InferenceSettings { ExecutionProvider = ExecutionProviderKind.Cuda }));

        Assert.StartsWith("CUDA was requested, but this ONNX Runtime build offers only CPUExecutionProvider", error.Message);
    }

    [Fact]
    public async Task TwoInstances_ServeConcurrentCalls()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Slow(layers: 40), folder, "slow.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("slow", "1"), path, new InferenceSettings { Instances = 2 });

        // Callers on threads of their own, released together: on two cores the thread pool alone may run them one by one.
        using var start = new ManualResetEventSlim();
        var calls = Enumerable.Range(0, 8).Select(i => Task.Factory.StartNew(() =>
        {
            start.Wait();
            var values = Enumerable.Range(0, 256 * 256).Select(v => (float)(v % 7) + i).ToArray();
            var result = model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<float>("x", [256, 256], values))).GetAwaiter().GetResult();
            Assert.Equal(values, result.Outputs[0].ToArray<float>());
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        start.Set();
        await Task.WhenAll(calls);

        Assert.Equal(2, model.Statistics.PeakBusyInstances);
        Assert.Equal(8, model.Statistics.Runs);
    }

    [Fact]
    public async Task BusyInstance_PastTheQueueTimeout_IsOverloaded_ThenServesAgain()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Slow(layers: 400), folder, "slow.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("slow", "1"), path,
            new InferenceSettings { QueueTimeout = TimeSpan.FromMilliseconds(50) });

        // The one instance is held by hand (as a running request holds it) until the overload is seen: a real run could
        // end, and free the instance, before a starved timer fires the queue timeout.
        var held = await model.Pool.RentAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        Assert.Equal(1, model.Statistics.BusyInstances);
        var error = await Assert.ThrowsAsync<InferenceOverloadedException>(() => model.InferAsync(SlowRequest(rows: 1)));

        Assert.Equal("All 1 instance of model slow/1 stayed busy for 0.05 s; try again later.", error.Message);
        model.Pool.Return(held);
        Assert.Single((await model.InferAsync(SlowRequest(rows: 1))).Outputs);
        Assert.Equal(1, model.Statistics.Failures);
    }

    [Fact]
    public async Task Cancelling_StopsARunInsideOnnxRuntime_AndFreesTheInstance()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Slow(layers: 400), folder, "slow.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("slow", "1"), path, new InferenceSettings());
        using var cancel = new CancellationTokenSource();

        var clock = Stopwatch.StartNew();
        var running = Task.Run(() => model.InferAsync(SlowRequest(rows: 2000), cancel.Token));
        await WaitUntil(() => model.Statistics.BusyInstances == 1);
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
        var cancelledAfter = clock.Elapsed;
        clock.Restart();
        await model.InferAsync(SlowRequest(rows: 2000));
        // The full run takes far longer than stopping one does.
        Assert.True(cancelledAfter < clock.Elapsed, $"cancelled after {cancelledAfter}, a full run took {clock.Elapsed}");
    }

    internal static InferenceRequest SlowRequest(int rows) =>
        InferenceRequest.Of(InferenceTensor.FromValues<float>("x", [rows, 256], new float[rows * 256]));

    /// <summary>
    /// Polls on a thread of its own: runs compute synchronously on pool threads, and with parallel tests on two cores a
    /// pool or xUnit thread can stay busy longer than the state being waited for lasts.
    /// </summary>
    internal static Task WaitUntil(Func<bool> condition) => Task.Factory.StartNew(() =>
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException("The condition never held.");
            Thread.Sleep(1);
        }
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    [Fact]
    public async Task Replace_WhileRequestsRun_LosesNone()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        var gemm = TestModels.Write(TestModels.GemmMlp(), folder.Path, "gemm.onnx");
        await using var host = new InferenceHost();
        var first = await host.LoadAsync(Key, mlp, new InferenceSettings());
        var replaced = new List<LoadedModel> { first };

        using var stop = new CancellationTokenSource();
        var served = 0;
        var workers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var result = await host.InferAsync(Key, MlpRequest(rows: 1 + w % 2, seed: w));
                Assert.Equal([1L + w % 2, 3], result.Outputs[0].Shape);
                Interlocked.Increment(ref served);
            }
        })).ToArray();

        for (var i = 0; i < 6; i++)
        {
            await WaitUntil(() => Volatile.Read(ref served) >= 20 * (i + 1));
            var settings = new InferenceSettings { Instances = 1 + i % 2, MaxBatchSize = i % 3 == 0 ? 4 : 1 };
            replaced.Add(await host.ReplaceAsync(Key, i % 2 == 0 ? gemm : mlp, settings));
        }
        await WaitUntil(() => Volatile.Read(ref served) >= 140);
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        // Every old model was drained and released; the last one serves.
        Assert.All(replaced[..^1], m => Assert.True(m.IsRetired && m.Drained.IsCompletedSuccessfully));
        Assert.True(host.TryGet(Key, out var current));
        Assert.Same(replaced[^1], current);
        Assert.False(current.IsRetired);
    }

    [Fact]
    public async Task Replace_ReleasesTheOldModel_OnlyAfterItsInFlightRequestFinishes()
    {
        using var folder = new TempFolder();
        var slow = InferenceTestModels.Write(InferenceTestModels.Slow(layers: 400), folder, "slow.onnx");
        await using var host = new InferenceHost();
        var key = new ModelKey("slow", "1");
        var old = await host.LoadAsync(key, slow, new InferenceSettings());

        // A request that reached the old model just before the switch: it holds a reference (as InferenceHost.InferAsync
        // does) and runs only after the switch. Holding it by hand, rather than racing a slow run against the reload,
        // keeps the test deterministic on a fast or a starved machine.
        Assert.True(old.TryAcquire());
        var replacing = host.ReplaceAsync(key, slow, new InferenceSettings());
        await WaitUntil(() => old.IsRetired);

        Assert.False(old.Drained.IsCompleted);
        Assert.True(host.TryGet(key, out var current));
        Assert.NotSame(old, current);
        Assert.Single((await host.InferAsync(key, SlowRequest(rows: 1))).Outputs);
        Assert.False(replacing.IsCompleted);
        var finished = await old.InferAcquiredAsync(SlowRequest(rows: 20), CancellationToken.None);
        Assert.Equal([20L, 256], finished.Outputs[0].Shape);
        Assert.False(old.Drained.IsCompleted);
        old.Release();
        Assert.Same(current, await replacing);
        Assert.True(old.Drained.IsCompletedSuccessfully);
        await Assert.ThrowsAsync<ModelNotLoadedException>(() => old.InferAsync(SlowRequest(rows: 1)));
    }

    [Fact]
    public async Task Replace_WithAModelThatFailsToLoad_KeepsTheOldOneServing()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        var broken = TestModels.WriteFile(folder.Path, "broken.onnx", TestModels.Truncated(TestModels.Bytes(TestModels.Mlp())));
        await using var host = new InferenceHost();
        var model = await host.LoadAsync(Key, mlp, new InferenceSettings());

        var error = await Assert.ThrowsAsync<ModelLoadException>(() => host.ReplaceAsync(Key, broken, new InferenceSettings()));

        Assert.StartsWith("ONNX Runtime could not load model mlp/1: ", error.Message);
        Assert.True(host.TryGet(Key, out var current));
        Assert.Same(model, current);
        Assert.Single((await host.InferAsync(Key, MlpRequest(1, 0))).Outputs);
    }

    [Fact]
    public async Task ModelThatFailsToLoad_BesideAHealthyOne_LeavesItServing()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        var custom = TestModels.Write(TestModels.CustomOpModel(), folder.Path, "custom.onnx");
        await using var host = new InferenceHost();
        await host.LoadAsync(Key, mlp, new InferenceSettings());

        var error = await Assert.ThrowsAsync<ModelLoadException>(() => host.LoadAsync(new ModelKey("custom", "1"), custom, new InferenceSettings()));

        Assert.Contains("Frobnicate", error.Message);
        Assert.Equal(new[] { Key }, host.Keys);
        Assert.Single((await host.InferAsync(Key, MlpRequest(1, 0))).Outputs);
        await Assert.ThrowsAsync<ModelNotLoadedException>(() => host.InferAsync(new ModelKey("custom", "1"), MlpRequest(1, 0)));
    }

    [Fact]
    public async Task LoadingTheSameKeyTwice_IsRefused()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        await using var host = new InferenceHost();
        await host.LoadAsync(Key, mlp, new InferenceSettings());

        await Assert.ThrowsAsync<InvalidOperationException>(() => host.LoadAsync(Key, mlp, new InferenceSettings()));
    }

    [Fact]
    public async Task ModelDisposedBehindTheHostsBack_IsNotLoaded()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        await using var host = new InferenceHost();
        var model = await host.LoadAsync(Key, mlp, new InferenceSettings());

        await model.DisposeAsync();

        var error = await Assert.ThrowsAsync<ModelNotLoadedException>(() => host.InferAsync(Key, MlpRequest(1, 0)));
        Assert.Equal("Model mlp/1 was disposed without being unloaded from the host.", error.Message);
        Assert.True(await host.UnloadAsync(Key));
    }

    [Fact]
    public async Task UnknownKey_IsNotLoaded()
    {
        await using var host = new InferenceHost();

        var error = await Assert.ThrowsAsync<ModelNotLoadedException>(() => host.InferAsync(new ModelKey("nope", "1"), MlpRequest(1, 0)));

        Assert.Equal("No model is loaded as nope/1.", error.Message);
        Assert.False(await host.UnloadAsync(new ModelKey("nope", "1")));
    }

    [Fact]
    public async Task BadRequest_IsARequestFault_AndLeavesTheModelServing()
    {
        using var folder = new TempFolder();
        var mlp = TestModels.Write(TestModels.Mlp(), folder.Path, "mlp.onnx");
        await using var host = new InferenceHost();
        await host.LoadAsync(Key, mlp, new InferenceSettings());

        await Assert.ThrowsAsync<InferenceRequestException>(() => host.InferAsync(Key, InferenceRequest.Of(InferenceTensor.FromValues<float>("input", [1, 5], new float[5]))));

        Assert.Single((await host.InferAsync(Key, MlpRequest(1, 0))).Outputs);
        Assert.True(host.TryGet(Key, out var model));
        Assert.Equal((2L, 0L), (model.Statistics.Requests, model.Statistics.Failures));
    }
}

/// <summary>Memory is measured for the whole process, so these run alone.</summary>
[CollectionDefinition(nameof(InferenceMemoryCollection), DisableParallelization = true)]
public sealed class InferenceMemoryCollection;

[Collection(nameof(InferenceMemoryCollection))]
public sealed class InferenceMemoryTests
{
    [Fact]
    public async Task Unload_ReleasesTheSessions_AndTheirMemory()
    {
        const int tableFloats = 32 * 1024 * 1024 / 4 * 3; // 96 MiB of weights
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Table(tableFloats), folder, "table.onnx");
        await using var host = new InferenceHost();
        var key = new ModelKey("table", "1");
        GC.Collect();
        GC.WaitForPendingFinalizers();

        var model = await host.LoadAsync(key, path, new InferenceSettings());
        var loaded = WorkingSet();
        var result = await host.InferAsync(key, InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [2], [5, tableFloats - 1])));
        Assert.Equal([5f, tableFloats - 1], result.Outputs[0].ToArray<float>());
        Assert.True(await host.UnloadAsync(key));
        // The memory goes back as the sessions are disposed and collected; on a loaded machine that can take a moment.
        var unloaded = long.MaxValue;
        for (var attempt = 0; attempt < 20 && loaded - unloaded <= 64L * 1024 * 1024; attempt++)
        {
            if (attempt > 0) await Task.Delay(100);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            unloaded = WorkingSet();
        }

        Assert.True(model.LoadReport.MemoryGrowthBytes > 64L * 1024 * 1024, $"load grew the working set by {model.LoadReport.MemoryGrowthBytes:N0} bytes");
        Assert.True(loaded - unloaded > 64L * 1024 * 1024, $"unload freed {loaded - unloaded:N0} bytes");
        Assert.True(model.Drained.IsCompletedSuccessfully);
        Assert.Empty(host.Keys);
        await Assert.ThrowsAsync<ModelNotLoadedException>(() => host.InferAsync(key, InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [1], [0]))));
        await Assert.ThrowsAsync<ModelNotLoadedException>(() => model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [1], [0]))));
    }

    private static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }
}
