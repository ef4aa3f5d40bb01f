namespace MaaS.Onnx.Compression;

/// <summary>Integer ranges of the quantized types (compression-algorithms.md §1.1).</summary>
public readonly record struct QuantRange(int Min, int Max)
{
    public static readonly QuantRange Int8 = new(-128, 127);
    public static readonly QuantRange Int8Symmetric = new(-127, 127);
    public static readonly QuantRange Int8Reduced = new(-64, 64);
    public static readonly QuantRange UInt8 = new(0, 255);
    public static readonly QuantRange UInt8Reduced = new(0, 127);
    public static readonly QuantRange UInt4 = new(0, 15);
    public static readonly QuantRange Int4 = new(-8, 7);
}

/// <summary>Scale and zero point of an affine quantization: r = scale * (q - zeroPoint).</summary>
public readonly record struct QuantParams(float Scale, int ZeroPoint);

/// <summary>
/// The quantization arithmetic exactly as ONNX Runtime's quantizer does it (quant_utils.py compute_scale_zp and
/// quantize_nparray; compression-algorithms.md §1.2–1.3): float64 maths, round half to even, saturation.
/// </summary>
public static class QuantizationMath
{
    /// <summary>compute_scale_zp: 0 is always representable; symmetric ranges centre the zero point.</summary>
    public static QuantParams ComputeScaleZeroPoint(double rmin, double rmax, QuantRange range, bool symmetric, double? minRealRange = null)
    {
        rmin = Math.Min(rmin, 0);
        rmax = Math.Max(rmax, 0);
        if (minRealRange is { } minimum) rmax = Math.Max(rmax, rmin + minimum);
        if (symmetric)
        {
            var absMax = Math.Max(Math.Abs(rmin), Math.Abs(rmax));
            rmin = -absMax;
            rmax = absMax;
        }
        var scale = (float)((rmax - rmin) / (range.Max - range.Min));
        // numpy's float32 'tiny' (smallest normal, 2^-126): below it the range is degenerate.
        if (scale < 1.17549435e-38f || !float.IsFinite(scale))
        {
            return new QuantParams(1f, 0);
        }
        var zeroPoint = symmetric
            ? (int)Math.Round((range.Min + range.Max) / 2.0, MidpointRounding.ToEven)
            : (int)Math.Round(range.Min - rmin / scale, MidpointRounding.ToEven);
        return new QuantParams(scale, Math.Clamp(zeroPoint, range.Min, range.Max));
    }

    /// <summary>q = clamp(round(r / scale) + zeroPoint, min, max), round half to even (QuantizeLinear's rule).</summary>
    public static int Quantize(float value, QuantParams p, QuantRange range)
    {
        var q = Math.Round((double)(value / p.Scale), MidpointRounding.ToEven) + p.ZeroPoint;
        return (int)Math.Clamp(q, range.Min, range.Max);
    }

    public static float Dequantize(int q, QuantParams p) => p.Scale * (q - p.ZeroPoint);

    public static (float Min, float Max) MinMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return (0, 0);
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }

    /// <summary>Per-tensor: one (scale, zero point) over all values, then the quantized values.</summary>
    public static (QuantParams Params, int[] Values) QuantizePerTensor(ReadOnlySpan<float> values, QuantRange range, bool symmetric)
    {
        var (min, max) = MinMax(values);
        var p = ComputeScaleZeroPoint(min, max, range, symmetric);
        var q = new int[values.Length];
        for (var i = 0; i < values.Length; i++) q[i] = Quantize(values[i], p, range);
        return (p, q);
    }

    /// <summary>
    /// Per-channel along <paramref name="axis"/> of a tensor with <paramref name="dims"/>: each slice gets its own
    /// (scale, zero point); the quantized values keep the tensor's layout.
    /// </summary>
    public static (QuantParams[] Params, int[] Values) QuantizePerChannel(ReadOnlySpan<float> values, IReadOnlyList<long> dims, int axis, QuantRange range, bool symmetric)
    {
        if (axis < 0) axis += dims.Count;
        var channels = (int)dims[axis];
        long inner = 1;
        for (var d = axis + 1; d < dims.Count; d++) inner *= dims[d];
        var mins = Enumerable.Repeat(float.PositiveInfinity, channels).ToArray();
        var maxs = Enumerable.Repeat(float.NegativeInfinity, channels).ToArray();
        for (long i = 0; i < values.Length; i++)
        {
            var c = (int)(i / inner % channels);
            var v = values[(int)i];
            if (v < mins[c]) mins[c] = v;
            if (v > maxs[c]) maxs[c] = v;
        }
        var parameters = new QuantParams[channels];
        for (var c = 0; c < channels; c++)
        {
            parameters[c] = float.IsInfinity(mins[c]) ? new QuantParams(1f, symmetric ? (range.Min + range.Max) / 2 : 0)
                : ComputeScaleZeroPoint(mins[c], maxs[c], range, symmetric);
        }
        var q = new int[values.Length];
        for (long i = 0; i < values.Length; i++)
        {
            var c = (int)(i / inner % channels);
            q[i] = Quantize(values[(int)i], parameters[c], range);
        }
        return (parameters, q);
    }

    public static sbyte[] ToSBytes(int[] values) => values.Select(v => (sbyte)v).ToArray();
    public static byte[] ToBytes(int[] values) => values.Select(v => (byte)v).ToArray();
}
