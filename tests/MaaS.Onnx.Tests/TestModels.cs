using Google.Protobuf;
using Onnx;

namespace MaaS.Onnx.Testing;

/// <summary>
/// Tiny ONNX models built in code for tests, plus files that only pretend to be models. Depends on nothing but the
/// OnnxSharp protobuf classes, Google.Protobuf and System.*, so other test projects can link this file as it is.
/// Weights are fixed, non-trivial numbers so outputs can be compared across runs and versions.
/// </summary>
public static class TestModels
{
    public const long DefaultIrVersion = 8;
    public const long DefaultOpset = 13;

    /// <summary>The batch dimension's name in every model with a symbolic batch.</summary>
    public const string Batch = "batch";

    /// <summary>
    /// MatMul/Add/Relu/MatMul/Add: input "input" float [batch,4] → output "output" float [batch,3]; 67 parameters in
    /// four initializers (W1 [4,8], B1 [8], W2 [8,3], B2 [3]).
    /// </summary>
    public static ModelProto Mlp(long irVersion = DefaultIrVersion, long opset = DefaultOpset)
    {
        var graph = new GraphProto { Name = "mlp" };
        graph.Input.Add(TensorValue("input", TensorProto.Types.DataType.Float, Batch, 4));
        graph.Output.Add(TensorValue("output", TensorProto.Types.DataType.Float, Batch, 3));
        graph.Initializer.Add(FloatTensor("W1", [4, 8], Weights(32, 1)));
        graph.Initializer.Add(FloatTensor("B1", [8], Weights(8, 2)));
        graph.Initializer.Add(FloatTensor("W2", [8, 3], Weights(24, 3)));
        graph.Initializer.Add(FloatTensor("B2", [3], Weights(3, 4)));
        graph.Node.Add(Node("MatMul", "fc1", ["input", "W1"], ["h1"]));
        graph.Node.Add(Node("Add", "fc1_bias", ["h1", "B1"], ["h1b"]));
        graph.Node.Add(Node("Relu", "relu1", ["h1b"], ["a1"]));
        graph.Node.Add(Node("MatMul", "fc2", ["a1", "W2"], ["h2"]));
        graph.Node.Add(Node("Add", "fc2_bias", ["h2", "B2"], ["output"]));
        return Model(graph, irVersion, ("", opset));
    }

    /// <summary>
    /// Conv/BatchNormalization/Relu/GlobalAveragePool/Flatten/Gemm: "image" float [batch,3,8,8] → "logits" float
    /// [batch,2]; 138 parameters (conv 108 + 4, batch-norm 4 × 4, gemm 8 + 2).
    /// </summary>
    public static ModelProto ConvNet(long irVersion = DefaultIrVersion, long opset = DefaultOpset)
    {
        var graph = new GraphProto { Name = "convnet" };
        graph.Input.Add(TensorValue("image", TensorProto.Types.DataType.Float, Batch, 3, 8, 8));
        graph.Output.Add(TensorValue("logits", TensorProto.Types.DataType.Float, Batch, 2));
        graph.Initializer.Add(FloatTensor("conv.W", [4, 3, 3, 3], Weights(108, 5)));
        graph.Initializer.Add(FloatTensor("conv.B", [4], Weights(4, 6)));
        graph.Initializer.Add(FloatTensor("bn.scale", [4], [1f, 0.5f, 2f, 1.5f]));
        graph.Initializer.Add(FloatTensor("bn.B", [4], [0f, 0.1f, -0.1f, 0.2f]));
        graph.Initializer.Add(FloatTensor("bn.mean", [4], [0f, 0.05f, -0.05f, 0.1f]));
        graph.Initializer.Add(FloatTensor("bn.var", [4], [1f, 2f, 0.5f, 1f]));
        graph.Initializer.Add(FloatTensor("fc.W", [2, 4], Weights(8, 7)));
        graph.Initializer.Add(FloatTensor("fc.B", [2], [0.01f, -0.01f]));
        var conv = Node("Conv", "conv", ["image", "conv.W", "conv.B"], ["c"]);
        conv.Attribute.Add(Ints("kernel_shape", 3, 3));
        conv.Attribute.Add(Ints("pads", 1, 1, 1, 1));
        graph.Node.Add(conv);
        graph.Node.Add(Node("BatchNormalization", "bn", ["c", "bn.scale", "bn.B", "bn.mean", "bn.var"], ["n"]));
        graph.Node.Add(Node("Relu", "relu", ["n"], ["r"]));
        graph.Node.Add(Node("GlobalAveragePool", "pool", ["r"], ["p"]));
        graph.Node.Add(Node("Flatten", "flatten", ["p"], ["f"]));
        var gemm = Node("Gemm", "fc", ["f", "fc.W", "fc.B"], ["logits"]);
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(gemm);
        return Model(graph, irVersion, ("", opset));
    }

    /// <summary>The <see cref="Mlp"/> with its four weights in Constant nodes instead of initializers (9 nodes).</summary>
    public static ModelProto MlpWithConstantWeights()
    {
        var model = Mlp();
        var graph = model.Graph;
        var constants = graph.Initializer.Select(w => ConstantNode(w.Name, w.Clone())).ToList();
        graph.Initializer.Clear();
        for (var i = 0; i < constants.Count; i++) graph.Node.Insert(i, constants[i]);
        return model;
    }

    /// <summary>
    /// "x" float [2] and "cond" bool [] → If 'choose' → "y" float [2]: Relu(x) in then_branch, Neg(x) in else_branch.
    /// </summary>
    public static ModelProto IfModel()
    {
        var graph = new GraphProto { Name = "if_model" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, 2));
        graph.Input.Add(TensorValue("cond", TensorProto.Types.DataType.Bool));
        graph.Output.Add(TensorValue("y", TensorProto.Types.DataType.Float, 2));
        var thenBranch = new GraphProto { Name = "then" };
        thenBranch.Node.Add(Node("Relu", "then_relu", ["x"], ["then_out"]));
        thenBranch.Output.Add(TensorValue("then_out", TensorProto.Types.DataType.Float, 2));
        var elseBranch = new GraphProto { Name = "else" };
        elseBranch.Node.Add(Node("Neg", "else_neg", ["x"], ["else_out"]));
        elseBranch.Output.Add(TensorValue("else_out", TensorProto.Types.DataType.Float, 2));
        var choose = Node("If", "choose", ["cond"], ["y"]);
        choose.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
        choose.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
        graph.Node.Add(choose);
        return Model(graph, DefaultIrVersion, ("", DefaultOpset));
    }

    /// <summary>The four floats <see cref="WriteExternalData"/> writes and the external-data models expect.</summary>
    public static readonly float[] ExternalWeights = [1f, 2f, 3f, 4f];

    /// <summary>Where an external-data tensor sits in <see cref="ExternalDataModel"/>.</summary>
    public enum ExternalDataSite { Initializer, ConstantNode, SubgraphInitializer }

    /// <summary>
    /// "x" float [4] + w → "y" float [4], where w (float [4], 16 bytes) keeps its data in the external file
    /// <paramref name="location"/>: as initializer 'w', as the value of Constant node 'w_const', or as initializer 'w'
    /// inside the then_branch of If 'choose'.
    /// </summary>
    public static ModelProto ExternalDataModel(string location, ExternalDataSite site = ExternalDataSite.Initializer,
        long? offset = null, long? length = null)
    {
        var weight = new TensorProto { Name = "w", DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        weight.Dims.Add(4);
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (offset is { } o) weight.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = o.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (length is { } l) weight.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        var graph = new GraphProto { Name = "external" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, 4));
        graph.Output.Add(TensorValue("y", TensorProto.Types.DataType.Float, 4));
        switch (site)
        {
            case ExternalDataSite.Initializer:
                graph.Initializer.Add(weight);
                graph.Node.Add(Node("Add", "add", ["x", "w"], ["y"]));
                break;
            case ExternalDataSite.ConstantNode:
                graph.Node.Add(ConstantNode("w", weight, "w_const"));
                graph.Node.Add(Node("Add", "add", ["x", "w"], ["y"]));
                break;
            case ExternalDataSite.SubgraphInitializer:
                graph.Input.Add(TensorValue("cond", TensorProto.Types.DataType.Bool));
                var thenBranch = new GraphProto { Name = "then" };
                thenBranch.Initializer.Add(weight);
                thenBranch.Node.Add(Node("Add", "then_add", ["x", "w"], ["then_out"]));
                thenBranch.Output.Add(TensorValue("then_out", TensorProto.Types.DataType.Float, 4));
                var elseBranch = new GraphProto { Name = "else" };
                elseBranch.Node.Add(Node("Identity", "else_id", ["x"], ["else_out"]));
                elseBranch.Output.Add(TensorValue("else_out", TensorProto.Types.DataType.Float, 4));
                var choose = Node("If", "choose", ["cond"], ["y"]);
                choose.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
                choose.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
                graph.Node.Add(choose);
                break;
        }
        return Model(graph, DefaultIrVersion, ("", DefaultOpset));
    }

    /// <summary>Writes <see cref="ExternalWeights"/> (16 bytes, little-endian) to <paramref name="fileName"/>, after <paramref name="padding"/> zero bytes.</summary>
    public static string WriteExternalData(string directory, string fileName, int padding = 0)
    {
        var path = Path.Combine(directory, fileName);
        var bytes = new byte[padding + ExternalWeights.Length * 4];
        for (var i = 0; i < ExternalWeights.Length; i++) BitConverter.TryWriteBytes(bytes.AsSpan(padding + 4 * i), ExternalWeights[i]);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>
    /// A 100-byte-scale model whose one ConstantOfShape asks for <paramref name="side"/>² floats: 40 GB at the default
    /// (ORT issue 28730). No inputs; the shape comes from an initializer, so it fires at load (constant folding) or run.
    /// </summary>
    public static ModelProto ConstantOfShapeBomb(long side = 100_000)
    {
        var graph = new GraphProto { Name = "bomb" };
        var shape = new TensorProto { Name = "shape", DataType = (int)TensorProto.Types.DataType.Int64 };
        shape.Dims.Add(2);
        shape.Int64Data.Add(side);
        shape.Int64Data.Add(side);
        graph.Initializer.Add(shape);
        var fill = Node("ConstantOfShape", "bomb", ["shape"], ["y"]);
        fill.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = FloatTensor("one", [1], [1f]) });
        graph.Node.Add(fill);
        graph.Output.Add(TensorValue("y", TensorProto.Types.DataType.Float, side, side));
        return Model(graph, DefaultIrVersion, ("", DefaultOpset));
    }

    /// <summary>The custom-op domain <see cref="CustomOpModel"/> uses.</summary>
    public const string CustomDomain = "com.example.custom";

    /// <summary>"x" float [4] → Frobnicate (domain com.example.custom, which no runtime provides) → "y".</summary>
    public static ModelProto CustomOpModel()
    {
        var graph = new GraphProto { Name = "custom" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, 4));
        graph.Output.Add(TensorValue("y", TensorProto.Types.DataType.Float, 4));
        var node = Node("Frobnicate", "frob", ["x"], ["y"]);
        node.Domain = CustomDomain;
        graph.Node.Add(node);
        return Model(graph, DefaultIrVersion, ("", DefaultOpset), (CustomDomain, 1));
    }

    /// <summary>The first bytes of a JPEG/JFIF photo, then junk.</summary>
    public static byte[] JpegLikeBytes() =>
        [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, (byte)'J', (byte)'F', (byte)'I', (byte)'F', 0x00, 0x01, 0x01, 0x00, .. Junk(512, 11)];

    /// <summary>A DOS/PE header ("MZ", as in any .exe or .dll), then junk.</summary>
    public static byte[] ExeLikeBytes() => [(byte)'M', (byte)'Z', 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, .. Junk(512, 12)];

    /// <summary>The first <paramref name="fraction"/> of a valid model's bytes (an upload cut short).</summary>
    public static byte[] Truncated(byte[] model, double fraction = 0.5) => model[..(int)(model.Length * fraction)];

    public static byte[] Bytes(ModelProto model) => model.ToByteArray();

    /// <summary>Writes the model to <paramref name="directory"/>/<paramref name="fileName"/> and returns the path.</summary>
    public static string Write(ModelProto model, string directory, string fileName = "model.onnx") =>
        WriteFile(directory, fileName, model.ToByteArray());

    public static string WriteFile(string directory, string fileName, byte[] bytes)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, fileName);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public static string WriteEmptyFile(string directory, string fileName = "model.onnx") => WriteFile(directory, fileName, []);

    private static ModelProto Model(GraphProto graph, long irVersion, params (string Domain, long Version)[] opsets)
    {
        var model = new ModelProto { IrVersion = irVersion, ProducerName = "MaaS.Onnx.Testing", ProducerVersion = "1.0", Graph = graph };
        foreach (var (domain, version) in opsets) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return model;
    }

    /// <summary>A tensor graph input or output; a string dimension is symbolic, a number fixed.</summary>
    public static ValueInfoProto TensorValue(string name, TensorProto.Types.DataType type, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim switch
            {
                string symbol => new TensorShapeProto.Types.Dimension { DimParam = symbol },
                _ => new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(dim, System.Globalization.CultureInfo.InvariantCulture) },
            });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } } };
    }

    public static NodeProto Node(string opType, string name, string[] inputs, string[] outputs)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        return node;
    }

    /// <summary>A float tensor with its values in raw_data (little-endian), as exporters write them.</summary>
    public static TensorProto FloatTensor(string name, long[] dims, float[] values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(raw.AsSpan(4 * i), values[i]);
        tensor.RawData = ByteString.CopyFrom(raw);
        return tensor;
    }

    private static NodeProto ConstantNode(string output, TensorProto value, string? name = null)
    {
        var node = Node("Constant", name ?? $"{output}_const", [], [output]);
        value.Name = "";
        node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value });
        return node;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>Deterministic weights in [-0.5, 0.5): small enough for stable outputs, varied enough to matter.</summary>
    private static float[] Weights(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
    }

    private static byte[] Junk(int count, int seed)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>
    /// The <see cref="Mlp"/> as two Gemm nodes: "input" float [batch,4] → Gemm 'fc1' (W1 stored [8,4], transB=1, bias B1
    /// [8]) → Relu → Gemm 'fc2' (W2 [8,3], alpha 0.5, beta 2, bias B2 [3]) → "output" float [batch,3].
    /// </summary>
    public static ModelProto GemmMlp(long opset = DefaultOpset)
    {
        var graph = new GraphProto { Name = "gemm_mlp" };
        graph.Input.Add(TensorValue("input", TensorProto.Types.DataType.Float, Batch, 4));
        graph.Output.Add(TensorValue("output", TensorProto.Types.DataType.Float, Batch, 3));
        graph.Initializer.Add(FloatTensor("W1", [8, 4], Weights(32, 1)));
        graph.Initializer.Add(FloatTensor("B1", [8], Weights(8, 2)));
        graph.Initializer.Add(FloatTensor("W2", [8, 3], Weights(24, 3)));
        graph.Initializer.Add(FloatTensor("B2", [3], Weights(3, 4)));
        var fc1 = Node("Gemm", "fc1", ["input", "W1", "B1"], ["h1"]);
        fc1.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        graph.Node.Add(fc1);
        graph.Node.Add(Node("Relu", "relu1", ["h1"], ["a1"]));
        var fc2 = Node("Gemm", "fc2", ["a1", "W2", "B2"], ["output"]);
        fc2.Attribute.Add(new AttributeProto { Name = "alpha", Type = AttributeProto.Types.AttributeType.Float, F = 0.5f });
        fc2.Attribute.Add(new AttributeProto { Name = "beta", Type = AttributeProto.Types.AttributeType.Float, F = 2f });
        graph.Node.Add(fc2);
        return Model(graph, DefaultIrVersion, ("", opset));
    }

    /// <summary>
    /// A wider MLP for block quantization (K of 64 and 256): "input" float [batch,64] → MatMul 'fc1' (W1 [64,256]) → Add
    /// (B1) → Relu → MatMul 'fc2' (W2 [256,16]) → Add (B2) → "output" float [batch,16].
    /// </summary>
    public static ModelProto WideMlp()
    {
        var graph = new GraphProto { Name = "wide_mlp" };
        graph.Input.Add(TensorValue("input", TensorProto.Types.DataType.Float, Batch, 64));
        graph.Output.Add(TensorValue("output", TensorProto.Types.DataType.Float, Batch, 16));
        graph.Initializer.Add(FloatTensor("W1", [64, 256], Weights(64 * 256, 21).Select(w => w * 0.25f).ToArray()));
        graph.Initializer.Add(FloatTensor("B1", [256], Weights(256, 22)));
        graph.Initializer.Add(FloatTensor("W2", [256, 16], Weights(256 * 16, 23).Select(w => w * 0.125f).ToArray()));
        graph.Initializer.Add(FloatTensor("B2", [16], Weights(16, 24)));
        graph.Node.Add(Node("MatMul", "fc1", ["input", "W1"], ["h1"]));
        graph.Node.Add(Node("Add", "fc1_bias", ["h1", "B1"], ["h1b"]));
        graph.Node.Add(Node("Relu", "relu1", ["h1b"], ["a1"]));
        graph.Node.Add(Node("MatMul", "fc2", ["a1", "W2"], ["h2"]));
        graph.Node.Add(Node("Add", "fc2_bias", ["h2", "B2"], ["output"]));
        return Model(graph, DefaultIrVersion, ("", DefaultOpset));
    }

    /// <summary>
    /// Attention-style scores, a MatMul whose B is computed: "x" float [batch,4,8] → Transpose 'keys' (perm 0,2,1) →
    /// MatMul 'scores'(x, keys) → "y" float [batch,4,4].
    /// </summary>
    public static ModelProto SelfAttentionScores()
    {
        var graph = new GraphProto { Name = "scores" };
        graph.Input.Add(TensorValue("x", TensorProto.Types.DataType.Float, Batch, 4, 8));
        graph.Output.Add(TensorValue("y", TensorProto.Types.DataType.Float, Batch, 4, 4));
        var transpose = Node("Transpose", "keys", ["x"], ["xt"]);
        transpose.Attribute.Add(Ints("perm", 0, 2, 1));
        graph.Node.Add(transpose);
        graph.Node.Add(Node("MatMul", "scores", ["x", "xt"], ["y"]));
        return Model(graph, DefaultIrVersion, ("", DefaultOpset));
    }
}
