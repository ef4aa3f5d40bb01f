using System.Globalization;

namespace MaaS.Onnx.Inference;

/// <summary>
/// Fast, correctly rounded reading of JSON numbers, for the hot path of V2 requests: an FP32 image is 150,528 numbers,
/// and .NET's general parsers spend 100 ns or more on each. Anything the fast paths cannot decide exactly is left to an
/// exact parser, so the result is always the IEEE nearest value, ties to even.
/// <para>
/// The method: the digits (at most 19) become an integer w and a power of ten p. When w ≤ 2^53 and |p| ≤ 22 both
/// are exact doubles and one IEEE multiplication or division rounds correctly (Clinger's fast path). Otherwise the
/// double is within three units in its last place of the true value. For FP32 the double is rounded again to a
/// float, which is wrong only when the true value and the double lie on different sides of a point halfway between
/// two floats; the double's low 29 bits say how far it is from such a point, and anything within a margin of it goes
/// to the exact parser.
/// </para>
/// </summary>
internal static class JsonNumbers
{
    /// <summary>What <see cref="ScanSingle"/> found.</summary>
    public enum Scan
    {
        /// <summary>No JSON number starts here.</summary>
        Invalid,
        /// <summary>A number, and its value.</summary>
        Parsed,
        /// <summary>A valid number the fast paths cannot round; parse its text exactly.</summary>
        Inexact,
    }

    private const ulong TwoPow53 = 1UL << 53;
    private const int MaxDigits = 19;

    // Exact as doubles up to 1e22; beyond that each entry is the correctly rounded double (half a unit of error).
    private static readonly double[] PowersOfTen = Enumerable.Range(0, 65).Select(i => double.Parse($"1e{i}", CultureInfo.InvariantCulture)).ToArray();

    /// <summary>
    /// Reads the JSON number (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?) at <paramref name="i"/> and moves
    /// past it. Checking the grammar and reading the value in one pass is what makes it fast.
    /// </summary>
    public static Scan ScanSingle(ReadOnlySpan<byte> json, ref int i, out float value)
    {
        value = 0;
        if (!Decompose(json, ref i, out var negative, out var w, out var p, out var exact)) return Scan.Invalid;
        // First: past 19 digits w has wrapped around and may even read 0.
        if (!exact) return Scan.Inexact;
        if (w == 0)
        {
            value = negative ? -0f : 0f;
            return Scan.Parsed;
        }
        double d;
        if (w <= TwoPow53 && p is >= -22 and <= 22)
        {
            d = p >= 0 ? w * PowersOfTen[p] : w / PowersOfTen[-p];
            // d is the correctly rounded double; rounding it to float again is wrong only exactly on a float midpoint.
            if (!FloatRoundingIsSafe(d, margin: 0)) return Scan.Inexact;
        }
        else
        {
            if (p is < -64 or > 38) return Scan.Inexact;
            d = p >= 0 ? w * PowersOfTen[p] : w / PowersOfTen[-p];
            // Three roundings (w, the power, the operation) put d within three units of the true value: keep clear of
            // midpoints by more than that.
            if (!FloatRoundingIsSafe(d, margin: 8)) return Scan.Inexact;
        }
        var f = (float)d;
        value = negative ? -f : f;
        return Scan.Parsed;
    }

    /// <summary>The float nearest the number <paramref name="text"/>; false when only an exact parser can tell (or it is not one number).</summary>
    public static bool TryParseSingle(ReadOnlySpan<byte> text, out float value)
    {
        var i = 0;
        return ScanSingle(text, ref i, out value) == Scan.Parsed && i == text.Length;
    }

    /// <summary>The double nearest <paramref name="text"/> on Clinger's exact fast path; false otherwise.</summary>
    public static bool TryParseDouble(ReadOnlySpan<byte> text, out double value)
    {
        value = 0;
        var i = 0;
        if (!Decompose(text, ref i, out var negative, out var w, out var p, out var exact) || i != text.Length || !exact) return false;
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
    /// Moves past one JSON number, splitting it into sign, the integer w of all its digits and a power of ten p; false
    /// when the text there is not a JSON number. <paramref name="exact"/> is false when w and p do not hold the number:
    /// more than 19 significant digits (w wrapped around), or an exponent too long to keep.
    /// </summary>
    private static bool Decompose(ReadOnlySpan<byte> json, ref int i, out bool negative, out ulong w, out int p, out bool exact)
    {
        w = 0;
        p = 0;
        exact = false;
        var digits = 0;
        var n = json.Length;
        negative = i < n && json[i] == (byte)'-';
        if (negative) i++;
        if (i >= n) return false;
        uint c = (uint)(json[i] - '0');
        if (c == 0)
        {
            i++;
        }
        else if (c <= 9)
        {
            // Past 19 digits w wraps around; exact says so and the caller does not use it.
            do
            {
                w = w * 10 + c;
                digits++;
                i++;
            }
            while (i < n && (c = (uint)(json[i] - '0')) <= 9);
        }
        else
        {
            return false;
        }
        var fractionDigits = 0;
        if (i < n && json[i] == (byte)'.')
        {
            i++;
            var start = i;
            while (i < n && (c = (uint)(json[i] - '0')) <= 9)
            {
                // Zeros before the first significant digit ("0.000123") do not count against the 19.
                if (w != 0 || c != 0) digits++;
                w = w * 10 + c;
                i++;
            }
            fractionDigits = i - start;
            if (fractionDigits == 0) return false;
        }
        var exponent = 0;
        var exponentTooLong = false;
        if (i < n && (json[i] | 0x20) == (byte)'e')
        {
            i++;
            var negativeExponent = false;
            if (i < n && json[i] is (byte)'+' or (byte)'-')
            {
                negativeExponent = json[i] == (byte)'-';
                i++;
            }
            var start = i;
            while (i < n && (c = (uint)(json[i] - '0')) <= 9)
            {
                // Past six digits the exponent is not kept (it would overflow) and the number is not exact here: even
                // 0.000…1e1000000 with as many zeros is left to the exact parser, which sees its true size.
                if (exponent < 100_000) exponent = exponent * 10 + (int)c;
                else exponentTooLong = true;
                i++;
            }
            if (i == start) return false;
            if (negativeExponent) exponent = -exponent;
        }
        p = exponent - fractionDigits;
        exact = digits <= MaxDigits && !exponentTooLong;
        return true;
    }
}
