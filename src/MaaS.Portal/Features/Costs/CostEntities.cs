namespace MaaS.Portal.Features.Costs;

/// <summary>
/// One entry of the price sheet's history. A sheet is in force from <see cref="EffectiveFrom"/> (a whole UTC hour) until
/// the next entry's; past costs are always priced with the sheet in force then, so a change never rewrites them.
/// </summary>
public sealed class PriceSheet
{
    public long Id { get; set; }
    public DateTimeOffset EffectiveFrom { get; set; }
    /// <summary>ISO 4217 code. A label: changing it converts nothing.</summary>
    public required string Currency { get; set; }
    public decimal VcpuHour { get; set; }
    public decimal MemoryGbHour { get; set; }
    public decimal StorageGbMonth { get; set; }
    public decimal PerThousandRequests { get; set; }
    public required string ChangedBy { get; set; }
    public DateTimeOffset ChangedAt { get; set; }
    public string? Note { get; set; }
}

public static class RollupResolutions
{
    public const int Hour = 1;
    public const int Day = 24;
}

/// <summary>
/// Usage and loaded memory of one deployment summed over an hour or a UTC day (<see cref="Hours"/> = 1 or 24): what the
/// cost pages read instead of minute buckets. Like the minutes, rows keep names and ids as plain values, so the money
/// outlives the deployment, the model and the user. Rebuilt (delete and insert) for a period each time the roll-up
/// runs over it, so a rerun or a late minute never counts twice.
/// </summary>
public sealed class UsageRollup
{
    public long Id { get; set; }
    public int Hours { get; set; }
    public DateTimeOffset Start { get; set; }
    public required string DeploymentName { get; set; }
    public required string OwnerId { get; set; }
    public Guid ModelId { get; set; }
    public long Requests { get; set; }
    public long Errors { get; set; }
    public double ComputeSeconds { get; set; }
    public double VcpuSeconds { get; set; }
    public long BytesIn { get; set; }
    public long BytesOut { get; set; }
    public double QueueSeconds { get; set; }
    public double LatencySeconds { get; set; }
    public string LatencyHistogram { get; set; } = "";
    public double MemoryByteSeconds { get; set; }
}

/// <summary>
/// Bytes stored for one owner and model (model versions; sample sets under <see cref="Guid.Empty"/> when not attached to a
/// model) at the start of an hour, sampled by the roll-up: storage is charged per sampled hour, so deleting a version
/// stops its cost from then on without erasing what it cost before.
/// </summary>
public sealed class StorageHour
{
    public long Id { get; set; }
    public DateTimeOffset Hour { get; set; }
    public required string OwnerId { get; set; }
    public Guid ModelId { get; set; }
    public long Bytes { get; set; }
}

/// <summary>How far a roll-up has got: every period before <see cref="Through"/> is rolled up.</summary>
public sealed class RollupMark
{
    public required string Name { get; set; }
    public DateTimeOffset Through { get; set; }
}

/// <summary>A user's monthly budget (UTC calendar months), set by an admin.</summary>
public sealed class UserBudget
{
    public required string UserId { get; set; }
    public decimal MonthlyAmount { get; set; }
    /// <summary>The month (yyyy-MM) in which an admin let this user deploy past the budget; null when not lifted.</summary>
    public string? LiftedForMonth { get; set; }
    public required string SetBy { get; set; }
    public DateTimeOffset SetAt { get; set; }
}

/// <summary>A budget threshold (80 or 100 %) crossed in a month: raised once, shown to the user and to admins.</summary>
public sealed class BudgetAlert
{
    public long Id { get; set; }
    public required string UserId { get; set; }
    public required string Month { get; set; }
    public int Percent { get; set; }
    public decimal Spent { get; set; }
    public decimal Budget { get; set; }
    public DateTimeOffset RaisedAt { get; set; }
}
