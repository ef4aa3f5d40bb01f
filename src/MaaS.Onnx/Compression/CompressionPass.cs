using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// One rewrite of a model (quantize, convert to FP16, prune, optimise). Passes compose: each takes the model the
/// previous one produced. A pass mutates and/or returns the model and says in its report what it did to each node it
/// considered; a node it cannot handle is skipped with the reason, never half-rewritten.
/// </summary>
public interface ICompressionPass
{
    /// <summary>Short stable name for reports and lineage ("int8-dynamic", "fp16", ...).</summary>
    string Name { get; }

    /// <summary>Returns the rewritten model (may be the same instance, changed).</summary>
    ModelProto Apply(ModelProto model, CompressionContext context, PassReport report);
}

/// <summary>What a pass may use besides the model: sample inputs (for calibration), progress, cancellation, scratch space.</summary>
public sealed class CompressionContext
{
    /// <summary>Representative inputs; empty means the pass generates its own where it needs any.</summary>
    public IReadOnlyList<ModelSample> Samples { get; init; } = [];

    /// <summary>A folder for temporary files (ORT's optimised model output); the caller deletes it.</summary>
    public string WorkDirectory { get; init; } = Path.GetTempPath();

    /// <summary>Progress of the current pass, 0..1, with a stage text.</summary>
    public Action<double, string>? Progress { get; init; }

    public CancellationToken CancellationToken { get; init; }

    public void Report(double fraction, string stage) => Progress?.Invoke(Math.Clamp(fraction, 0, 1), stage);
}

/// <summary>Runs passes in order and collects their reports.</summary>
public static class CompressionPipeline
{
    public static ModelProto Run(ModelProto model, IReadOnlyList<ICompressionPass> passes, CompressionContext context, CompressionReport report)
    {
        report.SizeBefore = OnnxModelFile.SerializedSize(model);
        for (var i = 0; i < passes.Count; i++)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var pass = passes[i];
            var passReport = new PassReport(pass.Name);
            var inner = new CompressionContext
            {
                Samples = context.Samples,
                WorkDirectory = context.WorkDirectory,
                CancellationToken = context.CancellationToken,
                Progress = context.Progress is null ? null : (f, stage) => context.Progress((i + f) / passes.Count, $"{pass.Name}: {stage}"),
            };
            model = pass.Apply(model, inner, passReport);
            report.Passes.Add(passReport);
        }
        report.SizeAfter = OnnxModelFile.SerializedSize(model);
        return model;
    }
}
