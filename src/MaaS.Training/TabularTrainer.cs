using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using Microsoft.ML.Transforms;

namespace MaaS.Training;

/// <summary>Training failed for a reason people should read (a trainer that cannot fit, an export that does not agree).</summary>
public sealed class TrainingException(string message) : Exception(message);

/// <summary>
/// Trains on a <see cref="TabularData"/>: splits it (stratified by class for classification), featurises (numeric:
/// missing replaced by the mean, scaled to [0, 1]; categorical: one-hot), fits the chosen trainer or each in turn for
/// "auto", scores them on the validation rows, exports the best to ONNX with one input per column and checks that
/// ONNX Runtime predicts what ML.NET predicts on every validation row.
/// </summary>
public static class TabularTrainer
{
    // Column names inside the pipeline. Model inputs never take them: DatasetProfiler.InputNames reserves them.
    private const string LabelRaw = "__label";
    private const string Label = "Label";
    private const string Features = "Features";
    private const string Score = "Score";
    private const string PredictedLabel = "PredictedLabel";

    private const int MaxExamples = 5;
    private const int MaxChartPoints = 500;

    /// <summary>Scores may differ by this much (absolute, plus the same relative to the score) between ML.NET and ONNX Runtime.</summary>
    public const double ScoreTolerance = 1e-4;

    public static TrainingOutcome Train(TabularData data, TrainingRequest request, Action<TrainingProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        if (!Trainers.IsKnown(request.Trainer))
        {
            throw new TrainingException($"Unknown trainer '{request.Trainer}'. Choose one of: {Trainers.Auto}, {string.Join(", ", Trainers.Names)}.");
        }
        if (request.ValidationFraction is <= 0 or >= 1) throw new TrainingException("The validation share must be above 0 and below 1 (0.2 is usual).");
        progress ??= _ => { };
        cancellationToken.ThrowIfCancellationRequested();

        var ml = new MLContext(request.Seed);
        using var cancelRegistration = cancellationToken.Register(() => CancelExecution(ml));
        var classification = data.Task != TrainingTask.Regression;
        var (trainRows, validationRows) = Split(data, request.ValidationFraction, request.Seed);
        if (validationRows.Length == 0) throw new TrainingException("The validation split is empty; use more rows or a larger validation share.");

        var trainView = View(data, trainRows, withLabel: true);
        var validationFeatures = View(data, validationRows, withLabel: false);
        IDataView trainSet = trainView;
        IReadOnlyList<string> classes = [];
        if (classification)
        {
            var keyed = ml.Transforms.Conversion.MapValueToKey(Label, LabelRaw, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue).Fit(trainView);
            trainSet = keyed.Transform(trainView);
            var keyValues = default(VBuffer<ReadOnlyMemory<char>>);
            trainSet.Schema[Label].GetKeyValues(ref keyValues);
            classes = keyValues.DenseValues().Select(v => v.ToString()).ToList();
        }

        var candidates = request.Trainer == Trainers.Auto
            ? Trainers.AutoOrder.ToList()
            : [request.Trainer];
        var runs = new List<TrainerRun>();
        var models = new Dictionary<string, (ITransformer Model, Predictions Predictions)>();
        var budget = Stopwatch.StartNew();
        for (var i = 0; i < candidates.Count; i++)
        {
            var trainer = candidates[i];
            var title = Trainers.Title(trainer, data.Task);
            if (i > 0 && budget.Elapsed > request.TimeBudget)
            {
                var skipped = new TrainerRun(trainer, title, RunStatus.Skipped, 0, null, $"Not tried: the time budget of {request.TimeBudget.TotalSeconds:0} s was spent.");
                runs.Add(skipped);
                progress(new TrainingProgress(0.05 + 0.8 * (i + 1) / candidates.Count, $"skipped {title}", skipped));
                continue;
            }
            progress(new TrainingProgress(0.05 + 0.8 * i / candidates.Count, $"training {title} ({i + 1} of {candidates.Count})"));
            var watch = Stopwatch.StartNew();
            TrainerRun run;
            try
            {
                if (WhyNot(trainer, data) is { } reason) throw new TrainingException(reason);
                var estimator = Featurizer(ml, data).AppendCacheCheckpoint(ml).Append(Estimator(ml, trainer, data.Task, request.Seed));
                var model = classification
                    ? estimator.Append(ml.Transforms.Conversion.MapKeyToValue(PredictedLabel)).Fit(trainSet)
                    : (ITransformer)estimator.Fit(trainSet);
                cancellationToken.ThrowIfCancellationRequested();
                var predictions = Predict(model, validationFeatures, classification);
                var metrics = Evaluate(data, validationRows, classes, predictions);
                models[trainer] = (model, predictions);
                run = new TrainerRun(trainer, title, RunStatus.Trained, watch.Elapsed.TotalSeconds, metrics, null);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // ML.NET reports its own cancellation as an OperationCanceledException too, or wrapped.
                cancellationToken.ThrowIfCancellationRequested();
                var message = ex is TrainingException ? ex.Message : $"{title} could not be trained: {ex.GetBaseException().Message}";
                if (candidates.Count == 1) throw new TrainingException(message);
                run = new TrainerRun(trainer, title, RunStatus.Failed, watch.Elapsed.TotalSeconds, null, message);
            }
            runs.Add(run);
            progress(new TrainingProgress(0.05 + 0.8 * (i + 1) / candidates.Count, $"trained {title}", run));
        }

        if (runs.All(r => r.Status != RunStatus.Trained))
        {
            throw new TrainingException("No trainer produced a model: " + string.Join(" ", runs.Select(r => r.Message)));
        }
        // The best on validation is exported first; should its export be refused or disagree with ML.NET, the next best
        // is tried, and the refused one keeps its metrics with the reason, so a person sees why it was not kept.
        TrainerRun? best = null;
        byte[] onnx = [];
        OnnxAgreement? agreement = null;
        IReadOnlyList<string> outputNames = [];
        var refusals = new List<string>();
        foreach (var candidate in runs.Where(r => r.Status == RunStatus.Trained).OrderBy(r => r.Metrics!.Loss).ToList())
        {
            cancellationToken.ThrowIfCancellationRequested();
            progress(new TrainingProgress(0.87, $"exporting {candidate.Title} to ONNX"));
            try
            {
                onnx = Export(ml, models[candidate.Trainer].Model, validationFeatures, classification, candidate.Title);
                progress(new TrainingProgress(0.93, $"checking the ONNX export of {candidate.Title} against ML.NET"));
                (agreement, outputNames) = CheckOnnx(onnx, data, validationRows, models[candidate.Trainer].Predictions, classification, candidate.Title);
                if (agreement.Agrees)
                {
                    best = candidate;
                    break;
                }
                throw new TrainingException(
                    $"The ONNX export of {candidate.Title} does not reproduce ML.NET's predictions on the {agreement.Rows:N0} validation rows: " +
                    $"{agreement.LabelMismatches:N0} predicted label(s) differ and {agreement.ScoresOutsideTolerance:N0} score(s) differ by more than " +
                    $"{agreement.Tolerance:G3} (relative; the largest difference is {agreement.MaxScoreDifference:G3}).");
            }
            catch (TrainingException ex)
            {
                refusals.Add(ex.Message);
                var index = runs.IndexOf(candidate);
                runs[index] = candidate with { Message = $"Not kept: {ex.Message}" };
            }
        }
        if (best is null || agreement is null)
        {
            throw new TrainingException(string.Join(" ", refusals) + " No model was made; try another trainer.");
        }
        var (bestModel, bestPredictions) = models[best.Trainer];

        var inputs = data.Features.Select(f => new ModelInput(f.Column, f.InputName, f.Type, f.ElementType)).ToList();
        return new TrainingOutcome(
            data.Task, data.LabelColumn, best.Trainer, best.Title, best.Metrics!, runs, classes, inputs, outputNames,
            trainRows.Length, validationRows.Length, data.DroppedRows, agreement,
            classification ? [] : validationRows.Take(MaxChartPoints).Select((row, i) => new PredictedPoint(data.LabelNumbers![row], bestPredictions.Values[i])).ToList(),
            Examples(data, validationRows, bestPredictions),
            onnx) { Model = bestModel };
    }

    // MLContext.CancelExecution stops a running Fit, but ML.NET keeps it internal (only the Microsoft.ML.Experimental
    // package, which the feed does not serve, exposes it). Without it a cancel would wait for the trainer to finish.
    private static readonly System.Reflection.MethodInfo? CancelExecutionMethod = typeof(MLContext).GetMethod(
        "CancelExecution", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public, []);

    private static void CancelExecution(MLContext ml) => CancelExecutionMethod?.Invoke(ml, null);

    /// <summary>Why a trainer cannot take this data, or null.</summary>
    private static string? WhyNot(string trainer, TabularData data) =>
        trainer == Trainers.Lbfgs && data.Task == TrainingTask.Regression && data.LabelNumbers!.Any(y => y < 0)
            ? $"{Trainers.Title(trainer, data.Task)} needs a label that is never negative (it models counts); '{data.LabelColumn}' has negative values. Use SDCA, LightGBM or FastTree."
            : null;

    private static IEstimator<ITransformer> Featurizer(MLContext ml, TabularData data)
    {
        var numeric = data.Features.Where(f => f.Numbers is not null).ToList();
        var categorical = data.Features.Where(f => f.Categories is not null).ToList();
        var parts = new List<string>();
        IEstimator<ITransformer>? chain = null;
        if (numeric.Count > 0)
        {
            var filled = numeric.Select(f => new InputOutputColumnPair("__filled_" + f.InputName, f.InputName)).ToArray();
            chain = ml.Transforms.ReplaceMissingValues(filled, MissingValueReplacingEstimator.ReplacementMode.Mean)
                .Append(ml.Transforms.Concatenate("__numeric", filled.Select(p => p.OutputColumnName).ToArray()))
                .Append(ml.Transforms.NormalizeMinMax("__numeric"));
            parts.Add("__numeric");
        }
        if (categorical.Count > 0)
        {
            var encoded = categorical.Select(f => new InputOutputColumnPair("__onehot_" + f.InputName, f.InputName)).ToArray();
            var oneHot = ml.Transforms.Categorical.OneHotEncoding(encoded);
            chain = chain is null ? oneHot : chain.Append(oneHot);
            parts.AddRange(encoded.Select(p => p.OutputColumnName));
        }
        return chain!.Append(ml.Transforms.Concatenate(Features, [.. parts]));
    }

    private static IEstimator<ITransformer> Estimator(MLContext ml, string trainer, TrainingTask task, int seed)
    {
        if (task == TrainingTask.Regression)
        {
            return trainer switch
            {
                Trainers.LightGbm => ml.Regression.Trainers.LightGbm(new LightGbmRegressionTrainer.Options
                {
                    LabelColumnName = Label, FeatureColumnName = Features, NumberOfIterations = 100, Seed = seed, Silent = true,
                    UseCategoricalSplit = false, // see the multiclass trainer below
                }),
                Trainers.FastTree => ml.Regression.Trainers.FastTree(new FastTreeRegressionTrainer.Options
                {
                    LabelColumnName = Label, FeatureColumnName = Features, NumberOfTrees = 100, MinimumExampleCountPerLeaf = 10,
                }),
                Trainers.Sdca => ml.Regression.Trainers.Sdca(labelColumnName: Label, featureColumnName: Features),
                Trainers.Lbfgs => ml.Regression.Trainers.LbfgsPoissonRegression(labelColumnName: Label, featureColumnName: Features),
                _ => throw new TrainingException($"Unknown trainer '{trainer}'."),
            };
        }
        return trainer switch
        {
            Trainers.LightGbm => ml.MulticlassClassification.Trainers.LightGbm(new LightGbmMulticlassTrainer.Options
            {
                LabelColumnName = Label, FeatureColumnName = Features, NumberOfIterations = 100, Seed = seed, Silent = true,
                // One-hot slots would otherwise become LightGBM categorical splits, which the ONNX converter writes as
                // branch nodes with feature id -1: ONNX Runtime refuses such a model (found at 100,000 rows by the benchmark).
                UseCategoricalSplit = false,
            }),
            Trainers.FastTree => ml.MulticlassClassification.Trainers.OneVersusAll(
                ml.BinaryClassification.Trainers.FastTree(new FastTreeBinaryTrainer.Options
                {
                    LabelColumnName = Label, FeatureColumnName = Features, NumberOfTrees = 50, MinimumExampleCountPerLeaf = 10,
                }), labelColumnName: Label),
            Trainers.Sdca => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(labelColumnName: Label, featureColumnName: Features),
            Trainers.Lbfgs => ml.MulticlassClassification.Trainers.LbfgsMaximumEntropy(labelColumnName: Label, featureColumnName: Features),
            _ => throw new TrainingException($"Unknown trainer '{trainer}'."),
        };
    }

    /// <summary>What a model predicted for each validation row: the label and class scores, or the value.</summary>
    private sealed record Predictions(string[] Labels, float[][] Scores, float[] Values);

    private static Predictions Predict(ITransformer model, IDataView features, bool classification)
    {
        var scored = model.Transform(features);
        var count = (int)(features.GetRowCount() ?? 0);
        var labels = new List<string>(count);
        var scores = new List<float[]>(count);
        var values = new List<float>(count);
        var scoreColumn = scored.Schema[Score];
        if (classification)
        {
            var labelColumn = scored.Schema[PredictedLabel];
            using var cursor = scored.GetRowCursor([labelColumn, scoreColumn]);
            var getLabel = cursor.GetGetter<ReadOnlyMemory<char>>(labelColumn);
            var getScore = cursor.GetGetter<VBuffer<float>>(scoreColumn);
            ReadOnlyMemory<char> label = default;
            VBuffer<float> score = default;
            while (cursor.MoveNext())
            {
                getLabel(ref label);
                getScore(ref score);
                labels.Add(label.ToString());
                scores.Add(score.DenseValues().ToArray());
            }
        }
        else
        {
            using var cursor = scored.GetRowCursor([scoreColumn]);
            var getScore = cursor.GetGetter<float>(scoreColumn);
            float value = 0;
            while (cursor.MoveNext())
            {
                getScore(ref value);
                values.Add(value);
            }
        }
        return new Predictions([.. labels], [.. scores], [.. values]);
    }

    private static TrainingMetrics Evaluate(TabularData data, int[] rows, IReadOnlyList<string> classes, Predictions predictions)
    {
        if (data.Task == TrainingTask.Regression)
        {
            return new TrainingMetrics(null, MetricsCalculator.Regression(rows.Select(r => data.LabelNumbers![r]).ToArray(), predictions.Values));
        }
        var index = classes.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i, StringComparer.Ordinal);
        var actual = rows.Select(r => index[data.LabelText![r].ToString()]).ToArray();
        var predicted = predictions.Labels.Select(l => index.TryGetValue(l, out var i) ? i : 0).ToArray();
        return new TrainingMetrics(MetricsCalculator.Classification(classes, actual, predicted, predictions.Scores), null);
    }

    private static byte[] Export(MLContext ml, ITransformer model, IDataView features, bool classification, string title)
    {
        try
        {
            var outputs = classification ? new[] { PredictedLabel, Score } : [Score];
            using var stream = new MemoryStream();
            ml.Model.ConvertToOnnx(model, features, stream, outputs);
            // The converter also lists an internal int64 output ("mlnet.Score.unusedOutput"); callers have no use for it.
            var proto = Onnx.ModelProto.Parser.ParseFrom(stream.ToArray());
            foreach (var unused in proto.Graph.Output.Where(o => o.Name.EndsWith(".unusedOutput", StringComparison.Ordinal)).ToList())
            {
                proto.Graph.Output.Remove(unused);
            }
            return Google.Protobuf.MessageExtensions.ToByteArray(proto);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new TrainingException($"{title} could not be exported to ONNX: {ex.GetBaseException().Message}");
        }
    }

    /// <summary>Runs the ONNX model in ONNX Runtime on the validation rows and compares with ML.NET's predictions.</summary>
    private static (OnnxAgreement Agreement, IReadOnlyList<string> Outputs) CheckOnnx(byte[] onnx, TabularData data, int[] rows, Predictions expected,
        bool classification, string title)
    {
        try
        {
            return CompareWithOnnxRuntime(onnx, data, rows, expected, classification);
        }
        catch (OnnxRuntimeException ex)
        {
            // ONNX Runtime's messages carry C++ signatures; the first sentence of the check that failed is what people need.
            var message = ex.Message;
            var check = message.IndexOf(" was false.", StringComparison.Ordinal);
            var detail = check > 0 ? message[(check + " was false.".Length)..].Trim() : message;
            if (detail.Length > 300) detail = detail[..300] + "…";
            throw new TrainingException($"ONNX Runtime refused the ONNX export of {title}: {detail}");
        }
    }

    private static (OnnxAgreement Agreement, IReadOnlyList<string> Outputs) CompareWithOnnxRuntime(byte[] onnx, TabularData data, int[] rows, Predictions expected, bool classification)
    {
        using var options = new SessionOptions();
        using var session = new InferenceSession(onnx, options);
        var inputs = new List<NamedOnnxValue>();
        var shape = new[] { rows.Length, 1 };
        foreach (var feature in data.Features)
        {
            if (!session.InputMetadata.ContainsKey(feature.InputName))
            {
                throw new TrainingException($"The ONNX export has no input '{feature.InputName}' for column '{feature.Column}'.");
            }
            inputs.Add(feature.Numbers is { } numbers
                ? NamedOnnxValue.CreateFromTensor(feature.InputName, new DenseTensor<float>(rows.Select(r => numbers[r]).ToArray(), shape))
                : NamedOnnxValue.CreateFromTensor(feature.InputName, new DenseTensor<string>(rows.Select(r => feature.Categories![r].ToString()).ToArray(), shape)));
        }
        using var results = session.Run(inputs);
        var outputNames = results.Select(r => r.Name).ToList();
        var scoreOutput = results.FirstOrDefault(r => r.Name.StartsWith(Score, StringComparison.Ordinal))
            ?? throw new TrainingException($"The ONNX export has no score output (outputs: {string.Join(", ", outputNames)}).");
        var scores = scoreOutput.AsTensor<float>().ToArray();

        int mismatches = 0, outside = 0;
        double maxDifference = 0;
        if (classification)
        {
            var labelOutput = results.FirstOrDefault(r => r.Name.StartsWith(PredictedLabel, StringComparison.Ordinal))
                ?? throw new TrainingException($"The ONNX export has no predicted-label output (outputs: {string.Join(", ", outputNames)}).");
            var labels = labelOutput.AsTensor<string>().ToArray();
            var width = expected.Scores.Length == 0 ? 0 : expected.Scores[0].Length;
            if (labels.Length != rows.Length || scores.Length != rows.Length * width)
            {
                throw new TrainingException($"The ONNX export returned {labels.Length} labels and {scores.Length} scores for {rows.Length} rows of {width} classes.");
            }
            for (var r = 0; r < rows.Length; r++)
            {
                if (labels[r] != expected.Labels[r]) mismatches++;
                for (var c = 0; c < width; c++) Compare(expected.Scores[r][c], scores[r * width + c]);
            }
        }
        else
        {
            if (scores.Length != rows.Length) throw new TrainingException($"The ONNX export returned {scores.Length} scores for {rows.Length} rows.");
            for (var r = 0; r < rows.Length; r++) Compare(expected.Values[r], scores[r]);
        }
        return (new OnnxAgreement(rows.Length, mismatches, maxDifference, outside, ScoreTolerance), outputNames);

        void Compare(float mlnet, float ort)
        {
            if (float.IsNaN(mlnet) && float.IsNaN(ort)) return;
            var difference = float.IsNaN(mlnet) || float.IsNaN(ort) ? double.PositiveInfinity : Math.Abs((double)mlnet - ort);
            maxDifference = Math.Max(maxDifference, difference);
            if (difference > ScoreTolerance * (1 + Math.Abs(mlnet))) outside++;
        }
    }

    private static IReadOnlyList<PredictionExample> Examples(TabularData data, int[] rows, Predictions predictions) =>
        rows.Take(MaxExamples).Select((row, i) => new PredictionExample(
            data.Features.ToDictionary(f => f.InputName, f => f.Numbers is { } n ? n[row].ToString("R", CultureInfo.InvariantCulture) : f.Categories![row].ToString()),
            data.Task == TrainingTask.Regression ? null : predictions.Labels[i],
            data.Task == TrainingTask.Regression ? [predictions.Values[i]] : predictions.Scores[i])).ToList();

    /// <summary>The rows for training and for validation: shuffled with the seed, split per class for classification.</summary>
    internal static (int[] Train, int[] Validation) Split(TabularData data, double validationFraction, int seed)
    {
        var random = new Random(seed);
        var groups = data.Task == TrainingTask.Regression
            ? [Enumerable.Range(0, data.Count).ToArray()]
            : Enumerable.Range(0, data.Count).GroupBy(i => data.LabelText![i].ToString(), StringComparer.Ordinal)
                .OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.ToArray()).ToList();
        var train = new List<int>();
        var validation = new List<int>();
        foreach (var group in groups)
        {
            random.Shuffle(group);
            // A class keeps at least one training row; the validation share is rounded down per class.
            var take = Math.Min((int)(group.Length * validationFraction), group.Length - 1);
            validation.AddRange(group.Take(take));
            train.AddRange(group.Skip(take));
        }
        var trainRows = train.ToArray();
        var validationRows = validation.ToArray();
        random.Shuffle(trainRows);
        random.Shuffle(validationRows);
        return (trainRows, validationRows);
    }

    private static IDataView View(TabularData data, int[] rows, bool withLabel)
    {
        var columns = data.Features.Select(f => (f.InputName, (Array)(f.Numbers ?? (Array)f.Categories!))).ToList();
        if (withLabel)
        {
            columns.Add(data.Task == TrainingTask.Regression ? (Label, data.LabelNumbers!) : (LabelRaw, data.LabelText!));
        }
        return new ColumnarDataView(columns, rows);
    }
}
