namespace MaaS.Training.Tests;

public class DatasetProfilerTests
{
    [Fact]
    public void Profile_InfersTypes_CountsMissingValues_AndKeepsTheFirstRows()
    {
        var profile = SyntheticCsv.Profile(SyntheticCsv.Binary(rows: 100));

        Assert.Equal(100, profile.RowCount);
        Assert.Equal("comma", profile.Delimiter);
        Assert.Equal(ColumnType.Numeric, profile.Column("x1")!.Type);
        Assert.Equal(ColumnType.Numeric, profile.Column("x2")!.Type);
        Assert.Equal(4, profile.Column("x2")!.Missing); // rows 3, 28, 53, 78
        Assert.Equal(0, profile.Column("x1")!.Missing);
        Assert.Equal(ColumnType.Categorical, profile.Column("color")!.Type);
        Assert.Equal(3, profile.Column("color")!.DistinctValues);
        Assert.Equal(ColumnType.Boolean, profile.Column("member")!.Type);
        Assert.Equal(DatasetProfiler.PreviewRows, profile.Preview.Count);
        Assert.Equal(5, profile.Preview[0].Count);
    }

    [Fact]
    public void Profile_CallsManyDistinctStrings_Text_AndWarns()
    {
        var rows = string.Concat(Enumerable.Range(0, 60).Select(i => $"{i},comment number {i} about something\n"));
        var profile = SyntheticCsv.Profile("id,comment\n" + rows);
        Assert.Equal(ColumnType.Text, profile.Column("comment")!.Type);
        Assert.Contains(profile.Warnings, w => w.Contains("'comment'") && w.Contains("free text"));
    }

    [Fact]
    public void Profile_WarnsAboutAFewNonNumbers_InANumericColumn_NamingTheRow()
    {
        var rows = string.Concat(Enumerable.Range(0, 30).Select(i => i == 11 ? "abc,1\n" : $"{i}.5,1\n"));
        var profile = SyntheticCsv.Profile("age,y\n" + rows);
        var age = profile.Column("age")!;
        Assert.NotEqual(ColumnType.Numeric, age.Type);
        Assert.Contains("'abc' in row 13", age.Warning);
    }

    [Fact]
    public void Profile_MarksAllMissingColumns()
    {
        var profile = SyntheticCsv.Profile("a,empty,y\n1,,x\n2,NA,y\n3,,x\n");
        Assert.True(profile.Column("empty")!.AllMissing(profile.RowCount));
        Assert.Contains(profile.Warnings, w => w.Contains("'empty' is empty in all 3 rows"));
    }

    [Theory]
    [InlineData("approved", TrainingTask.Binary)]
    [InlineData("color", TrainingTask.Multiclass)]
    [InlineData("x1", TrainingTask.Regression)]
    public void SuggestTask_FollowsTheLabelColumn(string label, TrainingTask expected)
    {
        var profile = SyntheticCsv.Profile(SyntheticCsv.Binary(rows: 100));
        Assert.Equal(expected, DatasetProfiler.SuggestTask(profile, label).Task);
    }

    [Fact]
    public void SuggestTask_SuggestsNothing_ForAnIdLikeStringColumn()
    {
        var rows = string.Concat(Enumerable.Range(0, 1200).Select(i => $"user{i},{i % 7}\n"));
        var suggestion = DatasetProfiler.SuggestTask(SyntheticCsv.Profile("user,visits\n" + rows), "user");
        Assert.Null(suggestion.Task);
        Assert.Contains("too many classes", suggestion.Reason);
    }

    [Fact]
    public void InputNames_AreSafeUniqueTensorNames()
    {
        var names = DatasetProfiler.InputNames(["Sepal length (cm)", "2nd", "Score", "sepal_length_cm", "Ünïcode"]);
        Assert.Equal(["Sepal_length_cm", "c_2nd", "Score_in", "sepal_length_cm_2", "Unicode"], names);
    }

    [Fact]
    public void Profile_KeepsLongValuesShort_InThePreviewAndFrequentValues()
    {
        var rows = string.Concat(Enumerable.Range(0, 30).Select(i => $"{i},{new string((char)('a' + i % 3), 5000)}\n"));
        var profile = SyntheticCsv.Profile("id,blob\n" + rows);
        Assert.All(profile.Preview, row => Assert.True(row[1].Length <= DatasetProfiler.MaxShownChars + 1));
        Assert.Equal(3, profile.Column("blob")!.DistinctValues);
        Assert.All(profile.Column("blob")!.TopValues, v => Assert.True(v.Length < 120));
    }
}
