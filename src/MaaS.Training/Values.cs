using System.Globalization;

namespace MaaS.Training;

/// <summary>How raw CSV text becomes values: missing markers, numbers, booleans. One place, so profiling and training agree.</summary>
public static class Values
{
    private static readonly HashSet<string> MissingMarkers = new(StringComparer.OrdinalIgnoreCase) { "", "na", "n/a", "nan", "null", "none", "?", "-" };
    private static readonly HashSet<string> TrueWords = new(StringComparer.OrdinalIgnoreCase) { "true", "yes", "y", "t" };
    private static readonly HashSet<string> FalseWords = new(StringComparer.OrdinalIgnoreCase) { "false", "no", "n", "f" };

    public static bool IsMissing(string raw) => MissingMarkers.Contains(raw.Trim());

    /// <summary>
    /// A number written with a '.' decimal point (optionally an exponent, thousands never), or with a ',' decimal
    /// point when the file is not comma-separated (as spreadsheets with a European locale save it).
    /// </summary>
    public static bool TryParseNumber(string raw, char delimiter, out float value)
    {
        var text = raw.Trim();
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)) return float.IsFinite(value);
        if (delimiter != ',' && text.Contains(',') && !text.Contains('.') &&
            float.TryParse(text.Replace(',', '.'), NumberStyles.Float, CultureInfo.InvariantCulture, out value))
        {
            return float.IsFinite(value);
        }
        return false;
    }

    public static bool TryParseBoolean(string raw, out bool value)
    {
        var text = raw.Trim();
        value = TrueWords.Contains(text);
        return value || FalseWords.Contains(text);
    }

    /// <summary>A value as a category: trimmed; missing values become the empty category.</summary>
    public static string Category(string raw) => IsMissing(raw) ? "" : raw.Trim();
}
