using MaaS.Onnx.Models;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Lookups over one graph that every pass needs: initializers by name, Constant nodes by output, who produces and who
/// consumes a tensor (counting uses inside subgraphs, which read outer names implicitly), and fresh unique names.
/// Build it again after a pass has rewired the graph.
/// </summary>
public sealed class GraphIndex
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);

    public GraphIndex(GraphProto graph)
    {
        Graph = graph;
        foreach (var initializer in graph.Initializer)
        {
            Initializers[initializer.Name] = initializer;
            _names.Add(initializer.Name);
        }
        foreach (var input in graph.Input) _names.Add(input.Name);
        foreach (var output in graph.Output) _names.Add(output.Name);
        foreach (var node in graph.Node)
        {
            if (node.Name.Length > 0) _names.Add(node.Name);
            foreach (var output in node.Output.Where(o => o.Length > 0))
            {
                _producers[output] = node;
                _names.Add(output);
                if (node.OpType == "Constant" && node.Attribute.FirstOrDefault(a => a.Name == "value")?.T is { } value) Constants[output] = value;
            }
            foreach (var input in node.Input.Where(i => i.Length > 0)) AddConsumer(input, node);
            // A subgraph may read any outer tensor by name; count the node that owns the subgraph as its consumer.
            foreach (var (_, subgraph) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var name in OuterNamesUsedBy(subgraph)) AddConsumer(name, node);
            }
        }
        GraphOutputs = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
    }

    public GraphProto Graph { get; }
    public Dictionary<string, TensorProto> Initializers { get; } = new(StringComparer.Ordinal);
    /// <summary>The value tensors of Constant nodes, by the Constant's output name.</summary>
    public Dictionary<string, TensorProto> Constants { get; } = new(StringComparer.Ordinal);
    public HashSet<string> GraphOutputs { get; }

    public IReadOnlyList<NodeProto> Consumers(string tensor) => _consumers.TryGetValue(tensor, out var list) ? list : [];
    public NodeProto? Producer(string tensor) => _producers.GetValueOrDefault(tensor);

    /// <summary>A constant weight: an initializer, or the value of a Constant node; null for anything computed.</summary>
    public TensorProto? ConstantTensor(string name) =>
        Initializers.TryGetValue(name, out var initializer) ? initializer : Constants.GetValueOrDefault(name);

    public bool IsGraphInput(string name) => Graph.Input.Any(i => i.Name == name) && !Initializers.ContainsKey(name);

    /// <summary>A name not used anywhere in the graph yet, <paramref name="wanted"/> itself when free (ORT's naming).</summary>
    public string UniqueName(string wanted)
    {
        var name = wanted;
        for (var n = 1; !_names.Add(name); n++) name = $"{wanted}_{n}";
        return name;
    }

    /// <summary>Removes an initializer or Constant node once nothing reads it any more.</summary>
    public void RemoveIfUnused(string name, IEnumerable<NodeProto>? ignoring = null)
    {
        var ignore = ignoring?.ToHashSet() ?? [];
        if (Consumers(name).Any(c => !ignore.Contains(c)) || GraphOutputs.Contains(name)) return;
        if (Initializers.Remove(name, out var initializer))
        {
            Graph.Initializer.Remove(initializer);
            var input = Graph.Input.FirstOrDefault(i => i.Name == name);
            if (input is not null) Graph.Input.Remove(input);
        }
        else if (Constants.Remove(name) && Producer(name) is { } constant)
        {
            Graph.Node.Remove(constant);
        }
    }

    private void AddConsumer(string tensor, NodeProto node)
    {
        if (!_consumers.TryGetValue(tensor, out var list)) _consumers[tensor] = list = [];
        if (!list.Contains(node)) list.Add(node);
    }

    /// <summary>Names a subgraph reads that it does not define itself (inputs, initializers or node outputs).</summary>
    public static HashSet<string> OuterNamesUsedBy(GraphProto subgraph)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in subgraph.Input) defined.Add(input.Name);
        foreach (var initializer in subgraph.Initializer) defined.Add(initializer.Name);
        foreach (var node in subgraph.Node) foreach (var output in node.Output) defined.Add(output);
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in subgraph.Node)
        {
            foreach (var input in node.Input.Where(i => i.Length > 0 && !defined.Contains(i))) used.Add(input);
            foreach (var (_, inner) in OnnxGraphs.Subgraphs(node))
            {
                foreach (var name in OuterNamesUsedBy(inner).Where(n => !defined.Contains(n))) used.Add(name);
            }
        }
        foreach (var output in subgraph.Output.Where(o => !defined.Contains(o.Name))) used.Add(output.Name);
        return used;
    }
}

/// <summary>Opset helpers on a model.</summary>
public static class Opsets
{
    /// <summary>The imported version of a domain ("" and "ai.onnx" are the same); 0 when not imported.</summary>
    public static long Version(ModelProto model, string domain = "")
    {
        var isDefault = ModelInspector.IsDefaultDomain(domain);
        return model.OpsetImport.FirstOrDefault(o => isDefault ? ModelInspector.IsDefaultDomain(o.Domain) : o.Domain == domain)?.Version ?? 0;
    }

    /// <summary>Imports a domain (com.microsoft for contrib ops) at least at <paramref name="version"/>.</summary>
    public static void Require(ModelProto model, string domain, long version)
    {
        var isDefault = ModelInspector.IsDefaultDomain(domain);
        var existing = model.OpsetImport.FirstOrDefault(o => isDefault ? ModelInspector.IsDefaultDomain(o.Domain) : o.Domain == domain);
        if (existing is null) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        else if (existing.Version < version) existing.Version = version;
    }
}

/// <summary>Building nodes.</summary>
public static class Nodes
{
    public static NodeProto Create(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, string domain = "")
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    public static NodeProto WithInt(this NodeProto node, string name, long value)
    {
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        return node;
    }

    public static NodeProto WithFloat(this NodeProto node, string name, float value)
    {
        node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });
        return node;
    }

    public static long? IntAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.I : null;

    public static float? FloatAttribute(NodeProto node, string name) =>
        node.Attribute.FirstOrDefault(a => a.Name == name) is { } a ? a.F : null;

    public static string Label(NodeProto node) => node.Name.Length > 0 ? $"{node.OpType} '{node.Name}'" : $"{node.OpType} → '{node.Output.FirstOrDefault()}'";

    /// <summary>
    /// Re-sorts graph nodes topologically (inserted nodes are appended; ORT requires producers first). Subgraph reads
    /// of outer names count as inputs of the node that owns the subgraph.
    /// </summary>
    public static void TopologicalSort(GraphProto graph)
    {
        var available = new HashSet<string>(graph.Input.Select(i => i.Name).Concat(graph.Initializer.Select(i => i.Name)), StringComparer.Ordinal) { "" };
        var pending = graph.Node.ToList();
        var needs = pending.ToDictionary(n => n, n => n.Input.Concat(OnnxGraphs.Subgraphs(n).SelectMany(s => GraphIndex.OuterNamesUsedBy(s.Graph))).ToHashSet(StringComparer.Ordinal));
        var sorted = new List<NodeProto>(pending.Count);
        while (pending.Count > 0)
        {
            var ready = pending.Where(n => needs[n].All(available.Contains)).ToList();
            if (ready.Count == 0)
            {
                // Names from an enclosing graph (when sorting a subgraph) or a cycle: keep the remaining order.
                sorted.AddRange(pending);
                break;
            }
            foreach (var node in ready)
            {
                sorted.Add(node);
                foreach (var output in node.Output) available.Add(output);
                pending.Remove(node);
            }
        }
        graph.Node.Clear();
        graph.Node.AddRange(sorted);
    }
}
