namespace MaaS.Portal.Features.Models;

/// <summary>A model in the registry: a named line of immutable versions owned by one user.</summary>
public sealed class RegisteredModel
{
    public Guid Id { get; set; } = Guid.NewGuid();
    /// <summary>URL-safe and unique, so scripts can say /api/models/resnet18 instead of a GUID.</summary>
    public required string Slug { get; set; }
    public required string Name { get; set; }
    public string? Description { get; set; }
    /// <summary>Lower-case tags, stored as ",a,b," so a tag filter is one LIKE '%,tag,%'.</summary>
    public string Tags { get; set; } = ",";
    public required string OwnerId { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; set; } = DateTimeOffset.UtcNow;
    public List<ModelVersion> Versions { get; set; } = [];

    public IReadOnlyList<string> TagList => Tags.Split(',', StringSplitOptions.RemoveEmptyEntries);
}

public static class VersionOperations
{
    public const string Upload = "upload";
    public const string Compress = "compress";
    public const string Train = "train";
}

public static class VersionStatuses
{
    public const string Ready = "Ready";
    public const string RejectedByGate = "RejectedByGate";
}

/// <summary>One immutable version: its files in the blob store, what the inspection found, and where it came from.</summary>
public sealed class ModelVersion
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid ModelId { get; set; }
    public RegisteredModel? Model { get; set; }
    public int Number { get; set; }
    /// <summary>The version this one was made from (compression), null for uploads and training.</summary>
    public int? ParentNumber { get; set; }
    /// <summary>How it was made: upload, compress or train.</summary>
    public required string Operation { get; set; }
    /// <summary>What exactly: the uploaded file's name, the recipe, the dataset and trainer.</summary>
    public string? OperationDetail { get; set; }
    public string? OptionsJson { get; set; }
    public string Status { get; set; } = VersionStatuses.Ready;
    /// <summary>The .onnx file's name inside the version's folder (bundles keep their external-data names).</summary>
    public required string ModelFileName { get; set; }
    /// <summary>SHA-256 of the .onnx file.</summary>
    public required string Sha256 { get; set; }
    /// <summary>All files of the version together.</summary>
    public long SizeBytes { get; set; }
    public required string InspectionJson { get; set; }
    public string? RuntimeSignatureJson { get; set; }
    public string? ReportJson { get; set; }
    public required string CreatedById { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public List<VersionFile> Files { get; set; } = [];
}

public static class FileRoles
{
    public const string Model = "model";
    public const string ExternalData = "external-data";
    public const string Labels = "labels";
}

/// <summary>A file of a version, by name within the version's folder, stored once in the blob store by hash.</summary>
public sealed class VersionFile
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid VersionId { get; set; }
    public required string FileName { get; set; }
    public required string Role { get; set; }
    public required string Sha256 { get; set; }
    public long Length { get; set; }
}
