using Onnx;

namespace MaaS.Onnx.Compression;

public enum NodeAction { Rewritten, Skipped }

/// <summary>What a pass did to one node, and why when it left it alone (e.g. "weight is computed, not constant").</summary>
public sealed record NodeChange(string Node, string OpType, NodeAction Action, string? Reason = null);

/// <summary>What one pass did: nodes rewritten and skipped with reasons, notes for people, and figures it measured.</summary>
public sealed class PassReport
{
    public PassReport(string pass) => Pass = pass;

    public string Pass { get; }
    /// <summary>The options the pass ran with, as text, for lineage and reports.</summary>
    public Dictionary<string, string> Options { get; } = [];
    public List<NodeChange> Nodes { get; } = [];
    /// <summary>Plain statements a user should read (e.g. "ONNX Runtime on CPU gets no speed from unstructured sparsity").</summary>
    public List<string> Notes { get; } = [];
    /// <summary>Numbers the pass measured (e.g. "sparsity": 0.5, "compressedBytes": 123).</summary>
    public Dictionary<string, double> Figures { get; } = [];

    public int Rewritten => Nodes.Count(n => n.Action == NodeAction.Rewritten);
    public int Skipped => Nodes.Count(n => n.Action == NodeAction.Skipped);

    public void Rewrote(NodeProto node) => Nodes.Add(new NodeChange(Compression.Nodes.Label(node), node.OpType, NodeAction.Rewritten));
    public void Skip(NodeProto node, string reason) => Nodes.Add(new NodeChange(Compression.Nodes.Label(node), node.OpType, NodeAction.Skipped, reason));
}

/// <summary>A quality gate: limits a compressed model must meet to be accepted. Null members are not checked.</summary>
public sealed record QualityGate(double? MinCosine = 0.99, double? MaxTop1Disagreement = null, double? MaxLatencyRatio = null);

public sealed record GateResult(bool Passed, IReadOnlyList<string> Failures);

/// <summary>The whole story of a compression run: every pass, sizes before and after, the evaluation and the gate.</summary>
public sealed class CompressionReport
{
    public List<PassReport> Passes { get; } = [];
    public long SizeBefore { get; set; }
    public long SizeAfter { get; set; }
    public double SizeRatio => SizeBefore == 0 ? 0 : (double)SizeAfter / SizeBefore;
    public EvaluationResult? Evaluation { get; set; }
    public GateResult? Gate { get; set; }
}
