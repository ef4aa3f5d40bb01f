using MaaS.Onnx.Inference;
using MaaS.Onnx.Samples;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Portal.Features.Playground;

/// <summary>An input the form cannot turn into a tensor yet; the message says what to fix.</summary>
public sealed class PlaygroundInputException(string message) : Exception(message);

/// <summary>
/// What the user entered for one input (or, for tokenised text, the inputs a text fills): the editors change it, the
/// page builds the request from it. Symbolic dimensions start at 1 and are editable.
/// </summary>
public abstract class InputState
{
    protected InputState(IReadOnlyList<TensorSpec> specs) => Specs = specs;

    /// <summary>The model inputs this state fills.</summary>
    public IReadOnlyList<TensorSpec> Specs { get; }

    /// <summary>What is wrong now, for people; null when the input is ready.</summary>
    public abstract string? Error { get; }

    /// <summary>The tensors for the request. Throws <see cref="PlaygroundInputException"/> when <see cref="Error"/> is set.</summary>
    public abstract IReadOnlyList<InferenceTensor> Build();

    /// <summary>A line for the history: what was sent, briefly.</summary>
    public abstract string Summary { get; }

    /// <summary>Fills the editor from tensors of a saved request; false when they do not fit it.</summary>
    public abstract bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors);

    protected static long[] Resolve(TensorSpec spec, long symbolic = 1) => spec.Shape.Select(d => d < 0 ? symbolic : d).ToArray();

    protected static long Count(IReadOnlyList<long> shape) => shape.Aggregate(1L, (a, d) => a * d);

    protected PlaygroundInputException Invalid() => new($"Input '{Specs[0].Name}': {Error}");
}

/// <summary>A numeric tensor typed as JSON, checked live against the shape.</summary>
public sealed class NumericInputState : InputState
{
    private double[]? _values;
    private string? _error;
    private string _json = "";

    public NumericInputState(TensorSpec spec) : base([spec])
    {
        Shape = Resolve(spec);
        Fill(FillKind.Zeros);
    }

    public TensorSpec Spec => Specs[0];
    public long[] Shape { get; private set; }

    public string Json
    {
        get => _json;
        set
        {
            _json = value;
            (_values, _error) = TensorJson.Parse(value, Spec.ElementType, Shape);
        }
    }

    public override string? Error => _error;

    /// <summary>Sets a symbolic dimension; the values are checked again against the new shape.</summary>
    public void SetDimension(int dimension, long size)
    {
        if (Spec.Shape[dimension] >= 0 || size < 1) return;
        Shape = Shape.Select((d, i) => i == dimension ? size : d).ToArray();
        Json = _json;
    }

    public enum FillKind { Zeros, Ones, Random }

    /// <summary>Fills every value: zeros, ones, or uniform in [<paramref name="low"/>, <paramref name="high"/>] (whole numbers for integer types).</summary>
    public void Fill(FillKind kind, double low = 0, double high = 1, Random? random = null)
    {
        var count = Count(Shape);
        if (count > TensorJson.MaxValues)
        {
            _json = "";
            (_values, _error) = (null, $"Shape {TensorJson.Format(Shape)} has {count:N0} values; the editor takes up to {TensorJson.MaxValues:N0}.");
            return;
        }
        random ??= Random.Shared;
        var integer = TensorJson.IsInteger(Spec.ElementType);
        var (min, max) = TensorJson.Range(Spec.ElementType);
        (low, high) = (Math.Max(min, Math.Min(low, high)), Math.Min(max, Math.Max(low, high)));
        var values = new double[count];
        for (var i = 0; i < count; i++)
        {
            values[i] = kind switch
            {
                FillKind.Zeros => 0,
                FillKind.Ones => 1,
                _ when integer => Math.Min(Math.Floor(high), Math.Floor(Math.Ceiling(low) + random.NextDouble() * (Math.Floor(high) - Math.Ceiling(low) + 1))),
                _ => Math.Round(low + random.NextDouble() * (high - low), 4),
            };
        }
        Json = TensorJson.Write(values, Shape, Spec.ElementType);
    }

    public override IReadOnlyList<InferenceTensor> Build() =>
        _values is null || _error is not null ? throw Invalid() : [TensorJson.ToTensor(Spec.Name, Spec.ElementType, Shape, _values)];

    public override string Summary => _values is null ? $"{Spec.Name}: invalid"
        : $"{Spec.Name} {TensorJson.Format(Shape)}: {string.Join(", ", _values.Take(4).Select(v => v.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)))}{(_values.Length > 4 ? ", …" : "")}";

    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors)
    {
        if (!tensors.TryGetValue(Spec.Name, out var tensor) || tensor.IsString || tensor.Shape.Length != Shape.Length) return false;
        Shape = tensor.Shape.ToArray();
        Json = TensorJson.Write(TensorJson.ToDoubles(tensor), Shape, Spec.ElementType);
        return true;
    }
}

/// <summary>An image file for a rank-4 float or uint8 input: layout, size and normalisation are choices.</summary>
public sealed class ImageInputState : InputState
{
    private string? _error = "Choose an image (PNG, JPEG, BMP or WebP).";
    private InferenceTensor? _loaded;

    public ImageInputState(TensorSpec spec, ImageInputSpec detected) : base([spec])
    {
        Layout = detected.Layout;
        Channels = detected.Channels;
        Height = detected.Height;
        Width = detected.Width;
    }

    public TensorSpec Spec => Specs[0];
    public TensorLayout Layout { get; set; }
    public int Channels { get; private set; }
    public int Height { get; set; }
    public int Width { get; set; }
    public ImageNormalization Normalization { get; set; } = ImageNormalization.ImageNet;

    /// <summary>Whether height and width are the user's to choose (symbolic in the model).</summary>
    public bool SizeEditable => Layout == TensorLayout.Nchw ? Spec.Shape[2] < 0 && Spec.Shape[3] < 0 : Spec.Shape[1] < 0 && Spec.Shape[2] < 0;

    public byte[]? Image { get; private set; }
    public string? FileName { get; private set; }
    public ImageSize? ImageSize { get; private set; }
    public string? PreviewDataUrl { get; private set; }

    /// <summary>Only float inputs are normalised; uint8 inputs take the pixels as they are.</summary>
    public bool Normalised => Spec.ElementType != TensorElementType.UInt8;

    public override string? Error => _loaded is not null ? null : _error;

    /// <summary>Switches the layout; channels move with it, and must still be 1 or 3.</summary>
    public void SetLayout(TensorLayout layout)
    {
        var channels = layout == TensorLayout.Nchw ? Spec.Shape[1] : Spec.Shape[3];
        if (channels is not (1 or 3 or < 0)) return;
        (Layout, Channels) = (layout, channels < 0 ? 3 : (int)channels);
        var (h, w) = layout == TensorLayout.Nchw ? (Spec.Shape[2], Spec.Shape[3]) : (Spec.Shape[1], Spec.Shape[2]);
        (Height, Width) = (h > 0 ? (int)h : ImageInputSpec.DefaultSide, w > 0 ? (int)w : ImageInputSpec.DefaultSide);
    }

    /// <summary>Takes an uploaded file: checked to decode whole, previewed; errors say why in words.</summary>
    public void SetImage(byte[] bytes, string fileName)
    {
        _loaded = null;
        (Image, FileName, ImageSize, PreviewDataUrl) = (null, fileName, null, null);
        try
        {
            ImageSize = ImagePreprocessor.Validate(bytes);
            PreviewDataUrl = "data:image/png;base64," + Convert.ToBase64String(ImagePreprocessor.Thumbnail(bytes, maxSide: 256));
            Image = bytes;
            _error = null;
        }
        catch (SampleFormatException ex)
        {
            _error = $"'{fileName}' cannot be used: {ex.Message}";
        }
    }

    public void Reject(string fileName, string message)
    {
        (_loaded, Image, ImageSize, PreviewDataUrl, FileName) = (null, null, null, null, fileName);
        _error = message;
    }

    public ImageInputSpec InputSpec => new(Spec.Name, Spec.ElementType, Layout, Channels, Height, Width);

    public override IReadOnlyList<InferenceTensor> Build()
    {
        if (_loaded is not null) return [_loaded];
        if (Image is null || _error is not null) throw Invalid();
        try
        {
            var sample = ImagePreprocessor.ToTensor(Image, InputSpec, Normalization);
            return [InferenceTensor.FromArray(Spec.Name, sample.Shape, sample.Values)];
        }
        catch (SampleFormatException ex)
        {
            throw new PlaygroundInputException($"Input '{Spec.Name}': {ex.Message}");
        }
    }

    public override string Summary => _loaded is not null ? $"{Spec.Name}: saved tensor {TensorJson.Format(_loaded.Shape)}"
        : $"{Spec.Name}: {FileName ?? "no image"}{(ImageSize is { } s ? $" ({s.Width}×{s.Height})" : "")} → {Width}×{Height} {Layout.ToString().ToUpperInvariant()}, {(Normalised ? ImageNormalizations.NameOf(Normalization) : "raw")}";

    /// <summary>A saved request holds the tensor, not the file: it is sent as it is until another image is chosen.</summary>
    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors)
    {
        if (!tensors.TryGetValue(Spec.Name, out var tensor) || tensor.ElementType != Spec.ElementType || tensor.Shape.Length != 4) return false;
        (_loaded, Image, PreviewDataUrl, ImageSize) = (tensor, null, null, null);
        FileName = "saved tensor";
        return true;
    }

    public bool FromSaved => _loaded is not null;
}

/// <summary>A text for BERT-style models: tokenised on the server into input_ids, attention_mask and token_type_ids.</summary>
public sealed class TextInputState(IReadOnlyList<TensorSpec> specs, TextTokenizer tokenizer) : InputState(specs)
{
    private string _text = "";

    public TextTokenizer Tokenizer => tokenizer;

    /// <summary>The fixed sequence length when the model has one; else the most tokens the form sends.</summary>
    public int? FixedLength => Specs.Select(s => s.Shape.Length == 2 && s.Shape[1] > 0 ? (int?)s.Shape[1] : null).FirstOrDefault(l => l is not null);

    public int MaxLength { get; set; } = TextTokenizer.DefaultMaxSequenceLength;

    public int Limit => FixedLength ?? MaxLength;

    public string Text
    {
        get => _text;
        set
        {
            _text = value;
            Tokens = value.Length == 0 ? [] : tokenizer.EncodeIds(value, Limit).Select(id => tokenizer.TokenOf(id)).ToList();
            TotalTokens = value.Length == 0 ? 0 : tokenizer.CountTokens(value);
        }
    }

    /// <summary>The word pieces sent, [CLS] and [SEP] included.</summary>
    public IReadOnlyList<string> Tokens { get; private set; } = [];

    /// <summary>The tokens the whole text makes; more than <see cref="Limit"/> means the text was cut.</summary>
    public int TotalTokens { get; private set; }

    public bool Truncated => TotalTokens > Limit;

    public override string? Error => _text.Trim().Length == 0 ? "Type a text." : null;

    public override IReadOnlyList<InferenceTensor> Build()
    {
        if (Error is not null) throw Invalid();
        try
        {
            var sample = tokenizer.Encode(_text, Specs.Select(s => new SampleInput(s.Name, s.ElementType, s.Shape)).ToList(), Limit);
            return sample.Inputs.Select(t => InferenceTensor.FromArray(t.Name, t.Shape, t.Values)).ToList();
        }
        catch (SampleFormatException ex)
        {
            throw new PlaygroundInputException(ex.Message);
        }
    }

    public override string Summary => $"text: \"{(_text.Length > 60 ? _text[..60] + "…" : _text)}\" ({Math.Min(TotalTokens, Limit)} tokens)";

    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors)
    {
        // Token ids turn back into text well enough to edit: word pieces joined, the ## continuations glued on.
        var ids = Specs.FirstOrDefault(s => s.Name.Contains("input_ids", StringComparison.OrdinalIgnoreCase));
        if (ids is null || !tensors.TryGetValue(ids.Name, out var tensor) || tensor.IsString) return false;
        var pieces = TensorJson.ToDoubles(tensor).Select(v => tokenizer.TokenOf((long)v)).Where(p => p is not ("[CLS]" or "[SEP]" or "[PAD]"));
        Text = string.Join(" ", pieces).Replace(" ##", "", StringComparison.Ordinal);
        return true;
    }

    /// <summary>Whether <paramref name="spec"/> is one of the inputs a tokenised text fills.</summary>
    // A fixed length under 2 cannot hold [CLS] and [SEP] (a single-step decoder's input_ids): such inputs get the JSON editor.
    public static bool IsTokenInput(TensorSpec spec) =>
        spec.IsTensor && spec.ElementType is TensorElementType.Int64 or TensorElementType.Int32 && spec.Shape.Length == 2 && spec.Shape[1] is < 0 or >= 2 &&
        (spec.Name.Contains("input_ids", StringComparison.OrdinalIgnoreCase) || spec.Name.Contains("attention_mask", StringComparison.OrdinalIgnoreCase)
         || spec.Name.Contains("token_type_ids", StringComparison.OrdinalIgnoreCase));
}

/// <summary>A BYTES input: one text field per element.</summary>
public sealed class StringInputState : InputState
{
    public const int MaxFields = 64;

    public StringInputState(TensorSpec spec) : base([spec])
    {
        Shape = Resolve(spec);
        Values = Enumerable.Repeat("", (int)Math.Min(Count(Shape), MaxFields)).ToList();
    }

    public TensorSpec Spec => Specs[0];
    public long[] Shape { get; private set; }
    public List<string> Values { get; private set; }

    public void SetDimension(int dimension, long size)
    {
        if (Spec.Shape[dimension] >= 0 || size < 1) return;
        var shape = Shape.Select((d, i) => i == dimension ? size : d).ToArray();
        if (Count(shape) > MaxFields) return;
        Shape = shape;
        Values = Enumerable.Range(0, (int)Count(shape)).Select(i => i < Values.Count ? Values[i] : "").ToList();
    }

    public override string? Error => Count(Shape) > MaxFields ? $"Shape {TensorJson.Format(Shape)} has more than {MaxFields} strings; the form takes up to {MaxFields}." : null;

    public override IReadOnlyList<InferenceTensor> Build() => Error is not null ? throw Invalid() : [InferenceTensor.FromStrings(Spec.Name, Shape, Values.ToArray())];

    public override string Summary => $"{Spec.Name}: {string.Join(", ", Values.Take(3).Select(v => $"\"{(v.Length > 30 ? v[..30] + "…" : v)}\""))}{(Values.Count > 3 ? ", …" : "")}";

    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors)
    {
        if (!tensors.TryGetValue(Spec.Name, out var tensor) || tensor.Strings is null || tensor.Strings.Length > MaxFields) return false;
        (Shape, Values) = (tensor.Shape.ToArray(), tensor.Strings.ToList());
        return true;
    }
}

/// <summary>A BOOL input: one switch per element.</summary>
public sealed class BoolInputState : InputState
{
    public const int MaxSwitches = 64;

    public BoolInputState(TensorSpec spec) : base([spec])
    {
        Shape = Resolve(spec);
        Values = new bool[(int)Math.Min(Count(Shape), MaxSwitches)];
    }

    public TensorSpec Spec => Specs[0];
    public long[] Shape { get; private set; }
    public bool[] Values { get; private set; }

    public void SetDimension(int dimension, long size)
    {
        if (Spec.Shape[dimension] >= 0 || size < 1) return;
        var shape = Shape.Select((d, i) => i == dimension ? size : d).ToArray();
        if (Count(shape) > MaxSwitches) return;
        Shape = shape;
        Values = Enumerable.Range(0, (int)Count(shape)).Select(i => i < Values.Length && Values[i]).ToArray();
    }

    public override string? Error => Count(Shape) > MaxSwitches ? $"Shape {TensorJson.Format(Shape)} has more than {MaxSwitches} values; the form takes up to {MaxSwitches}." : null;

    public override IReadOnlyList<InferenceTensor> Build() => Error is not null ? throw Invalid() : [InferenceTensor.FromArray(Spec.Name, Shape, Values)];

    public override string Summary => $"{Spec.Name}: {string.Join(", ", Values.Take(6).Select(v => v ? "true" : "false"))}{(Values.Length > 6 ? ", …" : "")}";

    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors)
    {
        if (!tensors.TryGetValue(Spec.Name, out var tensor) || tensor.ElementType != TensorElementType.Bool || tensor.ElementCount > MaxSwitches) return false;
        (Shape, Values) = (tensor.Shape.ToArray(), tensor.Data.ToArray().Select(b => b != 0).ToArray());
        return true;
    }
}

/// <summary>An input the V2 API cannot carry (a sequence or map input): shown, not editable.</summary>
public sealed class UnsupportedInputState(TensorSpec spec) : InputState([spec])
{
    public override string? Error => $"the model takes a {spec.OnnxType} here, which the V2 API (and so the playground) cannot send.";
    public override IReadOnlyList<InferenceTensor> Build() => throw Invalid();
    public override string Summary => $"{spec.Name}: unsupported";
    public override bool Load(IReadOnlyDictionary<string, InferenceTensor> tensors) => false;
}

public static class InputStates
{
    /// <summary>
    /// One editor state per input, chosen by element type and shape: a text box for the token inputs of a BERT-style
    /// model when a vocabulary is attached, an image for rank-4 float/uint8 inputs with 1 or 3 channels, switches for
    /// BOOL, text fields for BYTES, JSON for every other numeric tensor.
    /// </summary>
    public static IReadOnlyList<InputState> For(ModelSignature signature, TextTokenizer? tokenizer)
    {
        var states = new List<InputState>();
        var tokenInputs = tokenizer is null ? [] : signature.Inputs.Where(TextInputState.IsTokenInput).ToList();
        var text = tokenInputs.Any(s => s.Name.Contains("input_ids", StringComparison.OrdinalIgnoreCase)) ? new TextInputState(tokenInputs, tokenizer!) : null;
        foreach (var spec in signature.Inputs)
        {
            if (text is not null && text.Specs.Contains(spec))
            {
                if (!states.Contains(text)) states.Add(text);
                continue;
            }
            states.Add(For(spec));
        }
        return states;
    }

    public static InputState For(TensorSpec spec)
    {
        if (!spec.IsTensor || V2Datatypes.NameOf(spec.ElementType) is null) return new UnsupportedInputState(spec);
        if (spec.ElementType == TensorElementType.String) return new StringInputState(spec);
        if (spec.ElementType == TensorElementType.Bool) return new BoolInputState(spec);
        if (spec.Shape.Length == 4 && spec.ElementType is TensorElementType.Float or TensorElementType.UInt8 or TensorElementType.Float16)
        {
            try
            {
                return new ImageInputState(spec, ImageInputSpec.For(new SampleInput(spec.Name, spec.ElementType, spec.Shape)));
            }
            catch (SampleFormatException)
            {
                // Not image-like (e.g. 5 channels): typed as numbers instead.
            }
        }
        return new NumericInputState(spec);
    }
}
