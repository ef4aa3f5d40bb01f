namespace MaaS.Training.Tests;

public class TabularTrainerTests
{
    private static TrainingOutcome Train(string csv, string label, TrainingTask task, string trainer, Action<TrainingProgress>? progress = null)
    {
        var request = new TrainingRequest { LabelColumn = label, Task = task, Trainer = trainer, Seed = 3 };
        return TabularTrainer.Train(SyntheticCsv.Load(csv, request), request, progress);
    }

    [Theory]
    [InlineData(Trainers.LightGbm)]
    [InlineData(Trainers.FastTree)]
    [InlineData(Trainers.Sdca)]
    [InlineData(Trainers.Lbfgs)]
    public void Train_Binary_LearnsTheRule_AndOnnxPredictsWhatMlNetPredicts(string trainer)
    {
        var outcome = Train(SyntheticCsv.Binary(), "approved", TrainingTask.Binary, trainer);

        var metrics = outcome.Metrics.Classification!;
        Assert.Equal(["no", "yes"], outcome.Classes);
        Assert.InRange(metrics.Accuracy, 0.8, 1.0);
        Assert.InRange(metrics.Auc!.Value, 0.85, 1.0);
        Assert.InRange(metrics.LogLoss, 0.0, 0.6);
        Assert.InRange(metrics.MacroF1, 0.75, 1.0);
        Assert.Equal(outcome.ValidationRows, metrics.ConfusionMatrix.Sum(row => row.Sum()));
        Assert.True(outcome.Agreement.Agrees);
        Assert.Equal(outcome.ValidationRows, outcome.Agreement.Rows);
        Assert.Equal(["x1", "x2", "color", "member"], outcome.Inputs.Select(i => i.InputName));
        Assert.Equal(["float", "float", "string", "float"], outcome.Inputs.Select(i => i.ElementType));
        Assert.Equal(["PredictedLabel.output", "Score.output"], outcome.Outputs);
        // 20% of each class, rounded down per class.
        Assert.InRange(outcome.ValidationRows, 58, 60);
        Assert.Equal(300, outcome.TrainingRows + outcome.ValidationRows);
    }

    [Theory]
    [InlineData(Trainers.LightGbm)]
    [InlineData(Trainers.FastTree)]
    [InlineData(Trainers.Sdca)]
    [InlineData(Trainers.Lbfgs)]
    public void Train_Multiclass_LearnsTheRule_AndOnnxPredictsWhatMlNetPredicts(string trainer)
    {
        var outcome = Train(SyntheticCsv.Multiclass(), "species", TrainingTask.Multiclass, trainer);

        var metrics = outcome.Metrics.Classification!;
        Assert.Equal(["setosa", "versicolor", "virginica"], outcome.Classes);
        Assert.Null(metrics.Auc);
        Assert.InRange(metrics.Accuracy, 0.7, 1.0);
        Assert.InRange(metrics.MacroF1, 0.65, 1.0);
        Assert.InRange(metrics.LogLoss, 0.0, 0.9);
        Assert.Equal(3, metrics.ConfusionMatrix.Count);
        Assert.True(outcome.Agreement.Agrees);
        Assert.All(outcome.Examples, e => Assert.Equal(3, e.Scores.Count));
    }

    [Theory]
    [InlineData(Trainers.LightGbm)]
    [InlineData(Trainers.FastTree)]
    [InlineData(Trainers.Sdca)]
    [InlineData(Trainers.Lbfgs)]
    public void Train_Regression_FitsTheValues_AndOnnxPredictsWhatMlNetPredicts(string trainer)
    {
        var outcome = Train(SyntheticCsv.Regression(), "price", TrainingTask.Regression, trainer);

        var metrics = outcome.Metrics.Regression!;
        Assert.InRange(metrics.RSquared, 0.7, 1.0);
        Assert.InRange(metrics.Rmse, 0, 12);
        Assert.InRange(metrics.Mae, 0, metrics.Rmse);
        Assert.True(outcome.Agreement.Agrees);
        Assert.Empty(outcome.Classes);
        Assert.Equal(outcome.ValidationRows, outcome.PredictedVersusActual.Count);
        Assert.Equal(["Score.output"], outcome.Outputs);
    }

    [Fact]
    public void Train_Auto_TriesEveryTrainer_ReportsEach_AndKeepsTheLowestLoss()
    {
        var finished = new List<TrainerRun>();
        var outcome = Train(SyntheticCsv.Binary(), "approved", TrainingTask.Binary, Trainers.Auto, p => { if (p.Finished is { } run) finished.Add(run); });

        Assert.Equal(Trainers.AutoOrder, outcome.Runs.Select(r => r.Trainer));
        Assert.Equal(outcome.Runs, finished);
        Assert.All(outcome.Runs, r => Assert.Equal(RunStatus.Trained, r.Status));
        var best = outcome.Runs.MinBy(r => r.Metrics!.Loss)!;
        Assert.Equal(best.Trainer, outcome.Trainer);
        Assert.Equal(best.Metrics, outcome.Metrics);
    }

    [Fact]
    public void Train_Auto_StopsStartingTrainers_OnceTheBudgetIsSpent()
    {
        var request = new TrainingRequest { LabelColumn = "approved", Task = TrainingTask.Binary, Trainer = Trainers.Auto, TimeBudget = TimeSpan.Zero };
        var outcome = TabularTrainer.Train(SyntheticCsv.Load(SyntheticCsv.Binary(), request), request);

        Assert.Equal(RunStatus.Trained, outcome.Runs[0].Status);
        Assert.All(outcome.Runs.Skip(1), r => Assert.Equal(RunStatus.Skipped, r.Status));
        Assert.Equal(Trainers.AutoOrder[0], outcome.Trainer);
    }

    [Fact]
    public void Train_Stops_WhenCancelled()
    {
        var request = new TrainingRequest { LabelColumn = "approved", Task = TrainingTask.Binary, Trainer = Trainers.Auto };
        var data = SyntheticCsv.Load(SyntheticCsv.Binary(), request);
        using var cancellation = new CancellationTokenSource();
        var stages = new List<string>();

        Assert.ThrowsAny<OperationCanceledException>(() => TabularTrainer.Train(data, request, p =>
        {
            stages.Add(p.Stage);
            if (p.Finished is not null) cancellation.Cancel();
        }, cancellation.Token));
        Assert.DoesNotContain(stages, s => s.StartsWith("exporting"));
    }

    [Fact]
    public void Train_ReplacesMissingValues_TheSameWayInOnnx()
    {
        // Row 3 of every 25 lacks x2; validation rows include some, so the agreement check covers the imputer.
        var request = new TrainingRequest { LabelColumn = "price", Task = TrainingTask.Regression, Trainer = Trainers.Sdca };
        var data = SyntheticCsv.Load(SyntheticCsv.Regression(), request);
        var (_, validation) = TabularTrainer.Split(data, request.ValidationFraction, request.Seed);
        Assert.Contains(validation, r => float.IsNaN(data.Features.Single(f => f.Column == "x2").Numbers![r]));

        Assert.True(TabularTrainer.Train(data, request).Agreement.Agrees);
    }

    [Fact]
    public void Split_IsStratifiedAndRepeatable_ForTheSameSeed()
    {
        var request = new TrainingRequest { LabelColumn = "species", Task = TrainingTask.Multiclass };
        var data = SyntheticCsv.Load(SyntheticCsv.Multiclass(), request);
        var first = TabularTrainer.Split(data, 0.2, 5);
        var second = TabularTrainer.Split(data, 0.2, 5);
        var other = TabularTrainer.Split(data, 0.2, 6);

        Assert.Equal(first.Validation, second.Validation);
        Assert.NotEqual(first.Validation, other.Validation);
        Assert.Empty(first.Train.Intersect(first.Validation));
        foreach (var cls in data.Classes())
        {
            var total = Enumerable.Range(0, data.Count).Count(r => data.LabelText![r].ToString() == cls);
            Assert.Equal(total / 5, first.Validation.Count(r => data.LabelText![r].ToString() == cls));
        }
    }

    [Fact]
    public void Train_RefusesPoissonRegression_ForNegativeLabels()
    {
        var csv = "x,y\n" + string.Concat(Enumerable.Range(0, 50).Select(i => $"{i},{i - 25}\n"));
        var ex = Assert.Throws<TrainingException>(() => Train(csv, "y", TrainingTask.Regression, Trainers.Lbfgs));
        Assert.Contains("never negative", ex.Message);
    }

    [Fact]
    public void Train_LightGbm_OnManyRowsWithCategoricalColumns_ExportsAModelOnnxRuntimeAccepts()
    {
        // With enough rows (100,000 here; 30,000 were not enough) LightGBM turns one-hot slots into categorical splits unless told not to; the converter
        // writes those as branches on feature -1, which ONNX Runtime refuses.
        var random = new Random(11);
        var text = new System.Text.StringBuilder("a,b,k0,k1,label\n");
        for (var r = 0; r < 100_000; r++)
        {
            double a = random.NextDouble() * 2 - 1, b = random.NextDouble() * 2 - 1;
            int k0 = random.Next(3), k1 = random.Next(7);
            var z = a - b + (k0 == 1 ? 0.8 : 0) - (k1 == 3 ? 0.6 : 0) + random.NextDouble() - 0.5;
            text.Append(System.FormattableString.Invariant($"{a:0.####},{(r % 97 == 0 ? "" : b.ToString("0.####", System.Globalization.CultureInfo.InvariantCulture))},k{k0},j{k1},{(z > 0 ? "yes" : "no")}\n"));
        }

        var outcome = Train(text.ToString(), "label", TrainingTask.Binary, Trainers.LightGbm);

        Assert.True(outcome.Agreement.Agrees);
        Assert.Equal(Trainers.LightGbm, outcome.Trainer);
    }
}
