using System.ComponentModel.DataAnnotations;

namespace MaaS.Portal.Features.Models;

public sealed class ModelsOptions
{
    public const string Section = "Models";

    /// <summary>Largest upload (a .onnx file or a .zip bundle), in bytes. Beyond it the request gets 413.</summary>
    [Range(1024, long.MaxValue)]
    public long MaxUploadBytes { get; set; } = 2L * 1024 * 1024 * 1024;

    /// <summary>Largest total a .zip bundle may unpack to (guards against zip bombs).</summary>
    [Range(1024, long.MaxValue)]
    public long MaxBundleBytes { get; set; } = 8L * 1024 * 1024 * 1024;

    /// <summary>Memory the probe process may use at most, whatever the model's size.</summary>
    [Range(64L * 1024 * 1024, long.MaxValue)]
    public long ProbeMaxMemoryBytes { get; set; } = 8L * 1024 * 1024 * 1024;

    /// <summary>How long the probe may take to open and run a model once.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Largest labels file (one class name per line).</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxLabelsBytes { get; set; } = 1024 * 1024;

    /// <summary>Probes (sandboxed first opens of uploaded models) that run at once; each may use up to its memory cap.</summary>
    [Range(1, 64)]
    public int MaxConcurrentProbes { get; set; } = 2;

    /// <summary>When housekeeping (old temp files, unreferenced blobs, unused serving copies) runs, as a cron expression in UTC.</summary>
    [Required] public string HousekeepingCron { get; set; } = "0 * * * *";
}
