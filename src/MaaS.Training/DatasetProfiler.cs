using System.Text;
using System.Text.RegularExpressions;

namespace MaaS.Training;

/// <summary>Reads a CSV once: counts, missing values and distinct values per column, inferred types, the first rows.</summary>
public static partial class DatasetProfiler
{
    public const int PreviewRows = 20;

    /// <summary>Distinct values counted per column; beyond this a column is text, not categorical.</summary>
    public const int DistinctCap = 1000;

    /// <summary>Most classes a classification label may have: more is almost always a number or an id, not a class.</summary>
    public const int MaxClasses = 100;

    /// <summary>Longest value kept for people to read (preview cells, frequent values); the profile stays small whatever the file holds.</summary>
    public const int MaxShownChars = 100;

    // Names the trained model's own tensors take: an input may not shadow them.
    private static readonly HashSet<string> ReservedNames = new(StringComparer.OrdinalIgnoreCase)
        { "Features", "Label", "Score", "PredictedLabel", "Probability", "Weight" };

    public static DatasetProfile Profile(Stream csv, CsvLimits? limits = null, CancellationToken cancellationToken = default)
    {
        using var reader = CsvReader.Open(csv, limits);
        var columns = reader.Header.Select(_ => new ColumnStats()).ToArray();
        var preview = new List<IReadOnlyList<string>>();
        long rows = 0;
        while (reader.TryReadRow(out var fields))
        {
            if ((rows & 0xFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            rows++;
            if (preview.Count < PreviewRows) preview.Add(fields.Select(f => Shorten(f, MaxShownChars)).ToList());
            for (var i = 0; i < fields.Length; i++) columns[i].Add(fields[i], reader.Delimiter, reader.Row);
        }
        if (rows == 0) throw new DatasetException("The CSV has a header row but no data rows.");

        var inputNames = InputNames(reader.Header);
        var profiles = new List<ColumnProfile>();
        var warnings = new List<string>();
        for (var i = 0; i < columns.Length; i++)
        {
            var profile = columns[i].ToProfile(reader.Header[i], inputNames[i], rows);
            profiles.Add(profile);
            if (profile.Warning is not null) warnings.Add(profile.Warning);
        }
        return new DatasetProfile(CsvReader.DelimiterName(reader.Delimiter), rows, profiles, preview, warnings);
    }

    /// <summary>Suggests a task for a label column from its type and distinct values.</summary>
    public static TaskSuggestion SuggestTask(DatasetProfile profile, string labelColumn)
    {
        var column = profile.Column(labelColumn);
        if (column is null) return new(null, $"There is no column '{labelColumn}'.");
        if (column.AllMissing(profile.RowCount)) return new(null, $"Column '{column.Name}' is empty in every row; it cannot be a label.");
        var distinct = column.DistinctValues;
        if (distinct < 2) return new(null, $"Column '{column.Name}' has one value only; there is nothing to predict.");
        if (distinct == 2) return new(TrainingTask.Binary, $"'{column.Name}' has two distinct values: binary classification.");
        if (column.Type == ColumnType.Numeric)
        {
            var integral = column.TopValues.All(v => double.TryParse(v, System.Globalization.CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d));
            return integral && !column.DistinctCapped && distinct <= 10
                ? new(TrainingTask.Multiclass, $"'{column.Name}' holds {distinct} whole numbers: multiclass classification (choose regression if they are amounts).")
                : new(TrainingTask.Regression, $"'{column.Name}' is numeric with {(column.DistinctCapped ? "many" : distinct.ToString())} distinct values: regression.");
        }
        if (!column.DistinctCapped && distinct <= MaxClasses)
        {
            return new(TrainingTask.Multiclass, $"'{column.Name}' has {distinct} distinct values: multiclass classification.");
        }
        return new(null, $"'{column.Name}' has {(column.DistinctCapped ? $"over {DistinctCap}" : distinct.ToString())} distinct values and is not numeric: " +
                         $"too many classes (at most {MaxClasses}) and nothing to regress.");
    }

    /// <summary>Header names made into unique tensor names: letters, digits and underscores, not starting with a digit.</summary>
    public static IReadOnlyList<string> InputNames(IReadOnlyList<string> header)
    {
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var names = new List<string>();
        foreach (var raw in header)
        {
            // Decomposed, then without the accents, so "Ünïcode" becomes "Unicode" rather than "U_n_code".
            var plain = new string(raw.Normalize(NormalizationForm.FormKD)
                .Where(c => System.Globalization.CharUnicodeInfo.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.NonSpacingMark).ToArray());
            var name = NotNameChars().Replace(plain, "_").Trim('_');
            if (name.Length == 0) name = "column";
            if (char.IsDigit(name[0])) name = "c_" + name;
            if (name.Length > 64) name = name[..64];
            if (ReservedNames.Contains(name)) name += "_in";
            var unique = name;
            for (var n = 2; !used.Add(unique); n++) unique = $"{name}_{n}";
            names.Add(unique);
        }
        return names;
    }

    private static string Shorten(string value, int max) => value.Length > max ? value[..max] + "…" : value;

    [GeneratedRegex("[^A-Za-z0-9_]+")]
    private static partial Regex NotNameChars();

    private sealed class ColumnStats
    {
        private readonly Dictionary<string, int> _counts = new(StringComparer.Ordinal);
        private long _missing, _present, _numbers, _booleans, _totalChars;
        private double _sum, _min = double.MaxValue, _max = double.MinValue;
        private bool _capped;
        private (long Row, string Value)? _firstNonNumber;

        public void Add(string raw, char delimiter, long row)
        {
            if (Values.IsMissing(raw))
            {
                _missing++;
                return;
            }
            _present++;
            var value = raw.Trim();
            _totalChars += value.Length;
            if (Values.TryParseNumber(value, delimiter, out var number))
            {
                _numbers++;
                _sum += number;
                _min = Math.Min(_min, number);
                _max = Math.Max(_max, number);
            }
            else
            {
                _firstNonNumber ??= (row, value.Length > 40 ? value[..40] + "…" : value);
            }
            if (Values.TryParseBoolean(value, out _)) _booleans++;
            // Long values are counted by a shortened key with their hash, so 1,000 distinct 64 KiB values do not stay in memory.
            if (value.Length > MaxShownChars) value = $"{value[..MaxShownChars]}… #{value.GetHashCode():x8}";
            if (_counts.TryGetValue(value, out var count)) _counts[value] = count + 1;
            else if (_counts.Count < DistinctCap) _counts[value] = 1;
            else _capped = true;
        }

        public ColumnProfile ToProfile(string name, string inputName, long rows)
        {
            string? warning = null;
            ColumnType type;
            if (_present == 0)
            {
                type = ColumnType.Numeric;
                warning = $"Column '{name}' is empty in all {rows:N0} rows; it is left out of the features.";
            }
            else if (_booleans == _present && _numbers < _present)
            {
                type = ColumnType.Boolean;
            }
            else if (_numbers == _present)
            {
                type = ColumnType.Numeric;
            }
            else
            {
                var distinct = _counts.Count;
                type = !_capped && (distinct <= 50 || distinct <= _present / 2) ? ColumnType.Categorical : ColumnType.Text;
                if (_numbers >= _present * 0.9 && _firstNonNumber is { } bad)
                {
                    warning = $"Column '{name}' holds numbers but for {_present - _numbers:N0} value(s), the first '{bad.Value}' in row {bad.Row}; " +
                              $"it is treated as {type.ToString().ToLowerInvariant()}. Fix those values, or set its type to numeric to have each one named.";
                }
            }
            if (type == ColumnType.Text && warning is null)
            {
                warning = $"Column '{name}' looks like free text ({(_capped ? $"over {DistinctCap:N0}" : _counts.Count.ToString("N0"))} distinct values); " +
                          "text columns are not used as features. Set its type to categorical to one-hot encode it.";
            }
            var top = _counts.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(10).Select(p => p.Key).ToList();
            var numeric = _numbers > 0 && _numbers == _present;
            return new ColumnProfile(name, inputName, type, _missing, _counts.Count, _capped,
                numeric ? _min : null, numeric ? _max : null, numeric ? _sum / _numbers : null, top, warning);
        }
    }
}
