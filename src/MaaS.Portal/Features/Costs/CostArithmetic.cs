namespace MaaS.Portal.Features.Costs;

/// <summary>
/// Money per category. Compute is split into inference (requests' model time × threads) and background jobs
/// (compression, training, deployment warm-up), both priced per vCPU-hour.
/// </summary>
public sealed record CostLine(decimal InferenceCompute, decimal JobCompute, decimal Memory, decimal Storage, decimal Requests)
{
    public static CostLine Zero { get; } = new(0, 0, 0, 0, 0);

    public decimal Compute => InferenceCompute + JobCompute;
    public decimal Total => InferenceCompute + JobCompute + Memory + Storage + Requests;

    public static CostLine operator +(CostLine a, CostLine b) => new(a.InferenceCompute + b.InferenceCompute, a.JobCompute + b.JobCompute,
        a.Memory + b.Memory, a.Storage + b.Storage, a.Requests + b.Requests);

    public CostLine Scale(decimal factor) => new(InferenceCompute * factor, JobCompute * factor, Memory * factor, Storage * factor, Requests * factor);
}

/// <summary>
/// The cost model (README, "Cost model"), one formula per category. Units: a GB is 10⁹ bytes; a month is 730 hours
/// (365 × 24 / 12), the usual cloud convention, so a GB stored for a whole month costs one month's price whatever the month.
/// </summary>
public static class CostArithmetic
{
    public const double BytesPerGb = 1e9;
    public const double HoursPerMonth = 730;

    /// <summary>vCPU-seconds (compute seconds × threads) × price per vCPU-hour.</summary>
    public static decimal Compute(double vcpuSeconds, PriceSheet price) => Compute(vcpuSeconds, price.VcpuHour);

    public static decimal Compute(double vcpuSeconds, decimal pricePerVcpuHour) => Money(vcpuSeconds) * pricePerVcpuHour / 3600m;

    /// <summary>Resident bytes × seconds loaded, as GB-hours, × price per GB-hour.</summary>
    public static decimal Memory(double byteSeconds, PriceSheet price) => Memory(byteSeconds, price.MemoryGbHour);

    public static decimal Memory(double byteSeconds, decimal pricePerGbHour) => Money(byteSeconds / BytesPerGb) * pricePerGbHour / 3600m;

    /// <summary>Bytes stored × hours, as GB-months, × price per GB-month.</summary>
    public static decimal Storage(double byteHours, PriceSheet price) => Money(byteHours / BytesPerGb) * price.StorageGbMonth / (decimal)HoursPerMonth;

    /// <summary>Requests (failed ones too: they were served) × price per 1,000.</summary>
    public static decimal Requests(long requests, PriceSheet price) => requests / 1000m * price.PerThousandRequests;

    public static CostLine Usage(double vcpuSeconds, double memoryByteSeconds, long requests, PriceSheet price) =>
        new(Compute(vcpuSeconds, price), 0, Memory(memoryByteSeconds, price), 0, Requests(requests, price));

    // Quantities are doubles (sums of measured times); money is decimal from here on, multiplied before it is divided,
    // so round prices give round amounts and adding thousands of rows does not drift. Values beyond decimal's range cannot come from real usage; they are clamped, not thrown.
    private static decimal Money(double quantity) =>
        double.IsFinite(quantity) ? (decimal)Math.Clamp(quantity, -1e20, 1e20) : 0m;
}
