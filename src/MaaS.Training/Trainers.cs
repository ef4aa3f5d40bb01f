namespace MaaS.Training;

/// <summary>A trainer people can choose, with what it is for the task at hand.</summary>
public sealed record TrainerDescription(string Name, string Title, string Description);

/// <summary>
/// The trainers offered, all of which export to ONNX with predictions equal to ML.NET's. Classification uses ML.NET's
/// multiclass trainers for two classes too: for L-BFGS and SDCA, maximum entropy over two classes is logistic
/// regression (a softmax over two scores is the logistic function), and every classifier then names its classes in
/// its output and gives one probability per class, which keeps labels, scores and the labels file in one order.
/// </summary>
public static class Trainers
{
    public const string Auto = "auto";
    public const string LightGbm = "lightgbm";
    public const string FastTree = "fasttree";
    public const string Sdca = "sdca";
    public const string Lbfgs = "lbfgs";

    public static readonly IReadOnlyList<string> Names = [LightGbm, FastTree, Sdca, Lbfgs];

    /// <summary>The order "auto" tries them in: the quick linear ones first, so a short budget still yields a model.</summary>
    public static readonly IReadOnlyList<string> AutoOrder = [Lbfgs, Sdca, LightGbm, FastTree];

    public static bool IsKnown(string? name) => name is not null && (name == Auto || Names.Contains(name));

    public static string Title(string trainer, TrainingTask task) => (trainer, task) switch
    {
        (Auto, _) => "Auto (try each, keep the best)",
        (LightGbm, _) => "LightGBM",
        (FastTree, TrainingTask.Regression) => "FastTree",
        (FastTree, _) => "FastTree (one versus all)",
        (Sdca, TrainingTask.Regression) => "SDCA linear regression",
        (Sdca, TrainingTask.Binary) => "SDCA logistic regression",
        (Sdca, _) => "SDCA maximum entropy",
        (Lbfgs, TrainingTask.Regression) => "L-BFGS Poisson regression",
        (Lbfgs, TrainingTask.Binary) => "L-BFGS logistic regression",
        (Lbfgs, _) => "L-BFGS maximum entropy",
        _ => trainer,
    };

    public static IReadOnlyList<TrainerDescription> For(TrainingTask task) =>
    [
        new(Auto, Title(Auto, task), "Trains each trainer below within a time budget and keeps the one with the lowest validation loss."),
        new(LightGbm, Title(LightGbm, task), "Gradient-boosted trees (LightGBM): strong on most tabular data."),
        new(FastTree, Title(FastTree, task), "Gradient-boosted trees (ML.NET's FastTree)" + (task == TrainingTask.Regression ? "." : ", one binary model per class.")),
        new(Sdca, Title(Sdca, task), "A linear model fitted by stochastic dual coordinate ascent: fast, small, a good baseline."),
        new(Lbfgs, Title(Lbfgs, task), task == TrainingTask.Regression
            ? "A Poisson (log-linear) model for counts and other non-negative amounts."
            : "A linear model fitted by L-BFGS: fast, small, probabilities that are often well calibrated."),
    ];
}
