using MaaS.Onnx.Inference;
using MaaS.Portal.Features.Metering;

namespace MaaS.Portal.Tests;

public sealed class UsageMeterTests
{
    private static readonly Guid Model = Guid.NewGuid();

    [Fact]
    public async Task Record_UnderConcurrentCallsAndDrains_LosesNoCount()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 29, 10, 0, 30, TimeSpan.Zero));
        var meter = new UsageMeter(clock);
        const int Threads = 8, PerThread = 40_000;
        Guid?[] keys = [Guid.NewGuid(), Guid.NewGuid(), null];
        var drained = new List<KeyValuePair<UsageKey, UsageTotals>>();
        using var stop = new CancellationTokenSource();

        // The drainer moves the clock on, so requests land in minutes that are being retired while they record.
        var drainer = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                drained.AddRange(meter.Drain());
                clock.Advance(TimeSpan.FromSeconds(7));
            }
        });
        var writers = Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                // One writer moves the clock too, so minutes end often while the others record.
                if (t == 0 && i % 2 == 0) clock.Advance(TimeSpan.FromSeconds(30));
                meter.Record(new MeteredRequest("d", 1 + i % 2, keys[i % keys.Length], "owner", Model, i % 10 == 0 ? 500 : 200,
                    TimeSpan.FromMilliseconds(1), BytesIn: 3, BytesOut: 5));
            }
        })).ToArray();
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        await drainer;
        clock.Advance(TimeSpan.FromMinutes(1));
        drained.AddRange(meter.Drain());

        Assert.Equal(Threads * PerThread, drained.Sum(d => d.Value.Requests));
        Assert.Equal(Threads * PerThread / 10, drained.Sum(d => d.Value.Errors));
        Assert.Equal(3L * Threads * PerThread, drained.Sum(d => d.Value.BytesIn));
        Assert.Equal(5L * Threads * PerThread, drained.Sum(d => d.Value.BytesOut));
        Assert.True(drained.Select(d => d.Key.Minute).Distinct().Count() > 1, "The clock should have crossed minutes while recording.");
        Assert.Empty(meter.Drain());
    }

    [Fact]
    public void Drain_KeepsTheCurrentMinute_ButReturnsEachCountOnce()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 29, 10, 0, 10, TimeSpan.Zero));
        var meter = new UsageMeter(clock);
        meter.Record(Request(200));
        meter.Record(Request(404));

        var first = Assert.Single(meter.Drain());
        meter.Record(Request(200));
        var second = Assert.Single(meter.Drain());

        Assert.Equal((2L, 1L), (first.Value.Requests, first.Value.Errors));
        Assert.Equal((1L, 0L), (second.Value.Requests, second.Value.Errors));
        Assert.Equal(first.Key, second.Key);
        Assert.Equal(new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero), first.Key.Minute);
        Assert.Empty(meter.Drain());
    }

    [Fact]
    public void Restore_PutsDrainedTotalsBackForTheNextDrain()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 29, 10, 0, 10, TimeSpan.Zero));
        var meter = new UsageMeter(clock);
        meter.Record(Request(200));
        var drained = meter.Drain();
        clock.Advance(TimeSpan.FromMinutes(2));

        meter.Restore(drained);
        meter.Record(Request(200));

        var again = meter.Drain();
        Assert.Equal(2, again.Count);
        Assert.Equal(2, again.Sum(d => d.Value.Requests));
        Assert.Contains(again, d => d.Key.Minute == drained[0].Key.Minute && d.Value.Requests == 1);
    }

    [Fact]
    public void VcpuSeconds_AreComputeTimesThreads_AndABatchIsSharedByRows()
    {
        var alone = new InferenceResult([], new HashSet<string>(), TimeSpan.Zero, TimeSpan.FromSeconds(0.2), BatchRequests: 1, BatchRows: 1);
        var batched = alone with { BatchRequests = 3, BatchRows = 8 };

        Assert.Equal(0.8, Request(200, alone, threads: 4).VcpuSeconds, 9);
        Assert.Equal(0.2 * 2 / 8 * 4, Request(200, batched, threads: 4, rows: 2).VcpuSeconds, 9);
        Assert.Equal(0.2 / 3, Request(200, batched, rows: 0).ComputeSeconds, 9);
        Assert.Equal(0, Request(400).VcpuSeconds);
    }

    private static MeteredRequest Request(int status, InferenceResult? result = null, int threads = 1, long rows = 1) =>
        new("d", 1, null, "owner", Model, status, TimeSpan.FromMilliseconds(2), 10, 20, threads, result, rows);
}

/// <summary>A clock the test moves, readable from many threads.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
