using System.Text.Json;
using MaaS.Onnx.Models;

namespace MaaS.Portal.Features.Models;

/// <summary>A tensor as the API contract writes it: V2 datatype, -1 for variable dimensions (named in DimensionNames).</summary>
public sealed record SignatureTensor(string Name, string Datatype, string ElementType, IReadOnlyList<long>? Shape, IReadOnlyList<string?>? DimensionNames)
{
    public static SignatureTensor From(TensorSignature tensor) => new(
        tensor.Name,
        Datatypes.ToV2(tensor.ElementType),
        tensor.ElementType,
        tensor.Shape?.Select(d => d.Value ?? -1).ToList(),
        tensor.Shape?.Select(d => d.Value is null ? d.Symbol : null).ToList());

    public string ShapeText => Shape is null ? "unknown rank" :
        "[" + string.Join(", ", Shape.Select((d, i) => d >= 0 ? d.ToString() : DimensionNames?[i] ?? "?")) + "]";
}

public static class Datatypes
{
    /// <summary>ONNX element type names to the Open Inference Protocol's datatype names.</summary>
    public static string ToV2(string onnxElementType) => onnxElementType switch
    {
        "bool" => "BOOL",
        "uint8" => "UINT8", "uint16" => "UINT16", "uint32" => "UINT32", "uint64" => "UINT64",
        "int8" => "INT8", "int16" => "INT16", "int32" => "INT32", "int64" => "INT64",
        "float16" => "FP16", "float" => "FP32", "double" => "FP64", "bfloat16" => "BF16",
        "string" => "BYTES",
        _ => onnxElementType.ToUpperInvariant(),
    };
}

public sealed record VersionSummary(
    int Version, int? ParentVersion, string Operation, string? OperationDetail, string Status,
    long SizeBytes, string Sha256, DateTimeOffset CreatedAt, bool HasLabels);

public sealed record ModelSummary(
    Guid Id, string Slug, string Name, string? Description, IReadOnlyList<string> Tags, string OwnerId,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, int VersionCount, int? LatestVersion, long LatestSizeBytes);

public sealed record ModelDetail(
    Guid Id, string Slug, string Name, string? Description, IReadOnlyList<string> Tags, string OwnerId,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, IReadOnlyList<VersionSummary> Versions);

public sealed record Lineage(int? ParentVersion, string Operation, string? Detail, JsonElement? Options);

public sealed record VersionDetail(
    Guid ModelId, string ModelSlug, int Version, string Status, long SizeBytes, string Sha256, DateTimeOffset CreatedAt,
    IReadOnlyList<SignatureTensor> Inputs, IReadOnlyList<SignatureTensor> Outputs,
    long IrVersion, IReadOnlyList<OpsetImport> Opsets, string? Producer, int NodeCount, long ParameterCount,
    IReadOnlyDictionary<string, int> OpHistogram, IReadOnlyDictionary<string, long> InitializerBytesByType,
    string WeightStorage, IReadOnlyList<string> Subgraphs, IReadOnlyList<VersionFileView> Files,
    Lineage Lineage, JsonElement? Report);

public sealed record VersionFileView(string FileName, string Role, long Length, string Sha256);

internal static class ModelMapping
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    public static VersionSummary Summary(ModelVersion v) => new(
        v.Number, v.ParentNumber, v.Operation, v.OperationDetail, v.Status, v.SizeBytes, v.Sha256, v.CreatedAt,
        v.Files.Any(f => f.Role == FileRoles.Labels));

    public static ModelSummary Summary(RegisteredModel m)
    {
        var latest = m.Versions.MaxBy(v => v.Number);
        return new(m.Id, m.Slug, m.Name, m.Description, m.TagList, m.OwnerId, m.CreatedAt, m.UpdatedAt,
            m.Versions.Count, latest?.Number, latest?.SizeBytes ?? 0);
    }

    public static ModelDetail Detail(RegisteredModel m) => new(
        m.Id, m.Slug, m.Name, m.Description, m.TagList, m.OwnerId, m.CreatedAt, m.UpdatedAt,
        m.Versions.OrderByDescending(v => v.Number).Select(Summary).ToList());

    public static VersionDetail Detail(RegisteredModel m, ModelVersion v)
    {
        var inspection = JsonSerializer.Deserialize<ModelInspection>(v.InspectionJson, Json)!;
        var producer = string.Join(" ", new[] { inspection.ProducerName, inspection.ProducerVersion }.Where(s => !string.IsNullOrEmpty(s)));
        return new VersionDetail(
            m.Id, m.Slug, v.Number, v.Status, v.SizeBytes, v.Sha256, v.CreatedAt,
            inspection.Inputs.Select(SignatureTensor.From).ToList(),
            inspection.Outputs.Select(SignatureTensor.From).ToList(),
            inspection.IrVersion, inspection.Opsets, producer.Length == 0 ? null : producer,
            inspection.NodeCount, inspection.ParameterCount, inspection.OpHistogram, inspection.InitializerBytesByType,
            inspection.WeightStorage.ToString(), inspection.Subgraphs,
            v.Files.Select(f => new VersionFileView(f.FileName, f.Role, f.Length, f.Sha256)).ToList(),
            new Lineage(v.ParentNumber, v.Operation, v.OperationDetail, Parse(v.OptionsJson)),
            Parse(v.ReportJson));
    }

    private static JsonElement? Parse(string? json) => json is null ? null : JsonSerializer.Deserialize<JsonElement>(json);
}
