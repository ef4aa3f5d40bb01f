namespace MaaS.Training;

[System.Text.Json.Serialization.JsonConverter(typeof(System.Text.Json.Serialization.JsonStringEnumConverter<RunStatus>))]
public enum RunStatus { Trained, Failed, Skipped }

/// <summary>One trainer's attempt: its metrics on the validation rows, or why it failed or was skipped.</summary>
public sealed record TrainerRun(string Trainer, string Title, RunStatus Status, double Seconds, TrainingMetrics? Metrics, string? Message);

/// <summary>A model input: the CSV column it comes from and the tensor that takes it ([batch, 1], float or string).</summary>
public sealed record ModelInput(string Column, string InputName, ColumnType Type, string ElementType);

/// <summary>
/// How closely ONNX Runtime reproduced ML.NET on the validation rows: labels must be equal, and each score within
/// <see cref="Tolerance"/> × (1 + |score|) of ML.NET's (float arithmetic in another order differs in the last bits).
/// </summary>
public sealed record OnnxAgreement(int Rows, int LabelMismatches, double MaxScoreDifference, int ScoresOutsideTolerance, double Tolerance)
{
    public bool Agrees => LabelMismatches == 0 && ScoresOutsideTolerance == 0;
}

/// <summary>A validation row as the model's inputs (values as text) with ML.NET's prediction, to try the model with.</summary>
public sealed record PredictionExample(IReadOnlyDictionary<string, string> Inputs, string? PredictedLabel, IReadOnlyList<float> Scores);

/// <summary>A regression point for the predicted-versus-actual chart.</summary>
public sealed record PredictedPoint(float Actual, float Predicted);

/// <summary>Progress for people: a fraction of the whole run, a stage, and each trainer's result as it comes.</summary>
public sealed record TrainingProgress(double Fraction, string Stage, TrainerRun? Finished = null);

/// <summary>
/// What training made: the chosen trainer's ONNX model (checked against ML.NET), its metrics, every trainer's run,
/// the inputs and outputs, and the classes in the order of the scores.
/// </summary>
public sealed record TrainingOutcome(
    TrainingTask Task,
    string Label,
    string Trainer,
    string TrainerTitle,
    TrainingMetrics Metrics,
    IReadOnlyList<TrainerRun> Runs,
    IReadOnlyList<string> Classes,
    IReadOnlyList<ModelInput> Inputs,
    IReadOnlyList<string> Outputs,
    int TrainingRows,
    int ValidationRows,
    long RowsWithoutLabel,
    OnnxAgreement Agreement,
    IReadOnlyList<PredictedPoint> PredictedVersusActual,
    IReadOnlyList<PredictionExample> Examples,
    byte[] Onnx)
{
    /// <summary>The chosen ML.NET model itself, for callers that compare it with the ONNX export (the benchmark); never stored.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public Microsoft.ML.ITransformer? Model { get; init; }
}
