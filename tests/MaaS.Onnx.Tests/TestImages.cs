using System.Buffers.Binary;
using System.Text;
using SkiaSharp;

namespace MaaS.Onnx.Testing;

/// <summary>
/// Real image files made in code with SkiaSharp: colour and grayscale PNGs, JPEGs, and files that only claim to be
/// images. Other test projects link this file as it is.
/// </summary>
public static class TestImages
{
    /// <summary>An RGB PNG whose pixel (x, y) is <paramref name="colour"/>(x, y).</summary>
    public static byte[] Png(int width, int height, Func<int, int, SKColor> colour) =>
        Encode(width, height, colour, SKEncodedImageFormat.Png, SKColorType.Rgba8888);

    public static byte[] Jpeg(int width, int height, Func<int, int, SKColor> colour, int quality = 95) =>
        Encode(width, height, colour, SKEncodedImageFormat.Jpeg, SKColorType.Rgba8888, quality);

    /// <summary>A one-channel (grayscale) PNG of a single gray level.</summary>
    public static byte[] GrayPng(int width, int height, byte level) =>
        Encode(width, height, (_, _) => new SKColor(level, level, level), SKEncodedImageFormat.Png, SKColorType.Gray8);

    public static byte[] Solid(int width, int height, SKColor colour) => Png(width, height, (_, _) => colour);

    private static byte[] Encode(int width, int height, Func<int, int, SKColor> colour, SKEncodedImageFormat format, SKColorType colorType, int quality = 100)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(width, height, colorType, SKAlphaType.Opaque));
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++) bitmap.SetPixel(x, y, colour(x, y));
        }
        using var data = bitmap.Encode(format, quality);
        return data.ToArray();
    }

    /// <summary>
    /// A PNG signature and a valid IHDR chunk declaring <paramref name="width"/> × <paramref name="height"/> pixels, then
    /// a tiny IDAT and IEND: a few dozen bytes that would ask a naive decoder for width × height × 4 bytes.
    /// </summary>
    public static byte[] PngDeclaring(int width, int height)
    {
        var file = new List<byte> { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A };
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bit depth
        header[9] = 2; // colour type RGB
        Chunk(file, "IHDR", header);
        Chunk(file, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        Chunk(file, "IEND", []);
        return [.. file];
    }

    /// <summary>The first <paramref name="fraction"/> of an image file.</summary>
    public static byte[] Truncated(byte[] image, double fraction = 0.5) => image[..(int)(image.Length * fraction)];

    /// <summary>Bytes that are no image at all.</summary>
    public static byte[] NotAnImage() => Encoding.ASCII.GetBytes("this is a text file pretending to be a picture, nothing more");

    private static void Chunk(List<byte> file, string type, byte[] data)
    {
        var length = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        file.AddRange(length);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        file.AddRange(typed);
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
        file.AddRange(crc);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
        return ~crc;
    }
}
