using MaaS.Onnx.Samples;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SkiaSharp;

namespace MaaS.Onnx.Tests;

public sealed class ImagePreprocessorTests
{
    private static ImageInputSpec Spec(TensorElementType type, params long[] shape) => ImageInputSpec.For(new SampleInput("image", type, shape));

    [Fact]
    public void Layout_IsNchw_WhenChannelsComeFirst_AndNhwc_WhenLast()
    {
        var nchw = Spec(TensorElementType.Float, -1, 3, 32, 48);
        var nhwc = Spec(TensorElementType.Float, -1, 32, 48, 3);
        var grayNhwc = Spec(TensorElementType.UInt8, 1, 28, 28, 1);

        Assert.Equal((TensorLayout.Nchw, 3, 32, 48), (nchw.Layout, nchw.Channels, nchw.Height, nchw.Width));
        Assert.Equal((TensorLayout.Nhwc, 3, 32, 48), (nhwc.Layout, nhwc.Channels, nhwc.Height, nhwc.Width));
        Assert.Equal((TensorLayout.Nhwc, 1, 28, 28), (grayNhwc.Layout, grayNhwc.Channels, grayNhwc.Height, grayNhwc.Width));
        Assert.Equal([1L, 32, 48, 3], nhwc.Shape);
    }

    [Fact]
    public void SymbolicSides_Become224_AndBatchOne()
    {
        var spec = Spec(TensorElementType.Float, -1, 3, -1, -1);

        Assert.Equal([1L, 3, 224, 224], spec.Shape);
    }

    [Theory]
    [InlineData(new long[] { 1, 4, 32, 32 }, "neither dimension 1")]
    [InlineData(new long[] { 1, 3, 32 }, "four dimensions")]
    [InlineData(new long[] { 8, 3, 32, 32 }, "fixed batch of 8")]
    public void InputsThatTakeNoImage_AreRefused_Clearly(long[] shape, string reason)
    {
        var error = Assert.Throws<SampleFormatException>(() => Spec(TensorElementType.Float, shape));

        Assert.Contains("'image'", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void Int64Input_IsRefused_NamingTheType()
    {
        var error = Assert.Throws<SampleFormatException>(() => Spec(TensorElementType.Int64, 1, 3, 8, 8));

        Assert.Contains("int64", error.Message);
    }

    [Fact]
    public void GrayscaleImage_FillsAThreeChannelInput_WithTheSameLevelInEachChannel()
    {
        var gray = TestImages.GrayPng(16, 16, 128);
        Assert.Equal("PNG", ImagePreprocessor.ReadSize(gray).Format);

        var tensor = ImagePreprocessor.ToTensor(gray, Spec(TensorElementType.Float, -1, 3, 16, 16), ImageNormalization.ZeroOne);

        Assert.Equal([1L, 3, 16, 16], tensor.Shape);
        var values = (float[])tensor.Values;
        Assert.Equal(3 * 16 * 16, values.Length);
        Assert.All(values, v => Assert.Equal(128 / 255f, v, 3));
    }

    [Fact]
    public void ColourImage_FillsAOneChannelInput_WithItsLuma()
    {
        var red = TestImages.Solid(10, 10, new SKColor(255, 0, 0));

        var tensor = ImagePreprocessor.ToTensor(red, Spec(TensorElementType.Float, 1, 1, 10, 10), ImageNormalization.Raw);

        Assert.All((float[])tensor.Values, v => Assert.Equal(0.299f * 255, v, 2));
    }

    [Fact]
    public void WrongSizedImage_IsResizedToCover_AndCentreCropped()
    {
        // 400 × 200: left quarter red, middle half green, right quarter blue. Scaled to cover 8 × 8 it is 16 × 8, and
        // the centre crop keeps columns 4–11: the green middle only.
        var image = TestImages.Png(400, 200, (x, _) => x < 100 ? SKColors.Red : x < 300 ? SKColors.Lime : SKColors.Blue);

        var tensor = ImagePreprocessor.ToTensor(image, Spec(TensorElementType.UInt8, 1, 3, 8, 8), ImageNormalization.Raw);

        var values = (byte[])tensor.Values;
        Assert.Equal([1L, 3, 8, 8], tensor.Shape);
        var red = values[..64];
        var green = values[64..128];
        var blue = values[128..];
        Assert.All(green, v => Assert.True(v > 230, $"green {v}"));
        Assert.All(red, v => Assert.True(v < 25, $"red {v}"));
        Assert.All(blue, v => Assert.True(v < 25, $"blue {v}"));
    }

    [Fact]
    public void NhwcInput_GetsChannelsLast()
    {
        var image = TestImages.Solid(20, 30, new SKColor(255, 0, 51));

        var tensor = ImagePreprocessor.ToTensor(image, Spec(TensorElementType.Float, -1, 12, 12, 3), ImageNormalization.ZeroOne);

        var values = (float[])tensor.Values;
        Assert.Equal([1L, 12, 12, 3], tensor.Shape);
        for (var pixel = 0; pixel < 144; pixel++)
        {
            Assert.Equal(1f, values[pixel * 3], 3);
            Assert.Equal(0f, values[pixel * 3 + 1], 3);
            Assert.Equal(0.2f, values[pixel * 3 + 2], 3);
        }
    }

    [Theory]
    [InlineData("imagenet", (102 / 255f - 0.485f) / 0.229f)]
    [InlineData("zero-one", 102 / 255f)]
    [InlineData("minus-one-one", 102 / 127.5f - 1)]
    [InlineData("raw", 102f)]
    public void Normalisation_Presets_MapTheRedChannel(string preset, float expected)
    {
        Assert.True(ImageNormalizations.TryParse(preset, out var normalization));
        var image = TestImages.Solid(4, 4, new SKColor(102, 0, 0));

        var tensor = ImagePreprocessor.ToTensor(image, Spec(TensorElementType.Float, 1, 3, 4, 4), normalization);

        Assert.All(((float[])tensor.Values)[..16], v => Assert.Equal(expected, v, 3));
    }

    [Fact]
    public void UnknownNormalisation_DoesNotParse()
    {
        Assert.False(ImageNormalizations.TryParse("imagenet; drop table", out _));
        Assert.False(ImageNormalizations.TryParse(null, out _));
    }

    [Fact]
    public void Float16Input_GetsHalfPrecisionValues()
    {
        var tensor = ImagePreprocessor.ToTensor(TestImages.Solid(4, 4, SKColors.White), Spec(TensorElementType.Float16, 1, 3, 4, 4), ImageNormalization.ZeroOne);

        Assert.All((Float16[])tensor.Values, v => Assert.Equal(1f, (float)v));
    }

    [Fact]
    public void LargeJpeg_IsDecodedSmaller_AndStillFillsTheInput()
    {
        var photo = TestImages.Jpeg(1600, 1200, (x, y) => new SKColor((byte)(x * 255 / 1600), (byte)(y * 255 / 1200), 90));

        var tensor = ImagePreprocessor.ToTensor(photo, Spec(TensorElementType.Float, -1, 3, -1, -1), ImageNormalization.ImageNet);

        Assert.Equal([1L, 3, 224, 224], tensor.Shape);
        var values = (float[])tensor.Values;
        // Red rises left to right, green top to bottom, blue stays put.
        Assert.True(values[223] > values[0] + 1);
        Assert.True(values[224 * 224 + 223 * 224] > values[224 * 224] + 1);
        var blue = values[(2 * 224 * 224)..];
        Assert.InRange(blue.Max() - blue.Min(), 0, 0.2);
    }

    [Fact]
    public void CorruptFile_IsRefused_SayingItIsNoImage()
    {
        var error = Assert.Throws<SampleFormatException>(() => ImagePreprocessor.Validate(TestImages.NotAnImage()));

        Assert.Contains("not an image", error.Message);
    }

    [Fact]
    public void TruncatedImage_IsRefused_SayingSo()
    {
        var image = TestImages.Png(64, 64, (x, y) => new SKColor((byte)(x * 4), (byte)(y * 4), (byte)(x ^ y)));

        var error = Assert.Throws<SampleFormatException>(() => ImagePreprocessor.Validate(TestImages.Truncated(image, 0.6)));

        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void HugeDeclaredSize_IsRefused_BeforeAnyPixelMemory()
    {
        var bomb = TestImages.PngDeclaring(100_000, 100_000);
        Assert.True(bomb.Length < 100);
        var before = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Throws<SampleFormatException>(() => ImagePreprocessor.ToTensor(bomb, Spec(TensorElementType.Float, 1, 3, 8, 8), ImageNormalization.ImageNet));

        Assert.Contains("100000 × 100000", error.Message);
        Assert.Contains("limit is 50 megapixels", error.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20);
    }

    [Fact]
    public void PixelLimit_IsTheCallers()
    {
        var image = TestImages.Solid(100, 100, SKColors.Gray);

        Assert.Equal(new ImageSize(100, 100, "PNG"), ImagePreprocessor.Validate(image, maxPixels: 10_000));
        var error = Assert.Throws<SampleFormatException>(() => ImagePreprocessor.Validate(image, maxPixels: 9_999));
        Assert.Contains("100 × 100", error.Message);
    }

    [Fact]
    public void Thumbnail_IsASmallPng()
    {
        var thumbnail = ImagePreprocessor.Thumbnail(TestImages.Jpeg(640, 320, (_, _) => SKColors.Orange), maxSide: 96);

        var size = ImagePreprocessor.ReadSize(thumbnail);
        Assert.Equal(new ImageSize(96, 48, "PNG"), size);
    }
}
