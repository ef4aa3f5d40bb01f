using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Testing;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Tokenizers;
using SkiaSharp;

namespace MaaS.Benchmarks;

/// <summary>
/// The compression figures of issue 4 ("Measure"), all in one run on this machine: each recipe is applied to the real
/// model, saved, and evaluated against the FP32 file with <see cref="Evaluator"/> (interleaved batch-1 runs, same
/// session settings), then printed as one markdown table.
///
/// Calibration and held-out images are natural photos from Debian's python3-skimage package:
///   cd /tmp &amp;&amp; apt-get download python3-skimage &amp;&amp; dpkg -x python3-skimage_*.deb /tmp/skimage
///   mkdir -p /tmp/skimage-data &amp;&amp; cp /tmp/skimage/usr/lib/python3/dist-packages/skimage/data/*.{png,jpg} /tmp/skimage-data/
/// (or pass --images DIR). Without them the ResNet-18 rows say so and the MiniLM rows still run.
/// </summary>
internal static class CompressionBenchmark
{
    private const string DefaultImageFolder = "/tmp/skimage-data";
    private static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    private static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    private sealed record Settings(bool Quick, string ImageFolder, int Threads, CalibrationMethod Calibration, string? Only);

    // Read by Pass(): the static quantization's calibration method (--calibration minmax|percentile|entropy).
    private static CalibrationMethod s_calibration = CalibrationMethod.MinMax;
    private static bool s_reduceRange;
    private static IReadOnlyList<string>? s_opTypes;
    private static bool s_profile;

    private sealed record Row(string Model, string Recipe, string Size, string Latency, string Agreement, string Target, List<string> Details);

    public static int Run(string[] args)
    {
        var settings = new Settings(
            Quick: args.Contains("--quick"),
            ImageFolder: ValueOf(args, "--images") ?? DefaultImageFolder,
            Threads: int.Parse(ValueOf(args, "--threads") ?? "1", CultureInfo.InvariantCulture),
            Calibration: Enum.Parse<CalibrationMethod>(ValueOf(args, "--calibration") ?? "minmax", ignoreCase: true),
            Only: ValueOf(args, "--only"));
        s_calibration = settings.Calibration;
        s_reduceRange = args.Contains("--reduce-range");
        s_opTypes = ValueOf(args, "--op-types")?.Split(',');
        s_profile = args.Contains("--profile");
        var work = Directory.CreateTempSubdirectory("maas-compress-bench-");
        var rows = new List<Row>();
        var clock = Stopwatch.StartNew();
        try
        {
            if (settings.Only is null or "resnet") rows.AddRange(ResNetRows(settings, work.FullName));
            if (settings.Only is null or "minilm") rows.AddRange(MiniLmRows(settings, work.FullName));
        }
        finally
        {
            work.Delete(recursive: true);
        }

        Console.WriteLine();
        Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}; " +
                          $"ONNX Runtime {OrtEnv.Instance().GetVersionString()}, CPU, intra-op threads {settings.Threads}, sequential, ORT_ENABLE_ALL; " +
                          $"latency = p50 of interleaved batch-1 runs{(settings.Quick ? "; QUICK run (fewer samples: not the reported figures)" : "")}; took {clock.Elapsed.TotalSeconds:0} s");
        Console.WriteLine();
        Console.WriteLine("| model | recipe | size vs FP32 | latency vs FP32 (batch 1, p50) | agreement | target |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine($"| {row.Model} | {row.Recipe} | {row.Size} | {row.Latency} | {row.Agreement} | {row.Target} |");
        Console.WriteLine();
        foreach (var row in rows.Where(r => r.Details.Count > 0))
        {
            Console.WriteLine($"{row.Model}, {row.Recipe}:");
            foreach (var line in row.Details) Console.WriteLine($"  - {line}");
        }
        return 0;
    }

    /// <summary>
    /// The passes by name. A pass that is not written yet returns null and its row prints "pass not available";
    /// switch it on here when it lands.
    /// </summary>
    private static ICompressionPass? Pass(string name) => name switch
    {
        "int8-static" => new StaticQuantizationPass(new StaticQuantizationOptions(Method: s_calibration, PerChannel: true, ReduceRange: s_reduceRange, OpTypes: s_opTypes)),
        "int8-dynamic" => new DynamicQuantizationPass(),
        "fp16" => new Float16ConversionPass(),
        "int4-weight-only" => new WeightOnlyQuantizationPass(),
        "prune" => new MagnitudePruningPass(new PruningOptions(Sparsity: 0.5)),
        _ => null,
    };

    // ---------------------------------------------------------------- ResNet-18

    private static IEnumerable<Row> ResNetRows(Settings settings, string work)
    {
        var model = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        var images = LoadImages(settings.ImageFolder);
        if (images.Count < 4)
        {
            var why = $"no natural images in {settings.ImageFolder} (see CompressionBenchmark.cs for apt-get download python3-skimage)";
            return [Unavailable("ResNet-18", "INT8 static QDQ, per-channel", why), Unavailable("ResNet-18", "prune 50% (FP32)", why), Unavailable("ResNet-18", "prune 50% + INT8", why)];
        }
        // Every third image is held out: calibration never sees the images the agreement is measured on.
        var calibrationImages = images.Where((_, i) => i % 3 != 2).ToList();
        var heldOutImages = images.Where((_, i) => i % 3 == 2).ToList();
        if (settings.Quick)
        {
            calibrationImages = calibrationImages.Take(4).ToList();
            heldOutImages = heldOutImages.Take(2).ToList();
        }
        // Five crops of each calibration photo as well: more views of the same photos widen the ranges calibration sees.
        var calibration = calibrationImages.SelectMany(i => Enum.GetValues<CropAt>().Select(c => ImageSample(i.Pixels, c))).ToList();
        // Five crops of each held-out photo give more agreement samples than the photos alone, none seen in calibration.
        var heldOut = heldOutImages.SelectMany(i => Enum.GetValues<CropAt>().Select(c => ImageSample(i.Pixels, c))).ToList();
        foreach (var photo in images) photo.Pixels.Dispose();
        var options = new EvaluationOptions(WarmupRuns: 5, TimedRuns: settings.Quick ? 10 : 80, IntraOpThreads: settings.Threads);
        var sampleText = $"calibration: {calibrationImages.Count} photos × 5 crops = {calibration.Count} samples, {settings.Calibration} ({string.Join(", ", calibrationImages.Select(i => i.Name))}); " +
                         $"held out: {heldOutImages.Count} photos × 5 crops = {heldOut.Count} samples ({string.Join(", ", heldOutImages.Select(i => i.Name))})";

        var staticRow = Recipe("ResNet-18", $"INT8 static QDQ, per-channel, {settings.Calibration}{(s_reduceRange ? ", reduce range" : "")}{(s_opTypes is null ? "" : $", ops {string.Join("/", s_opTypes)}")}", model, ["int8-static"], calibration, heldOut, options, work,
            "size ≤ 0.26, latency ≤ 0.60, cosine ≥ 0.995", reportCompressedSize: true);
        staticRow.Details.Insert(0, sampleText);
        // Pruning alone too, so the table shows what sparsity buys in stored and deflated size before quantization.
        var pruneOnlyRow = Recipe("ResNet-18", "prune 50% (FP32)", model, ["prune"], calibration, heldOut, options, work,
            "report", reportCompressedSize: true);
        var pruneRow = Recipe("ResNet-18", "prune 50% + INT8", model, ["prune", "int8-static"], calibration, heldOut, options, work,
            "report stored and compressed size", reportCompressedSize: true);
        return [staticRow, pruneOnlyRow, pruneRow];
    }

    private sealed record Photo(string Name, SKBitmap Pixels);

    /// <summary>
    /// Photos of at least 128 px a side and 20 kB, decoded to RGBA: the size filter drops skimage's synthetic test
    /// patterns (checkerboards, palettes, 5×3 pixel files).
    /// </summary>
    private static List<Photo> LoadImages(string folder)
    {
        if (!Directory.Exists(folder)) return [];
        var photos = new List<Photo>();
        foreach (var path in Directory.GetFiles(folder).Where(p => p.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || p.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.Ordinal))
        {
            if (new FileInfo(path).Length < 20_000) continue;
            using var codec = SKCodec.Create(path);
            if (codec is null) continue;
            var info = new SKImageInfo(codec.Info.Width, codec.Info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
            var bitmap = new SKBitmap(info);
            var result = codec.GetPixels(info, bitmap.GetPixels());
            if (result is not (SKCodecResult.Success or SKCodecResult.IncompleteInput) || Math.Min(info.Width, info.Height) < 128)
            {
                bitmap.Dispose();
                continue;
            }
            photos.Add(new Photo(Path.GetFileNameWithoutExtension(path), bitmap));
        }
        return photos;
    }

    private enum CropAt { Centre, TopLeft, TopRight, BottomLeft, BottomRight }

    /// <summary>torchvision's ImageNet preprocessing: shorter side to 256, 224 crop, RGB /255, mean/std, NCHW [1,3,224,224].</summary>
    private static ModelSample ImageSample(SKBitmap photo, CropAt crop)
    {
        var scale = 256.0 / Math.Min(photo.Width, photo.Height);
        var width = Math.Max(224, (int)Math.Round(photo.Width * scale));
        var height = Math.Max(224, (int)Math.Round(photo.Height * scale));
        using var resized = photo.Resize(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKCubicResampler.Mitchell));
        var (left, top) = crop switch
        {
            CropAt.TopLeft => (0, 0),
            CropAt.TopRight => (width - 224, 0),
            CropAt.BottomLeft => (0, height - 224),
            CropAt.BottomRight => (width - 224, height - 224),
            _ => ((width - 224) / 2, (height - 224) / 2),
        };
        var pixels = resized.GetPixelSpan();
        var values = new float[3 * 224 * 224];
        for (var y = 0; y < 224; y++)
        {
            for (var x = 0; x < 224; x++)
            {
                var at = ((top + y) * width + left + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    values[c * 224 * 224 + y * 224 + x] = (pixels[at + c] / 255f - ImageNetMean[c]) / ImageNetStd[c];
                }
            }
        }
        return new ModelSample([SampleTensor.Floats("Input247", [1, 3, 224, 224], values)]);
    }

    // ---------------------------------------------------------------- all-MiniLM-L6-v2

    private static IEnumerable<Row> MiniLmRows(Settings settings, string work)
    {
        var (model, vocabulary) = ExtractMiniLm();
        var sentences = Sentences(vocabulary, settings.Quick ? 40 : 200, seed: 11);
        var samples = sentences.Select(SampleGenerator.FromTokenIds).ToList();
        var lengths = sentences.Select(s => s.Count).ToList();
        var options = new EvaluationOptions(WarmupRuns: 10, TimedRuns: settings.Quick ? 40 : 2 * samples.Count, IntraOpThreads: settings.Threads);
        var reference = Embeddings(model, samples, settings.Threads);
        var sampleText = $"{samples.Count} generated sentences of {lengths.Min()}–{lengths.Max()} tokens (mean {lengths.Average():0.0}), mean-pooled embedding cosine vs FP32";

        (string Recipe, string Pass, string Target)[] recipes =
        [
            ("INT8 dynamic", "int8-dynamic", "size ≤ 0.27, latency ≤ 0.50, embedding cosine ≥ 0.99"),
            ("FP16", "fp16", "size ≤ 0.51, latency report, embedding cosine ≥ 0.999"),
            ("4-bit weight-only", "int4-weight-only", "size ≤ 0.20, latency and agreement report"),
        ];
        foreach (var (recipe, pass, target) in recipes)
        {
            var row = Recipe("all-MiniLM-L6-v2", recipe, model, [pass], [], samples, options, work, target,
                embeddingReference: reference, threads: settings.Threads);
            row.Details.Insert(0, sampleText);
            yield return row;
        }
    }

    /// <summary>
    /// Sentences from a fixed word list, each aimed at a token count drawn uniformly from 8–64 (with [CLS] and [SEP]),
    /// tokenised by the model's own BERT vocabulary.
    /// </summary>
    private static List<IReadOnlyList<int>> Sentences(string vocabularyPath, int count, int seed)
    {
        string[] words =
        [
            "the", "a", "model", "runs", "fast", "on", "small", "machines", "and", "large", "servers", "while", "people",
            "read", "quiet", "books", "about", "rivers", "mountains", "cities", "weather", "changes", "every", "morning",
            "coffee", "tastes", "better", "when", "friends", "share", "stories", "of", "old", "trains", "music", "plays",
            "softly", "in", "kitchen", "children", "learn", "numbers", "quickly", "compression", "keeps", "answers", "close",
            "to", "original", "network", "predicts", "sentence", "meaning", "with", "care", "yesterday", "we", "walked",
            "through", "green", "parks", "under", "bright", "blue", "sky", "computers", "store", "photos", "documents",
        ];
        using var vocabulary = File.OpenRead(vocabularyPath);
        var tokenizer = BertTokenizer.Create(vocabulary, new BertOptions { LowerCaseBeforeTokenization = true });
        var random = new Random(seed);
        var sentences = new List<IReadOnlyList<int>>(count);
        while (sentences.Count < count)
        {
            var target = random.Next(8, 65);
            var text = new List<string>();
            IReadOnlyList<int> ids = [];
            while (ids.Count < target)
            {
                text.Add(words[random.Next(words.Length)]);
                ids = tokenizer.EncodeToIds(string.Join(' ', text) + (random.Next(4) == 0 ? "." : ""));
            }
            // Keep [SEP] last when a final word overshoots the target.
            if (ids.Count > target) ids = [.. ids.Take(target - 1), ids[^1]];
            sentences.Add(ids);
        }
        return sentences;
    }

    /// <summary>Sentence embeddings as sentence-transformers makes them: token vectors averaged under the attention mask.</summary>
    private static List<float[]> Embeddings(string modelPath, IReadOnlyList<ModelSample> samples, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(modelPath, options);
        using var runOptions = new RunOptions();
        var output = session.OutputMetadata.Keys.First();
        var embeddings = new List<float[]>(samples.Count);
        foreach (var sample in samples)
        {
            var inputs = sample.Inputs.Select(i => i.ToOrtValue()).ToArray();
            try
            {
                using var results = session.Run(runOptions, sample.Inputs.Select(i => i.Name).ToArray(), inputs, [output]);
                var shape = results[0].GetTensorTypeAndShape().Shape; // [1, tokens, hidden]; the mask is all ones
                var hidden = (int)shape[^1];
                var tokens = (int)shape[^2];
                var values = ReadFloats(results[0]);
                var mean = new float[hidden];
                for (var t = 0; t < tokens; t++)
                {
                    for (var h = 0; h < hidden; h++) mean[h] += values[t * hidden + h] / tokens;
                }
                embeddings.Add(mean);
            }
            finally
            {
                foreach (var input in inputs) input.Dispose();
            }
        }
        return embeddings;
    }

    private static float[] ReadFloats(OrtValue value) =>
        value.GetTensorTypeAndShape().ElementDataType == Microsoft.ML.OnnxRuntime.Tensors.TensorElementType.Float16
            ? value.GetTensorDataAsSpan<Float16>().ToArray().Select(v => (float)v).ToArray()
            : value.GetTensorDataAsSpan<float>().ToArray();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    // The same extraction the tests use (tests/MaaS.Onnx.Tests/RealModels.cs, linked into this project).
    private static (string Model, string Vocabulary) ExtractMiniLm() => (RealModels.MiniLmPath, RealModels.MiniLmVocabularyPath);

    // ---------------------------------------------------------------- one recipe

    private static Row Recipe(string modelName, string recipe, string modelPath, string[] passNames, IReadOnlyList<ModelSample> calibration,
        IReadOnlyList<ModelSample> evaluation, EvaluationOptions options, string work, string target,
        bool reportCompressedSize = false, List<float[]>? embeddingReference = null, int threads = 1)
    {
        var passes = passNames.Select(n => (Name: n, Pass: Pass(n))).ToList();
        var missing = passes.Where(p => p.Pass is null).Select(p => p.Name).ToList();
        if (missing.Count > 0) return Unavailable(modelName, recipe, $"pass not available: {string.Join(", ", missing)}");
        Console.Error.WriteLine($"[{DateTime.Now:HH:mm:ss}] {modelName}: {recipe}...");

        var details = new List<string>();
        var candidatePath = Path.Combine(work, $"{modelName}-{string.Join('+', passNames)}.onnx");
        var report = new CompressionReport();
        var compressClock = Stopwatch.StartNew();
        try
        {
            var model = OnnxModelFile.Load(modelPath);
            var context = new CompressionContext { Samples = calibration, WorkDirectory = work };
            model = CompressionPipeline.Run(model, passes.Select(p => p.Pass!).ToList(), context, report);
            OnnxModelFile.Save(model, candidatePath);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Unavailable(modelName, recipe, $"the pass failed: {e.GetType().Name}: {e.Message}");
        }
        compressClock.Stop();
        foreach (var pass in report.Passes)
        {
            var skipped = pass.Nodes.Where(n => n.Action == NodeAction.Skipped).GroupBy(n => $"{n.OpType}: {n.Reason}").Select(g => $"{g.Count()}× {g.Key}");
            details.Add($"{pass.Pass}: {pass.Rewritten} nodes rewritten, {pass.Skipped} skipped{(pass.Skipped > 0 ? $" ({string.Join("; ", skipped.Take(4))})" : "")}" +
                        (pass.Figures.Count > 0 ? $"; figures: {string.Join(", ", Summary(pass.Figures).Select(f => $"{f.Key}={f.Value:0.####}"))}" : ""));
            details.AddRange(pass.Notes.Select(n => $"{pass.Pass}: {n}"));
        }
        details.Add($"compression took {compressClock.Elapsed.TotalSeconds:0.0} s");

        EvaluationResult result;
        try
        {
            result = Evaluator.Evaluate(modelPath, candidatePath, evaluation, options);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Unavailable(modelName, recipe, $"evaluation failed: {e.GetType().Name}: {e.Message}");
        }

        var size = $"{result.SizeRatio:0.000} ({Mb(result.CandidateBytes)} / {Mb(result.OriginalBytes)} MB)";
        if (reportCompressedSize)
        {
            var originalZipped = DeflatedSize(modelPath);
            var candidateZipped = DeflatedSize(candidatePath);
            size += $"; deflated {Mb(candidateZipped)} MB = {(double)candidateZipped / result.OriginalBytes:0.000} of FP32 stored";
            details.Add($"stored {result.CandidateBytes:N0} bytes, deflated {candidateZipped:N0} bytes; FP32 stored {result.OriginalBytes:N0}, deflated {originalZipped:N0}");
        }
        var latency = $"{result.LatencyRatio:0.00} ({result.Candidate.P50Milliseconds:0.00} / {result.Original.P50Milliseconds:0.00} ms)";
        details.Add($"latency p50/p95: FP32 {result.Original.P50Milliseconds:0.00}/{result.Original.P95Milliseconds:0.00} ms, candidate {result.Candidate.P50Milliseconds:0.00}/{result.Candidate.P95Milliseconds:0.00} ms over {options.TimedRuns} interleaved runs each");

        if (s_profile)
        {
            details.Add($"ORT profile, FP32: {ProfileOps(modelPath, evaluation, threads, work)}");
            details.Add($"ORT profile, candidate: {ProfileOps(candidatePath, evaluation, threads, work)}");
        }

        var agreement = new List<string>();
        if (embeddingReference is not null)
        {
            var cosines = Embeddings(candidatePath, evaluation, threads).Select((e, i) => Cosine(embeddingReference[i], e)).ToList();
            agreement.Add($"embedding cosine mean {cosines.Average():0.00000}, min {cosines.Min():0.00000} ({cosines.Count} sentences)");
        }
        foreach (var output in result.Outputs)
        {
            var text = $"{output.Output}: cosine {output.MeanCosine:0.00000}, max abs err {output.MaxAbsError:0.####}, mean rel err {output.MeanRelativeError:0.####}";
            if (output.Top1Agreement is { } top1) text += $", top-1 {top1:P1}";
            if (output.NonFiniteValues > 0) text += $", {output.NonFiniteValues} NaN/Inf";
            details.Add($"{text} over {result.SampleCount} samples");
            if (embeddingReference is null) agreement.Add($"mean cosine {output.MeanCosine:0.00000} ({result.SampleCount} held-out samples){(output.NonFiniteValues > 0 ? $", {output.NonFiniteValues} NaN/Inf" : "")}");
        }
        return new Row(modelName, recipe, size, latency, string.Join("; ", agreement), target, details);
    }

    /// <summary>
    /// Where a model spends its time (--profile): ONNX Runtime's profiler over 30 runs, kernel time summed per op type
    /// after ORT's fusions, so it shows which nodes fused (QLinearConv, DynamicQuantizeMatMul) and which stayed float.
    /// </summary>
    private static string ProfileOps(string modelPath, IReadOnlyList<ModelSample> samples, int threads, string work)
    {
        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            EnableProfiling = true,
            ProfileOutputPathPrefix = Path.Combine(work, "profile"),
        };
        using var session = new InferenceSession(modelPath, options);
        using var runOptions = new RunOptions();
        for (var i = 0; i < 30; i++)
        {
            var sample = samples[i % samples.Count];
            var values = sample.Inputs.Select(t => t.ToOrtValue()).ToArray();
            try
            {
                using var outputs = session.Run(runOptions, sample.Inputs.Select(t => t.Name).ToArray(), values, session.OutputNames);
            }
            finally
            {
                foreach (var value in values) value.Dispose();
            }
        }
        var file = session.EndProfiling();
        using var profile = System.Text.Json.JsonDocument.Parse(File.ReadAllText(file));
        File.Delete(file);
        var byOp = new Dictionary<string, double>();
        foreach (var e in profile.RootElement.EnumerateArray())
        {
            if (e.GetProperty("cat").GetString() != "Node" || !e.GetProperty("name").GetString()!.EndsWith("_kernel_time", StringComparison.Ordinal)) continue;
            var op = e.GetProperty("args").GetProperty("op_name").GetString()!;
            byOp[op] = byOp.GetValueOrDefault(op) + e.GetProperty("dur").GetDouble();
        }
        var total = byOp.Values.Sum();
        return string.Join(", ", byOp.OrderByDescending(p => p.Value).Take(8).Select(p => $"{p.Key} {p.Value / total:P0}"));
    }

    /// <summary>Model-wide figures only: per-tensor ones ("sparsity.W1") would fill the page.</summary>
    private static IEnumerable<KeyValuePair<string, double>> Summary(Dictionary<string, double> figures) => figures.Where(f => !f.Key.Contains('.'));

    private static Row Unavailable(string model, string recipe, string why) => new(model, recipe, why, "–", "–", "", []);

    private static long DeflatedSize(string path)
    {
        using var counter = new ByteCountingStream();
        using (var deflate = new ZLibStream(counter, CompressionLevel.Optimal, leaveOpen: true))
        using (var file = File.OpenRead(path))
        {
            file.CopyTo(deflate);
        }
        return counter.Length;
    }

    private static string Mb(long bytes) => (bytes / 1e6).ToString("0.00", CultureInfo.InvariantCulture);

    private static string? ValueOf(string[] args, string name)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }
}
