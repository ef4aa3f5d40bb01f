using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;
using Onnx;

namespace MaaS.Onnx.Tests;

public class ModelInspectorTests
{
    [Fact]
    public void Inspect_Mlp_ReportsSignatureWithSymbolicBatch()
    {
        var inspection = ModelInspector.Inspect(TestModels.Mlp());

        var input = Assert.Single(inspection.Inputs);
        Assert.Equal("input", input.Name);
        Assert.Equal("float", input.ElementType);
        Assert.Equal([new Dimension(null, "batch"), new Dimension(4, null)], input.Shape!);
        var output = Assert.Single(inspection.Outputs);
        Assert.Equal(("output", "float"), (output.Name, output.ElementType));
        Assert.Equal("[batch, 3]", $"[{string.Join(", ", output.Shape!)}]");
        Assert.Equal(8, inspection.IrVersion);
        Assert.Equal([new OpsetImport("ai.onnx", 13)], inspection.Opsets);
        Assert.Equal("MaaS.Onnx.Testing", inspection.ProducerName);
        Assert.Equal("mlp", inspection.GraphName);
    }

    [Fact]
    public void Inspect_Mlp_CountsNodesParametersAndInitializerBytes()
    {
        var inspection = ModelInspector.Inspect(TestModels.Mlp());

        Assert.Equal(5, inspection.NodeCount);
        Assert.Equal(new Dictionary<string, int> { ["Add"] = 2, ["MatMul"] = 2, ["Relu"] = 1 }, inspection.OpHistogram);
        Assert.Equal(32 + 8 + 24 + 3, inspection.ParameterCount);
        Assert.Equal(4, inspection.InitializerCount);
        Assert.Equal(new Dictionary<string, long> { ["float"] = 67 * 4 }, inspection.InitializerBytesByType);
        Assert.Equal(0, inspection.ConstantNodeBytes);
        Assert.Equal(WeightStorage.Initializers, inspection.WeightStorage);
        Assert.Empty(inspection.Subgraphs);
        Assert.Empty(inspection.ExternalDataFiles);
    }

    [Fact]
    public void Inspect_LeavesInitializersOutOfInputs_WhenOldIrListsThemAsInputs()
    {
        var model = TestModels.Mlp(irVersion: 3, opset: 8);
        foreach (var weight in model.Graph.Initializer)
        {
            model.Graph.Input.Add(TestModels.TensorValue(weight.Name, TensorProto.Types.DataType.Float, weight.Dims.Cast<object>().ToArray()));
        }

        var inspection = ModelInspector.Inspect(model);

        Assert.Equal(["input"], inspection.Inputs.Select(i => i.Name));
    }

    [Fact]
    public void Inspect_ConvNet_CountsEveryLayer()
    {
        var inspection = ModelInspector.Inspect(TestModels.ConvNet());

        Assert.Equal(6, inspection.NodeCount);
        Assert.Equal(["BatchNormalization", "Conv", "Flatten", "Gemm", "GlobalAveragePool", "Relu"], inspection.OpHistogram.Keys.Order(StringComparer.Ordinal));
        Assert.All(inspection.OpHistogram.Values, count => Assert.Equal(1, count));
        Assert.Equal(138, inspection.ParameterCount);
        Assert.Equal(8, inspection.InitializerCount);
        Assert.Equal("[batch, 3, 8, 8]", $"[{string.Join(", ", inspection.Inputs.Single().Shape!)}]");
    }

    [Fact]
    public void Inspect_ReportsConstantNodeStorage_WhenWeightsAreConstants()
    {
        var inspection = ModelInspector.Inspect(TestModels.MlpWithConstantWeights());

        Assert.Equal(WeightStorage.ConstantNodes, inspection.WeightStorage);
        Assert.Equal(67, inspection.ParameterCount);
        Assert.Equal(67 * 4, inspection.ConstantNodeBytes);
        Assert.Equal(0, inspection.InitializerCount);
        Assert.Empty(inspection.InitializerBytesByType);
        Assert.Equal(9, inspection.NodeCount);
        Assert.Equal(4, inspection.OpHistogram["Constant"]);
    }

    [Fact]
    public void Inspect_ReportsMixedStorage_WhenWeightsAreSplit()
    {
        var model = TestModels.Mlp();
        var w1 = model.Graph.Initializer.Single(t => t.Name == "W1");
        model.Graph.Initializer.Remove(w1);
        var constant = TestModels.Node("Constant", "W1_const", [], ["W1"]);
        constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = w1 });
        model.Graph.Node.Insert(0, constant);

        var inspection = ModelInspector.Inspect(model);

        Assert.Equal(WeightStorage.Mixed, inspection.WeightStorage);
        Assert.Equal(67, inspection.ParameterCount);
        Assert.Equal(32 * 4, inspection.ConstantNodeBytes);
    }

    [Fact]
    public void Inspect_IfModel_CountsBranchNodesAndNamesTheBranches()
    {
        var inspection = ModelInspector.Inspect(TestModels.IfModel());

        Assert.Equal(3, inspection.NodeCount);
        Assert.Equal(new Dictionary<string, int> { ["If"] = 1, ["Neg"] = 1, ["Relu"] = 1 }, inspection.OpHistogram);
        Assert.Equal(["If 'choose': then_branch, else_branch"], inspection.Subgraphs);
        var cond = inspection.Inputs.Single(i => i.Name == "cond");
        Assert.Equal("bool", cond.ElementType);
        Assert.Empty(cond.Shape!);
        Assert.Equal(WeightStorage.None, inspection.WeightStorage);
    }

    [Fact]
    public void Inspect_KeysCustomOpsByDomain()
    {
        var inspection = ModelInspector.Inspect(TestModels.CustomOpModel());

        Assert.Equal(["com.example.custom.Frobnicate"], inspection.OpHistogram.Keys);
        Assert.Contains(new OpsetImport("com.example.custom", 1), inspection.Opsets);
    }

    [Fact]
    public void Inspect_ListsExternalDataFiles_InEverySite()
    {
        var inInitializer = ModelInspector.Inspect(TestModels.ExternalDataModel("weights.bin"));
        var inSubgraph = ModelInspector.Inspect(TestModels.ExternalDataModel("sub.bin", TestModels.ExternalDataSite.SubgraphInitializer));

        Assert.Equal(["weights.bin"], inInitializer.ExternalDataFiles);
        Assert.Equal(new Dictionary<string, long> { ["float"] = 16 }, inInitializer.InitializerBytesByType);
        Assert.Equal(["sub.bin"], inSubgraph.ExternalDataFiles);
        Assert.Equal(["If 'choose': then_branch, else_branch"], inSubgraph.Subgraphs);
    }

    [Fact]
    public void Signature_DescribesMapsAndSequencesInWords()
    {
        var floatScalar = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float } };
        var map = new TypeProto { MapType = new TypeProto.Types.Map { KeyType = (int)TensorProto.Types.DataType.Int64, ValueType = floatScalar } };
        var sequence = new ValueInfoProto { Name = "probabilities", Type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = map } } };

        var signature = ModelInspector.Signature(sequence);

        Assert.Equal("seq(map(int64,float))", signature.ElementType);
        Assert.Null(signature.Shape);
    }
}
