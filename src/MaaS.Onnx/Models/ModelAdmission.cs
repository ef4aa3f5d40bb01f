using System.Globalization;
using System.Text;
using Google.Protobuf;
using Onnx;

namespace MaaS.Onnx.Models;

/// <summary>
/// The managed checks an untrusted model passes before ONNX Runtime ever sees it (hardening.md 1.1 and 1.2): it is an
/// ONNX model at all, of an IR version and opsets ONNX Runtime 1.31 runs, without custom operators, with external data
/// only in plain files next to it, and within a static budget. Each failure throws <see cref="ModelRejectedException"/>.
/// </summary>
public static class ModelAdmission
{
    // The ranges are those of the pinned ONNX Runtime 1.31.1, checked against it: it refuses IR 14 ("Unsupported model
    // IR version: 14, max supported IR version: 13", core/graph/model.cc) and opsets past ai.onnx 26, ai.onnx.ml 5 and
    // com.microsoft 1 ("Current official support for domain ai.onnx is till opset 26", model_load_utils.h). At the low
    // end it loads anything, but only guarantees ai.onnx opset 7 and up (docs/Versioning.md); IR 3 (ONNX 1.0) is the
    // first version with opset imports, older files are pre-release.
    public const long MinIrVersion = 3;
    public const long MaxIrVersion = 13;
    public const long MinOnnxOpset = 7;
    public const long MaxOnnxOpset = 26;
    public const long MaxMlOpset = 5;
    public const long MaxMicrosoftOpset = 1;

    /// <summary>Most nodes a model may have, counting subgraphs and function bodies.</summary>
    public const int MaxNodeCount = 1_000_000;

    /// <summary>The location ONNX Runtime gives tensors that live in its own memory; a file must never carry it.</summary>
    public const string OrtMemoryAddressMarker = "*/_ORT_MEM_ADDR_/*";

    private static readonly string[] ExternalDataKeys = ["location", "offset", "length", "checksum"];

    /// <summary>Parses the model file and runs every check, with its external data looked for next to it.</summary>
    public static ModelProto Admit(string modelPath, long maxModelBytes)
    {
        var fullPath = Path.GetFullPath(modelPath);
        var model = Parse(fullPath, maxModelBytes);
        Check(model, Path.GetDirectoryName(fullPath)!, maxModelBytes, new FileInfo(fullPath).Length, Path.GetFileName(fullPath));
        return model;
    }

    /// <summary>
    /// Reads an untrusted file as an ONNX model, after checking its size and that it is not plainly something else
    /// (an image, a program, an archive): those get a message that says what the file looks like.
    /// </summary>
    public static ModelProto Parse(string modelPath, long maxModelBytes)
    {
        var info = new FileInfo(modelPath);
        if (!info.Exists) throw new FileNotFoundException("The model file does not exist.", modelPath);
        if (info.Length == 0) throw new ModelRejectedException(AdmissionChecks.Format, "The file is empty (0 bytes); it is not an ONNX model.");
        if (info.Length > maxModelBytes)
        {
            throw new ModelRejectedException(AdmissionChecks.Size,
                $"The model file is {Bytes(info.Length)}, over the limit of {Bytes(maxModelBytes)}.");
        }
        if (info.Length > int.MaxValue)
        {
            throw new ModelRejectedException(AdmissionChecks.Size,
                $"The model file is {Bytes(info.Length)}; an ONNX file is one protobuf message, which cannot reach 2 GiB. "
                + "Keep the weights in external data files next to it and upload a .zip bundle.");
        }

        using var stream = new FileStream(modelPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var head = new byte[16];
        var headLength = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (LooksLike(head.AsSpan(0, headLength), info.Length) is { } kind)
        {
            throw new ModelRejectedException(AdmissionChecks.Format, $"The file is not an ONNX model: it looks like {kind}.");
        }
        stream.Position = 0;

        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException e) when (e.Message.Contains("truncated", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelRejectedException(AdmissionChecks.Format,
                "The file is not a complete ONNX model: it ends in the middle of a field (was the upload cut short?).");
        }
        catch (InvalidProtocolBufferException e) when (e.Message.Contains("nesting", StringComparison.OrdinalIgnoreCase)
                                                        || e.Message.Contains("recursion", StringComparison.OrdinalIgnoreCase))
        {
            throw new ModelRejectedException(AdmissionChecks.Budget,
                "The model nests messages (subgraphs) deeper than the 100 levels the protobuf reader allows.");
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelRejectedException(AdmissionChecks.Format,
                $"The file is not an ONNX model: its bytes are not a valid ONNX protobuf message ({e.Message.TrimEnd('.')}).");
        }
        if (model.Graph is null)
        {
            throw new ModelRejectedException(AdmissionChecks.Format,
                "The file is not an ONNX model: it reads as a protobuf message, but holds no graph.");
        }
        return model;
    }

    /// <summary>
    /// The checks on a parsed model. External data files must sit directly in <paramref name="modelDirectory"/>; with
    /// the model file (<paramref name="modelFileBytes"/>) they may hold <paramref name="maxModelBytes"/> at most.
    /// </summary>
    public static void Check(ModelProto model, string modelDirectory, long maxModelBytes = long.MaxValue, long modelFileBytes = 0, string? modelFileName = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Graph is null)
        {
            throw new ModelRejectedException(AdmissionChecks.Format, "The file is not an ONNX model: it holds no graph.");
        }
        CheckIrVersion(model);
        var functionOps = model.Functions.Select(f => (f.Domain, f.Name)).ToHashSet();
        CheckOpsets(model, functionOps.Select(f => f.Domain).ToHashSet(StringComparer.Ordinal));
        CheckNodes(model, functionOps);
        var externalFiles = CheckTensors(model, modelDirectory, modelFileName);
        var total = externalFiles.Values.Aggregate(modelFileBytes, (sum, size) => sum > long.MaxValue - size ? long.MaxValue : sum + size);
        if (total > maxModelBytes)
        {
            throw new ModelRejectedException(AdmissionChecks.Size,
                $"The model and its external data files hold {Bytes(total)} together, over the limit of {Bytes(maxModelBytes)}.");
        }
    }

    private static void CheckIrVersion(ModelProto model)
    {
        if (model.IrVersion is < MinIrVersion or > MaxIrVersion)
        {
            throw new ModelRejectedException(AdmissionChecks.IrVersion,
                $"The model's IR version is {model.IrVersion}; ONNX Runtime 1.31 runs IR versions {MinIrVersion} to {MaxIrVersion}.");
        }
    }

    private static void CheckOpsets(ModelProto model, HashSet<string> functionDomains)
    {
        if (model.OpsetImport.Count == 0)
        {
            throw new ModelRejectedException(AdmissionChecks.Opset,
                "The model imports no operator set, which every ONNX model must (is the file cut short?).");
        }
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var import in model.OpsetImport)
        {
            var domain = ModelInspector.IsDefaultDomain(import.Domain) ? "ai.onnx" : import.Domain;
            if (!seen.Add(domain))
            {
                throw new ModelRejectedException(AdmissionChecks.Opset, $"The model imports the operator set '{domain}' twice.");
            }
            (long Min, long Max)? range = domain switch
            {
                "ai.onnx" => (MinOnnxOpset, MaxOnnxOpset),
                "ai.onnx.ml" => (1, MaxMlOpset),
                "com.microsoft" => (1, MaxMicrosoftOpset),
                _ => null,
            };
            if (range is { } r)
            {
                if (import.Version < r.Min || import.Version > r.Max)
                {
                    throw new ModelRejectedException(AdmissionChecks.Opset,
                        $"The model uses opset {import.Version} of '{domain}'; ONNX Runtime 1.31 runs opsets {r.Min} to {r.Max} of it.");
                }
            }
            else if (!functionDomains.Contains(import.Domain))
            {
                throw new ModelRejectedException(AdmissionChecks.Operator,
                    $"The model imports the operator domain '{import.Domain}', which ONNX Runtime does not provide; custom operators are not accepted.");
            }
        }
    }

    private static void CheckNodes(ModelProto model, HashSet<(string Domain, string Name)> functionOps)
    {
        var count = 0;
        foreach (var site in OnnxGraphs.AllNodes(model))
        {
            if (++count > MaxNodeCount)
            {
                throw new ModelRejectedException(AdmissionChecks.Budget,
                    $"The model has more than {MaxNodeCount:N0} nodes, the most accepted.");
            }
            var node = site.Node;
            if (node.Domain is "" or "ai.onnx" or "ai.onnx.ml" or "com.microsoft") continue;
            // Model-local functions are compositions of standard operators, which ONNX Runtime inlines.
            if (functionOps.Contains((node.Domain, node.OpType))) continue;
            var name = node.Name.Length > 0 ? $"Node '{node.Name}'" : $"A {node.OpType} node";
            throw new ModelRejectedException(AdmissionChecks.Operator,
                $"{name}{site.Where} uses the operator '{node.OpType}' from domain '{node.Domain}', which ONNX Runtime does not provide; custom operators are not accepted.");
        }
    }

    /// <summary>Checks every tensor's shape and data; returns the external data files with their sizes.</summary>
    private static Dictionary<string, long> CheckTensors(ModelProto model, string modelDirectory, string? modelFileName)
    {
        var files = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var site in OnnxGraphs.AllTensors(model))
        {
            var tensor = site.Tensor;
            var shape = $"[{string.Join(",", tensor.Dims)}]";
            if (tensor.Dims.FirstOrDefault(d => d < 0, 0) is var negative and < 0)
            {
                throw new ModelRejectedException(AdmissionChecks.Budget,
                    $"{Capitalize(site.Where)} declares a negative dimension ({negative}) in its shape {shape}.");
            }
            long elements;
            long? expectedBytes;
            try
            {
                elements = OnnxGraphs.ElementCount(tensor.Dims);
                expectedBytes = OnnxElementTypes.StorageBytes(tensor.DataType, elements);
            }
            catch (OverflowException)
            {
                throw new ModelRejectedException(AdmissionChecks.Budget,
                    $"{Capitalize(site.Where)} declares the shape {shape}, whose size does not fit in 64 bits.");
            }
            var type = OnnxElementTypes.Name(tensor.DataType);

            if (OnnxGraphs.IsExternal(tensor))
            {
                var stored = CheckExternalData(site, modelDirectory, modelFileName, files);
                if (expectedBytes is { } needed && stored != needed)
                {
                    throw new ModelRejectedException(AdmissionChecks.Budget,
                        $"The external data of {site.Where} is {stored:N0} bytes, but its shape {shape} of {type} needs {needed:N0}.");
                }
            }
            else if (!tensor.RawData.IsEmpty)
            {
                if (expectedBytes is { } needed && tensor.RawData.Length != needed)
                {
                    throw new ModelRejectedException(AdmissionChecks.Budget,
                        $"{Capitalize(site.Where)} holds {tensor.RawData.Length:N0} bytes of data, but its shape {shape} of {type} needs {needed:N0}.");
                }
            }
            else if (TypedValueCount(tensor) is { } values && ExpectedTypedValues(tensor.DataType, elements) is { } wanted && values != wanted)
            {
                throw new ModelRejectedException(AdmissionChecks.Budget,
                    $"{Capitalize(site.Where)} holds {values:N0} values, but its shape {shape} of {type} needs {wanted:N0}.");
            }
        }
        return files;
    }

    /// <summary>Values in the typed field the data type uses (float_data for float, int32_data for int8, ...).</summary>
    private static long? TypedValueCount(TensorProto tensor) => tensor.DataType switch
    {
        OnnxElementTypes.Float or OnnxElementTypes.Complex64 => tensor.FloatData.Count,
        OnnxElementTypes.Int32 or OnnxElementTypes.Int16 or OnnxElementTypes.Int8 or OnnxElementTypes.UInt16
            or OnnxElementTypes.UInt8 or OnnxElementTypes.Bool or OnnxElementTypes.Float16 or OnnxElementTypes.BFloat16
            or >= 17 and <= 20 => tensor.Int32Data.Count,
        OnnxElementTypes.String => tensor.StringData.Count,
        OnnxElementTypes.Int64 => tensor.Int64Data.Count,
        OnnxElementTypes.Double or OnnxElementTypes.Complex128 => tensor.DoubleData.Count,
        OnnxElementTypes.UInt32 or OnnxElementTypes.UInt64 => tensor.Uint64Data.Count,
        // Packed sub-byte types and types newer than this code: ONNX Runtime checks them itself.
        _ => null,
    };

    private static long? ExpectedTypedValues(int dataType, long elements) => dataType switch
    {
        OnnxElementTypes.Complex64 or OnnxElementTypes.Complex128 => checked(elements * 2),
        _ => elements,
    };

    /// <summary>The external-data rules of hardening.md 1.1; returns how many bytes the tensor reads from its file.</summary>
    private static long CheckExternalData(TensorSite site, string modelDirectory, string? modelFileName, Dictionary<string, long> files)
    {
        var tensor = site.Tensor;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in tensor.ExternalData)
        {
            if (entry.Value.Contains("_ORT_MEM_ADDR_", StringComparison.OrdinalIgnoreCase))
            {
                throw Rejected($"External data location '{entry.Value}' in {site.Where} is an ONNX Runtime in-memory address marker; a model file may not carry one.");
            }
            if (!ExternalDataKeys.Contains(entry.Key))
            {
                throw Rejected($"The external data of {site.Where} has the unknown key '{entry.Key}'; only {string.Join(", ", ExternalDataKeys)} are accepted.");
            }
            if (!keys.Add(entry.Key))
            {
                throw Rejected($"The external data of {site.Where} gives '{entry.Key}' twice.");
            }
        }
        var location = OnnxGraphs.ExternalValue(tensor, "location");
        if (string.IsNullOrEmpty(location))
        {
            throw Rejected($"{Capitalize(site.Where)} keeps its data in an external file, but names no file.");
        }

        var what = $"External data location '{location}' in {site.Where}";
        if (location.Any(char.IsControl)) throw Rejected($"{what} contains control characters.");
        if (location.StartsWith(@"\\", StringComparison.Ordinal) || location.StartsWith("//", StringComparison.Ordinal))
        {
            throw Rejected($"{what} is a network (UNC) path; external data files must sit next to the model.");
        }
        if (location.Length >= 2 && char.IsAsciiLetter(location[0]) && location[1] == ':')
        {
            throw Rejected($"{what} is a Windows drive path; external data files must sit next to the model.");
        }
        if (location[0] is '/' or '\\' || Path.IsPathRooted(location))
        {
            throw Rejected($"{what} is an absolute path; external data files must sit next to the model.");
        }
        var segments = location.Split('/', '\\');
        if (segments.Contains(".."))
        {
            throw Rejected($"{what} leaves the model's folder.");
        }
        if (segments.Length > 1)
        {
            throw Rejected($"{what} names a file in another folder; external data files must sit directly next to the model.");
        }
        if (location is "." || location.Contains(':'))
        {
            throw Rejected($"{what} is not a plain file name.");
        }
        // A model reading its weights out of its own file passes every check here, but a single-file model is served
        // from the blob store's folder under its hash, where that name may be another model's file (hardening 1.1).
        if (modelFileName is not null && string.Equals(location, modelFileName, StringComparison.Ordinal))
        {
            throw Rejected($"{what} is the model file itself; external data must be in its own file next to the model.");
        }

        var offset = ParseNonNegative(tensor, "offset", site) ?? 0;
        var length = ParseNonNegative(tensor, "length", site);

        var status = FileStatus.Lstat(Path.Join(modelDirectory, location));
        if (!status.Exists)
        {
            throw Rejected($"External data file '{location}' for {site.Where} is missing: it must sit next to the model (upload a .zip bundle with both).");
        }
        if (status.IsSymbolicLink)
        {
            throw Rejected($"External data file '{location}' for {site.Where} is a symbolic link; only regular files are accepted.");
        }
        if (!status.IsRegularFile)
        {
            throw Rejected($"External data file '{location}' for {site.Where} is not a regular file.");
        }
        if (status.LinkCount > 1)
        {
            throw Rejected($"External data file '{location}' for {site.Where} has {status.LinkCount} hard links; only files with one are accepted.");
        }
        if (offset > status.Length)
        {
            throw Rejected($"The external data of {site.Where} starts at byte {offset:N0}, past the end of '{location}' ({status.Length:N0} bytes).");
        }
        if (length is { } l && l > status.Length - offset)
        {
            throw Rejected($"The external data of {site.Where} runs from byte {offset:N0} for {l:N0} bytes, past the end of '{location}' ({status.Length:N0} bytes).");
        }
        files[location] = status.Length;
        return length ?? status.Length - offset;
    }

    private static long? ParseNonNegative(TensorProto tensor, string key, TensorSite site)
    {
        if (OnnxGraphs.ExternalValue(tensor, key) is not { } text) return null;
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)) return value;
        throw Rejected($"The external data of {site.Where} has the {key} '{text}', which is not a whole number of bytes.");
    }

    private static ModelRejectedException Rejected(string message) => new(AdmissionChecks.ExternalData, message);

    /// <summary>What a file that is not ONNX looks like, from its first bytes; null when nothing is recognised.</summary>
    private static string? LooksLike(ReadOnlySpan<byte> head, long fileLength)
    {
        static bool At(ReadOnlySpan<byte> span, int offset, ReadOnlySpan<byte> magic) =>
            span.Length >= offset + magic.Length && span.Slice(offset, magic.Length).SequenceEqual(magic);

        if (At(head, 0, [0xFF, 0xD8, 0xFF])) return "a JPEG image";
        if (At(head, 0, [0x89, (byte)'P', (byte)'N', (byte)'G'])) return "a PNG image";
        if (At(head, 0, "GIF8"u8)) return "a GIF image";
        if (At(head, 0, "RIFF"u8)) return "a RIFF file (WebP image, WAV audio or AVI video)";
        if (At(head, 0, "MZ"u8)) return "a Windows program or library (.exe/.dll)";
        if (At(head, 0, [0x7F, (byte)'E', (byte)'L', (byte)'F'])) return "a Linux program or library (ELF)";
        if (At(head, 0, "PK\x03\x04"u8) || At(head, 0, "PK\x05\x06"u8)) return "a zip archive (upload a bundle as a .zip file)";
        if (At(head, 0, [0x1F, 0x8B])) return "a gzip archive";
        if (At(head, 0, [(byte)'7', (byte)'z', 0xBC, 0xAF])) return "a 7-Zip archive";
        if (At(head, 0, "%PDF"u8)) return "a PDF document";
        if (At(head, 0, [0x89, (byte)'H', (byte)'D', (byte)'F'])) return "an HDF5 file (a Keras model?); export it to ONNX first";
        if (head.Length >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5) return "a Python pickle (a PyTorch or scikit-learn file?); export it to ONNX first";
        if (At(head, 4, "ORTM"u8)) return "an ONNX Runtime format (.ort) model; upload the .onnx file instead";
        if (At(head, 4, "TFL3"u8)) return "a TensorFlow Lite model";
        if (head.Length >= 9 && BitConverter.ToUInt64(head) is var header and > 0 && header < (ulong)fileLength && head[8] == (byte)'{')
        {
            return "a safetensors file (weights without a graph)";
        }
        // A serialized ModelProto starts with a field tag, never a printable character run like this.
        if (head.Length >= 8 && head.ToArray().All(b => b is >= 0x20 and < 0x7F or (byte)'\t' or (byte)'\r' or (byte)'\n'))
        {
            return head[0] is (byte)'{' or (byte)'[' ? "a JSON text file" : "a text file";
        }
        return null;
    }

    private static string Capitalize(string text) =>
        text.Length == 0 ? text : string.Concat(char.ToUpperInvariant(text[0]).ToString(), text.AsSpan(1));

    internal static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):0.##} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):0.##} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:0.##} KiB",
        _ => $"{bytes} bytes",
    };
}
