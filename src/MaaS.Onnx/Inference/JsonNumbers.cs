namespace MaaS.Onnx.Inference;

/// <summary>
/// Fast, correctly rounded parsing of the JSON number text that <see cref="System.Text.Json.Utf8JsonReader"/> has already
/// validated, for the hot path of V2 requests: an FP32 image is 150,528 numbers, and the reader's own TryGetSingle spends
/// most of a request's parse time on them. Anything the fast paths cannot decide exactly is left to the caller's exact
/// parser (the method returns false), so the result is always the IEEE nearest value, ties to even.
/// <para>
/// The method: the digits (at most 19 significant) become an integer w and a power of ten p. When w ≤ 2^53 and |p| ≤ 22
/// both are exact doubles and one IEEE multiplication or division rounds correctly (Clinger's fast path). Otherwise the
/// double is within about two units in its last place of the true value. For FP32 the double is rounded again to a
/// float, which is wrong only when the true value and the double lie on different sides of a point halfway between
/// two floats; the double's low 29 bits say how far it is from such a point, and anything within a margin of it goes to
/// the exact parser.
/// </para>
/// </summary>
internal static class JsonNumbers
{
    private const ulong TwoPow53 = 1UL << 53;
    private const int MaxSignificantDigits = 19;

    // Exact as doubles up to 1e22; beyond that each entry is the correctly rounded double (half a unit of error).
    private static readonly double[] PowersOfTen = BuildPowers();

    private static double[] BuildPowers()
    {
        var powers = new double[65];
        for (var i = 0; i < powers.Length; i++) powers[i] = double.Parse($"1e{i}", System.Globalization.CultureInfo.InvariantCulture);
        return powers;
    }

    /// <summary>The float nearest the JSON number <paramref name="text"/>; false when only an exact parser can tell.</summary>
    public static bool TryParseSingle(ReadOnlySpan<byte> text, out float value)
    {
        value = 0;
        if (!TryDecompose(text, out var negative, out var w, out var p)) return false;
        if (w == 0)
        {
            value = negative ? -0f : 0f;
            return true;
        }
        double d;
        if (w <= TwoPow53 && p is >= -22 and <= 22)
        {
            d = p >= 0 ? w * PowersOfTen[p] : w / PowersOfTen[-p];
            // d is the correctly rounded double; rounding it to float again is wrong only exactly on a float midpoint.
            if (!FloatRoundingIsSafe(d, margin: 0)) return false;
        }
        else
        {
            if (p is < -64 or > 38) return false;
            d = p >= 0 ? w * PowersOfTen[p] : w / PowersOfTen[-p];
            // Three roundings (w, the power, the operation) put d within two units of the true value: keep clear of
            // midpoints by more than that.
            if (!FloatRoundingIsSafe(d, margin: 8)) return false;
        }
        var f = (float)d;
        value = negative ? -f : f;
        return true;
    }

    /// <summary>The double nearest <paramref name="text"/> on Clinger's exact fast path; false otherwise.</summary>
    public static bool TryParseDouble(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        if (!TryDecompose(text, out var negative, out var w, out var p)) return false;
        if (w != 0)
        {
            if (w > TwoPow53 || p is < -22 or > 22) return false;
            value = p >= 0 ? w * PowersOfTen[p] : w / PowersOfTen[-p];
        }
        if (negative) value = -value;
        return true;
    }

    /// <summary>
    /// True when rounding the positive double <paramref name="d"/> to float gives the same float as rounding any value
    /// within <paramref name="margin"/> units of d's last place: d is a normal float's magnitude and not within the margin
    /// of a float midpoint (and, with margin 0, not on one).
    /// </summary>
    private static bool FloatRoundingIsSafe(double d, int margin)
    {
        // Subnormal floats have fewer bits, so their midpoints are elsewhere; past the largest float is overflow.
        if (d < 1.2e-38 || d > 3.4e38) return false;
        var low = (long)(BitConverter.DoubleToUInt64Bits(d) & 0x1FFF_FFFF);
        return Math.Abs(low - 0x1000_0000) > margin;
    }

    /// <summary>
    /// Splits validated JSON number text into sign, an integer of its significant digits and a power of ten. False
    /// when there are more than 19 significant digits or the exponent is absurd; the exact parser handles those.
    /// </summary>
    private static bool TryDecompose(ReadOnlySpan<byte> text, out bool negative, out ulong w, out int p)
    {
        w = 0;
        p = 0;
        var i = 0;
        negative = text.Length > 0 && text[0] == (byte)'-';
        if (negative) i++;
        var digits = 0;
        var fractionDigits = 0;
        var inFraction = false;
        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (c == (byte)'.')
            {
                inFraction = true;
                continue;
            }
            var digit = (uint)(c - '0');
            if (digit > 9) break;
            if (inFraction) fractionDigits++;
            // Leading zeros carry no precision ("0.000123" has three significant digits).
            if (w == 0 && digit == 0) continue;
            if (++digits > MaxSignificantDigits) return false;
            w = w * 10 + digit;
        }
        var exponent = 0;
        if (i < text.Length)
        {
            // The reader validated the text, so what is left is an exponent: e or E, an optional sign, digits.
            i++;
            var negativeExponent = false;
            if (text[i] is (byte)'+' or (byte)'-')
            {
                negativeExponent = text[i] == (byte)'-';
                i++;
            }
            for (; i < text.Length; i++)
            {
                exponent = exponent * 10 + (text[i] - '0');
                if (exponent > 1000) return false;
            }
            if (negativeExponent) exponent = -exponent;
        }
        p = exponent - fractionDigits;
        return true;
    }
}
