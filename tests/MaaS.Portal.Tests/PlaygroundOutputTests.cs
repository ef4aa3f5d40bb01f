using System.Globalization;
using Bunit;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Playground;
using SkiaSharp;

namespace MaaS.Portal.Tests;

/// <summary>The playground's output renderer and the readings behind it, on tensors shaped like real models' outputs.</summary>
public sealed class PlaygroundOutputTests : MudTestBase
{
    private static readonly string[] Labels = ["cat", "dog", "bird", "fish", "horse", "cow", "sheep"];

    [Fact]
    public void ClassScores_AsLogits_AreSoftmaxed_AndTheTop5ShownWithLabels_AndAChart()
    {
        float[] logits = [0.1f, 2.5f, -1f, 4f, 0.3f, 3f, -2f];
        var reading = OutputAnalysis.Read(InferenceTensor.FromValues<float>("logits", [1, 7], logits), Labels);
        var view = Render<OutputView>(p => p.Add(v => v.Reading, reading));

        Assert.Equal(["fish", "cow", "dog", "horse", "cat"], view.FindAll("[data-testid=top-label]").Select(l => l.TextContent));
        Assert.Contains("softmax applied", view.Markup);
        var expected = Math.Exp(4) / logits.Sum(v => Math.Exp(v));
        Assert.Equal((expected * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%", view.FindAll("[data-testid=top-score]")[0].TextContent);
        Assert.NotEmpty(view.FindAll("[data-testid=top-chart] svg"));
        Assert.Equal("[1, 7]", view.Find("[data-testid=output-shape]").TextContent);
        Assert.StartsWith("0.1, 2.5, -1, 4", view.Find("[data-testid=first-values]").TextContent);
        Assert.Contains($"-2 / 4 / {logits.Average(v => (double)v).ToString("0.####", CultureInfo.InvariantCulture)}", view.Find("[data-testid=output-stats]").TextContent);
    }

    [Fact]
    public void Probabilities_AreShownAsTheyAre_AndUnlabelledClassesAreNumbered()
    {
        var reading = OutputAnalysis.Read(InferenceTensor.FromValues<float>("probabilities", [3], [0.2f, 0.7f, 0.1f]), null);
        var view = Render<OutputView>(p => p.Add(v => v.Reading, reading));
        Assert.DoesNotContain("softmax applied", view.Markup);
        Assert.Equal(["class 1", "class 0", "class 2"], view.FindAll("[data-testid=top-label]").Select(l => l.TextContent));
        Assert.Equal("70.0%", view.FindAll("[data-testid=top-score]")[0].TextContent);
    }

    [Fact]
    public void Embeddings_ShowTheirNorm_AndTheCosineWithAKeptOne()
    {
        // A ResNet-style feature map [1, 512, 1, 1]: long, named like a pooling output, no labels file.
        var a = Enumerable.Range(0, 512).Select(i => (float)Math.Sin(i)).ToArray();
        var reading = OutputAnalysis.Read(InferenceTensor.FromValues<float>("Pooling395_Output_0", [1, 512, 1, 1], a), null);
        Assert.Equal(OutputKind.Embedding, reading.Kind);
        var kept = a.Select(v => (double)v * 3).ToArray(); // same direction: cosine 1
        var view = Render<OutputView>(p => p.Add(v => v.Reading, reading).Add(v => v.Compare, kept).Add(v => v.CompareLabel, "first image"));

        var norm = Math.Sqrt(a.Sum(v => (double)v * v));
        Assert.Contains($"L2 norm {norm.ToString("0.####", CultureInfo.InvariantCulture)}", view.Find("[data-testid=embedding-norm]").TextContent);
        Assert.Contains("1.0000", view.Find("[data-testid=cosine]").TextContent);

        var orthogonal = OutputAnalysis.Cosine([1, 0, 0], [0, 2, 0]);
        Assert.Equal(0, orthogonal, 10);
        Assert.Equal(-1, OutputAnalysis.Cosine([1, 2], [-2, -4]), 10);
    }

    [Fact]
    public void TokenStates_AreMeanPooled_IntoOneSentenceVector()
    {
        // [1, 2 tokens, 16]: token 0 all ones, token 1 all threes → mean 2 in every place.
        var values = Enumerable.Repeat(1f, 16).Concat(Enumerable.Repeat(3f, 16)).ToArray();
        var reading = OutputAnalysis.Read(InferenceTensor.FromValues<float>("last_hidden_state", [1, 2, 16], values), null);
        Assert.Equal(OutputKind.Embedding, reading.Kind);
        Assert.All(reading.Embedding!, v => Assert.Equal(2, v, 10));
        Assert.Equal(8, reading.Norm!.Value, 10);
        Assert.Contains("Mean over the 2 token positions", Render<OutputView>(p => p.Add(v => v.Reading, reading)).Markup);
    }

    [Fact]
    public void Strings_AreListed_AndZipMapOutputs_BecomeATopListWithLabels()
    {
        var strings = OutputAnalysis.Read(InferenceTensor.FromStrings("PredictedLabel", [2], ["spam", "ham"]), null);
        var view = Render<OutputView>(p => p.Add(v => v.Reading, strings));
        Assert.Contains("spam", view.Find("[data-testid=output-strings]").TextContent);
        Assert.Contains("ham", view.Find("[data-testid=output-strings]").TextContent);

        var zipMap = OutputAnalysis.Read(InferenceTensor.FromStrings("Probability", [1], ["""{"0":0.1,"1":0.6,"2":0.3}"""]), ["cat", "dog", "bird"]);
        Assert.Equal(OutputKind.Classes, zipMap.Kind);
        var mapView = Render<OutputView>(p => p.Add(v => v.Reading, zipMap));
        Assert.Equal(["dog", "bird", "cat"], mapView.FindAll("[data-testid=top-label]").Select(l => l.TextContent));

        var table = OutputAnalysis.Read(InferenceTensor.FromStrings("info", [1], ["""{"unit":"cm","source":"sensor"}"""]), null);
        var tableView = Render<OutputView>(p => p.Add(v => v.Reading, table));
        Assert.Contains("sensor", tableView.Find("[data-testid=output-table]").TextContent);
    }

    [Fact]
    public void ImageLikeOutputs_AreDrawn()
    {
        // A [1, 1, 8, 8] mask: a diagonal of ones.
        var mask = new float[64];
        for (var i = 0; i < 8; i++) mask[i * 8 + i] = 1;
        var reading = OutputAnalysis.Read(InferenceTensor.FromValues<float>("mask", [1, 1, 8, 8], mask), null);
        var view = Render<OutputView>(p => p.Add(v => v.Reading, reading));
        var src = view.Find("[data-testid=output-image]").GetAttribute("src")!;
        using var bitmap = SKBitmap.Decode(Convert.FromBase64String(src["data:image/png;base64,".Length..]));
        Assert.Equal((8, 8), (bitmap.Width, bitmap.Height));
        Assert.Equal(new SKColor(255, 255, 255), bitmap.GetPixel(3, 3));
        Assert.Equal(new SKColor(0, 0, 0), bitmap.GetPixel(3, 4));
    }

    [Fact]
    public void Snippets_SendTheExactBody_WithTheKeyAsAPlaceholder()
    {
        const string body = """{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["it's \"quoted\""]}]}""";
        var snippets = CallSnippets.For("http://localhost:5000/v2/models/m/infer", body);
        var curl = snippets.Single(s => s.Language == "curl").Code;
        Assert.Contains("-H 'Authorization: Bearer <your API key>'", curl);
        // The shell's quoting of the single quote gives back the body byte for byte.
        Assert.Contains("""--data-binary '{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["it'\''s \"quoted\""]}]}'""", curl);
        Assert.Contains($"body = r'''{body}'''", snippets.Single(s => s.Language == "Python").Code);
        var csharp = snippets.Single(s => s.Language == "C#").Code;
        Assert.Contains($"var body = \"\"\"\n{body}\n\"\"\";", csharp);
        Assert.Contains("new AuthenticationHeaderValue(\"Bearer\", \"<your API key>\")", csharp);

        var large = "{\"inputs\":[" + new string(' ', CallSnippets.MaxInlineBytes) + "]}";
        Assert.All(CallSnippets.For("http://x/v2/models/m/infer", large), s => Assert.Contains("request.json", s.Code));
    }

    [Fact]
    public void TensorJson_ChecksIntegersAndRanges()
    {
        Assert.Equal("The value at [0][1] is 1.5; INT64 takes whole numbers.", TensorJson.Parse("[[1, 1.5]]", Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Int64, [1, 2]).Error);
        Assert.Equal("The value at [1] is 300; UINT8 takes 0 to 255.", TensorJson.Parse("[1, 300]", Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.UInt8, [2]).Error);
        Assert.Equal("3 values given flat; shape [2, 2] needs 4.", TensorJson.Parse("[1, 2, 3]", Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [2, 2]).Error);
        Assert.Equal([1.0, 2, 3, 4], TensorJson.Parse("[[1, 2], [3, 4]]", Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float, [2, 2]).Values!);
        Assert.Equal(50, PlaygroundForm.Percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.5));
        Assert.Equal(100, PlaygroundForm.Percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.95));

        // Timings of a series leave failed runs out: their round trips are not the model's.
        var runs = Enumerable.Range(1, 20).Select(i => new PlaygroundRun(200, null, [], 1, TimeSpan.FromMilliseconds(i), null, TimeSpan.FromMilliseconds(10 * i)))
            .Append(new PlaygroundRun(503, "busy", [], 0, null, null, TimeSpan.FromMilliseconds(5000))).ToList();
        var timings = PlaygroundForm.Timings(runs)!;
        Assert.Equal((20, 100.0, 190.0, 10.0, 19.0), (timings.Count, timings.RoundTripP50, timings.RoundTripP95, timings.ComputeP50, timings.ComputeP95));
        Assert.Null(PlaygroundForm.Timings(runs.Take(1).ToList()));
    }
}
