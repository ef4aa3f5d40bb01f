using System.Text.Json;
using System.Text.Json.Serialization;
using MaaS.Onnx.Compression;

namespace MaaS.Portal.Features.Compression;

/// <summary>One pass as the report shows it; the node list is capped so a huge model does not make a huge row.</summary>
public sealed record PassView(
    string Pass, IReadOnlyDictionary<string, string> Options, int Rewritten, int Skipped, IReadOnlyList<NodeChange> Nodes, bool NodesTruncated,
    IReadOnlyList<string> Notes, IReadOnlyDictionary<string, double> Figures);

public sealed record GateView(QualityGate Limits, bool Passed, IReadOnlyList<string> Failures);

/// <summary>
/// The compression report stored with a version (under "compression" in its report JSON) and served by the API:
/// what was done, sizes, latency and agreement with the parent, and the gate's verdict.
/// </summary>
public sealed record CompressionReportView(
    string Recipe, int ParentVersion, IReadOnlyDictionary<string, string> Options, long SizeBefore, long SizeAfter,
    IReadOnlyList<PassView> Passes, EvaluationResult? Evaluation, GateView? Gate, double Seconds)
{
    public const int MaxNodesPerPass = 500;

    /// <summary>NaN and infinities can appear in error figures; JSON has no literal for them, so they travel as strings.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };

    public double SizeRatio => SizeBefore == 0 ? 0 : (double)SizeAfter / SizeBefore;

    public static CompressionReportView From(string recipe, int parentVersion, IReadOnlyDictionary<string, string> options,
        CompressionReport report, QualityGate gate, double seconds) => new(
        recipe, parentVersion, options, report.SizeBefore, report.SizeAfter,
        report.Passes.Select(p => new PassView(p.Pass, p.Options, p.Rewritten, p.Skipped, p.Nodes.Take(MaxNodesPerPass).ToList(),
            p.Nodes.Count > MaxNodesPerPass, p.Notes, p.Figures)).ToList(),
        report.Evaluation,
        report.Gate is null ? null : new GateView(gate, report.Gate.Passed, report.Gate.Failures),
        seconds);

    /// <summary>The report as stored: {"compression": {...}}, beside whatever else a version's report holds.</summary>
    public string ToReportJson() => JsonSerializer.Serialize(new { compression = this }, Json);

    /// <summary>Reads the compression section of a version's report; null when the version was not made by compression.</summary>
    public static CompressionReportView? FromReport(JsonElement? report)
    {
        if (report is not { ValueKind: JsonValueKind.Object } value || !value.TryGetProperty("compression", out var section)) return null;
        try
        {
            return section.Deserialize<CompressionReportView>(Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
