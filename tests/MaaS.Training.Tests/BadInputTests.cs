namespace MaaS.Training.Tests;

/// <summary>Datasets a person must fix: each fails before training with a message naming what and where.</summary>
public class BadInputTests
{
    private static DatasetException Load(string csv, string label, TrainingTask task, IReadOnlyList<string>? features = null,
        IReadOnlyDictionary<string, ColumnType>? types = null) =>
        Assert.Throws<DatasetException>(() => SyntheticCsv.Load(csv, new TrainingRequest
        {
            LabelColumn = label, Task = task, Features = features, ColumnTypes = types,
        }));

    [Fact]
    public void Label_WithOneClass_IsRefused()
    {
        var csv = "x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},same\n"));
        var ex = Load(csv, "y", TrainingTask.Binary);
        Assert.Contains("one class only ('same')", ex.Message);
        Assert.Equal("y", ex.Column);
    }

    [Fact]
    public void Label_WithThousandsOfClasses_IsRefused()
    {
        var csv = "x,id\n" + string.Concat(Enumerable.Range(0, 3000).Select(i => $"{i % 10},user{i}\n"));
        var ex = Load(csv, "id", TrainingTask.Multiclass);
        Assert.Contains("3,000 distinct values", ex.Message);
        Assert.Contains($"at most {DatasetProfiler.MaxClasses} classes", ex.Message);
    }

    [Fact]
    public void Binary_WithThreeClasses_IsRefused()
    {
        var ex = Load(SyntheticCsv.Multiclass(), "species", TrainingTask.Binary);
        Assert.Contains("exactly two classes", ex.Message);
    }

    [Fact]
    public void AllMissingColumn_ChosenAsFeature_IsRefused()
    {
        var csv = "a,empty,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},,{(i % 2 == 0 ? "p" : "q")}\n"));
        var ex = Load(csv, "y", TrainingTask.Binary, features: ["a", "empty"]);
        Assert.Contains("'empty' is empty in all 40 rows", ex.Message);
        Assert.Equal("empty", ex.Column);
    }

    [Fact]
    public void AllMissingColumn_IsLeftOut_OfTheDefaultFeatures()
    {
        var csv = "a,empty,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},,{(i % 2 == 0 ? "p" : "q")}\n"));
        var data = SyntheticCsv.Load(csv, new TrainingRequest { LabelColumn = "y", Task = TrainingTask.Binary });
        Assert.Equal(["a"], data.Features.Select(f => f.Column));
    }

    [Fact]
    public void AllMissingLabel_IsRefused()
    {
        var csv = "a,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},\n"));
        Assert.Contains("label column 'y' is empty in every row", Load(csv, "y", TrainingTask.Regression).Message);
    }

    [Fact]
    public void NonNumericValue_InANumericColumn_NamesRowAndColumn()
    {
        var rows = string.Concat(Enumerable.Range(0, 40).Select(i => i == 20 ? "12 years,a\n" : $"{i},{(i % 2 == 0 ? "a" : "b")}\n"));
        var ex = Load("age,y\n" + rows, "y", TrainingTask.Binary, types: new Dictionary<string, ColumnType> { ["age"] = ColumnType.Numeric });
        Assert.Equal(22, ex.Row);
        Assert.Equal("age", ex.Column);
        Assert.Contains("Row 22, column 'age': '12 years' is not a number", ex.Message);
    }

    [Fact]
    public void NonNumericLabel_ForRegression_NamesRowAndColumn()
    {
        var rows = string.Concat(Enumerable.Range(0, 40).Select(i => i == 5 ? "5,lots\n" : $"{i},{i * 2}\n"));
        var ex = Load("x,amount\n" + rows, "amount", TrainingTask.Regression);
        Assert.Equal(7, ex.Row);
        Assert.Contains("column 'amount': 'lots' is not a number", ex.Message);
    }

    [Fact]
    public void RaggedRow_IsRefused_NamingTheRow()
    {
        var csv = SyntheticCsv.Binary(rows: 50);
        var lines = csv.Split('\n').ToList();
        lines[30] += ",extra";
        var ex = Assert.Throws<DatasetException>(() => SyntheticCsv.Profile(string.Join('\n', lines)));
        Assert.Equal(31, ex.Row);
    }

    [Fact]
    public void TextColumn_ChosenAsFeature_IsRefused_WithWhatToDo()
    {
        var rows = string.Concat(Enumerable.Range(0, 60).Select(i => $"{i},note {i} about this,{(i % 2 == 0 ? "a" : "b")}\n"));
        var ex = Load("id,note,y\n" + rows, "y", TrainingTask.Binary, features: ["id", "note"]);
        Assert.Contains("set its type to categorical", ex.Message, StringComparison.OrdinalIgnoreCase);
    }
}
