using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;
using Onnx;

namespace MaaS.Onnx.Tests;

/// <summary>End to end: each test starts the real MaaS.ModelProbe as a child process under prlimit.</summary>
public sealed class ModelProbeClientTests : IDisposable
{
    private static readonly ProbeLimits Limits = new(MemoryBytes: 1L << 30, Timeout: TimeSpan.FromSeconds(60), MaxModelBytes: 256L << 20);
    private readonly TempFolder temp = new();
    private readonly ModelProbeClient client = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public async Task Probe_AdmitsMlp_AndReportsOnnxRuntimesSignature()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.True(report.Admitted, report.Message);
        Assert.Null(report.FailedCheck);
        var input = Assert.Single(report.RuntimeInputs!);
        Assert.Equal(new TensorSignature("input", "float", null), input with { Shape = null });
        Assert.Equal([new Dimension(null, "batch"), new Dimension(4, null)], input.Shape!);
        var output = Assert.Single(report.RuntimeOutputs!);
        Assert.Equal(("output", "float", "[batch, 3]"), (output.Name, output.ElementType, $"[{string.Join(", ", output.Shape!)}]"));
        Assert.Equal(5, report.Inspection!.NodeCount);
        Assert.True(report.LoadMilliseconds > 0);
        Assert.True(report.RunMilliseconds > 0);
        Assert.True(report.PeakMemoryBytes > 0);
    }

    [Fact]
    public async Task Probe_AdmitsConvNetAndIfModel_RunningThemOnGeneratedInputs()
    {
        var conv = await client.ProbeAsync(TestModels.Write(TestModels.ConvNet(), temp.Sub("conv")), Limits, CancellationToken.None);
        var branches = await client.ProbeAsync(TestModels.Write(TestModels.IfModel(), temp.Sub("if")), Limits, CancellationToken.None);

        Assert.True(conv.Admitted, conv.Message);
        Assert.True(branches.Admitted, branches.Message);
        Assert.Equal(["x", "cond"], branches.RuntimeInputs!.Select(i => i.Name));
        Assert.Equal("bool", branches.RuntimeInputs![1].ElementType);
        Assert.True(branches.RunMilliseconds > 0);
    }

    [Fact]
    public async Task Probe_AdmitsExternalData_NextToTheModel()
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin");
        var path = TestModels.Write(TestModels.ExternalDataModel("weights.bin"), temp.Path);

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.True(report.Admitted, report.Message);
        Assert.Equal(["weights.bin"], report.Inspection!.ExternalDataFiles);
    }

    [Fact]
    public async Task Probe_RejectsModel_WhenExternalDataEscapesFolder()
    {
        TestModels.WriteExternalData(temp.Path, "secret.bin");
        var path = TestModels.Write(TestModels.ExternalDataModel("../secret.bin"), temp.Sub("model"));

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.False(report.Admitted);
        Assert.Equal(AdmissionChecks.ExternalData, report.FailedCheck);
        Assert.Equal("External data location '../secret.bin' in initializer 'w' leaves the model's folder.", report.Message);
    }

    [Fact]
    public async Task Probe_RejectsAllocationBomb_WithinTheMemoryCap()
    {
        var path = TestModels.Write(TestModels.ConstantOfShapeBomb(), temp.Path);

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.False(report.Admitted);
        Assert.Equal(AdmissionChecks.Memory, report.FailedCheck);
        Assert.Equal("The model could not be opened safely: it needed more than 1024 MB of memory.", report.Message);
    }

    [Fact]
    public async Task Probe_RejectsJpeg_SayingWhatItIs()
    {
        var path = TestModels.WriteFile(temp.Path, "photo.onnx", TestModels.JpegLikeBytes());

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.Equal(AdmissionChecks.Format, report.FailedCheck);
        Assert.Equal("The file is not an ONNX model: it looks like a JPEG image.", report.Message);
    }

    [Fact]
    public async Task Probe_RejectsTruncatedModel()
    {
        var path = TestModels.WriteFile(temp.Path, "model.onnx", TestModels.Truncated(TestModels.Bytes(TestModels.Mlp())));

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.Equal(AdmissionChecks.Format, report.FailedCheck);
        Assert.Contains("not a complete ONNX model", report.Message);
    }

    [Fact]
    public async Task Probe_PassesOnOnnxRuntimesReason_WithoutItsSourceLocation()
    {
        // Passes the managed checks, but MatMul cannot multiply [batch,4] by [3,8].
        var model = TestModels.Mlp();
        model.Graph.Initializer[0] = TestModels.FloatTensor("W1", [3, 8], new float[24]);
        var path = TestModels.Write(model, temp.Path);

        var report = await client.ProbeAsync(path, Limits, CancellationToken.None);

        Assert.Equal(AdmissionChecks.Runtime, report.FailedCheck);
        Assert.StartsWith("ONNX Runtime could not load the model: Node (fc1) Op (MatMul) [ShapeInferenceError] Incompatible dimensions", report.Message);
        Assert.DoesNotContain(temp.Path, report.Message);
        Assert.DoesNotContain("onnxruntime_src", report.Message);
        Assert.DoesNotContain("[ErrorCode", report.Message);
        Assert.NotNull(report.Inspection);
    }

    [Fact]
    public async Task Probe_ReportsMemory_WhenTheRuntimeCannotEvenStartUnderTheCap()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);

        var report = await client.ProbeAsync(path, Limits with { MemoryBytes = 8L << 20 }, CancellationToken.None);

        Assert.False(report.Admitted);
        Assert.Equal(AdmissionChecks.Memory, report.FailedCheck);
        Assert.Equal("The model could not be opened safely: it needed more than 8 MB of memory.", report.Message);
    }

    [Fact]
    public async Task Probe_ReportsACrash_WhenTheProbeProcessCannotStart()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);
        var notAnAssembly = TestModels.WriteFile(temp.Sub("probe"), "MaaS.ModelProbe.dll", TestModels.ExeLikeBytes());

        var report = await new ModelProbeClient(notAnAssembly).ProbeAsync(path, Limits, CancellationToken.None);

        Assert.False(report.Admitted);
        Assert.Equal(AdmissionChecks.Crash, report.FailedCheck);
        Assert.StartsWith("The model could not be opened safely: the probe process could not start (", report.Message);
    }

    [Fact]
    public async Task Probe_KillsTheChild_WhenTheTimeLimitPasses()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);

        var report = await client.ProbeAsync(path, Limits with { Timeout = TimeSpan.FromMilliseconds(50) }, CancellationToken.None);

        Assert.Equal(AdmissionChecks.Timeout, report.FailedCheck);
        Assert.Equal("The model could not be opened safely: it did not open within 0.05 s.", report.Message);
        Assert.Empty(ProcessesMentioning(path));
    }

    [Fact]
    public async Task Probe_KillsTheChildAndThrows_WhenCancelled()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ProbeAsync(path, Limits, cancel.Token));

        Assert.Empty(ProcessesMentioning(path));
    }

    [Fact]
    public async Task Probes_RunOneAtATime_WithOneSlot_AndEachMarksItselfFirstForTheOutOfMemoryKiller()
    {
        var oneAtATime = new ModelProbeClient(maxConcurrentProbes: 1);
        var paths = new[] { "first", "second", "third" }.Select(name => TestModels.Write(TestModels.Mlp(), Path.Combine(temp.Path, name))).ToList();

        var probes = paths.Select(path => oneAtATime.ProbeAsync(path, Limits, CancellationToken.None)).ToList();
        var mostAtOnce = 0;
        var scores = new HashSet<string>();
        while (!probes.All(p => p.IsCompleted))
        {
            var live = paths.SelectMany(ProcessesMentioning).ToList();
            mostAtOnce = Math.Max(mostAtOnce, live.Count);
            foreach (var pid in live)
            {
                try
                {
                    scores.Add(File.ReadAllText($"/proc/{pid}/oom_score_adj").Trim());
                }
                catch (IOException)
                {
                    // It finished between the listing and the read.
                }
            }
            await Task.Delay(5);
        }

        Assert.All(await Task.WhenAll(probes), report => Assert.True(report.Admitted, report.Message));
        Assert.Equal(1, mostAtOnce);
        Assert.Contains("1000", scores);
    }

    /// <summary>Ids of live processes whose command line contains <paramref name="text"/>.</summary>
    private static List<int> ProcessesMentioning(string text)
    {
        var found = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid)) continue;
            try
            {
                var commandLine = File.ReadAllText(Path.Combine(directory, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(text, StringComparison.Ordinal)) found.Add(pid);
            }
            catch (IOException)
            {
                // Gone while we looked.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return found;
    }
}
