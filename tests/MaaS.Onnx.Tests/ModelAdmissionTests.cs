using System.Diagnostics;
using System.IO.Compression;
using Google.Protobuf;
using MaaS.Onnx.Models;
using MaaS.Onnx.Testing;
using Onnx;

namespace MaaS.Onnx.Tests;

public sealed class ModelAdmissionTests : IDisposable
{
    private const long Unlimited = long.MaxValue;
    private readonly TempFolder temp = new();

    public void Dispose() => temp.Dispose();

    [Theory]
    [InlineData("model.onnx")]
    [InlineData("convnet.onnx")]
    [InlineData("if.onnx")]
    [InlineData("constants.onnx")]
    public void Admit_AcceptsTheTestModels(string name)
    {
        var model = name switch
        {
            "model.onnx" => TestModels.Mlp(),
            "convnet.onnx" => TestModels.ConvNet(),
            "if.onnx" => TestModels.IfModel(),
            _ => TestModels.MlpWithConstantWeights(),
        };
        var path = TestModels.Write(model, temp.Path, name);

        var admitted = ModelAdmission.Admit(path, Unlimited);

        Assert.Equal(model, admitted);
    }

    [Theory]
    [InlineData(0, null)]
    [InlineData(8, 16L)]
    public void Admit_AcceptsExternalData_NextToTheModel(int padding, long? length)
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin", padding);
        var path = TestModels.Write(TestModels.ExternalDataModel("weights.bin", offset: padding, length: length), temp.Path);

        ModelAdmission.Admit(path, Unlimited);
    }

    [Fact]
    public void Admit_RefusesExternalData_ReadFromTheModelFileItself()
    {
        // Offset 0 and a length inside the file: every other check passes, since the file is there and long enough.
        var path = TestModels.Write(TestModels.ExternalDataModel("self.onnx", offset: 0, length: 16), temp.Path, "self.onnx");

        var error = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Admit(path, Unlimited));

        Assert.Equal(AdmissionChecks.ExternalData, error.Check);
        Assert.Contains("'self.onnx'", error.Message);
        Assert.Contains("the model file itself", error.Message);
    }

    [Theory]
    [InlineData("../x.bin", "leaves the model's folder")]
    [InlineData("../../etc/passwd", "leaves the model's folder")]
    [InlineData("weights/../../x.bin", "leaves the model's folder")]
    [InlineData("/etc/passwd", "is an absolute path")]
    [InlineData("/proc/self/environ", "is an absolute path")]
    [InlineData("C:\\x", "is a Windows drive path")]
    [InlineData("c:x.bin", "is a Windows drive path")]
    [InlineData("\\\\server\\share\\x", "is a network (UNC) path")]
    [InlineData("//server/share/x", "is a network (UNC) path")]
    [InlineData("sub/x.bin", "names a file in another folder")]
    [InlineData("sub\\x.bin", "names a file in another folder")]
    [InlineData(ModelAdmission.OrtMemoryAddressMarker, "is an ONNX Runtime in-memory address marker")]
    [InlineData("x.bin:stream", "is not a plain file name")]
    public void Check_RejectsModel_WhenExternalDataLocationIsNotAPlainFileNextToIt(string location, string words)
    {
        // Real files where the location would lead, so only the rule can stop it, not a missing file.
        TestModels.WriteExternalData(temp.Sub("sub"), "x.bin");
        TestModels.WriteExternalData(temp.Path, "x.bin");
        var modelDirectory = temp.Sub("model");

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel(location), modelDirectory));

        Assert.Equal(AdmissionChecks.ExternalData, rejected.Check);
        Assert.Contains($"'{location}' in initializer 'w' {words}", rejected.Message);
    }

    [Fact]
    public void Check_NamesTheValue_WhenExternalDataEscapesFolder()
    {
        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("../../etc/passwd"), temp.Path));

        Assert.Equal("External data location '../../etc/passwd' in initializer 'w' leaves the model's folder.", rejected.Message);
    }

    [Theory]
    [InlineData(TestModels.ExternalDataSite.ConstantNode, "attribute 'value' of Constant 'w_const'")]
    [InlineData(TestModels.ExternalDataSite.SubgraphInitializer, "initializer 'w' in the then_branch of If 'choose'")]
    public void Check_RejectsMemoryMarker_WhereverTheTensorSits(TestModels.ExternalDataSite site, string where)
    {
        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel(ModelAdmission.OrtMemoryAddressMarker, site), temp.Path));

        Assert.Equal(AdmissionChecks.ExternalData, rejected.Check);
        Assert.Contains($"in {where} is an ONNX Runtime in-memory address marker", rejected.Message);
    }

    [Theory]
    [InlineData(TestModels.ExternalDataSite.ConstantNode)]
    [InlineData(TestModels.ExternalDataSite.SubgraphInitializer)]
    public void Check_RejectsEscapingLocation_InConstantsAndSubgraphs(TestModels.ExternalDataSite site)
    {
        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("../secret.bin", site), temp.Path));

        Assert.Contains("leaves the model's folder", rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WhenFileIsASymlink()
    {
        var secret = TestModels.WriteExternalData(temp.Sub("elsewhere"), "secret.bin");
        var modelDirectory = temp.Sub("model");
        File.CreateSymbolicLink(Path.Combine(modelDirectory, "weights.bin"), secret);

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin"), modelDirectory));

        Assert.Equal("External data file 'weights.bin' for initializer 'w' is a symbolic link; only regular files are accepted.", rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WhenFileHasAnotherHardLink()
    {
        var secret = TestModels.WriteExternalData(temp.Sub("elsewhere"), "secret.bin");
        var modelDirectory = temp.Sub("model");
        using (var ln = Process.Start("ln", [secret, Path.Combine(modelDirectory, "weights.bin")]))
        {
            ln.WaitForExit();
            Assert.Equal(0, ln.ExitCode);
        }

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin"), modelDirectory));

        Assert.Contains("has 2 hard links", rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WhenLocationIsAFolder()
    {
        temp.Sub("weights.bin");

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin"), temp.Path));

        Assert.Contains("is not a regular file", rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WhenFileIsMissing()
    {
        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin"), temp.Path));

        Assert.Equal(AdmissionChecks.ExternalData, rejected.Check);
        Assert.StartsWith("External data file 'weights.bin' for initializer 'w' is missing", rejected.Message);
    }

    [Theory]
    [InlineData(100L, null, "starts at byte 100, past the end of 'weights.bin' (16 bytes)")]
    [InlineData(8L, 16L, "runs from byte 8 for 16 bytes, past the end of 'weights.bin' (16 bytes)")]
    public void Check_RejectsExternalData_WhenItReadsPastTheFile(long offset, long? length, string words)
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin");

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin", offset: offset, length: length), temp.Path));

        Assert.Contains(words, rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WhenItsSizeDoesNotMatchTheShape()
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin");

        var rejected = Assert.Throws<ModelRejectedException>(() =>
            ModelAdmission.Check(TestModels.ExternalDataModel("weights.bin", length: 8), temp.Path));

        Assert.Equal(AdmissionChecks.Budget, rejected.Check);
        Assert.Contains("is 8 bytes, but its shape [4] of float needs 16", rejected.Message);
    }

    [Fact]
    public void Check_RejectsExternalData_WithUnknownKeys()
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin");
        var model = TestModels.ExternalDataModel("weights.bin");
        model.Graph.Initializer[0].ExternalData.Add(new StringStringEntryProto { Key = "basepath", Value = "/etc" });

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Contains("unknown key 'basepath'", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsJpeg_SayingWhatItLooksLike()
    {
        var path = TestModels.WriteFile(temp.Path, "cat.onnx", TestModels.JpegLikeBytes());

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, Unlimited));

        Assert.Equal(AdmissionChecks.Format, rejected.Check);
        Assert.Equal("The file is not an ONNX model: it looks like a JPEG image.", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsProgram_SayingWhatItLooksLike()
    {
        var path = TestModels.WriteFile(temp.Path, "setup.onnx", TestModels.ExeLikeBytes());

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, Unlimited));

        Assert.Equal("The file is not an ONNX model: it looks like a Windows program or library (.exe/.dll).", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsZip_SayingWhatItLooksLike()
    {
        var zip = temp.File("bundle.onnx");
        using (var archive = ZipFile.Open(zip, ZipArchiveMode.Create))
        {
            using var entry = archive.CreateEntry("model.onnx").Open();
            entry.Write(TestModels.Bytes(TestModels.Mlp()));
        }

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(zip, Unlimited));

        Assert.Contains("it looks like a zip archive", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsEmptyFile()
    {
        var path = TestModels.WriteEmptyFile(temp.Path);

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, Unlimited));

        Assert.Equal(AdmissionChecks.Format, rejected.Check);
        Assert.StartsWith("The file is empty (0 bytes)", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsTruncatedModel()
    {
        var path = TestModels.WriteFile(temp.Path, "model.onnx", TestModels.Truncated(TestModels.Bytes(TestModels.ConvNet())));

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, Unlimited));

        Assert.Equal(AdmissionChecks.Format, rejected.Check);
        Assert.Contains("not a complete ONNX model", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsFile_OverTheSizeLimit()
    {
        var path = TestModels.Write(TestModels.Mlp(), temp.Path);

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, maxModelBytes: 100));

        Assert.Equal(AdmissionChecks.Size, rejected.Check);
        Assert.Contains("over the limit of 100 bytes", rejected.Message);
    }

    [Fact]
    public void Check_RejectsModelAndExternalData_OverTheSizeLimitTogether()
    {
        TestModels.WriteExternalData(temp.Path, "weights.bin", padding: 1000);
        var model = TestModels.ExternalDataModel("weights.bin", offset: 1000);

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path, maxModelBytes: 1000));

        Assert.Equal(AdmissionChecks.Size, rejected.Check);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(14)]
    public void Check_RejectsIrVersion_OutsideWhatOnnxRuntimeRuns(long irVersion)
    {
        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(TestModels.Mlp(irVersion: irVersion), temp.Path));

        Assert.Equal(AdmissionChecks.IrVersion, rejected.Check);
        Assert.Equal($"The model's IR version is {irVersion}; ONNX Runtime 1.31 runs IR versions 3 to 13.", rejected.Message);
    }

    [Theory]
    [InlineData(6)]
    [InlineData(27)]
    public void Check_RejectsOpset_OutsideWhatOnnxRuntimeRuns(long opset)
    {
        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(TestModels.Mlp(opset: opset), temp.Path));

        Assert.Equal(AdmissionChecks.Opset, rejected.Check);
        Assert.Equal($"The model uses opset {opset} of 'ai.onnx'; ONNX Runtime 1.31 runs opsets 7 to 26 of it.", rejected.Message);
    }

    [Theory]
    [InlineData(3, 7)]
    [InlineData(13, 26)]
    public void Check_AcceptsTheEndsOfTheRanges(long irVersion, long opset)
    {
        ModelAdmission.Check(TestModels.Mlp(irVersion, opset), temp.Path);
    }

    [Fact]
    public void Check_RejectsCustomOperatorDomain()
    {
        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(TestModels.CustomOpModel(), temp.Path));

        Assert.Equal(AdmissionChecks.Operator, rejected.Check);
        Assert.Contains("'com.example.custom'", rejected.Message);
        Assert.Contains("custom operators are not accepted", rejected.Message);
    }

    [Fact]
    public void Check_RejectsCustomOperator_InsideASubgraph()
    {
        var model = TestModels.IfModel();
        var relu = model.Graph.Node[0].Attribute[0].G.Node[0];
        relu.Domain = TestModels.CustomDomain;

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Equal("Node 'then_relu' in the then_branch of If 'choose' uses the operator 'Relu' from domain 'com.example.custom', "
                     + "which ONNX Runtime does not provide; custom operators are not accepted.", rejected.Message);
    }

    [Fact]
    public void Check_RejectsInitializer_WithANegativeDimension()
    {
        var model = TestModels.Mlp();
        model.Graph.Initializer[1].Dims[0] = -8;

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Equal(AdmissionChecks.Budget, rejected.Check);
        Assert.Equal("Initializer 'B1' declares a negative dimension (-8) in its shape [-8].", rejected.Message);
    }

    [Fact]
    public void Check_RejectsInitializer_WhoseElementCountOverflows()
    {
        var model = TestModels.Mlp();
        var w1 = model.Graph.Initializer[0];
        w1.Dims.Clear();
        w1.Dims.AddRange([1L << 32, 1L << 32]);

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Equal(AdmissionChecks.Budget, rejected.Check);
        Assert.Contains("whose size does not fit in 64 bits", rejected.Message);
    }

    [Fact]
    public void Check_RejectsInitializer_WhoseRawDataDoesNotMatchItsShape()
    {
        var model = TestModels.Mlp();
        model.Graph.Initializer[0].Dims[1] = 1_000_000;

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Equal("Initializer 'W1' holds 128 bytes of data, but its shape [4,1000000] of float needs 16,000,000.", rejected.Message);
    }

    [Fact]
    public void Check_RejectsTypedData_ThatDoesNotMatchItsShape()
    {
        var model = TestModels.ConstantOfShapeBomb();
        model.Graph.Initializer[0].Dims[0] = 3;

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Check(model, temp.Path));

        Assert.Equal("Initializer 'shape' holds 2 values, but its shape [3] of int64 needs 3.", rejected.Message);
    }

    [Fact]
    public void Parse_RejectsProtobufWithoutAGraph()
    {
        var path = TestModels.WriteFile(temp.Path, "model.onnx", new ModelProto { IrVersion = 8, ProducerName = "nothing" }.ToByteArray());

        var rejected = Assert.Throws<ModelRejectedException>(() => ModelAdmission.Parse(path, Unlimited));

        Assert.Equal(AdmissionChecks.Format, rejected.Check);
        Assert.Contains("holds no graph", rejected.Message);
    }
}
