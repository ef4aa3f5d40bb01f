using MaaS.Onnx.Compression;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Features.Models;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Tests;

/// <summary>What compression saves, from a week of real minute buckets and the compression report's latency and size figures.</summary>
public sealed class CompressionSavingsTests : IDisposable
{
    private readonly TestDatabase _db = new();
    private readonly CompressionSavings _savings;

    public CompressionSavingsTests()
    {
        var prices = new PriceSheets(_db.Factory, Options.Create(new CostsOptions { VcpuHour = 3.6m, MemoryGbHour = 1m, PerThousandRequests = 1m }), TimeProvider.System);
        _savings = new CompressionSavings(_db.Factory, new CostReports(_db.Factory, prices, TimeProvider.System), TimeProvider.System);
    }

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task ACompressedVersion_IsComparedWithItsParent_AndAnUncompressedOne_WithItsBestChildThatPassed()
    {
        var owner = await _db.AddUserAsync("saver@test.local");
        var modelId = await _db.AddModelAsync(owner.Id, "scorer", 1, 2, 3);
        await MarkCompressedAsync(modelId, 2, p50Before: 10, p50After: 4, sizeBefore: 100, sizeAfter: 25, passed: true);
        await MarkCompressedAsync(modelId, 3, p50Before: 10, p50After: 2, sizeBefore: 100, sizeAfter: 50, passed: false);
        await _db.AddDeploymentAsync(owner.Id, modelId, "served-compressed", DeploymentStates.Ready, (2, 100));
        await _db.AddDeploymentAsync(owner.Id, modelId, "served-original", DeploymentStates.Ready, (1, 100));
        // A week each: one vCPU-hour (3.6), one GB-hour of memory (1) and 1,000 requests (1).
        foreach (var name in new[] { "served-compressed", "served-original" }) await AddWeekAsync(name, owner.Id, modelId);

        var rows = await _savings.EstimateAsync(owner.Id);

        var perMonth = 730m / 168m;
        var compressed = rows.Single(r => r.Deployment == "served-compressed");
        Assert.True(compressed.ServesCompressed);
        Assert.Equal((2, 1), (compressed.ServedVersion, compressed.OtherVersion));
        Assert.Equal((0.4, 0.25), (compressed.LatencyRatio, compressed.SizeRatio));
        // Now: compute 3.6 + memory 1 + requests 1 a week. The parent: compute ÷ 0.4, memory ÷ 0.25, requests the same.
        AssertMoney((3.6m + 1m + 1m) * perMonth, compressed.MonthlyCost);
        AssertMoney((9m + 4m + 1m) * perMonth, compressed.OtherMonthlyCost);
        AssertMoney((14m - 5.6m) * perMonth, compressed.MonthlySaving);

        // The original could switch to v2 (v3 is faster but failed its gate): compute × 0.4, memory × 0.25.
        var original = rows.Single(r => r.Deployment == "served-original");
        Assert.False(original.ServesCompressed);
        Assert.Equal(2, original.OtherVersion);
        AssertMoney((1.44m + 0.25m + 1m) * perMonth, original.OtherMonthlyCost);
        AssertMoney((5.6m - 2.69m) * perMonth, original.MonthlySaving);
    }

    private static void AssertMoney(decimal expected, decimal actual) => Assert.Equal((double)expected, (double)actual, 6);

    private async Task MarkCompressedAsync(Guid modelId, int number, double p50Before, double p50After, long sizeBefore, long sizeAfter, bool passed)
    {
        var evaluation = new EvaluationResult(sizeBefore, sizeAfter, new Latency(p50Before, p50Before), new Latency(p50After, p50After), [], 8, true);
        var report = new CompressionReportView("int8-dynamic", 1, new Dictionary<string, string>(), sizeBefore, sizeAfter, [], evaluation,
            new GateView(new QualityGate(0.99, null, null), passed, passed ? [] : ["too far off"]), 1);
        await using var db = await _db.Factory.CreateDbContextAsync();
        var version = await db.ModelVersions.SingleAsync(v => v.ModelId == modelId && v.Number == number);
        version.Operation = VersionOperations.Compress;
        version.ParentNumber = 1;
        version.ReportJson = report.ToReportJson();
        version.Status = passed ? VersionStatuses.Ready : VersionStatuses.RejectedByGate;
        await db.SaveChangesAsync();
    }

    private async Task AddWeekAsync(string deployment, string owner, Guid modelId)
    {
        var minute = UsageMeter.MinuteOf(DateTimeOffset.UtcNow.AddDays(-3));
        await using var db = await _db.Factory.CreateDbContextAsync();
        db.UsageMinutes.Add(new UsageMinute { Minute = minute, DeploymentName = deployment, Version = 1, OwnerId = owner, ModelId = modelId, Requests = 1000, VcpuSeconds = 3600, ComputeSeconds = 3600 });
        db.MemoryMinutes.Add(new MemoryMinute { Minute = minute, DeploymentName = deployment, OwnerId = owner, ModelId = modelId, ResidentBytes = 1, ByteSeconds = 3.6e12 });
        await db.SaveChangesAsync();
    }
}
