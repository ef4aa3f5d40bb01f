using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Onnx.Tests;

public sealed class InferenceSignatureTests
{
    private static ModelSignature SignatureOf(global::Onnx.ModelProto model)
    {
        using var session = new InferenceSession(TestModels.Bytes(model));
        return ModelSignature.FromSession(session);
    }

    private static readonly ModelSignature Mlp = SignatureOf(TestModels.Mlp());

    private static string Error(ModelSignature signature, InferenceRequest request) =>
        Assert.Throws<InferenceRequestException>(() => signature.Bind(request)).Message;

    private static InferenceTensor Floats(string name, params long[] shape) =>
        InferenceTensor.FromValues<float>(name, shape, new float[InferenceTensor.CheckedCount(shape)]);

    [Fact]
    public void Signature_ShowsVariableDimensionsAsMinusOne_AndTheirSymbols()
    {
        var input = Assert.Single(Mlp.Inputs);

        Assert.Equal(("input", "FP32"), (input.Name, input.Datatype));
        Assert.Equal([-1L, 4], input.Shape);
        Assert.Equal(["batch", ""], input.SymbolicDims);
        Assert.Equal("output FP32 [-1,3]", Assert.Single(Mlp.Outputs).ToString());
    }

    [Fact]
    public void ZipMapOutput_IsServedAsBytes()
    {
        var signature = SignatureOf(InferenceTestModels.ZipMapClassifier());

        var probabilities = signature.Output("probabilities")!;
        Assert.False(probabilities.IsTensor);
        Assert.Equal("seq(map(int64,float))", probabilities.OnnxType);
        Assert.Equal("BYTES", probabilities.Datatype);
        Assert.Equal([-1L], probabilities.MetadataShape);
    }

    [Fact]
    public void AnySize_FitsAVariableDimension()
    {
        Assert.Equal([0L, 4], Mlp.Bind(InferenceRequest.Of(Floats("input", 0, 4))).Inputs[0].Shape);
        Assert.Equal(7L, Mlp.Bind(InferenceRequest.Of(Floats("input", 7, 4))).Rows);
    }

    [Fact]
    public void UnknownInput_IsRefused_NamingWhatTheModelTakes()
    {
        Assert.Equal("input 'z' is not an input of this model; it takes 'input'.", Error(Mlp, InferenceRequest.Of(Floats("input", 1, 4), Floats("z", 1))));
    }

    [Fact]
    public void MissingInput_IsRefused_WithItsDatatypeAndShape()
    {
        Assert.Equal("missing input 'input' (FP32 [-1,4]).", Error(Mlp, InferenceRequest.Of()));
        Assert.Equal("missing inputs 'a', 'b'; the model takes 2, the request gives 0.", Error(SignatureOf(InferenceTestModels.AddPair()), InferenceRequest.Of()));
    }

    [Fact]
    public void WrongDatatype_IsRefused()
    {
        var doubles = InferenceTensor.FromValues<double>("input", [1, 4], new double[4]);

        Assert.Equal("input 'input': datatype FP64 does not match the model's FP32.", Error(Mlp, InferenceRequest.Of(doubles)));
    }

    [Fact]
    public void WrongRank_IsRefused()
    {
        Assert.Equal("input 'input': shape [4] has 1 dimension; the model expects 2 dimensions ([-1,4]).", Error(Mlp, InferenceRequest.Of(Floats("input", 4))));
    }

    [Fact]
    public void WrongFixedDimension_IsRefused()
    {
        Assert.Equal("input 'input': dimension 1 is 5; the model expects 4 ([-1,4]).", Error(Mlp, InferenceRequest.Of(Floats("input", 1, 5))));
    }

    [Fact]
    public void SymbolSharedByTwoInputs_MustGetOneSize()
    {
        var signature = SignatureOf(InferenceTestModels.AddPair());

        Assert.Equal("input 'b': dimension 1 ('seq') is 4, but input 'a' gave 'seq' as 3.",
            Error(signature, InferenceRequest.Of(Floats("a", 1, 3), Floats("b", 1, 4))));
        Assert.Equal(2, signature.Bind(InferenceRequest.Of(Floats("b", 1, 3), Floats("a", 1, 3))).Inputs.Count);
    }

    [Fact]
    public void Inputs_AreBoundInTheModelsOrder()
    {
        var bound = SignatureOf(InferenceTestModels.AddPair()).Bind(InferenceRequest.Of(Floats("b", 2, 3), Floats("a", 2, 3)));

        Assert.Equal(["a", "b"], bound.Inputs.Select(i => i.Name));
        Assert.Equal(["sum"], bound.Outputs);
    }

    [Fact]
    public void UnknownRequestedOutput_IsRefused()
    {
        var request = InferenceRequest.Of(Floats("input", 1, 4)) with { Outputs = [new RequestedOutput("logits", null, new Dictionary<string, System.Text.Json.JsonElement>())] };

        Assert.Equal("output 'logits' is not an output of this model; it has 'output'.", Error(Mlp, request));
    }

    [Fact]
    public void EmptyRequestedOutputs_MeanEveryOutput_AsAnAbsentList()
    {
        // ONNX Runtime refuses a run asking for no outputs ("At least one output should be requested"): that was a 500.
        var bound = SignatureOf(InferenceTestModels.AddPair()).Bind(InferenceRequest.Of(Floats("a", 2, 3), Floats("b", 2, 3)) with { Outputs = [] });

        Assert.Equal(["sum"], bound.Outputs);
    }
}
