using Onnx;

namespace MaaS.Onnx.Models;

internal enum TensorRole { Initializer, SparseIndices, ConstantValue, Attribute }

/// <summary>
/// A tensor stored somewhere in a model, with words that say where (for messages), what it is, and whether it belongs
/// to the graph that runs (main graph and its subgraphs) rather than a function body or training-info graph.
/// </summary>
internal readonly record struct TensorSite(TensorProto Tensor, string Where, TensorRole Role, bool InMainGraph = true);

/// <summary>A node with words that say which subgraph it sits in ("" for the main graph).</summary>
internal readonly record struct NodeSite(NodeProto Node, string Where, bool InFunction);

/// <summary>
/// Walks every place a model can hold nodes and tensors: the main graph, control-flow subgraphs (If/Loop/Scan, to any
/// depth), model-local function bodies and training-info graphs. The checks must see all of them: ONNX Runtime reads
/// tensors from each (external data and its in-memory markers included).
/// </summary>
internal static class OnnxGraphs
{
    public static string NodeLabel(NodeProto node, int index) =>
        node.Name.Length > 0 ? $"{node.OpType} '{node.Name}'" : $"{node.OpType} (node {index})";

    /// <summary>Nodes of the main graph and of its subgraphs, depth first; no function bodies.</summary>
    public static IEnumerable<NodeSite> GraphNodes(GraphProto? graph, string where = "")
    {
        if (graph is null) yield break;
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            yield return new NodeSite(node, where, InFunction: false);
            foreach (var (name, subgraph) in Subgraphs(node))
            {
                foreach (var inner in GraphNodes(subgraph, $" in the {name} of {NodeLabel(node, i)}{where}")) yield return inner;
            }
        }
    }

    /// <summary>Every node of the model: graph nodes, then function-body nodes (and their subgraphs).</summary>
    public static IEnumerable<NodeSite> AllNodes(ModelProto model)
    {
        foreach (var site in GraphNodes(model.Graph)) yield return site;
        foreach (var function in model.Functions)
        {
            for (var i = 0; i < function.Node.Count; i++)
            {
                var node = function.Node[i];
                var where = $" in function '{function.Name}'";
                yield return new NodeSite(node, where, InFunction: true);
                foreach (var (name, subgraph) in Subgraphs(node))
                {
                    foreach (var inner in GraphNodes(subgraph, $" in the {name} of {NodeLabel(node, i)}{where}"))
                        yield return inner with { InFunction = true };
                }
            }
        }
        foreach (var training in model.TrainingInfo)
        {
            foreach (var site in GraphNodes(training.Algorithm, " in the training algorithm")) yield return site;
            foreach (var site in GraphNodes(training.Initialization, " in the training initialization")) yield return site;
        }
    }

    /// <summary>The graph-valued attributes of a node (then_branch, else_branch, body, ...).</summary>
    public static IEnumerable<(string Name, GraphProto Graph)> Subgraphs(NodeProto node)
    {
        foreach (var attribute in node.Attribute)
        {
            if (attribute.G is not null) yield return (attribute.Name, attribute.G);
            for (var i = 0; i < attribute.Graphs.Count; i++) yield return ($"{attribute.Name}[{i}]", attribute.Graphs[i]);
        }
    }

    /// <summary>Every tensor of the model: initializers (dense and sparse) and node attribute tensors, everywhere.</summary>
    public static IEnumerable<TensorSite> AllTensors(ModelProto model)
    {
        foreach (var site in GraphTensors(model.Graph, "")) yield return site;
        foreach (var function in model.Functions)
        {
            for (var i = 0; i < function.Node.Count; i++)
            {
                foreach (var site in NodeTensors(function.Node[i], i, $" in function '{function.Name}'"))
                    yield return site with { InMainGraph = false };
            }
        }
        foreach (var training in model.TrainingInfo)
        {
            foreach (var site in GraphTensors(training.Algorithm, " in the training algorithm")) yield return site with { InMainGraph = false };
            foreach (var site in GraphTensors(training.Initialization, " in the training initialization")) yield return site with { InMainGraph = false };
        }
    }

    private static IEnumerable<TensorSite> GraphTensors(GraphProto? graph, string where)
    {
        if (graph is null) yield break;
        foreach (var tensor in graph.Initializer)
        {
            yield return new TensorSite(tensor, $"initializer '{tensor.Name}'{where}", TensorRole.Initializer);
        }
        foreach (var sparse in graph.SparseInitializer)
        {
            var name = sparse.Values?.Name ?? "";
            if (sparse.Values is not null) yield return new TensorSite(sparse.Values, $"sparse initializer '{name}'{where}", TensorRole.Initializer);
            if (sparse.Indices is not null) yield return new TensorSite(sparse.Indices, $"the indices of sparse initializer '{name}'{where}", TensorRole.SparseIndices);
        }
        for (var i = 0; i < graph.Node.Count; i++)
        {
            foreach (var site in NodeTensors(graph.Node[i], i, where)) yield return site;
        }
    }

    private static IEnumerable<TensorSite> NodeTensors(NodeProto node, int index, string where)
    {
        var label = NodeLabel(node, index);
        var isConstant = node.OpType == "Constant" && node.Domain is "" or "ai.onnx";
        foreach (var attribute in node.Attribute)
        {
            var at = $"attribute '{attribute.Name}' of {label}{where}";
            var role = isConstant ? TensorRole.ConstantValue : TensorRole.Attribute;
            if (attribute.T is not null) yield return new TensorSite(attribute.T, at, role);
            foreach (var tensor in attribute.Tensors) yield return new TensorSite(tensor, at, TensorRole.Attribute);
            if (attribute.SparseTensor is { } sparse)
            {
                if (sparse.Values is not null) yield return new TensorSite(sparse.Values, at, role);
                if (sparse.Indices is not null) yield return new TensorSite(sparse.Indices, $"the indices in {at}", TensorRole.SparseIndices);
            }
            foreach (var s in attribute.SparseTensors)
            {
                if (s.Values is not null) yield return new TensorSite(s.Values, at, TensorRole.Attribute);
                if (s.Indices is not null) yield return new TensorSite(s.Indices, $"the indices in {at}", TensorRole.SparseIndices);
            }
            if (attribute.G is not null)
            {
                foreach (var site in GraphTensors(attribute.G, $" in the {attribute.Name} of {label}{where}")) yield return site;
            }
            for (var g = 0; g < attribute.Graphs.Count; g++)
            {
                foreach (var site in GraphTensors(attribute.Graphs[g], $" in the {attribute.Name}[{g}] of {label}{where}")) yield return site;
            }
        }
    }

    /// <summary>Product of the dims, overflow-checked; throws <see cref="OverflowException"/>.</summary>
    public static long ElementCount(IEnumerable<long> dims)
    {
        long count = 1;
        foreach (var dim in dims) count = checked(count * dim);
        return count;
    }

    /// <summary>Whether the tensor keeps its bytes in an external file.</summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0;

    public static string? ExternalValue(TensorProto tensor, string key) =>
        tensor.ExternalData.FirstOrDefault(e => e.Key == key)?.Value;
}
