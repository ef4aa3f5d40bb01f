namespace MaaS.Portal.Components;

/// <summary>
/// Y axes that fit their data. MudBlazor's default step is 20, which leaves small values (a few requests a minute,
/// latencies of a few milliseconds, a model with two MatMuls) as a line along the bottom of a 0–20 axis.
/// </summary>
public static class ChartAxes
{
    /// <summary>A step of 1, 2 or 5 × 10ⁿ that reaches <paramref name="max"/> in about five steps; at least 1, MudBlazor's minimum.</summary>
    public static int Step(double max)
    {
        if (!(max > 5)) return 1;
        var raw = max / 5;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = raw <= magnitude ? magnitude : raw <= 2 * magnitude ? 2 * magnitude : raw <= 5 * magnitude ? 5 * magnitude : 10 * magnitude;
        return (int)Math.Min(step, 1_000_000_000);
    }

    /// <summary>
    /// At most <paramref name="most"/> of the labels, evenly spaced back from the last (the newest stays labelled), the rest
    /// blank: thirty days' labels side by side overlap into one unreadable line.
    /// </summary>
    public static string[] Sparse(IReadOnlyList<string> labels, int most = 8)
    {
        var every = Math.Max(1, (int)Math.Ceiling(labels.Count / (double)most));
        return labels.Select((label, i) => (labels.Count - 1 - i) % every == 0 ? label : "").ToArray();
    }
}
