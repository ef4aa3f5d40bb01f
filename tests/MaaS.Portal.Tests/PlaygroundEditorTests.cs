using System.Text;
using Bunit;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Samples;
using MaaS.Onnx.Testing;
using MaaS.Portal.Features.Playground;
using Microsoft.AspNetCore.Components.Forms;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime.Tensors;
using MudBlazor;
using SkiaSharp;

namespace MaaS.Portal.Tests;

/// <summary>The playground's input editors, rendered, driven through their controls, and the tensors they build.</summary>
public sealed class PlaygroundEditorTests : MudTestBase
{
    private readonly PlaygroundOptions _options = new() { MaxImageBytes = 200_000 };

    public PlaygroundEditorTests() => Services.AddSingleton(Options.Create(_options));

    private static TensorSpec Spec(string name, TensorElementType type, long[] shape, params string[] symbols) =>
        new(name, true, type, shape, shape.Select((d, i) => d < 0 && i < symbols.Length ? symbols[i] : "").ToArray(), type.ToString().ToLowerInvariant());

    [Fact]
    public void NumericEditor_ValidatesAgainstTheShape_NamingTheWrongDimension_AsItIsTyped()
    {
        var state = new NumericInputState(Spec("features", TensorElementType.Float, [-1, 4], "batch"));
        var editor = Render<NumericInputEditor>(p => p.Add(e => e.State, state));
        Assert.Equal("[[0, 0, 0, 0]]", state.Json);
        Assert.Empty(editor.FindAll("[data-testid=tensor-error]"));

        editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").Input("[[1, 2, 3]]");
        editor.WaitForAssertion(() => Assert.Equal("Dimension 1 has 3 values at [0]; shape [1, 4] says 4.", editor.Find("[data-testid=tensor-error]").TextContent));
        Assert.Throws<PlaygroundInputException>(() => state.Build());

        editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").Input("[[1, 2, 3, \"x\"]]");
        editor.WaitForAssertion(() => Assert.Contains("The value at [0][3] is not a number", editor.Find("[data-testid=tensor-error]").TextContent));
        editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").Input("[[1, 2, 3, 4");
        editor.WaitForAssertion(() => Assert.StartsWith("Not valid JSON", editor.Find("[data-testid=tensor-error]").TextContent));

        // The symbolic batch is editable: two rows are then wanted, and a flat list of eight fills them.
        editor.Find("input[data-testid=dimension-0], [data-testid=dimension-0] input").Change("2");
        editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").Input("[[1, 2, 3, 4]]");
        editor.WaitForAssertion(() => Assert.Equal("Dimension 0 has 1 value; shape [2, 4] says 2.", editor.Find("[data-testid=tensor-error]").TextContent));
        editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").Input("[1, 2, 3, 4, 5, 6, 7, 8]");
        editor.WaitForAssertion(() => Assert.Empty(editor.FindAll("[data-testid=tensor-error]")));
        var tensor = Assert.Single(state.Build());
        Assert.Equal([2L, 4], tensor.Shape);
        Assert.Equal([1f, 2, 3, 4, 5, 6, 7, 8], tensor.ToArray<float>());
    }

    [Fact]
    public void InputsTheEditorsCannotWrite_AreAMessage_NotAFailure()
    {
        // BF16 has no JSON writer here; before, building the body threw into the page and ended the circuit.
        var spec = Spec("x", TensorElementType.BFloat16, [1, 2]);
        var target = new PlaygroundTarget(PlaygroundTargetKind.Deployment, "bf16", Guid.NewGuid(), "bf16", "BF16", 1, true,
            new ModelSignature([spec], []), null, null);
        var form = new PlaygroundForm(target);

        var error = Assert.Throws<PlaygroundInputException>(() => form.BuildBody());

        Assert.StartsWith("These inputs cannot be sent from the playground", error.Message);
    }

    [Theory]
    [InlineData(-1, true)]
    [InlineData(128, true)]
    [InlineData(2, true)]
    // One token cannot hold [CLS] and [SEP]: a single-step decoder's input_ids get the JSON editor (the text box threw).
    [InlineData(1, false)]
    public void TokenInputs_NeedRoomForTwoTokens(long length, bool text) =>
        Assert.Equal(text, TextInputState.IsTokenInput(Spec("input_ids", TensorElementType.Int64, [1, length])));

    [Fact]
    public void NumericEditor_TooLongToSendOverTheCircuit_IsReadOnly_AndSaysWhy()
    {
        var state = new NumericInputState(Spec("x", TensorElementType.Float, [1, 8000]));
        var editor = Render<NumericInputEditor>(p => p.Add(e => e.State, state));
        var field = editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea");
        Assert.False(field.HasAttribute("readonly"));
        Assert.Equal(NumericInputEditor.MaxJsonChars.ToString(System.Globalization.CultureInfo.InvariantCulture), field.GetAttribute("maxlength"));

        editor.Find("button[data-testid=fill-random]").Click();

        Assert.True(state.Json.Length > NumericInputEditor.MaxJsonChars);
        editor.WaitForAssertion(() => Assert.True(editor.Find("textarea[data-testid=tensor-json], [data-testid=tensor-json] textarea").HasAttribute("readonly")));
        Assert.Contains("too long to edit here", editor.Markup);
        Assert.Equal(8000, state.Build()[0].ToArray<float>().Length);
    }

    [Fact]
    public void NumericEditor_FillButtons_WriteZerosOnesAndRandomValuesInTheRange_WholeForIntegers()
    {
        var state = new NumericInputState(Spec("ids", TensorElementType.Int64, [2, 3]));
        var editor = Render<NumericInputEditor>(p => p.Add(e => e.State, state));

        editor.Find("[data-testid=fill-ones] button, button[data-testid=fill-ones]").Click();
        Assert.Equal([1L, 1, 1, 1, 1, 1], state.Build()[0].ToArray<long>());
        Assert.Equal("[[1, 1, 1],\n [1, 1, 1]]", state.Json);

        editor.Find("input[data-testid=random-low], [data-testid=random-low] input").Change("5");
        editor.Find("input[data-testid=random-high], [data-testid=random-high] input").Change("7");
        editor.Find("button[data-testid=fill-random]").Click();
        var values = state.Build()[0].ToArray<long>();
        Assert.All(values, v => Assert.InRange(v, 5, 7));

        editor.Find("button[data-testid=fill-zeros]").Click();
        Assert.All(state.Build()[0].ToArray<long>(), v => Assert.Equal(0, v));

        var floats = new NumericInputState(Spec("x", TensorElementType.Float, [1, 200]));
        floats.Fill(NumericInputState.FillKind.Random, -0.5, 0.5, new Random(3));
        var random = floats.Build()[0].ToArray<float>();
        Assert.All(random, v => Assert.InRange(v, -0.5f, 0.5f));
        Assert.True(random.Distinct().Count() > 100, "random values should differ");
    }

    [Fact]
    public void ImageEditor_DetectsTheLayout_PreviewsTheUpload_AndNormalisesAsChosen()
    {
        var state = Assert.IsType<ImageInputState>(InputStates.For(Spec("image", TensorElementType.Float, [-1, 3, 32, 32], "batch")));
        Assert.Equal((TensorLayout.Nchw, 3, 32, 32), (state.Layout, state.Channels, state.Height, state.Width));
        var editor = Render<ImageInputEditor>(p => p.Add(e => e.State, state));
        Assert.Empty(editor.FindAll("[data-testid=image-preview]"));

        // Left half red, right half blue, 64 × 48: covered to 43 × 32... then centre-cropped to 32 × 32.
        var png = TestImages.Png(64, 48, (x, _) => x < 32 ? new SKColor(255, 0, 0) : new SKColor(0, 0, 255));
        editor.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(png, "halves.png", contentType: "image/png"));
        editor.WaitForElement("[data-testid=image-preview]");
        Assert.StartsWith("data:image/png;base64,", editor.Find("[data-testid=image-preview]").GetAttribute("src"));
        Assert.Contains("64 × 48 PNG", editor.Find("[data-testid=image-info]").TextContent);

        var imagenet = state.Build()[0];
        Assert.Equal([1L, 3, 32, 32], imagenet.Shape);
        var pixels = imagenet.ToArray<float>();
        // Red channel, top-left pixel: (1 - 0.485) / 0.229.
        Assert.Equal((1 - 0.485f) / 0.229f, pixels[0], 3);
        Assert.Contains("ImageNet", editor.Find("[data-testid=image-plan]").TextContent);

        editor.InvokeAsync(() => editor.FindComponent<MudSelect<ImageNormalization>>().Instance.ValueChanged.InvokeAsync(ImageNormalization.MinusOneOne));
        editor.WaitForAssertion(() => Assert.Contains("−1 to 1", editor.Find("[data-testid=image-plan]").TextContent));
        var minusOneOne = state.Build()[0].ToArray<float>();
        Assert.Equal(1f, minusOneOne[0], 3);
        Assert.Equal(-1f, minusOneOne[32 * 32 * 2], 3); // blue channel, top-left: no blue on the red half

        state.Normalization = ImageNormalization.Raw;
        Assert.Equal(255f, state.Build()[0].ToArray<float>()[0], 3);
        state.Normalization = ImageNormalization.ZeroOne;
        Assert.All(state.Build()[0].ToArray<float>(), v => Assert.InRange(v, 0f, 1f));
    }

    [Fact]
    public void ImageEditor_ChannelsLast_Uint8_AndSymbolicSides_AreHonoured()
    {
        var nhwc = Assert.IsType<ImageInputState>(InputStates.For(Spec("pixels", TensorElementType.UInt8, [1, -1, -1, 3], "", "height", "width")));
        Assert.Equal((TensorLayout.Nhwc, 3), (nhwc.Layout, nhwc.Channels));
        var editor = Render<ImageInputEditor>(p => p.Add(e => e.State, nhwc));
        Assert.Empty(editor.FindAll("[data-testid=image-normalization]")); // uint8 takes raw bytes
        editor.Find("input[data-testid=image-width], [data-testid=image-width] input").Change("20");
        editor.Find("input[data-testid=image-height], [data-testid=image-height] input").Change("10");
        nhwc.SetImage(TestImages.Solid(40, 40, new SKColor(10, 20, 30)), "solid.png");
        var tensor = nhwc.Build()[0];
        Assert.Equal([1L, 10, 20, 3], tensor.Shape);
        Assert.Equal([10, 20, 30], tensor.ToArray<byte>()[..3]);
    }

    [Fact]
    public void ImageEditor_RefusesOversizedFilesAndUndecodableOnes_InWords()
    {
        var state = (ImageInputState)InputStates.For(Spec("image", TensorElementType.Float, [1, 3, 16, 16]));
        var editor = Render<ImageInputEditor>(p => p.Add(e => e.State, state));

        editor.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(new byte[_options.MaxImageBytes + 1], "huge.png"));
        editor.WaitForAssertion(() => Assert.Contains("images may be", editor.Find("[data-testid=image-error]").TextContent));

        editor.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(TestImages.NotAnImage(), "notes.png"));
        editor.WaitForAssertion(() => Assert.Contains("'notes.png' cannot be used: The file is not an image", editor.Find("[data-testid=image-error]").TextContent));
        editor.FindComponent<InputFile>().UploadFiles(InputFileContent.CreateFromBinary(TestImages.Truncated(TestImages.Png(64, 64, (x, y) => new SKColor((byte)x, (byte)y, 0))), "cut.png"));
        editor.WaitForAssertion(() => Assert.Contains("'cut.png' cannot be used", editor.Find("[data-testid=image-error]").TextContent));
        Assert.Throws<PlaygroundInputException>(() => state.Build());
    }

    [Fact]
    public void TextEditor_TokenisesOnTheServer_ShowsTheTokens_AndSaysWhenTheTextIsCut()
    {
        var vocabulary = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nplay\n##ground\nworks\nhello\nworld\n.\n";
        var tokenizer = TextTokenizer.Load(new MemoryStream(Encoding.UTF8.GetBytes(vocabulary)));
        long[] shape = [-1, -1];
        var signature = new ModelSignature(
            [Spec("input_ids", TensorElementType.Int64, shape, "batch", "sequence"), Spec("attention_mask", TensorElementType.Int64, shape, "batch", "sequence"),
             Spec("token_type_ids", TensorElementType.Int64, shape, "batch", "sequence")],
            []);
        var state = Assert.IsType<TextInputState>(Assert.Single(InputStates.For(signature, tokenizer)));
        var editor = Render<TextInputEditor>(p => p.Add(e => e.State, state));

        editor.Find("textarea[data-testid=text-input], [data-testid=text-input] textarea").Input("The playground works.");
        editor.WaitForAssertion(() => Assert.Equal(["[CLS]", "the", "play", "##ground", "works", ".", "[SEP]"], editor.FindAll("[data-testid=token]").Select(t => t.TextContent.Trim())));
        Assert.Empty(editor.FindAll("[data-testid=truncation-notice]"));
        var tensors = state.Build();
        Assert.Equal(["input_ids", "attention_mask", "token_type_ids"], tensors.Select(t => t.Name));
        Assert.Equal([2L, 5, 6, 7, 8, 11, 3], tensors[0].ToArray<long>());
        Assert.All(tensors[1].ToArray<long>(), v => Assert.Equal(1, v));

        editor.Find("input[data-testid=text-max-length], [data-testid=text-max-length] input").Change("4");
        editor.WaitForAssertion(() => Assert.Contains("The text makes 7 tokens, more than the 4 the model gets: it is cut to the first 3", editor.Find("[data-testid=truncation-notice]").TextContent));
        Assert.Equal([2L, 5, 3], state.Build()[0].ToArray<long>());
    }

    [Fact]
    public void StringAndBoolEditors_SendTextFieldsAndSwitches()
    {
        var strings = (StringInputState)InputStates.For(Spec("words", TensorElementType.String, [-1], "n"));
        var stringEditor = Render<StringInputEditor>(p => p.Add(e => e.State, strings));
        stringEditor.Find("input[data-testid=dimension-0], [data-testid=dimension-0] input").Change("2");
        stringEditor.WaitForAssertion(() => Assert.Equal(2, stringEditor.FindAll("input[data-testid=string-value], [data-testid=string-value] input").Count));
        stringEditor.FindAll("input[data-testid=string-value], [data-testid=string-value] input")[1].Input("héllo");
        var text = Assert.Single(strings.Build());
        Assert.Equal(["", "héllo"], text.Strings!);

        var flags = (BoolInputState)InputStates.For(Spec("mask", TensorElementType.Bool, [3]));
        var boolEditor = Render<BoolInputEditor>(p => p.Add(e => e.State, flags));
        Assert.Equal(3, boolEditor.FindAll("input[data-testid=bool-value], [data-testid=bool-value] input").Count);
        boolEditor.FindAll("input[data-testid=bool-value], [data-testid=bool-value] input")[2].Change(true);
        Assert.Equal([0, 0, 1], flags.Build()[0].ToArray<byte>());
    }

    [Fact]
    public void InputEditor_ShowsNameDatatypeAndShape_WithSymbols()
    {
        var state = InputStates.For(Spec("Input247", TensorElementType.Float, [-1, 3, 224, 224], "N"));
        var editor = Render<InputEditor>(p => p.Add(e => e.State, state));
        Assert.Equal("Input247", editor.Find("[data-testid=input-name]").TextContent);
        Assert.Equal("FP32", editor.Find("[data-testid=input-datatype]").TextContent.Trim());
        Assert.Equal("[N, 3, 224, 224]", editor.Find("[data-testid=input-shape]").TextContent);
        Assert.NotNull(editor.Find("[data-testid=image-editor]"));
    }
}
