using System.ComponentModel.DataAnnotations;

namespace MaaS.Portal.Features.Playground;

/// <summary>Limits and timings of the prediction playground (section "Playground").</summary>
public sealed class PlaygroundOptions
{
    public const string Section = "Playground";

    /// <summary>A version tried before it is deployed keeps its temporary session this long after its last request.</summary>
    [Range(typeof(TimeSpan), "00:00:05", "1.00:00:00")]
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often idle temporary sessions are looked for.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Temporary sessions one user may hold at once; opening one more releases their least recently used.</summary>
    [Range(1, 20)]
    public int MaxSessionsPerUser { get; set; } = 2;

    /// <summary>The largest image file the playground accepts from the browser.</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxImageBytes { get; set; } = 10L * 1024 * 1024;

    /// <summary>Request bodies up to this size are kept with the history (for re-runs) and written out in the snippets.</summary>
    [Range(1024, 16L * 1024 * 1024)]
    public int MaxStoredRequestBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Requests kept per user and deployment (or tried version).</summary>
    [Range(1, 1000)]
    public int HistoryLength { get; set; } = 50;
}
