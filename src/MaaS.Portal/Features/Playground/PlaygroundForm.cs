using System.Globalization;
using System.Text;
using MaaS.Onnx.Inference;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// The playground's form for one target: an editor state per input, the V2 body they make, and what a run gave back,
/// read for people. Kept apart from the page so the rules are plain code.
/// </summary>
public sealed class PlaygroundForm(PlaygroundTarget target)
{
    public PlaygroundTarget Target { get; } = target;

    public IReadOnlyList<InputState> Inputs { get; } = InputStates.For(target.Signature, target.Tokenizer);

    /// <summary>The first thing to fix before the form can run, naming the input; null when it can.</summary>
    public string? Problem => Inputs.Where(i => i.Error is not null).Select(i => $"{string.Join(", ", i.Specs.Select(s => s.Name))}: {i.Error}").FirstOrDefault();

    /// <summary>The V2 JSON request the inputs make: what runs, what the snippets send and what history keeps.</summary>
    /// <summary>The V2 body of the inputs; <see cref="PlaygroundInputException"/> with words when they cannot make one.</summary>
    public ReadOnlyMemory<byte> BuildBody()
    {
        try
        {
            var tensors = Inputs.SelectMany(i => i.Build()).ToArray();
            return V2Codec.EncodeRequest(InferenceRequest.Of(tensors)).Body;
        }
        catch (Exception ex) when (ex is NotSupportedException or ArgumentException or OverflowException or InvalidOperationException)
        {
            // A type the editors cannot write (BF16), a shape too large to count: the page says so instead of failing.
            throw new PlaygroundInputException($"These inputs cannot be sent from the playground: {ex.Message}");
        }
    }

    public string InputSummary => string.Join("; ", Inputs.Select(i => i.Summary));

    public IReadOnlyList<OutputReading> Read(PlaygroundRun run) => run.Outputs.Select(o => OutputAnalysis.Read(o, Target.Labels)).ToList();

    /// <summary>A line for the history: the top class, an embedding's norm, or the first values of each output.</summary>
    public static string OutputSummary(PlaygroundRun run, IReadOnlyList<OutputReading> readings)
    {
        if (!run.Succeeded) return $"{run.Status}: {run.Error}";
        return string.Join("; ", readings.Select(r => r.Kind switch
        {
            OutputKind.Classes when r.Top.Count > 0 => $"{r.Name}: {r.Top[0].Label} {OutputView.Percent(r.Top[0].Score)}",
            OutputKind.Embedding => $"{r.Name}: embedding, norm {r.Norm?.ToString("0.###", CultureInfo.InvariantCulture)}",
            _ => $"{r.Name} {TensorJson.Format(r.Shape)}: {string.Join(", ", r.FirstValues.Take(4))}{(r.Count > 4 ? ", …" : "")}",
        }));
    }

    /// <summary>
    /// Fills the editors from a saved V2 request (an example or a history entry). Returns the inputs that could not be
    /// filled (another shape or type than this model's), empty when all were.
    /// </summary>
    public IReadOnlyList<string> Load(string requestJson)
    {
        InferenceRequest request;
        try
        {
            request = V2Codec.ParseRequest(Encoding.UTF8.GetBytes(requestJson));
        }
        catch (InferenceRequestException ex)
        {
            return [$"the saved request does not parse: {ex.Message}"];
        }
        var tensors = request.Inputs.ToDictionary(t => t.Name, StringComparer.Ordinal);
        return Inputs.Where(i => !i.Load(tensors)).Select(i => string.Join(", ", i.Specs.Select(s => s.Name))).ToList();
    }

    /// <summary>Percentiles of the runs' round trips and server compute times; null for fewer than two successful runs.</summary>
    public static RunTimings? Timings(IReadOnlyList<PlaygroundRun> runs)
    {
        var succeeded = runs.Where(r => r.Succeeded).ToList();
        if (succeeded.Count < 2) return null;
        var roundTrips = succeeded.Select(r => r.RoundTrip.TotalMilliseconds).ToList();
        var computes = succeeded.Select(r => r.ComputeTime?.TotalMilliseconds ?? 0).ToList();
        return new RunTimings(succeeded.Count, Percentile(roundTrips, 0.5), Percentile(roundTrips, 0.95), Percentile(computes, 0.5), Percentile(computes, 0.95));
    }

    /// <summary>The value below which <paramref name="fraction"/> of the samples fall (nearest rank).</summary>
    public static double Percentile(IReadOnlyList<double> samples, double fraction)
    {
        if (samples.Count == 0) return 0;
        var sorted = samples.Order().ToArray();
        var rank = (int)Math.Ceiling(fraction * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}

/// <summary>What "run N times" measured, in milliseconds.</summary>
public sealed record RunTimings(int Count, double RoundTripP50, double RoundTripP95, double ComputeP50, double ComputeP95);
