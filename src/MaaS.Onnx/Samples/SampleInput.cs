using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Onnx.Samples;

/// <summary>
/// A model input that samples must fill: its name, element type and shape, with -1 for a symbolic dimension and a
/// null shape when even the rank is unknown.
/// </summary>
public sealed record SampleInput(string Name, TensorElementType ElementType, IReadOnlyList<long>? Shape)
{
    public string ShapeText => Shape is null ? "unknown rank" : "[" + string.Join(", ", Shape.Select(d => d < 0 ? "?" : d.ToString())) + "]";
}

/// <summary>Samples that cannot be read or made to fit a model; the message is a sentence for people.</summary>
public sealed class SampleFormatException(string message) : Exception(message);
