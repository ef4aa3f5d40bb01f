using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>How far ONNX Runtime may rewrite the graph (compression-algorithms.md §6).</summary>
public enum OptimizationLevel
{
    /// <summary>Portable: constant folding, redundant-node elimination, Conv+BatchNorm/Add/Mul fusion; standard ops only.</summary>
    Basic,

    /// <summary>Basic plus fusions into com.microsoft contrib ops (FusedConv, FusedGemm, Gelu, LayerNorm...): ORT only.</summary>
    Extended,
}

/// <summary>
/// ONNX Runtime's own offline graph optimisation: a session is created at the chosen level with
/// OptimizedModelFilePath set, and the model ORT writes is the result. Never the layout level (ORT_ENABLE_ALL): its
/// NCHWc rewrites tie the file to the CPU it was made on.
/// </summary>
public sealed class GraphOptimizationPass(OptimizationLevel level = OptimizationLevel.Basic) : ICompressionPass
{
    public const string ExtendedNote = "ORT-only: contains com.microsoft contrib ops, runs only on ONNX Runtime CPU";

    public string Name => "optimize";

    public ModelProto Apply(ModelProto model, CompressionContext context, PassReport report)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        report.Options["level"] = level.ToString();
        var before = OpTypeCounts(model.Graph);
        context.Report(0, "optimising with ONNX Runtime");

        Directory.CreateDirectory(context.WorkDirectory);
        var outputPath = Path.Combine(context.WorkDirectory, $"optimized-{Guid.NewGuid():N}.onnx");
        try
        {
            using (var options = new SessionOptions())
            {
                options.GraphOptimizationLevel = level == OptimizationLevel.Extended
                    ? GraphOptimizationLevel.ORT_ENABLE_EXTENDED
                    : GraphOptimizationLevel.ORT_ENABLE_BASIC;
                options.OptimizedModelFilePath = outputPath;
                if (OnnxModelFile.NeedsExternalData(model))
                {
                    // Over 2 GB ORT must write the optimised weights beside the model, as it does only when told to.
                    options.AddSessionConfigEntry("session.optimized_model_external_initializers_file_name", Path.GetFileName(outputPath) + ".data");
                    options.AddSessionConfigEntry("session.optimized_model_external_initializers_min_size_in_bytes", OnnxModelFile.ExternalTensorMinBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
                }
                using var session = OnnxModelFile.CreateSession(model, options);
            }
            var optimized = OnnxModelFile.Load(outputPath);
            DropUnusedOpsetImports(optimized);
            Describe(before, OpTypeCounts(optimized.Graph), report);
            if (level == OptimizationLevel.Extended) report.Notes.Add(ExtendedNote);
            context.Report(1, "optimised");
            return optimized;
        }
        finally
        {
            File.Delete(outputPath);
            File.Delete(outputPath + ".data");
        }
    }

    /// <summary>
    /// ONNX Runtime writes an opset import for every domain it registers (ai.onnx.training, com.microsoft.nchwc, ...)
    /// whether or not a node uses it; an unused import only makes other runtimes, and our own admission, refuse the model.
    /// </summary>
    internal static void DropUnusedOpsetImports(ModelProto model)
    {
        var used = OnnxGraphs.AllNodes(model).Select(site => site.Node.Domain is "ai.onnx" ? "" : site.Node.Domain)
            .Concat(model.Functions.Select(f => f.Domain))
            .ToHashSet(StringComparer.Ordinal);
        var keep = model.OpsetImport.Where(o => o.Domain is "" or "ai.onnx" || used.Contains(o.Domain)).ToList();
        model.OpsetImport.Clear();
        model.OpsetImport.AddRange(keep);
    }

    private static void Describe(Dictionary<string, int> before, Dictionary<string, int> after, PassReport report)
    {
        report.Figures["nodesBefore"] = before.Values.Sum();
        report.Figures["nodesAfter"] = after.Values.Sum();
        var gone = before.Keys.Where(op => !after.ContainsKey(op)).Order(StringComparer.Ordinal).ToList();
        var appeared = after.Keys.Where(op => !before.ContainsKey(op)).Order(StringComparer.Ordinal).ToList();
        report.Notes.Add($"Nodes: {before.Values.Sum()} → {after.Values.Sum()}.");
        if (gone.Count > 0) report.Notes.Add($"Op types that disappeared: {string.Join(", ", gone)}.");
        if (appeared.Count > 0) report.Notes.Add($"Op types that appeared: {string.Join(", ", appeared)}.");
        foreach (var op in before.Keys.Union(after.Keys).Order(StringComparer.Ordinal))
        {
            var change = after.GetValueOrDefault(op) - before.GetValueOrDefault(op);
            if (change != 0) report.Figures[$"nodes.{op}"] = change;
        }
    }

    /// <summary>Node count per op type ("domain:Op" for non-default domains), main graph only.</summary>
    internal static Dictionary<string, int> OpTypeCounts(GraphProto graph) =>
        graph.Node
            .GroupBy(n => n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}:{n.OpType}", StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
}
