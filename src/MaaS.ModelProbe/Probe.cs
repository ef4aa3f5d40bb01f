using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using MaaS.Onnx.Models;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.ModelProbe;

/// <summary>The probe proper: managed admission and inspection, then one ONNX Runtime load and run.</summary>
internal static partial class Probe
{
    // Unknown dimensions are tried as 1 first; models that need room (a 7x7 convolution over a symbolic image size)
    // get a second try with every unknown dimension but the first (the batch) at 64.
    private static readonly int[] UnknownDimensionFills = [1, 64];

    public static ProbeReport Run(ProbeArguments arguments)
    {
        var modelPath = Path.GetFullPath(arguments.ModelPath);
        var inspection = AdmitAndInspect(modelPath, arguments.MaxModelBytes);
        // The parsed model can be as big as the file: give its memory back before ONNX Runtime makes its own copy.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);

        using var options = new SessionOptions
        {
            // The level serving loads at (LoadedModel): every transformation the portal's process will later run, constant
            // folding included, runs here first, so a load-time allocation bomb or an optimiser crash goes off under the cap.
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
            // Without the arena each allocation is its own malloc: memory use is what the model asks for, no more.
            EnableCpuMemArena = false,
        };

        var load = Stopwatch.StartNew();
        InferenceSession session;
        try
        {
            session = new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            return Refused("ONNX Runtime could not load the model", e, inspection, arguments);
        }
        load.Stop();

        using (session)
        {
            var inputs = session.InputNames.Select(name => Signature(name, session.InputMetadata[name])).ToList();
            var outputs = session.OutputNames.Select(name => Signature(name, session.OutputMetadata[name])).ToList();
            double runMilliseconds = 0;
            string? note = null;
            if (session.InputNames.FirstOrDefault(name => !session.InputMetadata[name].IsTensor) is { } notTensor)
            {
                note = $"Not run: input '{notTensor}' is a {Describe(session.InputMetadata[notTensor])}, and the probe generates only tensors.";
            }
            else
            {
                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        runMilliseconds = RunOnce(session, UnknownDimensionFills[attempt]);
                        break;
                    }
                    catch (Exception e) when (e is OnnxRuntimeException or ArgumentException or NotSupportedException)
                    {
                        if (attempt + 1 < UnknownDimensionFills.Length && !ProbeMessages.LooksOutOfMemory(e.Message)) continue;
                        return Refused("ONNX Runtime loaded the model, but running it once on generated inputs (zeros) failed", e, inspection, arguments)
                            with { LoadMilliseconds = load.Elapsed.TotalMilliseconds };
                    }
                }
            }
            return new ProbeReport(true, null, note, inspection, inputs, outputs, load.Elapsed.TotalMilliseconds, runMilliseconds, 0);
        }
    }

    // Not inlined, so the parsed model is unreachable (and collectable) once this returns.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ModelInspection AdmitAndInspect(string modelPath, long maxModelBytes) =>
        ModelInspector.Inspect(ModelAdmission.Admit(modelPath, maxModelBytes));

    private static double RunOnce(InferenceSession session, int unknownDimension)
    {
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in session.InputNames) values.Add(ZerosFor(session.InputMetadata[name], unknownDimension));
            using var runOptions = new RunOptions();
            var run = Stopwatch.StartNew();
            using var results = session.Run(runOptions, session.InputNames, values, session.OutputNames);
            return run.Elapsed.TotalMilliseconds;
        }
        finally
        {
            foreach (var value in values) value.Dispose();
        }
    }

    /// <summary>A tensor of zeros (empty strings, false) of the input's type and shape, unknown dimensions filled in.</summary>
    private static OrtValue ZerosFor(NodeMetadata input, int unknownDimension)
    {
        var shape = input.Dimensions.Select((d, i) => d >= 0 ? d : i == 0 ? 1L : unknownDimension).ToArray();
        if (input.ElementDataType == TensorElementType.String)
        {
            return OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
        }
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, input.ElementDataType, shape);
        // ONNX Runtime's allocator does not zero memory; all-zero bytes are 0, 0.0, false for every numeric type.
        if (value.GetTensorSizeInBytes() > 0) value.GetTensorMutableRawData().Clear();
        return value;
    }

    private static TensorSignature Signature(string name, NodeMetadata metadata) =>
        new(name, Describe(metadata), metadata.OnnxValueType == OnnxValueType.ONNX_TYPE_TENSOR ? Shape(metadata) : null);

    private static List<Dimension> Shape(NodeMetadata metadata) =>
        metadata.Dimensions.Select((d, i) => d >= 0
            ? new Dimension(d, null)
            : new Dimension(null, i < metadata.SymbolicDimensions.Length && metadata.SymbolicDimensions[i].Length > 0 ? metadata.SymbolicDimensions[i] : null))
        .ToList();

    private static string Describe(NodeMetadata metadata) => metadata.OnnxValueType switch
    {
        OnnxValueType.ONNX_TYPE_TENSOR => OnnxElementTypes.Name((int)metadata.ElementDataType),
        OnnxValueType.ONNX_TYPE_SPARSETENSOR => $"sparse_tensor({OnnxElementTypes.Name((int)metadata.ElementDataType)})",
        OnnxValueType.ONNX_TYPE_SEQUENCE => $"seq({Describe(metadata.AsSequenceMetadata().ElementMeta)})",
        OnnxValueType.ONNX_TYPE_MAP => $"map({OnnxElementTypes.Name((int)metadata.AsMapMetadata().KeyDataType)},{Describe(metadata.AsMapMetadata().ValueMetadata)})",
        OnnxValueType.ONNX_TYPE_OPTIONAL => $"optional({Describe(metadata.AsOptionalMetadata().ElementMeta)})",
        _ => "unknown",
    };

    private static ProbeReport Refused(string what, Exception e, ModelInspection inspection, ProbeArguments arguments)
    {
        if (ProbeMessages.LooksOutOfMemory(e.Message))
        {
            return ProbeReport.Rejected(AdmissionChecks.Memory, ProbeMessages.NeededMoreMemory(arguments.MemoryLimitBytes), inspection);
        }
        // The message goes to the uploader: it must not show where the server keeps files.
        var folder = Path.GetDirectoryName(Path.GetFullPath(arguments.ModelPath)) + Path.DirectorySeparatorChar;
        var reason = OrtMessage(e.Message).Replace(folder, "", StringComparison.Ordinal);
        return ProbeReport.Rejected(AdmissionChecks.Runtime, $"{what}: {ProbeMessages.Trim(reason, 600)}", inspection);
    }

    /// <summary>
    /// ONNX Runtime's message without its error-code tag and the C++ source location and signature it starts with:
    /// "[ErrorCode:Fail] /onnxruntime_src/.../model.cc:256 onnxruntime::Model::Model(...) Unsupported model IR version",
    /// or the "Load model from /path/model.onnx failed:" it puts before a graph error.
    /// </summary>
    internal static string OrtMessage(string message)
    {
        var text = LoadModelFailed().Replace(ErrorCodeTag().Replace(message, ""), "");
        var location = SourceLocation().Match(text);
        if (!location.Success) return text.Trim();
        var rest = text[location.Length..];
        var depth = 0;
        for (var i = 0; i < rest.Length; i++)
        {
            if (rest[i] == '(') depth++;
            else if (rest[i] == ')' && --depth == 0) return rest[(i + 1)..].Trim();
        }
        return rest.Trim();
    }

    [GeneratedRegex(@"^\s*\[ErrorCode:\w+\]\s*")]
    private static partial Regex ErrorCodeTag();

    [GeneratedRegex(@"^Load model from .*? failed:\s*")]
    private static partial Regex LoadModelFailed();

    [GeneratedRegex(@"^\S+\.(?:cc|cpp|h|hpp):\d+\s+")]
    private static partial Regex SourceLocation();
}
