using System.Globalization;
using System.Text;

namespace MaaS.Training.Tests;

/// <summary>
/// Small generated datasets whose labels follow known rules from the features (plus noise), so a trainer that
/// learns anything scores well above chance. Numeric columns have a few missing values; a categorical and a boolean
/// column take part in the rule.
/// </summary>
public static class SyntheticCsv
{
    private static readonly string[] Colors = ["red", "green", "blue"];

    public static string Binary(int rows = 300, int seed = 7, char delimiter = ',') => Build(rows, seed, delimiter, "approved", (x1, x2, color, member, random) =>
    {
        var z = 2.0 * x1 - 1.5 * x2 + (color == "red" ? 1.0 : -0.5) + (member ? 0.8 : 0) + random.NextDouble() * 0.6 - 0.3;
        return z > 0 ? "yes" : "no";
    });

    public static string Multiclass(int rows = 300, int seed = 7) => Build(rows, seed, ',', "species", (x1, x2, color, member, random) =>
    {
        var z = x1 + 0.3 * (random.NextDouble() - 0.5) + (color == "blue" ? 0.4 : 0);
        return z < -0.4 ? "setosa" : z < 0.5 ? "versicolor" : "virginica";
    });

    public static string Regression(int rows = 300, int seed = 7) => Build(rows, seed, ',', "price", (x1, x2, color, member, random) =>
    {
        var y = 50 + 20 * x1 + 10 * x2 + (color == "green" ? 15 : 0) + (member ? 5 : 0) + (random.NextDouble() - 0.5) * 4;
        return y.ToString("0.00", CultureInfo.InvariantCulture);
    });

    private static string Build(int rows, int seed, char delimiter, string labelName, Func<double, double, string, bool, Random, string> label)
    {
        var random = new Random(seed);
        var text = new StringBuilder();
        var d = delimiter.ToString();
        text.Append(string.Join(d, "x1", "x2", "color", "member", labelName)).Append('\n');
        for (var i = 0; i < rows; i++)
        {
            var x1 = random.NextDouble() * 2 - 1;
            var x2 = random.NextDouble() * 2 - 1;
            var color = Colors[random.Next(Colors.Length)];
            var member = random.Next(2) == 1;
            var y = label(x1, x2, color, member, random);
            // Every 25th row lacks x2: the model must replace missing values, and ONNX must do the same.
            var x2Text = i % 25 == 3 ? "" : x2.ToString("0.####", CultureInfo.InvariantCulture);
            text.Append(string.Join(d, x1.ToString("0.####", CultureInfo.InvariantCulture), x2Text, color, member ? "yes" : "no", y)).Append('\n');
        }
        return text.ToString();
    }

    public static MemoryStream Stream(string csv) => new(Encoding.UTF8.GetBytes(csv));

    public static DatasetProfile Profile(string csv) => DatasetProfiler.Profile(Stream(csv));

    public static TabularData Load(string csv, TrainingRequest request)
    {
        var profile = Profile(csv);
        return TabularData.Load(Stream(csv), profile, request);
    }
}
