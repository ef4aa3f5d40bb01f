namespace MaaS.Onnx.Models;

/// <summary>
/// An untrusted model (or bundle) failed an admission check. <see cref="Check"/> is one of <see cref="AdmissionChecks"/>;
/// the message is for people and names the offending value.
/// </summary>
public sealed class ModelRejectedException(string check, string message) : Exception(message)
{
    public string Check { get; } = check;
}

/// <summary>The names of the admission checks, as they appear in <see cref="ModelRejectedException.Check"/> and <see cref="ProbeReport.FailedCheck"/>.</summary>
public static class AdmissionChecks
{
    /// <summary>Not an ONNX model at all: empty, truncated, another file type, or no graph.</summary>
    public const string Format = "format";
    /// <summary>The file, or the file with its external data, is over the size limit.</summary>
    public const string Size = "size";
    public const string IrVersion = "ir-version";
    public const string Opset = "opset";
    /// <summary>An operator from a domain ONNX Runtime does not provide (a custom op).</summary>
    public const string Operator = "operator";
    public const string ExternalData = "external-data";
    /// <summary>The static budget: node count, tensor shapes and their byte sizes.</summary>
    public const string Budget = "budget";
    /// <summary>A .zip bundle that is unsafe or not laid out as one model with its data files.</summary>
    public const string Bundle = "bundle";
    /// <summary>ONNX Runtime refused to load the model or to run it once on generated inputs.</summary>
    public const string Runtime = "runtime";
    public const string Memory = "memory";
    public const string Timeout = "timeout";
    /// <summary>The probe process died (a signal, or an exit that is not a verdict).</summary>
    public const string Crash = "crash";
}
