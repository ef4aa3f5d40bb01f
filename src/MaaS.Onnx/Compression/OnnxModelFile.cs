using Google.Protobuf;
using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace MaaS.Onnx.Compression;

/// <summary>
/// Loading and saving models for the passes. Loading pulls external data into the tensors (passes need the numbers);
/// saving moves large tensors back out to one external-data file when the model would pass protobuf's 2 GB limit,
/// and always writes to a temp file first, then renames, so a half-written model never carries the final name.
/// </summary>
public static class OnnxModelFile
{
    /// <summary>Protobuf cannot serialise a message of 2 GiB or more; stay clear of it.</summary>
    public const long InlineLimitBytes = 1_800_000_000;

    /// <summary>Tests lower the limit to send small models down the path models over 2 GB take.</summary>
    internal static readonly AsyncLocal<long?> InlineLimitOverride = new();

    /// <summary>Above this serialised size a model is written with external data and ORT opens it by path.</summary>
    public static long InlineLimit => InlineLimitOverride.Value ?? InlineLimitBytes;

    /// <summary>Whether the model must go to ONNX Runtime as a file with external data rather than as bytes.</summary>
    public static bool NeedsExternalData(ModelProto model) => model.CalculateSize() >= InlineLimit;

    /// <summary>
    /// An ONNX Runtime session on a model held in memory: as bytes when it fits in one protobuf message, otherwise
    /// written to a scratch folder with external data (the model itself is left as it was) and opened by path.
    /// </summary>
    public static InferenceSession CreateSession(ModelProto model, SessionOptions options)
    {
        if (!NeedsExternalData(model)) return new InferenceSession(ToBytes(model), options);
        var folder = Directory.CreateTempSubdirectory("maas-session-");
        try
        {
            var path = Path.Combine(folder.FullName, "model.onnx");
            WriteWithExternalData(model, path);
            return new InferenceSession(path, options);
        }
        finally
        {
            // ORT has read (or mapped) the files by now; an unlinked mapped file stays readable on Linux.
            folder.Delete(recursive: true);
        }
    }

    /// <summary>Tensors at least this large go to the external-data file when one is needed.</summary>
    public const long ExternalTensorMinBytes = 1024;

    public static ModelProto Load(string path)
    {
        ModelProto model;
        using (var stream = File.OpenRead(path))
        {
            model = ModelProto.Parser.WithDiscardUnknownFields(false).ParseFrom(CodedInputStream.CreateWithLimits(stream, int.MaxValue, 100));
        }
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var site in OnnxGraphs.AllTensors(model).Where(s => OnnxGraphs.IsExternal(s.Tensor)))
        {
            LoadExternal(site.Tensor, folder);
        }
        return model;
    }

    private static void LoadExternal(TensorProto tensor, string folder)
    {
        // Locations were checked at admission (plain names inside the model's folder); check again, cheaply.
        var location = OnnxGraphs.ExternalValue(tensor, "location") ?? throw new InvalidDataException($"Tensor '{tensor.Name}' has external data without a location.");
        if (location != Path.GetFileName(location)) throw new InvalidDataException($"Tensor '{tensor.Name}' points outside the model's folder ('{location}').");
        long.TryParse(OnnxGraphs.ExternalValue(tensor, "offset"), out var offset);
        var length = long.TryParse(OnnxGraphs.ExternalValue(tensor, "length"), out var l) ? l : new FileInfo(Path.Combine(folder, location)).Length - offset;
        using var file = File.OpenRead(Path.Combine(folder, location));
        file.Position = offset;
        var bytes = new byte[length];
        file.ReadExactly(bytes);
        tensor.RawData = ByteString.CopyFrom(bytes);
        tensor.ExternalData.Clear();
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
    }

    /// <summary>Bytes the model takes on disk once saved (its external data included).</summary>
    public static long SerializedSize(ModelProto model) =>
        model.CalculateSize() + OnnxGraphs.AllTensors(model).Where(s => OnnxGraphs.IsExternal(s.Tensor)).Sum(s => TensorData.StoredBytes(s.Tensor));

    /// <summary>
    /// Writes the model to <paramref name="path"/>; beyond <see cref="InlineLimitBytes"/>, large initializers go to
    /// "&lt;file name&gt;.data" beside it. Returns the files written (model first).
    /// </summary>
    public static IReadOnlyList<string> Save(ModelProto model, string path)
    {
        if (NeedsExternalData(model)) return WriteWithExternalData(model, path);
        WriteModel(model, path);
        return [path];
    }

    /// <summary>
    /// Writes initializers of 1 KiB or more to "&lt;file name&gt;.data" and the rest of the model to
    /// <paramref name="path"/>; the in-memory model keeps its tensors (they are swapped out for the write and back).
    /// </summary>
    private static IReadOnlyList<string> WriteWithExternalData(ModelProto model, string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var dataName = Path.GetFileName(path) + ".data";
        var dataPath = Path.Combine(folder, dataName);
        var dataTemp = dataPath + ".tmp";
        var moved = new List<(TensorProto Tensor, ByteString Data)>();
        try
        {
            using (var data = new FileStream(dataTemp, FileMode.Create, FileAccess.Write))
            {
                foreach (var site in OnnxGraphs.AllTensors(model).Where(s => s.Role == TensorRole.Initializer && s.Tensor.RawData.Length >= ExternalTensorMinBytes))
                {
                    var tensor = site.Tensor;
                    // ORT maps external data page-aligned; align offsets to 4 KiB as ORT's own writer does.
                    var offset = (data.Position + 4095) / 4096 * 4096;
                    data.Position = offset;
                    tensor.RawData.WriteTo(data);
                    moved.Add((tensor, tensor.RawData));
                    tensor.RawData = ByteString.Empty;
                    tensor.DataLocation = TensorProto.Types.DataLocation.External;
                    tensor.ExternalData.Clear();
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                    tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = moved[^1].Data.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                }
                data.Flush(flushToDisk: true);
            }
            File.Move(dataTemp, dataPath, overwrite: true);
            WriteModel(model, path);
            return [path, dataPath];
        }
        finally
        {
            foreach (var (tensor, bytes) in moved)
            {
                tensor.RawData = bytes;
                tensor.ExternalData.Clear();
                tensor.DataLocation = TensorProto.Types.DataLocation.Default;
            }
        }
    }

    private static void WriteModel(ModelProto model, string path)
    {
        var temp = path + ".tmp";
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            model.WriteTo(file);
            file.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>The model as bytes, for an in-memory ORT session (models under 2 GB only).</summary>
    public static byte[] ToBytes(ModelProto model) => model.ToByteArray();
}
