using System.Text.Json;
using System.Text.Json.Serialization;
using MaaS.Training;

namespace MaaS.Portal.Features.Training;

/// <summary>
/// The training report stored with a trained version (under "training" in its report JSON) and served by the API:
/// where the data came from, every trainer tried with its metrics, the chosen one's metrics and chart data, the
/// inputs and outputs, and how closely ONNX Runtime reproduced ML.NET.
/// </summary>
public sealed record TrainingReportView(
    Guid DatasetId, string DatasetName, string LabelColumn, TrainingTask Task, string Trainer, string TrainerTitle,
    TrainingMetrics Metrics, IReadOnlyList<TrainerRun> Runs, IReadOnlyList<string> Classes, IReadOnlyList<ModelInput> Inputs,
    IReadOnlyList<string> Outputs, int TrainingRows, int ValidationRows, long RowsWithoutLabel, int Seed, double ValidationFraction,
    OnnxAgreement Agreement, IReadOnlyList<PredictedPoint> PredictedVersusActual, IReadOnlyList<PredictionExample> Examples, double Seconds)
{
    /// <summary>NaN can appear in figures (an R² of a constant validation label); JSON has no literal for it, so it travels as a string.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static TrainingReportView From(Dataset dataset, TrainingRequest request, TrainingOutcome outcome, double seconds) => new(
        dataset.Id, dataset.Name, outcome.Label, outcome.Task, outcome.Trainer, outcome.TrainerTitle, outcome.Metrics, outcome.Runs,
        outcome.Classes, outcome.Inputs, outcome.Outputs, outcome.TrainingRows, outcome.ValidationRows, outcome.RowsWithoutLabel,
        request.Seed, request.ValidationFraction, outcome.Agreement, outcome.PredictedVersusActual, outcome.Examples, seconds);

    /// <summary>The report as stored: {"training": {...}}, beside whatever else a version's report holds.</summary>
    public string ToReportJson() => JsonSerializer.Serialize(new { training = this }, Json);

    /// <summary>Reads the training section of a version's report; null when the version was not trained here.</summary>
    public static TrainingReportView? FromReport(JsonElement? report)
    {
        if (report is not { ValueKind: JsonValueKind.Object } value || !value.TryGetProperty("training", out var section)) return null;
        try
        {
            return section.Deserialize<TrainingReportView>(Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
