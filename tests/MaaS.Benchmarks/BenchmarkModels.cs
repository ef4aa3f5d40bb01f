using Google.Protobuf;
using Onnx;

namespace MaaS.Benchmarks;

/// <summary>The models the inference benchmark deploys besides the packaged ResNet-18, written with OnnxSharp's protos.</summary>
internal static class BenchmarkModels
{
    /// <summary>
    /// A 4-feature, 3-class classifier: "features" float [batch,4] → MatMul/Add/Relu/MatMul/Add/Softmax →
    /// "probabilities" float [batch,3] (4×16 + 16 + 16×3 + 3 = 131 parameters, fixed pseudo-random weights).
    /// </summary>
    public static void WriteTinyClassifier(string path)
    {
        var graph = new GraphProto { Name = "tiny_classifier" };
        graph.Input.Add(FloatValue("features", "batch", 4));
        graph.Output.Add(FloatValue("probabilities", "batch", 3));
        var random = new Random(7);
        graph.Initializer.Add(FloatTensor("W1", [4, 16], random));
        graph.Initializer.Add(FloatTensor("B1", [16], random));
        graph.Initializer.Add(FloatTensor("W2", [16, 3], random));
        graph.Initializer.Add(FloatTensor("B2", [3], random));
        graph.Node.Add(Node("MatMul", ["features", "W1"], "h1"));
        graph.Node.Add(Node("Add", ["h1", "B1"], "h1b"));
        graph.Node.Add(Node("Relu", ["h1b"], "a1"));
        graph.Node.Add(Node("MatMul", ["a1", "W2"], "h2"));
        graph.Node.Add(Node("Add", ["h2", "B2"], "logits"));
        graph.Node.Add(Node("Softmax", ["logits"], "probabilities"));
        var model = new ModelProto { IrVersion = 8, ProducerName = "maas-benchmark", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        File.WriteAllBytes(path, model.ToByteArray());
    }

    /// <summary>
    /// ResNet-18 with its batch dimension made symbolic, so dynamic batching can serve it. The packaged file declares
    /// [1,3,224,224] → [1,512,1,1], but its graph (Conv, BatchNormalization, Relu, Sum, pooling: no Reshape) works for
    /// any batch; the intermediate value_info, which pins batch 1, is dropped and left to shape inference.
    /// </summary>
    public static void WriteResNet18WithBatchDimension(string source, string path)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(source));
        var graph = model.Graph;
        var initializers = graph.Initializer.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var value in graph.Input.Where(i => !initializers.Contains(i.Name)).Concat(graph.Output))
        {
            value.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "batch" };
        }
        graph.ValueInfo.Clear();
        File.WriteAllBytes(path, model.ToByteArray());
    }

    private static ValueInfoProto FloatValue(string name, string batch, long features)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batch });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = features });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    private static NodeProto Node(string opType, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        return node;
    }

    private static TensorProto FloatTensor(string name, long[] dims, Random random)
    {
        var count = (int)dims.Aggregate(1L, (a, b) => a * b);
        var raw = new byte[count * 4];
        for (var i = 0; i < count; i++) BitConverter.TryWriteBytes(raw.AsSpan(4 * i), (float)(random.NextDouble() * 2 - 1));
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(raw) };
        tensor.Dims.AddRange(dims);
        return tensor;
    }
}
