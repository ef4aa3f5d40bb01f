using System.Globalization;
using System.Text.Json;
using MaaS.Onnx.Compression;
using MaaS.Onnx.Models;

namespace MaaS.Portal.Features.Compression;

public enum OptionKind { Boolean, Number, Choice }

/// <summary>One option of a recipe as the dialog shows it and the API takes it: key, default and a line saying what it does.</summary>
public sealed record RecipeOption(
    string Key, string Label, OptionKind Kind, string Default, string Explanation,
    IReadOnlyList<string>? Choices = null, double? Min = null, double? Max = null);

/// <summary>
/// A recipe users pick: one pass (optimize, fp16, ...) or a preset that chains passes chosen for the model
/// ("smallest", "fastest", "balanced"). <see cref="UsesSamples"/>: calibration reads the sample set.
/// </summary>
public sealed record Recipe(string Name, string Title, string Summary, bool IsPreset, bool UsesSamples, IReadOnlyList<RecipeOption> Options);

/// <summary>The recipe the portal suggests for a model, and why in one sentence.</summary>
public sealed record RecipeSuggestion(string Recipe, string Reason);

/// <summary>A recipe resolved for one model: the passes to run, in order, with the options they take.</summary>
public sealed record ResolvedRecipe(string Recipe, IReadOnlyList<ICompressionPass> Passes, IReadOnlyDictionary<string, string> Options);

/// <summary>Options the caller got wrong, each a sentence naming the option.</summary>
public sealed class RecipeOptionsException(IReadOnlyList<string> errors) : Exception(string.Join(" ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The recipe catalog: what each recipe does, the options it takes with their defaults, which recipe fits a model,
/// and the translation from a recipe plus options (JSON from the API or the dialog) to compression passes.
/// </summary>
public static class CompressionRecipes
{
    public const string Optimize = "optimize";
    public const string Fp16 = "fp16";
    public const string Int8Dynamic = "int8-dynamic";
    public const string Int8Static = "int8-static";
    public const string Int4WeightOnly = "int4-weight-only";
    public const string Prune = "prune";
    public const string Smallest = "smallest";
    public const string Fastest = "fastest";
    public const string Balanced = "balanced";

    private static readonly RecipeOption PerChannel = new("perChannel", "Per-channel weights", OptionKind.Boolean, "true",
        "One scale per output channel instead of per tensor: closer to float for the same size.");
    private static readonly RecipeOption ReduceRange = new("reduceRange", "Reduce range (7-bit weights)", OptionKind.Boolean, "false",
        "Only for old CPUs without VNNI, where 8-bit products can overflow.");

    public static IReadOnlyList<Recipe> All { get; } =
    [
        new(Optimize, "Optimise graph", "ONNX Runtime's offline graph optimisation: constant folding, redundant nodes removed, fusions.", false, false,
        [
            new("level", "Level", OptionKind.Choice, "basic",
                "basic runs on any ONNX runtime; extended adds ONNX Runtime-only fused operators (faster, ORT only).", ["basic", "extended"]),
        ]),
        new(Fp16, "FP16", "Weights and compute in float16: half the size; faster on GPUs, usually slower on CPUs.", false, false,
        [
            new("keepIoTypes", "Keep float32 inputs and outputs", OptionKind.Boolean, "true",
                "Callers keep sending and receiving float32; Cast nodes at the edges convert."),
        ]),
        new(Int8Dynamic, "INT8 dynamic", "MatMul/Gemm weights in int8, activations quantized on the fly: no calibration; best for transformers.", false, false,
        [
            PerChannel, ReduceRange,
            new("quantizeEmbeddings", "Quantize embedding tables", OptionKind.Boolean, "true",
                "Gather tables (word embeddings) stored as uint8 too; they are often the largest weights."),
        ]),
        new(Int8Static, "INT8 static (calibrated)", "Conv/MatMul/Gemm and what fuses around them in int8, with activation ranges calibrated on samples: best for convnets.", false, true,
        [
            new("calibration", "Calibration method", OptionKind.Choice, "minmax",
                "minmax keeps every value in range; percentile clips rare outliers; entropy (KL) picks the range that loses least information.",
                ["minmax", "percentile", "entropy"]),
            new("percentile", "Percentile", OptionKind.Number, "99.999", "For the percentile method: the share of values the range keeps.", Min: 90, Max: 100),
            PerChannel, ReduceRange,
            new("samples", "Calibration samples", OptionKind.Number, "32", "How many samples calibration reads (from the sample set, or generated).", Min: 1, Max: 1000),
        ]),
        new(Int4WeightOnly, "4-bit weight-only", "MatMul weights in 4 bits (blocks with their own scale), compute in float: smallest transformers.", false, false,
        [
            new("blockSize", "Block size", OptionKind.Choice, "128", "Weights per scale: smaller blocks are more accurate and a little larger.", ["32", "64", "128"]),
            new("symmetric", "Symmetric", OptionKind.Boolean, "false", "No zero point per block: slightly smaller, slightly less accurate."),
            new("accuracyLevel", "Accuracy level", OptionKind.Choice, "4",
                "ONNX Runtime's compute type for the int4 MatMul: 4 = int8 activations (fastest on CPU), 0 = float.", ["0", "1", "2", "3", "4"]),
            new("quantizeEmbeddings", "Quantize embedding tables", OptionKind.Boolean, "true", "Gather tables stored in 4 bits as well."),
        ]),
        new(Prune, "Prune", "Sets the smallest weights to zero; the file compresses well. ONNX Runtime on CPU gets no speed from this sparsity.", false, false,
        [
            new("sparsity", "Sparsity", OptionKind.Number, "0.5", "The share of weights set to zero.", Min: 0.05, Max: 0.95),
            new("scope", "Threshold", OptionKind.Choice, "per-layer", "per-layer prunes each layer to the sparsity; global uses one threshold for all.", ["per-layer", "global"]),
            new("skipFirstAndLast", "Spare first and last layers", OptionKind.Boolean, "true", "They are the most sensitive to pruning."),
        ]),
        new(Smallest, "Preset: smallest", "Transformers: 4-bit weight-only. Convnets: prune 50% then INT8 static. Others: INT8 dynamic.", true, true, []),
        new(Fastest, "Preset: fastest on this CPU", "Convnets: INT8 static. Transformers and MLPs: INT8 dynamic. Then graph optimisation.", true, true, []),
        new(Balanced, "Preset: balanced", "INT8 with per-channel weights and percentile calibration: close to float, a quarter of the size.", true, true, []),
    ];

    public static Recipe? Find(string? name) => All.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Convnets get static INT8 (Conv needs calibrated ranges to run as QLinearConv); MatMul models get dynamic INT8.</summary>
    public static RecipeSuggestion Suggest(IReadOnlyDictionary<string, int> opHistogram)
    {
        var convs = Count(opHistogram, "Conv");
        var matMuls = Count(opHistogram, "MatMul") + Count(opHistogram, "Gemm");
        if (convs > 0 && convs >= matMuls)
            return new(Int8Static, $"{convs} Conv node(s): static INT8 lets ONNX Runtime run them as QLinearConv; dynamic INT8 would leave Conv in float.");
        if (matMuls > 0)
            return new(Int8Dynamic, $"{matMuls} MatMul/Gemm node(s) and few or no convolutions: dynamic INT8 quantizes them without calibration, as transformers need.");
        return new(Optimize, "No Conv, MatMul or Gemm to quantize: graph optimisation is what applies.");
    }

    /// <summary>
    /// Why a recipe cannot change this model at all, judged from its operators before any work is done; null when it may.
    /// </summary>
    public static string? WhyNotApplicable(string recipe, ModelInspection inspection)
    {
        var histogram = inspection.OpHistogram;
        var matMuls = Count(histogram, "MatMul") + Count(histogram, "Gemm");
        var convs = Count(histogram, "Conv");
        var gathers = Count(histogram, "Gather");
        var missing = recipe switch
        {
            Int8Dynamic when matMuls + gathers == 0 => "no MatMul, Gemm or Gather (embedding) node to quantize dynamically" +
                (convs > 0 ? $"; its {convs} Conv node(s) need static INT8 ('{Int8Static}')" : ""),
            Int4WeightOnly when matMuls + gathers == 0 => "no MatMul or Gather (embedding) weights to store in 4 bits",
            Int8Static when matMuls + convs == 0 => "no Conv, MatMul or Gemm node to quantize",
            Prune when matMuls + convs == 0 => "no Conv, MatMul or Gemm weights to prune",
            Fp16 when !inspection.InitializerBytesByType.ContainsKey("float") && inspection.ConstantNodeBytes == 0 => "no float32 weights to convert",
            _ => null,
        };
        return missing is null ? null : $"Recipe '{recipe}' does not apply: the model has {missing}.";
    }

    /// <summary>
    /// Turns a recipe and its options into passes for a model with the given op histogram. Unknown options, values
    /// out of range and wrong types are refused, all at once.
    /// </summary>
    public static ResolvedRecipe Resolve(string recipeName, JsonElement? options, IReadOnlyDictionary<string, int> opHistogram)
    {
        var recipe = Find(recipeName) ?? throw new RecipeOptionsException(
            [$"Unknown recipe '{recipeName}'. Choose one of: {string.Join(", ", All.Select(r => r.Name))}."]);
        var values = ReadOptions(recipe, options);
        var passes = recipe.Name switch
        {
            Optimize => [new GraphOptimizationPass(values["level"] == "extended" ? OptimizationLevel.Extended : OptimizationLevel.Basic)],
            Fp16 => [new Float16ConversionPass(new Float16Options(KeepIoTypes: Bool(values, "keepIoTypes")))],
            Int8Dynamic => [DynamicPass(values)],
            Int8Static => [StaticPass(values)],
            Int4WeightOnly => [new WeightOnlyQuantizationPass(new WeightOnlyOptions(
                BlockSize: Int(values, "blockSize"), Symmetric: Bool(values, "symmetric"), AccuracyLevel: Int(values, "accuracyLevel"),
                QuantizeGather: Bool(values, "quantizeEmbeddings")))],
            Prune => [new MagnitudePruningPass(new PruningOptions(
                Sparsity: Number(values, "sparsity"), Scope: values["scope"] == "global" ? PruningScope.Global : PruningScope.PerLayer,
                SkipFirstAndLast: Bool(values, "skipFirstAndLast")))],
            _ => Preset(recipe.Name, opHistogram),
        };
        return new ResolvedRecipe(recipe.Name, passes, values);
    }

    /// <summary>How many calibration samples the recipe wants from the sample set (0: it calibrates nothing).</summary>
    public static int CalibrationSamples(ResolvedRecipe recipe) =>
        recipe.Options.TryGetValue("samples", out var samples) ? int.Parse(samples, CultureInfo.InvariantCulture)
        : recipe.Passes.Any(p => p is StaticQuantizationPass) ? 32 : 0;

    private static ICompressionPass[] Preset(string name, IReadOnlyDictionary<string, int> opHistogram)
    {
        var convnet = Suggest(opHistogram).Recipe == Int8Static;
        var transformer = !convnet && Count(opHistogram, "MatMul") > 0 && (Count(opHistogram, "Softmax") > 0 || Count(opHistogram, "Gather") > 0);
        return name switch
        {
            Smallest when convnet => [new MagnitudePruningPass(new PruningOptions(Sparsity: 0.5)), new StaticQuantizationPass()],
            Smallest when transformer => [new WeightOnlyQuantizationPass()],
            Smallest => [new DynamicQuantizationPass()],
            Fastest when convnet => [new StaticQuantizationPass(), new GraphOptimizationPass(OptimizationLevel.Basic)],
            Fastest => [new DynamicQuantizationPass(), new GraphOptimizationPass(OptimizationLevel.Basic)],
            _ when convnet => [new StaticQuantizationPass(new StaticQuantizationOptions(Method: CalibrationMethod.Percentile))],
            _ => [new DynamicQuantizationPass(new DynamicQuantizationOptions(PerChannel: true))],
        };
    }

    private static DynamicQuantizationPass DynamicPass(IReadOnlyDictionary<string, string> values) => new(new DynamicQuantizationOptions(
        PerChannel: Bool(values, "perChannel"), ReduceRange: Bool(values, "reduceRange"), QuantizeGather: Bool(values, "quantizeEmbeddings")));

    private static StaticQuantizationPass StaticPass(IReadOnlyDictionary<string, string> values) => new(new StaticQuantizationOptions(
        Method: values["calibration"] switch { "percentile" => CalibrationMethod.Percentile, "entropy" => CalibrationMethod.Entropy, _ => CalibrationMethod.MinMax },
        PerChannel: Bool(values, "perChannel"), ReduceRange: Bool(values, "reduceRange"), Percentile: Number(values, "percentile")));

    /// <summary>The recipe's options with defaults filled in, as invariant text; every problem is collected.</summary>
    public static Dictionary<string, string> ReadOptions(Recipe recipe, JsonElement? options)
    {
        var values = recipe.Options.ToDictionary(o => o.Key, o => o.Default, StringComparer.Ordinal);
        var errors = new List<string>();
        if (options is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } given)
        {
            if (given.ValueKind != JsonValueKind.Object)
            {
                throw new RecipeOptionsException(["'options' must be a JSON object of option names and values."]);
            }
            foreach (var property in given.EnumerateObject())
            {
                var option = recipe.Options.FirstOrDefault(o => string.Equals(o.Key, property.Name, StringComparison.OrdinalIgnoreCase));
                if (option is null)
                {
                    errors.Add(recipe.Options.Count == 0
                        ? $"Recipe '{recipe.Name}' takes no options; '{Clip(property.Name)}' is not one."
                        : $"Recipe '{recipe.Name}' has no option '{Clip(property.Name)}'; it takes {string.Join(", ", recipe.Options.Select(o => o.Key))}.");
                    continue;
                }
                if (Validate(option, property.Value, out var text, out var error)) values[option.Key] = text;
                else errors.Add(error);
            }
        }
        if (errors.Count > 0) throw new RecipeOptionsException(errors);
        return values;
    }

    /// <summary>Checks one option value against its kind and range; the error names the option and what it takes.</summary>
    public static bool Validate(RecipeOption option, JsonElement value, out string text, out string error)
    {
        text = "";
        error = "";
        switch (option.Kind)
        {
            case OptionKind.Boolean when value.ValueKind is JsonValueKind.True or JsonValueKind.False:
                text = value.GetBoolean() ? "true" : "false";
                return true;
            case OptionKind.Boolean:
                error = $"Option '{option.Key}' takes true or false.";
                return false;
            case OptionKind.Number when value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var number) && double.IsFinite(number):
                if (option.Min is { } min && number < min || option.Max is { } max && number > max)
                {
                    error = $"Option '{option.Key}' must be between {option.Min?.ToString(CultureInfo.InvariantCulture)} and {option.Max?.ToString(CultureInfo.InvariantCulture)}; {number.ToString(CultureInfo.InvariantCulture)} is not.";
                    return false;
                }
                text = number.ToString(CultureInfo.InvariantCulture);
                return true;
            case OptionKind.Number:
                error = $"Option '{option.Key}' takes a number.";
                return false;
            default:
                var choice = value.ValueKind switch
                {
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Number => value.GetRawText(),
                    _ => null,
                };
                var match = option.Choices!.FirstOrDefault(c => string.Equals(c, choice, StringComparison.OrdinalIgnoreCase));
                if (match is null)
                {
                    error = $"Option '{option.Key}' takes one of {string.Join(", ", option.Choices!)}.";
                    return false;
                }
                text = match;
                return true;
        }
    }

    private static bool Bool(IReadOnlyDictionary<string, string> values, string key) => values[key] == "true";
    private static double Number(IReadOnlyDictionary<string, string> values, string key) => double.Parse(values[key], CultureInfo.InvariantCulture);
    private static int Int(IReadOnlyDictionary<string, string> values, string key) => (int)Number(values, key);
    private static int Count(IReadOnlyDictionary<string, int> histogram, string op) => histogram.TryGetValue(op, out var n) ? n : 0;
    private static string Clip(string text) => text.Length > 40 ? text[..40] + "…" : text;
}
