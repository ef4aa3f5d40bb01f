using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Tests;

public sealed class UsageFlusherTests : IAsyncLifetime
{
    private readonly TestDatabase _db = new();
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 11, 29, 10, 0, 5, TimeSpan.Zero));
    private readonly ModelHost _host = new(NullLogger<ModelHost>.Instance);
    private readonly UsageMeter _meter;
    private readonly UsageFlusher _flusher;

    public UsageFlusherTests()
    {
        _meter = new UsageMeter(_clock);
        _flusher = new UsageFlusher(_meter, new LoadedMemory(_db.Factory, _host, []), _db.Factory, _clock,
            Options.Create(new MeteringOptions()), NullLogger<UsageFlusher>.Instance);
    }

    private static readonly Guid Model = Guid.NewGuid();
    private static readonly Guid Key = Guid.NewGuid();

    [Fact]
    public async Task Flush_AddsToTheMinutesRow_InsteadOfDuplicatingIt()
    {
        Record(3, Key);
        Record(2, apiKey: null, errors: 1);
        await _flusher.FlushAsync();
        _clock.Advance(TimeSpan.FromSeconds(20));
        Record(4, Key, errors: 2);
        Record(1, apiKey: null);
        await _flusher.FlushAsync();

        await using var db = await _db.Factory.CreateDbContextAsync();
        var rows = await db.UsageMinutes.OrderBy(r => r.Requests).ToListAsync();
        Assert.Equal(2, rows.Count);
        var keyless = rows.Single(r => r.ApiKeyId is null);
        var keyed = rows.Single(r => r.ApiKeyId == Key);
        Assert.Equal((3L, 1L, 30L, 60L), (keyless.Requests, keyless.Errors, keyless.BytesIn, keyless.BytesOut));
        Assert.Equal((7L, 2L), (keyed.Requests, keyed.Errors));
        // Failed requests ran nothing: 5 successful ones computed 0.5 s each on 2 threads.
        Assert.Equal(5 * 0.5, keyed.ComputeSeconds, 9);
        Assert.Equal(5 * 0.5 * 2, keyed.VcpuSeconds, 9);
        Assert.All(rows, r => Assert.Equal(new DateTimeOffset(2026, 11, 29, 10, 0, 0, TimeSpan.Zero), r.Minute));
    }

    [Fact]
    public async Task ANewMinute_GetsANewRow()
    {
        Record(2, Key);
        await _flusher.FlushAsync();
        _clock.Advance(TimeSpan.FromMinutes(1));
        Record(5, Key);
        await _flusher.FlushAsync();

        await using var db = await _db.Factory.CreateDbContextAsync();
        var rows = await db.UsageMinutes.OrderBy(r => r.Minute).ToListAsync();
        Assert.Equal([2L, 5L], rows.Select(r => r.Requests));
        Assert.Equal(TimeSpan.FromMinutes(1), rows[1].Minute - rows[0].Minute);
    }

    [Fact]
    public async Task Stopping_WritesWhatIsStillInMemory()
    {
        await _flusher.StartAsync(CancellationToken.None);
        Record(6, Key, errors: 1);

        await _flusher.StopAsync(CancellationToken.None);

        await using var db = await _db.Factory.CreateDbContextAsync();
        var row = await db.UsageMinutes.SingleAsync();
        Assert.Equal((6L, 1L), (row.Requests, row.Errors));
    }

    [Fact]
    public async Task AFlushWithNothingToWrite_WritesNothing()
    {
        await _flusher.FlushAsync();

        await using var db = await _db.Factory.CreateDbContextAsync();
        Assert.Equal(0, await db.UsageMinutes.CountAsync());
        Assert.Equal(0, await db.MemoryMinutes.CountAsync());
    }

    [Fact]
    public void SplitByMinute_CutsAnIntervalAtMinuteBoundaries()
    {
        var from = new DateTimeOffset(2026, 11, 29, 10, 0, 50, TimeSpan.Zero);

        var parts = UsageFlusher.SplitByMinute(from, from.AddSeconds(75)).ToList();

        Assert.Equal([10.0, 60.0, 5.0], parts.Select(p => Math.Round(p.Seconds, 6)));
        Assert.Equal([0, 1, 2], parts.Select(p => p.Minute.Minute));
        Assert.Empty(UsageFlusher.SplitByMinute(from, from));
    }

    private void Record(int count, Guid? apiKey, int errors = 0)
    {
        var result = new MaaS.Onnx.Inference.InferenceResult([], new HashSet<string>(), TimeSpan.FromMilliseconds(1), TimeSpan.FromSeconds(0.5), 1, 1);
        for (var i = 0; i < count; i++)
        {
            var failed = i < errors;
            _meter.Record(new MeteredRequest("scorer", 1, apiKey, "owner-1", Model, failed ? 400 : 200, TimeSpan.FromMilliseconds(3),
                BytesIn: 10, BytesOut: 20, Threads: 2, Result: failed ? null : result, Rows: 1));
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _db.Dispose();
    }
}
