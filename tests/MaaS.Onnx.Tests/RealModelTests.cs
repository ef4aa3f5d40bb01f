using MaaS.Onnx.Models;

namespace MaaS.Onnx.Tests;

/// <summary>A real exported CNN through the whole probe: CNTK's ResNet-18 from the ML.NET featurizer package.</summary>
public class RealModelTests
{
    private static readonly string ResNet18 = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");

    [Fact]
    public async Task Probe_AdmitsResNet18_WithItsDeclaredSignature()
    {
        // 1 GiB: what the portal gives a model of this size (the larger of 1 GiB and 4 × size + 512 MiB).
        var limits = new ProbeLimits(MemoryBytes: 1L << 30, Timeout: TimeSpan.FromSeconds(60), MaxModelBytes: 256L << 20);

        var report = await new ModelProbeClient().ProbeAsync(ResNet18, limits, CancellationToken.None);

        Assert.True(report.Admitted, report.Message);
        var inspection = report.Inspection!;
        Assert.Equal(3, inspection.IrVersion);
        Assert.Contains(new OpsetImport("ai.onnx", 8), inspection.Opsets);
        Assert.Equal(74, inspection.NodeCount);
        Assert.Equal(WeightStorage.Initializers, inspection.WeightStorage);
        var input = Assert.Single(report.RuntimeInputs!);
        Assert.Equal("Input247", input.Name);
        Assert.Equal("float", input.ElementType);
        Assert.Equal([1L, 3, 224, 224], input.Shape!.Select(d => d.Value!.Value));
        Assert.Equal(["Input247"], inspection.Inputs.Select(i => i.Name));
        var output = Assert.Single(report.RuntimeOutputs!);
        Assert.Equal("Pooling395_Output_0", output.Name);
        Assert.Equal([1L, 512, 1, 1], output.Shape!.Select(d => d.Value!.Value));
        Assert.True(report.RunMilliseconds > 0);
    }
}
