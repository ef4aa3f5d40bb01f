using Bunit;
using MaaS.Portal.Features.Training;
using MaaS.Training;
using MaaS.Training.Tests;

namespace MaaS.Portal.Tests;

/// <summary>The training report as the version page and the Training page show it, rendered from real training runs.</summary>
public sealed class TrainingReportSectionTests : MudTestBase
{
    private static TrainingReportView Train(string csv, string label, TrainingTask task, string trainer)
    {
        var request = new TrainingRequest { LabelColumn = label, Task = task, Trainer = trainer, TimeBudget = TimeSpan.FromMinutes(1) };
        var outcome = TabularTrainer.Train(SyntheticCsv.Load(csv, request), request);
        var dataset = new Dataset { Name = "synthetic", OwnerId = "alice", FileName = "synthetic.csv", Sha256 = new string('a', 64), ProfileJson = "{}" };
        return TrainingReportView.From(dataset, request, outcome, 1.5);
    }

    [Fact]
    public void Classification_ShowsEveryTrainer_MarksTheChosenOne_AndDrawsTheConfusionMatrix()
    {
        var report = Train(SyntheticCsv.Multiclass(rows: 200), "species", TrainingTask.Multiclass, Trainers.Auto);

        var section = Render<TrainingReportSection>(p => p.Add(x => x.Report, report));

        var rows = section.FindAll("[data-testid=trainer-run]");
        Assert.Equal(report.Runs.Select(r => r.Trainer), rows.Select(r => r.GetAttribute("data-trainer")));
        var chosen = rows.Single(r => r.TextContent.Contains('✓'));
        Assert.Equal(report.Trainer, chosen.GetAttribute("data-trainer"));
        Assert.Equal(report.TrainerTitle, section.Find("[data-testid=report-trainer]").TextContent);

        var matrix = report.Metrics.Classification!.ConfusionMatrix;
        var cells = section.FindAll("[data-testid=confusion-cell]");
        Assert.Equal(9, cells.Count);
        foreach (var cell in cells)
        {
            var (actual, predicted) = (int.Parse(cell.GetAttribute("data-actual")!), int.Parse(cell.GetAttribute("data-predicted")!));
            Assert.Equal(matrix[actual][predicted].ToString(), cell.TextContent);
        }
        Assert.Equal(report.ValidationRows, cells.Sum(c => int.Parse(c.TextContent)));
        Assert.Empty(section.FindAll("[data-testid=predicted-vs-actual]"));
        Assert.Contains("0 label differences", section.Find("[data-testid=onnx-agreement]").TextContent);
    }

    [Fact]
    public void Regression_DrawsPredictedAgainstActual_WithAPointPerValidationRow()
    {
        var report = Train(SyntheticCsv.Regression(rows: 150), "price", TrainingTask.Regression, Trainers.Sdca);

        var section = Render<TrainingReportSection>(p => p.Add(x => x.Report, report));

        Assert.Equal(report.ValidationRows, section.FindAll("[data-testid=scatter-point]").Count);
        Assert.Empty(section.FindAll("[data-testid=confusion-matrix]"));
        Assert.Contains("R²", section.Find("[data-testid=trainer-runs]").TextContent);
    }

    [Fact]
    public void TrainerRunsTable_ShowsWhyATrainerWasSkipped()
    {
        var runs = new[]
        {
            new TrainerRun(Trainers.Lbfgs, "L-BFGS logistic regression", RunStatus.Trained, 0.4,
                new TrainingMetrics(new ClassificationMetrics(0.3, 0.9, 0.88, 0.95, ["no", "yes"], [[5, 1], [1, 5]]), null), null),
            new TrainerRun(Trainers.LightGbm, "LightGBM", RunStatus.Skipped, 0, null, "Not tried: the time budget of 1 s was spent."),
        };

        var table = Render<TrainerRunsTable>(p => p.Add(x => x.Runs, runs).Add(x => x.Task, TrainingTask.Binary).Add(x => x.Chosen, Trainers.Lbfgs));

        var skipped = table.Find("[data-trainer=lightgbm]");
        Assert.Equal("Skipped", skipped.GetAttribute("data-status"));
        Assert.Contains("time budget of 1 s was spent", skipped.TextContent);
        Assert.Contains("0.95", table.Find("[data-trainer=lbfgs]").TextContent);
    }
}
