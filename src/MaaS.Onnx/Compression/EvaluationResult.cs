namespace MaaS.Onnx.Compression;

/// <summary>How closely one output of the candidate follows the original's, over all samples.</summary>
public sealed record OutputAgreement(
    string Output,
    double MaxAbsError,
    double MeanRelativeError,
    double MeanCosine,
    double? Top1Agreement,
    int NonFiniteValues);

public sealed record Latency(double P50Milliseconds, double P95Milliseconds);

/// <summary>Original vs candidate: size, latency (interleaved runs in one process), output agreement.</summary>
public sealed record EvaluationResult(
    long OriginalBytes,
    long CandidateBytes,
    Latency Original,
    Latency Candidate,
    IReadOnlyList<OutputAgreement> Outputs,
    int SampleCount,
    bool GeneratedSamples)
{
    public double SizeRatio => OriginalBytes == 0 ? 0 : (double)CandidateBytes / OriginalBytes;
    public double LatencyRatio => Original.P50Milliseconds == 0 ? 0 : Candidate.P50Milliseconds / Original.P50Milliseconds;
    public double MinMeanCosine => Outputs.Count == 0 ? 0 : Outputs.Min(o => o.MeanCosine);

    /// <summary>Checks the gate; every failure is a sentence naming the figure and the limit.</summary>
    public GateResult Check(QualityGate gate)
    {
        var failures = new List<string>();
        foreach (var output in Outputs)
        {
            if (output.NonFiniteValues > 0) failures.Add($"Output '{output.Output}' has {output.NonFiniteValues} NaN or infinite values.");
            if (gate.MinCosine is { } minCosine && output.MeanCosine < minCosine)
                failures.Add($"Output '{output.Output}': mean cosine similarity {output.MeanCosine:0.0000} is below the gate's {minCosine:0.0000}.");
            if (gate.MaxTop1Disagreement is { } maxDisagreement && output.Top1Agreement is { } agreement && 1 - agreement > maxDisagreement)
                failures.Add($"Output '{output.Output}': top-1 disagreement {1 - agreement:P1} is above the gate's {maxDisagreement:P1}.");
        }
        if (gate.MaxLatencyRatio is { } maxLatency && LatencyRatio > maxLatency)
            failures.Add($"Latency ratio {LatencyRatio:0.00} is above the gate's {maxLatency:0.00}.");
        return new GateResult(failures.Count == 0, failures);
    }
}
