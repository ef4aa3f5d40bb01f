namespace MaaS.Training;

/// <summary>Classification on the validation rows. <see cref="ConfusionMatrix"/>[actual][predicted], in <see cref="Classes"/> order.</summary>
public sealed record ClassificationMetrics(
    double LogLoss, double Accuracy, double MacroF1, double? Auc, IReadOnlyList<string> Classes, IReadOnlyList<IReadOnlyList<int>> ConfusionMatrix);

/// <summary>Regression on the validation rows.</summary>
public sealed record RegressionMetrics(double Rmse, double Mae, double RSquared);

/// <summary>One trainer's figures: one of the two is set, by task.</summary>
public sealed record TrainingMetrics(ClassificationMetrics? Classification, RegressionMetrics? Regression)
{
    /// <summary>What "best" means when trainers are compared: log-loss for classification, RMSE for regression; lower wins.</summary>
    public double Loss => Classification?.LogLoss ?? Regression!.Rmse;

    public string LossName => Classification is not null ? "log-loss" : "RMSE";
}

/// <summary>Computes the metrics from predictions; kept apart from ML.NET's evaluators so ONNX outputs can be scored the same way.</summary>
public static class MetricsCalculator
{
    // Log-loss of a probability of zero is infinite; clipping keeps one confident mistake from drowning the mean.
    private const double MinProbability = 1e-15;

    /// <param name="actual">Index of each row's true class in <paramref name="classes"/>.</param>
    /// <param name="predicted">Index of each row's predicted class.</param>
    /// <param name="probabilities">Each row's probability per class.</param>
    public static ClassificationMetrics Classification(IReadOnlyList<string> classes, int[] actual, int[] predicted, float[][] probabilities)
    {
        var k = classes.Count;
        var matrix = new int[k][];
        for (var i = 0; i < k; i++) matrix[i] = new int[k];
        double logLoss = 0;
        var correct = 0;
        for (var r = 0; r < actual.Length; r++)
        {
            matrix[actual[r]][predicted[r]]++;
            if (actual[r] == predicted[r]) correct++;
            logLoss -= Math.Log(Math.Max(probabilities[r][actual[r]], MinProbability));
        }
        var n = Math.Max(actual.Length, 1);

        // Macro F1 over the classes that occur among the actual or predicted values (scikit-learn's convention).
        double f1Sum = 0;
        var f1Classes = 0;
        for (var c = 0; c < k; c++)
        {
            var truePositive = matrix[c][c];
            var actualCount = matrix[c].Sum();
            var predictedCount = Enumerable.Range(0, k).Sum(a => matrix[a][c]);
            if (actualCount == 0 && predictedCount == 0) continue;
            f1Classes++;
            f1Sum += actualCount + predictedCount == 0 ? 0 : 2.0 * truePositive / (actualCount + predictedCount);
        }

        double? auc = k == 2 ? Auc(actual.Select(a => a == 1).ToArray(), probabilities.Select(p => p[1]).ToArray()) : null;
        return new ClassificationMetrics(logLoss / n, (double)correct / n, f1Classes == 0 ? 0 : f1Sum / f1Classes, auc, classes,
            matrix.Select(row => (IReadOnlyList<int>)row).ToList());
    }

    /// <summary>Area under the ROC curve by the rank statistic (Mann–Whitney U), ties counted half.</summary>
    public static double? Auc(bool[] positive, float[] score)
    {
        var positives = positive.Count(p => p);
        var negatives = positive.Length - positives;
        if (positives == 0 || negatives == 0) return null;
        var order = Enumerable.Range(0, score.Length).OrderBy(i => score[i]).ToArray();
        double rankSumPositives = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && score[order[j + 1]] == score[order[i]]) j++;
            var averageRank = (i + j) / 2.0 + 1;
            for (var t = i; t <= j; t++) if (positive[order[t]]) rankSumPositives += averageRank;
            i = j + 1;
        }
        return (rankSumPositives - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    public static RegressionMetrics Regression(float[] actual, float[] predicted)
    {
        var n = Math.Max(actual.Length, 1);
        double squared = 0, absolute = 0, mean = actual.Length == 0 ? 0 : actual.Average(a => (double)a), total = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var error = (double)predicted[i] - actual[i];
            squared += error * error;
            absolute += Math.Abs(error);
            total += (actual[i] - mean) * (actual[i] - mean);
        }
        return new RegressionMetrics(Math.Sqrt(squared / n), absolute / n, total == 0 ? 0 : 1 - squared / total);
    }
}
