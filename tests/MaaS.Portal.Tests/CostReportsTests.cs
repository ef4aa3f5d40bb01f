using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Metering;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Tests;

/// <summary>
/// Cost reports on a real SQLite database: the arithmetic against hand-computed figures, a price change inside the
/// period, the same money before and after the roll-up, time zones, storage and jobs.
/// </summary>
public sealed class CostReportsTests : IDisposable
{
    private static readonly DateTimeOffset Day1 = new(2026, 11, 10, 0, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset Day3 = Day1.AddDays(2);
    private static readonly Guid ModelA = Guid.NewGuid();
    private static readonly Guid ModelB = Guid.NewGuid();

    private readonly TestDatabase _db = new();
    private readonly ManualClock _clock = new(Day3.AddHours(6).AddMinutes(10));
    private readonly PriceSheets _prices;
    private readonly CostReports _reports;
    private readonly CostRollup _rollup;

    // The defaults in force until the change: easy numbers.
    private readonly CostsOptions _options = new() { Currency = "EUR", VcpuHour = 3.6m, MemoryGbHour = 1m, StorageGbMonth = 730m, PerThousandRequests = 2m };

    public CostReportsTests()
    {
        _prices = new PriceSheets(_db.Factory, Options.Create(_options), _clock);
        _reports = new CostReports(_db.Factory, _prices, _clock);
        _rollup = new CostRollup(_db.Factory, _clock, NullLogger<CostRollup>.Instance);
    }

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task APriceChangeScheduledAfterAnother_KeepsTheEarlierChangesPrices_ItDoesNotName()
    {
        var now = _clock.GetUtcNow();
        var (three, six) = (PriceSheets.HourOf(now).AddHours(3), PriceSheets.HourOf(now).AddHours(6));
        Assert.Empty((await _prices.ChangeAsync(new PriceChange(null, 6m, null, null, null, three, "dearer compute"), "admin")).Errors);

        // Later, a currency change from six hours on, naming no prices: compute stays at 6, not back to today's 3.6.
        var (sheet, errors) = await _prices.ChangeAsync(new PriceChange("USD", null, null, null, null, six, "currency"), "admin");

        Assert.Empty(errors);
        Assert.Equal(("USD", 6m, 1m), (sheet!.Currency, sheet.VcpuHour, sheet.MemoryGbHour));
    }

    [Fact]
    public void Arithmetic_FollowsTheCostModel()
    {
        var price = new PriceSheet { Currency = "EUR", VcpuHour = 3.6m, MemoryGbHour = 0.5m, StorageGbMonth = 0.73m, PerThousandRequests = 0.4m, ChangedBy = "t" };

        Assert.Equal(0.001m, CostArithmetic.Compute(1, price));                       // 1 vCPU-second = 1/3600 h × 3.6
        Assert.Equal(0.5m, CostArithmetic.Memory(1e9 * 3600, price));                 // 1 GB for an hour
        Assert.Equal(0.73m, CostArithmetic.Storage(1e9 * 730, price));                // 1 GB for a 730-hour month
        Assert.Equal(1m, CostArithmetic.Requests(2500, price));                       // 2.5 thousand × 0.4
        Assert.Equal(0m, CostArithmetic.Compute(double.NaN, price));
    }

    [Fact]
    public async Task APriceChangeInsideThePeriod_PricesEachSideWithItsOwnSheet()
    {
        await AddPriceAsync(Day1.AddDays(1), vcpuHour: 7.2m, perThousand: 4m);
        // Day 1: 10 minutes × (100 requests, 36 vCPU-seconds); day 2: the same again.
        await AddMinutesAsync("alpha", "u1", ModelA, Day1.AddHours(5), minutes: 10, requests: 100, vcpuSeconds: 36);
        await AddMinutesAsync("alpha", "u1", ModelA, Day1.AddDays(1).AddHours(5), minutes: 10, requests: 100, vcpuSeconds: 36);

        var report = await _reports.BuildAsync(new CostQuery(Day1, Day3));

        // Before: 360 vCPU-s = 0.1 h × 3.6 = 0.36; 1,000 requests × 2/1000 = 2. After: 0.72 and 4.
        Assert.Equal(0.36m + 0.72m, report.Totals.InferenceCompute);
        Assert.Equal(2m + 4m, report.Totals.Requests);
        Assert.Equal(2000, report.Requests);
        Assert.Equal(["EUR"], report.Currencies);
    }

    [Fact]
    public async Task RollingUp_ChangesNoMoney_AndKeepsTheTablesAndChart()
    {
        await AddPriceAsync(Day1.AddDays(1).AddHours(3), vcpuHour: 7.2m, perThousand: 4m);
        await AddMinutesAsync("alpha", "u1", ModelA, Day1.AddHours(1).AddMinutes(50), minutes: 30, requests: 7, vcpuSeconds: 1.5, errors: 1);
        await AddMinutesAsync("beta", "u2", ModelB, Day1.AddDays(1).AddHours(2).AddMinutes(40), minutes: 45, requests: 3, vcpuSeconds: 0.25);
        await AddMemoryAsync("beta", "u2", ModelB, Day1.AddDays(1).AddHours(2), minutes: 120, bytes: 500_000_000);
        // Edges inside an hour: the report reads minutes for them and roll-ups for the whole hours and days between.
        var from = Day1.AddHours(1).AddMinutes(55);
        var to = Day3.AddMinutes(-7);

        var before = await _reports.BuildAsync(new CostQuery(from, to));
        var result = await _rollup.RunAsync();
        var after = await _reports.BuildAsync(new CostQuery(from, to));

        Assert.True(result.Hours >= 48 && result.Days == 2, $"{result}");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            Assert.True(await db.UsageRollups.AnyAsync(r => r.Hours == RollupResolutions.Day));
        }
        Assert.True(before.Totals.Total > 0);
        AssertSameMoney(before.Totals, after.Totals);
        Assert.Equal(before.Requests, after.Requests);
        Assert.Equal(before.Errors, after.Errors);
        Assert.Equal(before.ByDeployment.Select(r => (r.Key, r.Requests)), after.ByDeployment.Select(r => (r.Key, r.Requests)));
        AssertSameMoney(before.Series.Aggregate(CostLine.Zero, (s, p) => s + p.Cost), after.Totals);
        Assert.Equal("hour", after.SeriesUnit);
        Assert.Equal(47, after.Series.Count);

        // A rerun rebuilds the same rows: nothing counts twice.
        await _rollup.RunAsync();
        AssertSameMoney(after.Totals, (await _reports.BuildAsync(new CostQuery(from, to))).Totals);
    }

    [Fact]
    public async Task BreakdownTables_GroupByUserModelAndDeployment_WithErrorRateAndP95()
    {
        var u1 = await _db.AddUserAsync("spender@test.local");
        await AddMinutesAsync("alpha", u1.Id, ModelA, Day1.AddHours(3), minutes: 5, requests: 20, vcpuSeconds: 100, errors: 2, latency: 0.010);
        await AddMinutesAsync("beta", "gone-user-id-123", ModelB, Day1.AddHours(3), minutes: 5, requests: 10, vcpuSeconds: 1, latency: 0.200);

        var report = await _reports.BuildAsync(new CostQuery(Day1, Day3));

        Assert.Equal("spender@test.local", report.ByUser[0].Label);
        Assert.False(report.ByUser[0].Deleted);
        var gone = report.ByUser.Single(r => r.Key == "gone-user-id-123");
        Assert.True(gone.Deleted);
        Assert.Equal("deleted user gone-use", gone.Label);
        var alpha = report.ByDeployment.Single(r => r.Key == "alpha");
        Assert.Equal((100L, 10L), (alpha.Requests, alpha.Errors));
        Assert.Equal(0.1, alpha.ErrorRate, 9);
        Assert.InRange(alpha.P95Seconds!.Value, 0.010 / 1.2, 0.010 * 1.2);
        Assert.True(alpha.Deleted, "no deployment row exists: its usage is labelled deleted");
        // 100 fast requests and 50 slow ones: the 95th percentile overall is a slow one.
        Assert.InRange(report.P95Seconds!.Value, 0.200 / 1.2, 0.200 * 1.2);
        Assert.Equal(2, report.ByModel.Count);
        Assert.Equal(report.Totals.Total, report.ByUser.Sum(r => r.Cost.Total));
    }

    [Fact]
    public async Task DailyBuckets_FollowTheReadersTimeZone()
    {
        var berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
        // 23:30 UTC on the 10th is 00:30 on the 11th in Berlin (UTC+1 in November).
        await AddMinutesAsync("alpha", "u1", ModelA, Day1.AddHours(23).AddMinutes(30), minutes: 1, requests: 1000, vcpuSeconds: 0);
        var (period, error) = CostPeriods.Resolve(CostPeriodPresets.Custom, new DateOnly(2026, 11, 10), new DateOnly(2026, 11, 12), berlin, _clock.GetUtcNow());
        Assert.Null(error);

        var local = await _reports.BuildAsync(new CostQuery(period!.From, period.To, Zone: berlin));
        var utc = await _reports.BuildAsync(new CostQuery(Day1, Day1.AddDays(3)));

        Assert.Equal(Day1.AddHours(-1), period.From);
        Assert.Equal(["Tue 10 Nov", "Wed 11 Nov", "Thu 12 Nov"], local.Series.Select(p => p.Label));
        Assert.Equal([0L, 1000L, 0L], local.Series.Select(p => p.Requests));
        Assert.Equal([1000L, 0L, 0L], utc.Series.Select(p => p.Requests));
    }

    [Fact]
    public async Task Storage_IsChargedFromWhenAVersionWasMade_AndSamplesAgreeWithTheLiveFigure()
    {
        var owner = await _db.AddUserAsync("keeper@test.local");
        var model = await _db.AddModelAsync(owner.Id, "kept", 1);
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            var version = await db.ModelVersions.SingleAsync(v => v.ModelId == model);
            version.SizeBytes = 2_000_000_000;
            version.CreatedAt = _clock.GetUtcNow().AddHours(-10);
            await db.SaveChangesAsync();
        }
        var now = _clock.GetUtcNow();

        var live = await _reports.BuildAsync(new CostQuery(now.AddDays(-1), now));
        // 2 GB × 10 h = 20 GB-hours = 20/730 GB-months × 730 = 20.
        Assert.Equal(20m, Math.Round(live.Totals.Storage, 6));
        Assert.Equal("kept", live.ByModel.Single().Label);

        await _rollup.RunAsync();
        _clock.Advance(TimeSpan.FromHours(1));
        await _rollup.RunAsync();
        var later = _clock.GetUtcNow();
        var sampled = await _reports.BuildAsync(new CostQuery(now.AddDays(-1), later));
        // Ten hours before the first sample (live), then the sampled hours up to now: 2 GB for 11 hours in all, give or take the
        // whole hours samples count.
        Assert.InRange(sampled.Totals.Storage, 21.5m, 24m);
    }

    [Fact]
    public async Task SomethingDeletedAfterItsHourWasSampled_StillCountsForThatHour_WhenTheHourIsSampledAgain()
    {
        var owner = await _db.AddUserAsync("deleter@test.local");
        var model = await _db.AddModelAsync(owner.Id, "deleted-later", 1);
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            var version = await db.ModelVersions.SingleAsync(v => v.ModelId == model);
            (version.SizeBytes, version.CreatedAt) = (1_000_000_000, _clock.GetUtcNow().AddHours(-3));
            await db.SaveChangesAsync();
        }
        var hour = PriceSheets.HourOf(_clock.GetUtcNow());
        await _rollup.RunAsync();

        // Deleted later in the same hour; the next run samples that hour again.
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            await db.ModelVersions.Where(v => v.ModelId == model).ExecuteDeleteAsync();
        }
        _clock.Advance(TimeSpan.FromHours(1));
        await _rollup.RunAsync();

        await using var check = await _db.Factory.CreateDbContextAsync();
        Assert.Equal(1_000_000_000, (await check.StorageHours.SingleAsync(s => s.Hour == hour && s.OwnerId == owner.Id)).Bytes);
        Assert.False(await check.StorageHours.AnyAsync(s => s.Hour == hour.AddHours(1) && s.OwnerId == owner.Id));
    }

    [Fact]
    public async Task SpendingInAMonthsLastHour_RaisesThatMonthsAlert_AtTheFirstCheckOfTheNext()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 30, 23, 5, 0, TimeSpan.Zero));
        var prices = new PriceSheets(_db.Factory, Options.Create(_options), clock);
        var budgets = new BudgetService(_db.Factory, new CostReports(_db.Factory, prices, clock), prices, clock);
        var user = await _db.AddUserAsync("late-spender@test.local");
        Assert.Null(await budgets.SetAsync(user.Id, 1m, "admin"));
        Assert.Equal(0, await budgets.RaiseAlertsAsync());

        // 23:40 on the last day: 1,000 requests at 2 per thousand = 2, twice the budget. Nobody checks before midnight.
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            db.UsageMinutes.Add(new UsageMinute
            {
                Minute = new DateTimeOffset(2026, 11, 30, 23, 40, 0, TimeSpan.Zero), DeploymentName = "d", OwnerId = user.Id, ModelId = Guid.NewGuid(), Requests = 1000,
            });
            await db.SaveChangesAsync();
        }
        clock.Advance(TimeSpan.FromHours(1));

        Assert.Equal(2, await budgets.RaiseAlertsAsync());
        await using var check = await _db.Factory.CreateDbContextAsync();
        Assert.Equal([80, 100], await check.BudgetAlerts.Where(a => a.UserId == user.Id && a.Month == "2026-11").Select(a => a.Percent).OrderBy(p => p).ToListAsync());
        Assert.False(await check.BudgetAlerts.AnyAsync(a => a.UserId == user.Id && a.Month == "2026-12"));
    }

    [Fact]
    public async Task BackgroundJobs_CountTheirRunningTime_ForTheirOwnerAndModel()
    {
        var owner = await _db.AddUserAsync("compressor@test.local");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            db.Jobs.Add(new MaaS.Portal.Jobs.JobRecord
            {
                Kind = "compress", OwnerId = owner.Id, Title = "t", State = MaaS.Portal.Jobs.JobState.Succeeded,
                StartedAt = Day1.AddHours(2), FinishedAt = Day1.AddHours(2).AddSeconds(360), ArgumentsJson = $"{{\"modelId\":\"{ModelA}\",\"version\":1}}",
            });
            await db.SaveChangesAsync();
        }

        var report = await _reports.BuildAsync(new CostQuery(Day1, Day3));

        Assert.Equal(0.36m, report.Totals.JobCompute);   // 0.1 vCPU-hour × 3.6
        Assert.Equal(0.36m, report.ByUser.Single(r => r.Key == owner.Id).Cost.JobCompute);
        Assert.Equal(0.36m, report.ByModel.Single(r => r.Key == ModelA.ToString()).Cost.JobCompute);
    }

    [Fact]
    public async Task ALongJob_IsDrawnInTheHoursItRan_AndTheHoursAddUpToItsCost()
    {
        var owner = await _db.AddUserAsync("trainer@test.local");
        await using (var db = await _db.Factory.CreateDbContextAsync())
        {
            // 10:30 to 13:15 UTC: 30, 60, 60 and 15 minutes in four hours.
            db.Jobs.Add(new MaaS.Portal.Jobs.JobRecord
            {
                Kind = "train", OwnerId = owner.Id, Title = "t", State = MaaS.Portal.Jobs.JobState.Succeeded,
                StartedAt = Day1.AddHours(10.5), FinishedAt = Day1.AddHours(13.25),
            });
            await db.SaveChangesAsync();
        }

        var report = await _reports.BuildAsync(new CostQuery(Day1, Day1.AddDays(1)));

        Assert.Equal("hour", report.SeriesUnit);
        var byHour = report.Series.Where(p => p.Cost.JobCompute != 0).ToDictionary(p => p.Start, p => p.Cost.JobCompute);
        // 3.6 per vCPU-hour: 1.8 for half an hour, 3.6 for a whole one, 0.9 for a quarter.
        Assert.Equal(new Dictionary<DateTimeOffset, decimal>
        {
            [Day1.AddHours(10)] = 1.8m, [Day1.AddHours(11)] = 3.6m, [Day1.AddHours(12)] = 3.6m, [Day1.AddHours(13)] = 0.9m,
        }, byHour);
        Assert.Equal(9.9m, report.Totals.JobCompute);
        Assert.Equal(report.Totals.JobCompute, report.Series.Sum(p => p.Cost.JobCompute));
    }

    [Theory]
    [InlineData("2026-11-20", "2026-11-10", "ends")]
    [InlineData("2024-01-01", "2026-01-02", "two years")]
    public void CustomPeriods_ThatMakeNoSense_AreRefusedWithTheReason(string first, string last, string reason)
    {
        var (period, error) = CostPeriods.Resolve(CostPeriodPresets.Custom, DateOnly.Parse(first), DateOnly.Parse(last), TimeZoneInfo.Utc, _clock.GetUtcNow());

        Assert.Null(period);
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Today_StartsAtLocalMidnight()
    {
        var tokyo = TimeZoneInfo.FindSystemTimeZoneById("Asia/Tokyo");
        var (period, _) = CostPeriods.Resolve(CostPeriodPresets.Today, null, null, tokyo, _clock.GetUtcNow());

        // 06:10 UTC on the 12th is 15:10 in Tokyo; its midnight was 15:00 UTC on the 11th.
        Assert.Equal(new DateTimeOffset(2026, 11, 11, 15, 0, 0, TimeSpan.Zero), period!.From);
        Assert.Equal(_clock.GetUtcNow(), period.To);
    }

    [Theory]
    [InlineData("Europe")]
    [InlineData("../../etc/passwd")]
    [InlineData("Not/AZone")]
    [InlineData("")]
    public void AZoneTheBrowserSendsThatIsNoZone_FallsBackToUtc(string id) => Assert.Same(TimeZoneInfo.Utc, CostPeriods.Zone(id));

    private static void AssertSameMoney(CostLine expected, CostLine actual)
    {
        Assert.Equal((double)expected.InferenceCompute, (double)actual.InferenceCompute, 9);
        Assert.Equal((double)expected.Memory, (double)actual.Memory, 9);
        Assert.Equal((double)expected.Storage, (double)actual.Storage, 9);
        Assert.Equal((double)expected.Requests, (double)actual.Requests, 9);
        Assert.Equal((double)expected.JobCompute, (double)actual.JobCompute, 9);
    }

    private async Task AddPriceAsync(DateTimeOffset from, decimal vcpuHour, decimal perThousand)
    {
        await using var db = await _db.Factory.CreateDbContextAsync();
        db.PriceSheets.Add(new PriceSheet
        {
            EffectiveFrom = from, Currency = "EUR", VcpuHour = vcpuHour, MemoryGbHour = 1m, StorageGbMonth = 730m, PerThousandRequests = perThousand,
            ChangedBy = "test", ChangedAt = from.AddDays(-1),
        });
        await db.SaveChangesAsync();
    }

    private async Task AddMinutesAsync(string deployment, string owner, Guid model, DateTimeOffset start, int minutes, long requests, double vcpuSeconds,
        long errors = 0, double latency = 0.005)
    {
        await using var db = await _db.Factory.CreateDbContextAsync();
        for (var i = 0; i < minutes; i++)
        {
            var histogram = new LatencyHistogram();
            histogram.Add(LatencyHistogram.BucketOf(latency), requests);
            db.UsageMinutes.Add(new UsageMinute
            {
                Minute = start.AddMinutes(i), DeploymentName = deployment, Version = 1, OwnerId = owner, ModelId = model, Requests = requests, Errors = errors,
                ComputeSeconds = vcpuSeconds, VcpuSeconds = vcpuSeconds, LatencySeconds = latency * requests, LatencyHistogram = histogram.ToString(),
            });
        }
        await db.SaveChangesAsync();
    }

    private async Task AddMemoryAsync(string deployment, string owner, Guid model, DateTimeOffset start, int minutes, long bytes)
    {
        await using var db = await _db.Factory.CreateDbContextAsync();
        for (var i = 0; i < minutes; i++)
        {
            db.MemoryMinutes.Add(new MemoryMinute
            {
                Minute = start.AddMinutes(i), DeploymentName = deployment, OwnerId = owner, ModelId = model, ResidentBytes = bytes, ByteSeconds = bytes * 60.0,
            });
        }
        await db.SaveChangesAsync();
    }
}
