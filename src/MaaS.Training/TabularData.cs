namespace MaaS.Training;

/// <summary>What to train: the label, the task, the trainer, the features and their types, the split.</summary>
public sealed record TrainingRequest
{
    public required string LabelColumn { get; init; }
    public required TrainingTask Task { get; init; }
    /// <summary>One of <see cref="Trainers.Names"/>, or "auto".</summary>
    public string Trainer { get; init; } = Trainers.Auto;
    /// <summary>Feature columns by header name; null: every other column that is not text and not empty.</summary>
    public IReadOnlyList<string>? Features { get; init; }
    /// <summary>Types that override the inferred ones, by header name.</summary>
    public IReadOnlyDictionary<string, ColumnType>? ColumnTypes { get; init; }
    public double ValidationFraction { get; init; } = 0.2;
    public int Seed { get; init; } = 1;
    /// <summary>For "auto": no further trainer starts once this is spent (the first always runs).</summary>
    public TimeSpan TimeBudget { get; init; } = TimeSpan.FromMinutes(5);
}

/// <summary>A feature as the trained model takes it: the CSV column, the ONNX input name, and its values.</summary>
public sealed record FeatureColumn(string Column, string InputName, ColumnType Type, float[]? Numbers, ReadOnlyMemory<char>[]? Categories)
{
    /// <summary>The ONNX element type of the model input for this column.</summary>
    public string ElementType => Categories is null ? "float" : "string";
}

/// <summary>
/// A dataset read for training with its final column types: one array per feature, the label (as text for
/// classification, as numbers for regression) and each row's number in the file. Rows without a label are left out.
/// </summary>
public sealed class TabularData
{
    private TabularData(TrainingTask task, string labelColumn, IReadOnlyList<FeatureColumn> features, ReadOnlyMemory<char>[]? labelText,
        float[]? labelNumbers, long[] rowNumbers, long droppedRows)
    {
        Task = task;
        LabelColumn = labelColumn;
        Features = features;
        LabelText = labelText;
        LabelNumbers = labelNumbers;
        RowNumbers = rowNumbers;
        DroppedRows = droppedRows;
    }

    public TrainingTask Task { get; }
    public string LabelColumn { get; }
    public IReadOnlyList<FeatureColumn> Features { get; }
    public ReadOnlyMemory<char>[]? LabelText { get; }
    public float[]? LabelNumbers { get; }
    public long[] RowNumbers { get; }
    /// <summary>Rows left out because their label was missing.</summary>
    public long DroppedRows { get; }
    public int Count => RowNumbers.Length;

    /// <summary>Reads the CSV with the profile's types (overridden by the request's), checking every value against its type.</summary>
    public static TabularData Load(Stream csv, DatasetProfile profile, TrainingRequest request, CsvLimits? limits = null,
        CancellationToken cancellationToken = default)
    {
        var label = profile.Column(request.LabelColumn)
            ?? throw new DatasetException($"There is no column '{request.LabelColumn}' to use as the label. Columns: {string.Join(", ", profile.Columns.Select(c => c.Name))}.");
        if (label.AllMissing(profile.RowCount))
        {
            throw new DatasetException($"The label column '{label.Name}' is empty in every row; choose a column with values.", column: label.Name);
        }
        var types = profile.Columns.ToDictionary(c => c.Name, c => TypeOf(c, request), StringComparer.OrdinalIgnoreCase);
        var features = ChooseFeatures(profile, request, label, types);

        using var reader = CsvReader.Open(csv, limits);
        var index = reader.Header.Select((name, i) => (name, i)).ToDictionary(p => p.name, p => p.i, StringComparer.OrdinalIgnoreCase);
        if (!index.TryGetValue(label.Name, out var labelIndex) || features.Any(f => !index.ContainsKey(f.Name)))
        {
            throw new DatasetException("The file's header is not the one profiled; upload the dataset again.");
        }
        var numbers = features.Select(f => types[f.Name] is ColumnType.Numeric or ColumnType.Boolean ? new List<float>() : null).ToArray();
        var categories = features.Select(f => types[f.Name] == ColumnType.Categorical ? new List<ReadOnlyMemory<char>>() : null).ToArray();
        var interned = new Dictionary<string, ReadOnlyMemory<char>>(StringComparer.Ordinal);
        var labelText = request.Task == TrainingTask.Regression ? null : new List<ReadOnlyMemory<char>>();
        var labelNumbers = request.Task == TrainingTask.Regression ? new List<float>() : null;
        var rowNumbers = new List<long>();
        long dropped = 0;

        while (reader.TryReadRow(out var fields))
        {
            if ((rowNumbers.Count & 0xFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            var rawLabel = fields[labelIndex];
            if (Values.IsMissing(rawLabel))
            {
                dropped++;
                continue;
            }
            if (labelNumbers is not null)
            {
                if (!Values.TryParseNumber(rawLabel, reader.Delimiter, out var y))
                {
                    throw new DatasetException($"Row {reader.Row}, column '{label.Name}': '{Shorten(rawLabel)}' is not a number, and regression needs a numeric label. " +
                                               "Fix the value, or choose a classification task.", reader.Row, label.Name);
                }
                labelNumbers.Add(y);
            }
            else
            {
                // Classes keep the file's own spelling ("yes"/"no" stays so): they are what the model will answer.
                labelText!.Add(Intern(interned, rawLabel.Trim()));
            }
            for (var f = 0; f < features.Count; f++)
            {
                var raw = fields[index[features[f].Name]];
                if (numbers[f] is { } list)
                {
                    list.Add(ParseFeature(raw, types[features[f].Name], reader, features[f].Name));
                }
                else
                {
                    categories[f]!.Add(Intern(interned, Values.Category(raw)));
                }
            }
            rowNumbers.Add(reader.Row);
        }

        var columns = features.Select((f, i) => new FeatureColumn(f.Name, f.InputName, types[f.Name], numbers[i]?.ToArray(), categories[i]?.ToArray())).ToList();
        var data = new TabularData(request.Task, label.Name, columns, labelText?.ToArray(), labelNumbers?.ToArray(), [.. rowNumbers], dropped);
        data.CheckLabel(label.Name);
        return data;
    }

    /// <summary>The distinct label values, sorted (the order of the model's scores and of its labels file).</summary>
    public IReadOnlyList<string> Classes() =>
        LabelText is null ? [] : LabelText.Select(t => t.ToString()).Distinct().Order(StringComparer.Ordinal).ToList();

    private void CheckLabel(string labelName)
    {
        if (Count < 10)
        {
            throw new DatasetException($"Only {Count} row(s) have a value in '{labelName}'; training needs at least 10 (and learns little from fewer than a few hundred).", column: labelName);
        }
        if (Task == TrainingTask.Regression)
        {
            if (LabelNumbers!.Distinct().Take(2).Count() < 2)
            {
                throw new DatasetException($"The label column '{labelName}' has the same value ({LabelNumbers![0]}) in every row; there is nothing to predict.", column: labelName);
            }
            return;
        }
        var classes = Classes();
        if (classes.Count < 2)
        {
            throw new DatasetException($"The label column '{labelName}' has one class only ('{classes[0]}') in all {Count:N0} rows; classification needs at least two.", column: labelName);
        }
        if (classes.Count > DatasetProfiler.MaxClasses)
        {
            throw new DatasetException($"The label column '{labelName}' has {classes.Count:N0} distinct values; classification supports at most {DatasetProfiler.MaxClasses} classes. " +
                                       "If it is an amount, choose regression; if it is an id, choose another label.", column: labelName);
        }
        if (Task == TrainingTask.Binary && classes.Count != 2)
        {
            throw new DatasetException($"Binary classification needs exactly two classes, and '{labelName}' has {classes.Count} ({string.Join(", ", classes.Take(5))}{(classes.Count > 5 ? ", …" : "")}). Choose multiclass.", column: labelName);
        }
    }

    private static ColumnType TypeOf(ColumnProfile column, TrainingRequest request) =>
        request.ColumnTypes is { } overrides && overrides.FirstOrDefault(p => string.Equals(p.Key, column.Name, StringComparison.OrdinalIgnoreCase)) is { Key: not null } chosenType
            ? chosenType.Value
            : column.Type;

    private static List<ColumnProfile> ChooseFeatures(DatasetProfile profile, TrainingRequest request, ColumnProfile label, Dictionary<string, ColumnType> types)
    {
        List<ColumnProfile> chosen;
        if (request.Features is null)
        {
            chosen = profile.Columns.Where(c => c != label && types[c.Name] != ColumnType.Text && !c.AllMissing(profile.RowCount)).ToList();
        }
        else
        {
            chosen = [];
            foreach (var name in request.Features.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                var column = profile.Column(name) ?? throw new DatasetException($"There is no column '{name}' to use as a feature.", column: name);
                if (column == label) throw new DatasetException($"'{column.Name}' is the label; it cannot also be a feature.", column: column.Name);
                if (types[column.Name] == ColumnType.Text)
                {
                    throw new DatasetException($"Column '{column.Name}' is text, which is not used as a feature. Set its type to categorical to one-hot encode it, or leave it out.", column: column.Name);
                }
                if (column.AllMissing(profile.RowCount))
                {
                    throw new DatasetException($"Column '{column.Name}' is empty in all {profile.RowCount:N0} rows; leave it out of the features.", column: column.Name);
                }
                chosen.Add(column);
            }
        }
        if (chosen.Count == 0)
        {
            throw new DatasetException("No column is left to learn from: every column but the label is text or empty. Set a column's type to categorical or numeric.");
        }
        return chosen;
    }

    private static float ParseFeature(string raw, ColumnType type, CsvReader reader, string column)
    {
        if (Values.IsMissing(raw)) return float.NaN;
        if (type == ColumnType.Boolean)
        {
            if (Values.TryParseBoolean(raw, out var b)) return b ? 1 : 0;
            if (Values.TryParseNumber(raw, reader.Delimiter, out var n) && n is 0 or 1) return n;
            throw new DatasetException($"Row {reader.Row}, column '{column}': '{Shorten(raw)}' is not true or false, and the column's type is boolean. " +
                                       "Fix the value, or set the column's type to categorical.", reader.Row, column);
        }
        if (Values.TryParseNumber(raw, reader.Delimiter, out var value)) return value;
        throw new DatasetException($"Row {reader.Row}, column '{column}': '{Shorten(raw)}' is not a number, and the column's type is numeric. " +
                                   "Fix the value, or set the column's type to categorical.", reader.Row, column);
    }

    private static ReadOnlyMemory<char> Intern(Dictionary<string, ReadOnlyMemory<char>> interned, string text)
    {
        if (interned.TryGetValue(text, out var memory)) return memory;
        memory = text.AsMemory();
        if (interned.Count < 100_000) interned[text] = memory;
        return memory;
    }

    private static string Shorten(string raw)
    {
        var text = raw.Trim();
        return text.Length > 40 ? text[..40] + "…" : text;
    }
}
