using System.Text;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using Onnx;

namespace MaaS.Onnx.Tests;

public sealed class InferenceBatcherTests
{
    private static readonly InferenceSettings Batched = new()
    {
        MaxBatchSize = 16,
        BatchingDelay = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>Starts every call at once, after all are set up, so they reach the batcher together.</summary>
    private static async Task<T[]> Together<T>(int count, Func<int, Task<T>> call)
    {
        var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = Enumerable.Range(0, count).Select(i => Task.Run(async () =>
        {
            await start.Task;
            return await call(i);
        })).ToArray();
        start.SetResult();
        return await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task SixteenConcurrentCallers_EachGetExactlyTheirOwnRows()
    {
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);
        await using var batched = await LoadedModel.LoadAsync(new ModelKey("mlp", "batched"), path, Batched);
        await using var alone = await LoadedModel.LoadAsync(new ModelKey("mlp", "alone"), path, new InferenceSettings());
        Assert.True(batched.Batching);
        Assert.False(alone.Batching);

        var results = await Together(16, i => batched.InferAsync(InferenceHostTests.MlpRequest(rows: 1, seed: i)));

        for (var i = 0; i < 16; i++)
        {
            var expected = (await alone.InferAsync(InferenceHostTests.MlpRequest(rows: 1, seed: i))).Outputs[0];
            var actual = Assert.Single(results[i].Outputs);
            Assert.Equal([1L, 3], actual.Shape);
            AssertClose(expected.ToArray<float>(), actual.ToArray<float>());
        }
        Assert.True(batched.Statistics.Runs < 16, $"16 requests took {batched.Statistics.Runs} runs: nothing was batched");
        Assert.True(batched.Statistics.LargestBatch > 1);
        Assert.Equal(16, batched.Statistics.BatchedRequests);
        Assert.Contains(results, r => r.BatchRequests > 1);
    }

    [Fact]
    public async Task WithNoDelay_RequestsThatQueueWhileTheInstanceIsBusy_ShareTheNextRun()
    {
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);
        await using var model = await LoadedModel.LoadAsync(new ModelKey("mlp", "no-delay"), path, Batched with { BatchingDelay = TimeSpan.Zero });
        await using var alone = await LoadedModel.LoadAsync(new ModelKey("mlp", "alone"), path, new InferenceSettings());

        // The one instance is held by hand, as a running batch holds it. The first request opens a batch that, with no
        // delay, closes at once and waits for the instance; the others arrive meanwhile and join it when it gets one.
        var held = await model.Pool.RentAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        Task<InferenceResult> first;
        Task<InferenceResult>[] others;
        try
        {
            first = Task.Run(() => model.InferAsync(InferenceHostTests.MlpRequest(rows: 1, seed: 0)));
            // The batcher waits for the instance: the first request's batch has closed.
            await InferenceHostTests.WaitUntil(() => model.Pool.Waiting == 1);
            others = Enumerable.Range(1, 5).Select(i => Task.Run(() => model.InferAsync(InferenceHostTests.MlpRequest(rows: 1, seed: i)))).ToArray();
            await InferenceHostTests.WaitUntil(() => model.Statistics.QueuedRequests == 6);
            // The queue count rises just before a request is written to the queue; let the last one land.
            await Task.Delay(100);
            Assert.Equal(0, model.Statistics.Runs);
        }
        finally
        {
            // Whatever failed above, the instance goes back: the model's disposal waits for it.
            model.Pool.Return(held);
        }
        var results = await Task.WhenAll([first, .. others]);

        Assert.Equal(1, model.Statistics.Runs);
        Assert.Equal(6, model.Statistics.LargestBatch);
        for (var i = 0; i < 6; i++)
        {
            var expected = (await alone.InferAsync(InferenceHostTests.MlpRequest(rows: 1, seed: i))).Outputs[0];
            AssertClose(expected.ToArray<float>(), Assert.Single(results[i].Outputs).ToArray<float>());
        }
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        // A batched GEMM may sum in another order than a one-row one; a row mix-up would be off by far more.
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"value {i}: {expected[i]} vs {actual[i]}");
    }

    [Fact]
    public async Task CallersWithSeveralRows_GetExactlyTheirRows()
    {
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);
        await using var batched = await LoadedModel.LoadAsync(new ModelKey("mlp", "batched"), path, Batched with { MaxBatchSize = 8 });
        await using var alone = await LoadedModel.LoadAsync(new ModelKey("mlp", "alone"), path, new InferenceSettings());

        // 1 + 2 + 3 rows, repeated: more than one batch's worth, and one caller with more rows than a batch holds.
        int RowsOf(int i) => i == 9 ? 12 : 1 + i % 3;
        var results = await Together(10, i => batched.InferAsync(InferenceHostTests.MlpRequest(RowsOf(i), seed: 10 * i)));

        for (var i = 0; i < 10; i++)
        {
            var expected = (await alone.InferAsync(InferenceHostTests.MlpRequest(RowsOf(i), seed: 10 * i))).Outputs[0];
            Assert.Equal([RowsOf(i), 3L], results[i].Outputs[0].Shape);
            AssertClose(expected.ToArray<float>(), results[i].Outputs[0].ToArray<float>());
        }
        Assert.Equal(1, results[9].BatchRequests);
        Assert.True(batched.Statistics.Runs < 10);
    }

    [Fact]
    public async Task RequestsWhoseTrailingDimensionsDiffer_RunApart()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Identity(TensorProto.Types.DataType.Float, TestModels.Batch, "width"), folder, "identity.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("identity", "1"), path, Batched);

        var results = await Together(8, i =>
        {
            var width = 2 + i % 2;
            var values = Enumerable.Range(0, width).Select(v => i * 100f + v).ToArray();
            return model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<float>("x", [1, width], values)));
        });

        for (var i = 0; i < 8; i++)
        {
            var width = 2 + i % 2;
            Assert.Equal([1L, width], results[i].Outputs[0].Shape);
            Assert.Equal(Enumerable.Range(0, width).Select(v => i * 100f + v), results[i].Outputs[0].ToArray<float>());
            Assert.True(results[i].BatchRequests <= 4, "a batch mixed widths");
        }
        Assert.True(model.Statistics.Runs >= 2);
    }

    [Fact]
    public async Task FailedBatch_FailsEveryCaller_WithTheRuntimesMessage()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Table(10), folder, "table.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("table", "1"), path, Batched);

        // Index 99 is outside the table: ONNX Runtime fails the run that carries it, which is the whole batch.
        var outcomes = await Together(4, async i =>
        {
            try
            {
                await model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [1], [i == 2 ? 99 : i])));
                return null;
            }
            catch (InferenceRuntimeException ex)
            {
                return ex.Message;
            }
        });

        Assert.All(outcomes, message =>
        {
            Assert.NotNull(message);
            Assert.StartsWith("Model table/1 failed to run: ", message);
            Assert.Contains("99", message);
        });
        Assert.Equal(1, model.Statistics.Runs);
        Assert.Equal(4, model.Statistics.Failures);
        // The model itself is fine.
        var after = await model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [1], [3])));
        Assert.Equal([3f], after.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task CancelledCaller_DoesNotBreakTheOthers()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Table(10), folder, "table.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("table", "1"), path, Batched with { BatchingDelay = TimeSpan.FromMilliseconds(500) });
        using var cancel = new CancellationTokenSource();

        var calls = Enumerable.Range(0, 4).Select(i => Task.Run(() =>
            model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<long>("idx", [1], [i])), i == 1 ? cancel.Token : default))).ToArray();
        await InferenceHostTests.WaitUntil(() => model.Statistics.Requests == 4);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => calls[1]);
        foreach (var i in new[] { 0, 2, 3 }) Assert.Equal(new[] { (float)i }, (await calls[i]).Outputs[0].ToArray<float>());
        Assert.Equal(0, model.Statistics.QueuedRequests);
        Assert.Equal(1, model.Statistics.Runs);
    }

    [Fact]
    public async Task MalformedRequests_BesideAValidOne_LeaveTheValidCallerItsOwnAnswer()
    {
        using var folder = new TempFolder();
        var path = TestModels.Write(TestModels.Mlp(), folder.Path);
        await using var model = await LoadedModel.LoadAsync(new ModelKey("mlp", "1"), path, Batched);
        await using var alone = await LoadedModel.LoadAsync(new ModelKey("mlp", "alone"), path, new InferenceSettings());
        string[] bodies =
        [
            // Alice: shape [1,8] with 10 values (Triton's cross-tenant test), a wrong datatype, a wrong width.
            """{"inputs":[{"name":"input","shape":[1,8],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}]}""",
            """{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}""",
            """{"inputs":[{"name":"input","shape":[2,5],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10]}]}""",
            // Bob: a valid request.
            """{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[0.5,1,1.5,2],[-1,-2,-3,-4]]}]}""",
        ];

        var outcomes = await Together(bodies.Length, async i =>
        {
            try
            {
                return (object)await model.InferAsync(V2Codec.ParseRequest(Encoding.UTF8.GetBytes(bodies[i])));
            }
            catch (InferenceRequestException ex)
            {
                return ex.Message;
            }
        });

        Assert.Equal("input 'input': shape [1,8] needs 8 values, got 10.", outcomes[0]);
        Assert.Equal("input 'input': datatype FP64 does not match the model's FP32.", outcomes[1]);
        Assert.Equal("input 'input': dimension 1 is 5; the model expects 4 ([-1,4]).", outcomes[2]);
        var bob = Assert.IsType<InferenceResult>(outcomes[3]);
        var expected = await alone.InferAsync(V2Codec.ParseRequest(Encoding.UTF8.GetBytes(bodies[3])));
        Assert.Equal([2L, 3], bob.Outputs[0].Shape);
        AssertClose(expected.Outputs[0].ToArray<float>(), bob.Outputs[0].ToArray<float>());
    }

    [Fact]
    public async Task ZipMapOutputs_AreSplitPerCaller()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.ZipMapClassifier(stringLabels: true), folder, "zipmap.onnx");
        await using var model = await LoadedModel.LoadAsync(new ModelKey("zipmap", "1"), path, Batched);
        Assert.True(model.Batching);

        var results = await Together(6, i =>
            model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<float>("x", [1, 2], [i * 0.125f, 1 - i * 0.125f]))));

        for (var i = 0; i < 6; i++)
        {
            var maps = results[i].Outputs.Single(o => o.Name == "probabilities");
            Assert.Equal([1L], maps.Shape);
            Assert.Equal(string.Create(System.Globalization.CultureInfo.InvariantCulture, $$"""{"cat":{{i * 0.125f}},"dog":{{1 - i * 0.125f}}}"""), maps.Strings![0]);
        }
        Assert.True(model.Statistics.Runs < 6);
    }

    [Fact]
    public async Task ModelWithAFixedFirstDimension_DoesNotBatch()
    {
        using var folder = new TempFolder();
        var path = InferenceTestModels.Write(InferenceTestModels.Identity(TensorProto.Types.DataType.Float, 2, 3), folder, "fixed.onnx");

        await using var model = await LoadedModel.LoadAsync(new ModelKey("fixed", "1"), path, Batched);

        Assert.False(model.Batching);
        Assert.Equal("input 'x' has no variable first dimension ([2,3])", model.BatchingUnavailable);
        Assert.Single((await model.InferAsync(InferenceRequest.Of(InferenceTensor.FromValues<float>("x", [2, 3], new float[6])))).Outputs);
    }
}
