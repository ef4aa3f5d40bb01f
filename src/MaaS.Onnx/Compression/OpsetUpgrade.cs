using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Raises a model's ai.onnx opset (per-channel QuantizeLinear/DequantizeLinear need 13). Rewrites the operators whose
/// definition changed on the way in ways a rewrite can carry over (BatchNormalization's spatial attribute, attributes
/// that became inputs: Reshape shape, Split split, Squeeze/Unsqueeze/ReduceSum axes, Clip min/max; Dropout ratio);
/// refuses, naming the operator, when one changed meaning in a way it does not handle. Nothing is changed when it
/// refuses: every node is checked before the first is rewritten.
/// </summary>
public static class OpsetUpgrade
{
    /// <summary>Operators whose meaning did not change between opset 6 and 13 for the attributes they carry.</summary>
    private static readonly HashSet<string> Unchanged = new(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Elu", "Selu", "HardSigmoid", "Softplus", "Softsign",
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LRN", "Gemm", "MatMul", "Flatten", "Concat",
        "Sum", "Mean", "Max", "Min", "Neg", "Abs", "Exp", "Log", "Sqrt", "Reciprocal", "Pow", "Floor", "Ceil", "Identity",
        "Transpose", "Shape", "Size", "Gather", "Cast", "Constant", "ConstantOfShape", "Expand", "Tile", "Where", "Equal",
        "Less", "Greater", "Not", "And", "Or", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
        "InstanceNormalization", "LpNormalization", "Erf", "Sign", "Range", "If", "Loop",
    };

    private static readonly HashSet<string> Binary = new(StringComparer.Ordinal) { "Add", "Sub", "Mul", "Div" };

    public static void UpgradeTo(ModelProto model, long target, PassReport report)
    {
        var from = Opsets.Version(model);
        if (from >= target) return;
        if (from < 6) throw new NotSupportedException($"The model's opset {from} is older than 6; upgrading it is not supported.");

        // Check every node first, collecting the rewrites, so a refusal leaves the model as it was.
        var rewrites = new List<Action>();
        foreach (var (node, graph) in NodesWithGraphs(model.Graph).Where(s => ModelInspector.IsDefaultDomain(s.Node.Domain)))
        {
            rewrites.AddRange(Plan(node, graph, from, target));
        }
        foreach (var rewrite in rewrites) rewrite();

        Opsets.Require(model, "", target);
        // ORT wants IR version 7 or later for opset 13.
        if (target >= 13 && model.IrVersion < 7)
        {
            if (model.IrVersion < 4) RemoveInitializersFromInputs(model.Graph);
            model.IrVersion = 7;
        }
        report.Notes.Add($"Raised the ai.onnx opset from {from} to {target} ({rewrites.Count} operator rewrites); IR version {model.IrVersion}.");
    }

    private static IEnumerable<(NodeProto Node, GraphProto Graph)> NodesWithGraphs(GraphProto graph)
    {
        foreach (var node in graph.Node)
        {
            yield return (node, graph);
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var inner in NodesWithGraphs(subgraph)) yield return inner;
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Refuse(NodeProto node, long from, long target, string why) =>
        throw new NotSupportedException($"Cannot raise the opset from {from} to {target}: {Nodes.Label(node)} {why}.");

    private static List<Action> Plan(NodeProto node, GraphProto graph, long from, long target)
    {
        var actions = new List<Action>();
        // Legacy attributes removed in opsets 6 and 7 that meant nothing at inference.
        foreach (var legacy in new[] { "is_test", "consumed_inputs" })
        {
            if (node.Attribute.Any(a => a.Name == legacy)) actions.Add(() => RemoveAttribute(node, legacy));
        }
        var op = node.OpType;
        if (Binary.Contains(op))
        {
            // Before 7, broadcasting was opt-in; without an axis it matched trailing dimensions, as numpy does.
            if (node.Attribute.Any(a => a.Name == "axis")) Refuse(node, from, target, "uses legacy broadcasting with an axis");
            if (node.Attribute.Any(a => a.Name == "broadcast")) actions.Add(() => RemoveAttribute(node, "broadcast"));
            return actions;
        }
        switch (op)
        {
            case var _ when Unchanged.Contains(op):
                if (op == "Gemm" && node.Attribute.Any(a => a.Name == "broadcast")) actions.Add(() => RemoveAttribute(node, "broadcast"));
                break;
            case "BatchNormalization":
                if (Nodes.IntAttribute(node, "spatial") is 0) Refuse(node, from, target, "has spatial=0 (per-activation statistics), which opset 9 removed");
                if (node.Output.Count > 1 && node.Output.Skip(1).Any(o => o.Length > 0)) Refuse(node, from, target, "outputs training statistics");
                actions.Add(() => RemoveAttribute(node, "spatial"));
                break;
            case "Softmax" or "LogSoftmax" or "Hardmax" when target >= 13 && from < 13:
                // Softmax before 13 flattened to 2-D at axis; the same only when axis is the last dimension.
                var axis = Nodes.IntAttribute(node, "axis") ?? 1;
                var rank = Rank(graph, node.Input[0]);
                if (rank is null || (axis != rank - 1 && axis != -1)) Refuse(node, from, target, "changed meaning in opset 13 (it now normalises one axis, not a flattened block) and the input's rank is not known to make them agree");
                actions.Add(() => SetInt(node, "axis", -1));
                break;
            case "Dropout":
                if (node.Output.Count > 1 && node.Output[1].Length > 0) Refuse(node, from, target, "uses its mask output");
                // Inference ignores the ratio; opset 12 made it an input.
                actions.Add(() => RemoveAttribute(node, "ratio"));
                break;
            case "Reshape":
                if (node.Attribute.FirstOrDefault(a => a.Name == "shape") is { } shape)
                {
                    actions.Add(() => AttributeToInput(node, graph, "shape", shape.Ints.ToArray(), 1));
                }
                break;
            case "Squeeze" or "Unsqueeze" or "ReduceSum" when target >= 13 && from < 13:
                if (node.Attribute.FirstOrDefault(a => a.Name == "axes") is { } axes)
                {
                    actions.Add(() => AttributeToInput(node, graph, "axes", axes.Ints.ToArray(), 1));
                }
                break;
            case "Split" when target >= 13 && from < 13:
                if (node.Attribute.FirstOrDefault(a => a.Name == "split") is { } split)
                {
                    actions.Add(() => AttributeToInput(node, graph, "split", split.Ints.ToArray(), 1));
                }
                break;
            case "Clip" when target >= 11 && from < 11:
                var type = ElementType(graph, node.Input[0]);
                if (type is not (null or OnnxElementTypes.Float)) Refuse(node, from, target, "clips a non-float32 tensor");
                var min = Nodes.FloatAttribute(node, "min") ?? float.MinValue;
                var max = Nodes.FloatAttribute(node, "max") ?? float.MaxValue;
                actions.Add(() =>
                {
                    RemoveAttribute(node, "min");
                    RemoveAttribute(node, "max");
                    var index = new GraphIndex(graph);
                    var minName = index.UniqueName($"{node.Output[0]}_clip_min");
                    var maxName = index.UniqueName($"{node.Output[0]}_clip_max");
                    graph.Initializer.Add(TensorData.ScalarFloat(minName, min));
                    graph.Initializer.Add(TensorData.ScalarFloat(maxName, max));
                    while (node.Input.Count > 1) node.Input.RemoveAt(node.Input.Count - 1);
                    node.Input.Add(minName);
                    node.Input.Add(maxName);
                });
                break;
            case "Upsample":
                Refuse(node, from, target, "was deprecated in opset 10 (Resize replaces it); rewrite not supported");
                break;
            case "Resize" when from < 11:
                Refuse(node, from, target, "changed its inputs and coordinate modes in opset 11; rewrite not supported");
                break;
            case "Pad" when from < 11:
                Refuse(node, from, target, "took pads as an attribute before opset 11; rewrite not supported");
                break;
            case "Squeeze" or "Unsqueeze" or "ReduceSum" or "Split" or "Clip" or "Pad" or "Resize":
                break;
            default:
                Refuse(node, from, target, "has no upgrade rule (its definition may have changed)");
                break;
        }
        return actions;
    }

    private static void AttributeToInput(NodeProto node, GraphProto graph, string attribute, long[] values, int position)
    {
        RemoveAttribute(node, attribute);
        var name = new GraphIndex(graph).UniqueName($"{(node.Name.Length > 0 ? node.Name : node.Output[0])}_{attribute}");
        graph.Initializer.Add(TensorData.Int64(name, [values.Length], values));
        while (node.Input.Count < position) node.Input.Add("");
        node.Input.Insert(position, name);
    }

    private static void RemoveAttribute(NodeProto node, string name)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is not null) node.Attribute.Remove(attribute);
    }

    private static void SetInt(NodeProto node, string name, long value)
    {
        RemoveAttribute(node, name);
        node.WithInt(name, value);
    }

    private static ValueInfoProto? ValueInfo(GraphProto graph, string name) =>
        graph.Input.Concat(graph.ValueInfo).Concat(graph.Output).FirstOrDefault(v => v.Name == name);

    private static int? Rank(GraphProto graph, string name) => ValueInfo(graph, name)?.Type?.TensorType?.Shape?.Dim.Count;

    private static int? ElementType(GraphProto graph, string name) => ValueInfo(graph, name)?.Type?.TensorType?.ElemType;

    /// <summary>IR 3 listed every initializer as a graph input; from IR 4 that makes it an overridable input ORT
    /// will not constant-fold or fuse, so drop those entries.</summary>
    private static void RemoveInitializersFromInputs(GraphProto graph)
    {
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var input in graph.Input.Where(i => initializers.Contains(i.Name)).ToList()) graph.Input.Remove(input);
    }
}
