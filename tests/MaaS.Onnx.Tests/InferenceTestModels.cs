using Google.Protobuf;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace MaaS.Onnx.Tests;

/// <summary>Tiny models for the inference host: one per datatype, a slow one, a classifier ending in ZipMap, and a few shapes.</summary>
internal static class InferenceTestModels
{
    /// <summary>The V2 datatypes and the ONNX types they map to.</summary>
    public static readonly IReadOnlyDictionary<string, DataType> OnnxTypes = new Dictionary<string, DataType>
    {
        [V2Datatypes.Bool] = DataType.Bool,
        [V2Datatypes.UInt8] = DataType.Uint8,
        [V2Datatypes.UInt16] = DataType.Uint16,
        [V2Datatypes.UInt32] = DataType.Uint32,
        [V2Datatypes.UInt64] = DataType.Uint64,
        [V2Datatypes.Int8] = DataType.Int8,
        [V2Datatypes.Int16] = DataType.Int16,
        [V2Datatypes.Int32] = DataType.Int32,
        [V2Datatypes.Int64] = DataType.Int64,
        [V2Datatypes.Fp16] = DataType.Float16,
        [V2Datatypes.Fp32] = DataType.Float,
        [V2Datatypes.Fp64] = DataType.Double,
        [V2Datatypes.Bf16] = DataType.Bfloat16,
        [V2Datatypes.Bytes] = DataType.String,
    };

    /// <summary>"x" → Identity → "y", both of <paramref name="type"/> and <paramref name="dims"/> (a string dim is symbolic).</summary>
    public static ModelProto Identity(DataType type, params object[] dims)
    {
        var graph = new GraphProto { Name = "identity" };
        graph.Input.Add(TestModels.TensorValue("x", type, dims));
        graph.Output.Add(TestModels.TensorValue("y", type, dims));
        graph.Node.Add(TestModels.Node("Identity", "id", ["x"], ["y"]));
        return Model(graph);
    }

    /// <summary>
    /// "x" float [batch,256] → <paramref name="layers"/> MatMuls with the 256×256 identity matrix → "y" (equal to x): a
    /// model whose run time grows with the rows sent, for tests that need an instance to stay busy for a while.
    /// </summary>
    public static ModelProto Slow(int layers = 100)
    {
        const int width = 256;
        var graph = new GraphProto { Name = "slow" };
        graph.Input.Add(TestModels.TensorValue("x", DataType.Float, TestModels.Batch, width));
        graph.Output.Add(TestModels.TensorValue("y", DataType.Float, TestModels.Batch, width));
        var eye = new float[width * width];
        for (var i = 0; i < width; i++) eye[i * width + i] = 1f;
        graph.Initializer.Add(TestModels.FloatTensor("eye", [width, width], eye));
        var previous = "x";
        for (var l = 0; l < layers; l++)
        {
            var output = l == layers - 1 ? "y" : $"h{l}";
            graph.Node.Add(TestModels.Node("MatMul", $"mm{l}", [previous, "eye"], [output]));
            previous = output;
        }
        return Model(graph);
    }

    /// <summary>"a" and "b" float [batch,seq] → Add → "sum": two inputs sharing the symbols 'batch' and 'seq'.</summary>
    public static ModelProto AddPair()
    {
        var graph = new GraphProto { Name = "add_pair" };
        graph.Input.Add(TestModels.TensorValue("a", DataType.Float, TestModels.Batch, "seq"));
        graph.Input.Add(TestModels.TensorValue("b", DataType.Float, TestModels.Batch, "seq"));
        graph.Output.Add(TestModels.TensorValue("sum", DataType.Float, TestModels.Batch, "seq"));
        graph.Node.Add(TestModels.Node("Add", "add", ["a", "b"], ["sum"]));
        return Model(graph);
    }

    /// <summary>
    /// An ML.NET/sklearn-style classifier head: "x" float [batch,2] (class scores) → ArgMax → "label" int64 [batch], and
    /// ZipMap → "probabilities" seq(map(int64|string, float)) with one map per row.
    /// </summary>
    public static ModelProto ZipMapClassifier(bool stringLabels = false)
    {
        var graph = new GraphProto { Name = "zipmap" };
        graph.Input.Add(TestModels.TensorValue("x", DataType.Float, TestModels.Batch, 2));
        graph.Output.Add(TestModels.TensorValue("label", DataType.Int64, TestModels.Batch));
        var map = new TypeProto.Types.Map
        {
            KeyType = (int)(stringLabels ? DataType.String : DataType.Int64),
            ValueType = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } },
        };
        graph.Output.Add(new ValueInfoProto
        {
            Name = "probabilities",
            Type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = new TypeProto { MapType = map } } },
        });
        var argMax = TestModels.Node("ArgMax", "argmax", ["x"], ["label"]);
        argMax.Attribute.Add(new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        argMax.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        graph.Node.Add(argMax);
        var zipMap = TestModels.Node("ZipMap", "zipmap", ["x"], ["probabilities"]);
        zipMap.Domain = "ai.onnx.ml";
        var labels = new AttributeProto { Name = stringLabels ? "classlabels_strings" : "classlabels_int64s" };
        if (stringLabels)
        {
            labels.Type = AttributeProto.Types.AttributeType.Strings;
            labels.Strings.Add(ByteString.CopyFromUtf8("cat"));
            labels.Strings.Add(ByteString.CopyFromUtf8("dog"));
        }
        else
        {
            labels.Type = AttributeProto.Types.AttributeType.Ints;
            labels.Ints.Add(0);
            labels.Ints.Add(1);
        }
        zipMap.Attribute.Add(labels);
        graph.Node.Add(zipMap);
        return Model(graph, ("ai.onnx.ml", 1));
    }

    /// <summary>
    /// "idx" int64 [batch] → Gather from a float table of <paramref name="size"/> values (table[i] = i) → "value" float
    /// [batch]. An index outside the table makes ONNX Runtime fail the run: a data-dependent runtime error.
    /// </summary>
    public static ModelProto Table(int size = 10)
    {
        var graph = new GraphProto { Name = "table" };
        graph.Input.Add(TestModels.TensorValue("idx", DataType.Int64, TestModels.Batch));
        graph.Output.Add(TestModels.TensorValue("value", DataType.Float, TestModels.Batch));
        graph.Initializer.Add(TestModels.FloatTensor("table", [size], Enumerable.Range(0, size).Select(i => (float)i).ToArray()));
        graph.Node.Add(TestModels.Node("Gather", "lookup", ["table", "idx"], ["value"]));
        return Model(graph);
    }

    public static string Write(ModelProto model, TempFolder folder, string name) => TestModels.Write(model, folder.Path, name);

    private static ModelProto Model(GraphProto graph, params (string Domain, long Version)[] extra)
    {
        var model = new ModelProto { IrVersion = TestModels.DefaultIrVersion, ProducerName = "MaaS.Onnx.Tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = TestModels.DefaultOpset });
        foreach (var (domain, version) in extra) model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        return model;
    }
}
