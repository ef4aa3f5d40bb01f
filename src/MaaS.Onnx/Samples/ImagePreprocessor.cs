using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MaaS.Onnx.Compression;
using SkiaSharp;

namespace MaaS.Onnx.Samples;

/// <summary>How pixel values become floats: the common training conventions.</summary>
public enum ImageNormalization
{
    /// <summary>0–1, then minus ImageNet's channel mean, divided by its standard deviation (torchvision models).</summary>
    ImageNet,
    /// <summary>Pixel / 255.</summary>
    ZeroOne,
    /// <summary>Pixel / 127.5 − 1 (Inception, many TensorFlow models).</summary>
    MinusOneOne,
    /// <summary>0–255 as they are.</summary>
    Raw,
}

public static class ImageNormalizations
{
    /// <summary>The names the API and the UI use, in the order the UI offers them.</summary>
    public static readonly IReadOnlyList<string> Names = ["imagenet", "zero-one", "minus-one-one", "raw"];

    public const string Default = "imagenet";

    public static bool TryParse(string? name, out ImageNormalization normalization)
    {
        normalization = (name ?? "").Trim().ToLowerInvariant() switch
        {
            "imagenet" => ImageNormalization.ImageNet,
            "zero-one" => ImageNormalization.ZeroOne,
            "minus-one-one" => ImageNormalization.MinusOneOne,
            "raw" => ImageNormalization.Raw,
            _ => (ImageNormalization)(-1),
        };
        return Enum.IsDefined(normalization);
    }

    public static string NameOf(ImageNormalization normalization) => Names[(int)normalization];

    public static string Describe(ImageNormalization normalization) => normalization switch
    {
        ImageNormalization.ImageNet => "ImageNet mean/std on 0–1",
        ImageNormalization.ZeroOne => "0 to 1",
        ImageNormalization.MinusOneOne => "−1 to 1",
        _ => "raw 0–255",
    };
}

public enum TensorLayout { Nchw, Nhwc }

/// <summary>What an image input wants: one image of Channels × Height × Width in a layout and element type.</summary>
public sealed record ImageInputSpec(string Name, TensorElementType ElementType, TensorLayout Layout, int Channels, int Height, int Width)
{
    /// <summary>The side symbolic height and width become: what most ImageNet-trained models take.</summary>
    public const int DefaultSide = 224;

    public long[] Shape => Layout == TensorLayout.Nchw ? [1, Channels, Height, Width] : [1, Height, Width, Channels];

    /// <summary>
    /// Reads a rank-4 input's shape: channels of 1 or 3 at position 1 mean NCHW, at position 3 NHWC; symbolic batch
    /// becomes 1 and symbolic sides <see cref="DefaultSide"/>. Throws <see cref="SampleFormatException"/> when the input
    /// cannot take an image.
    /// </summary>
    public static ImageInputSpec For(SampleInput input)
    {
        if (input.ElementType is not (TensorElementType.Float or TensorElementType.UInt8 or TensorElementType.Float16))
        {
            throw new SampleFormatException($"Input '{input.Name}' takes {ElementName(input.ElementType)} values; images fill float, float16 or uint8 inputs only.");
        }
        if (input.Shape is not { Count: 4 } shape)
        {
            throw new SampleFormatException($"Input '{input.Name}' has shape {input.ShapeText}; an image input has four dimensions (NCHW or NHWC).");
        }
        if (shape[0] > 1)
        {
            throw new SampleFormatException($"Input '{input.Name}' has a fixed batch of {shape[0]} (shape {input.ShapeText}); samples are one image each, so the batch must be 1 or variable.");
        }
        TensorLayout layout;
        int channels;
        if (shape[1] is 1 or 3) (layout, channels) = (TensorLayout.Nchw, (int)shape[1]);
        else if (shape[3] is 1 or 3) (layout, channels) = (TensorLayout.Nhwc, (int)shape[3]);
        else if (shape[1] < 0 && shape[3] < 0) (layout, channels) = (TensorLayout.Nchw, 3);
        else
        {
            throw new SampleFormatException($"Input '{input.Name}' has shape {input.ShapeText}: neither dimension 1 (NCHW) nor dimension 3 (NHWC) holds 1 or 3 channels, so it does not take images.");
        }
        var (h, w) = layout == TensorLayout.Nchw ? (shape[2], shape[3]) : (shape[1], shape[2]);
        return new ImageInputSpec(input.Name, input.ElementType, layout, channels, Side(h, input), Side(w, input));
    }

    private static int Side(long dimension, SampleInput input) => dimension switch
    {
        < 0 => DefaultSide,
        0 or > 16384 => throw new SampleFormatException($"Input '{input.Name}' has shape {input.ShapeText}; an image side of {dimension} pixels is not supported."),
        _ => (int)dimension,
    };

    private static string ElementName(TensorElementType type) => type.ToString().ToLowerInvariant();
}

/// <summary>An image's size as its header declares it, and the format the decoder recognised.</summary>
public sealed record ImageSize(int Width, int Height, string Format);

/// <summary>
/// Turns image files into model inputs: decode (SkiaSharp), resize so the image covers the input, centre-crop,
/// convert grayscale ↔ RGB, lay out NCHW or NHWC, normalise. Uploaded bytes are untrusted: the size in the header is
/// checked against a pixel limit before any pixel memory is allocated, and undecodable or truncated files are refused.
/// </summary>
public static class ImagePreprocessor
{
    /// <summary>50 megapixels: a decoded RGBA image of 200 MB at most.</summary>
    public const long DefaultMaxPixels = 50_000_000;

    /// <summary>The file name endings image sets consider; other entries of a .zip are ignored.</summary>
    public static readonly IReadOnlyList<string> Extensions = [".png", ".jpg", ".jpeg", ".bmp", ".webp"];

    private static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    public static bool IsImageFileName(string name) => Extensions.Any(e => name.EndsWith(e, StringComparison.OrdinalIgnoreCase));

    /// <summary>Reads the header only: dimensions and format. Throws <see cref="SampleFormatException"/> for non-images and images over the limit.</summary>
    public static ImageSize ReadSize(byte[] bytes, long maxPixels = DefaultMaxPixels)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = OpenCodec(data, maxPixels);
        return new ImageSize(codec.Info.Width, codec.Info.Height, FormatName(codec.EncodedFormat));
    }

    /// <summary>Decodes every pixel once, proving the file is whole; returns its size.</summary>
    public static ImageSize Validate(byte[] bytes, long maxPixels = DefaultMaxPixels)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = OpenCodec(data, maxPixels);
        // Validation only needs to know every byte decodes, so a JPEG may decode at 1/8 size and use 1/64 of the memory.
        using var bitmap = Decode(codec, codec.GetScaledDimensions(0.125f));
        return new ImageSize(codec.Info.Width, codec.Info.Height, FormatName(codec.EncodedFormat));
    }

    /// <summary>The image as the one input <paramref name="spec"/> describes, shape [1, C, H, W] or [1, H, W, C].</summary>
    public static SampleTensor ToTensor(byte[] bytes, ImageInputSpec spec, ImageNormalization normalization, long maxPixels = DefaultMaxPixels)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = OpenCodec(data, maxPixels);
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        var scale = Math.Max(spec.Width / (double)width, spec.Height / (double)height);

        // Decoders that can scale while decoding (JPEG, WebP) save the memory and time of a full-size decode.
        var decodeSize = codec.Info.Size;
        if (scale < 1)
        {
            var scaled = codec.GetScaledDimensions((float)scale);
            if (scaled.Width >= Math.Ceiling(width * scale) && scaled.Height >= Math.Ceiling(height * scale)) decodeSize = scaled;
        }
        using var decoded = Decode(codec, decodeSize);
        scale = Math.Max(spec.Width / (double)decoded.Width, spec.Height / (double)decoded.Height);
        var coverWidth = Math.Max(spec.Width, (int)Math.Round(decoded.Width * scale));
        var coverHeight = Math.Max(spec.Height, (int)Math.Round(decoded.Height * scale));
        using var resized = coverWidth == decoded.Width && coverHeight == decoded.Height
            ? decoded.Copy()
            : decoded.Resize(new SKImageInfo(coverWidth, coverHeight, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKCubicResampler.Mitchell))
              ?? throw new SampleFormatException("The image could not be resized.");
        var left = (coverWidth - spec.Width) / 2;
        var top = (coverHeight - spec.Height) / 2;
        return Fill(resized.GetPixelSpan(), coverWidth, left, top, spec, normalization);
    }

    /// <summary>A small PNG of the image, at most <paramref name="maxSide"/> pixels a side, for previews.</summary>
    public static byte[] Thumbnail(byte[] bytes, int maxSide = 96, long maxPixels = DefaultMaxPixels)
    {
        using var data = SKData.CreateCopy(bytes);
        using var codec = OpenCodec(data, maxPixels);
        var scale = Math.Min(1.0, maxSide / (double)Math.Max(codec.Info.Width, codec.Info.Height));
        using var decoded = Decode(codec, scale < 1 ? codec.GetScaledDimensions((float)scale) : codec.Info.Size);
        var width = Math.Max(1, (int)Math.Round(codec.Info.Width * scale));
        var height = Math.Max(1, (int)Math.Round(codec.Info.Height * scale));
        using var small = decoded.Width == width && decoded.Height == height
            ? decoded.Copy()
            : decoded.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
              ?? throw new SampleFormatException("The image could not be resized.");
        using var png = small.Encode(SKEncodedImageFormat.Png, 100);
        return png.ToArray();
    }

    private static SKCodec OpenCodec(SKData data, long maxPixels)
    {
        var codec = SKCodec.Create(data)
            ?? throw new SampleFormatException("The file is not an image this portal can read (PNG, JPEG, BMP or WebP), or it is damaged.");
        var (width, height) = (codec.Info.Width, codec.Info.Height);
        if (width <= 0 || height <= 0 || (long)width * height > maxPixels)
        {
            codec.Dispose();
            throw new SampleFormatException(
                $"The image declares {width} × {height} pixels ({(long)width * height / 1e6:0.#} megapixels); the limit is {maxPixels / 1e6:0.#} megapixels.");
        }
        return codec;
    }

    private static SKBitmap Decode(SKCodec codec, SKSizeI size)
    {
        if (size.Width <= 0 || size.Height <= 0) size = codec.Info.Size;
        var info = new SKImageInfo(size.Width, size.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result == SKCodecResult.InvalidScale && size != codec.Info.Size)
        {
            bitmap.Dispose();
            return Decode(codec, codec.Info.Size);
        }
        if (result != SKCodecResult.Success)
        {
            bitmap.Dispose();
            throw new SampleFormatException(result == SKCodecResult.IncompleteInput
                ? "The image data ends early: the file is truncated."
                : $"The image could not be decoded ({result}).");
        }
        return bitmap;
    }

    private static SampleTensor Fill(ReadOnlySpan<byte> rgba, int stride, int left, int top, ImageInputSpec spec, ImageNormalization normalization)
    {
        var (channels, height, width) = (spec.Channels, spec.Height, spec.Width);
        var count = channels * height * width;
        var floats = spec.ElementType == TensorElementType.UInt8 ? null : new float[count];
        var bytes = spec.ElementType == TensorElementType.UInt8 ? new byte[count] : null;
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var at = ((top + y) * stride + left + x) * 4;
                for (var c = 0; c < channels; c++)
                {
                    // One channel: the luma of the colour (ITU-R BT.601), as PIL's convert("L") makes it.
                    var value = channels == 3 ? rgba[at + c] : 0.299f * rgba[at] + 0.587f * rgba[at + 1] + 0.114f * rgba[at + 2];
                    var index = spec.Layout == TensorLayout.Nchw ? (c * height + y) * width + x : (y * width + x) * channels + c;
                    if (bytes is not null) bytes[index] = (byte)Math.Clamp(MathF.Round(value), 0, 255);
                    else floats![index] = Normalise(value, channels == 3 ? c : -1, normalization);
                }
            }
        }
        Array values = spec.ElementType switch
        {
            TensorElementType.UInt8 => bytes!,
            TensorElementType.Float16 => floats!.Select(v => (Float16)v).ToArray(),
            _ => floats!,
        };
        return new SampleTensor(spec.Name, spec.ElementType, spec.Shape, values);
    }

    /// <summary>Channel -1: a grayscale value, normalised with the mean of ImageNet's three channel statistics.</summary>
    private static float Normalise(float pixel, int channel, ImageNormalization normalization) => normalization switch
    {
        ImageNormalization.ImageNet => channel >= 0
            ? (pixel / 255f - ImageNetMean[channel]) / ImageNetStd[channel]
            : (pixel / 255f - 0.449f) / 0.226f,
        ImageNormalization.ZeroOne => pixel / 255f,
        ImageNormalization.MinusOneOne => pixel / 127.5f - 1f,
        _ => pixel,
    };

    private static string FormatName(SKEncodedImageFormat format) => format.ToString().ToUpperInvariant();
}
