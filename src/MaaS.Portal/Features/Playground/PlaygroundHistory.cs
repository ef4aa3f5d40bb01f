using System.Text;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Playground;

/// <summary>The user's recent playground requests per target, and saved examples per model.</summary>
public sealed class PlaygroundHistory(IDbContextFactory<PortalDbContext> dbFactory, IOptions<PlaygroundOptions> options, TimeProvider clock)
{
    public async Task AddAsync(string userId, string targetKey, PlaygroundRun run, string inputSummary, string outputSummary, ReadOnlyMemory<byte> body,
        CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        db.Set<PlaygroundHistoryEntry>().Add(new PlaygroundHistoryEntry
        {
            UserId = userId,
            TargetKey = targetKey,
            At = clock.GetUtcNow(),
            Status = run.Status,
            InputSummary = Cut(inputSummary),
            OutputSummary = Cut(outputSummary),
            RoundTripMilliseconds = run.RoundTrip.TotalMilliseconds,
            ComputeMilliseconds = run.ComputeTime?.TotalMilliseconds,
            RequestJson = body.Length <= options.Value.MaxStoredRequestBytes ? Encoding.UTF8.GetString(body.Span) : null,
        });
        await db.SaveChangesAsync(ct);
        // Only the newest entries are kept: history is for going back a few steps, not an audit log (metering is that).
        var keep = options.Value.HistoryLength;
        var oldest = await db.Set<PlaygroundHistoryEntry>().Where(e => e.UserId == userId && e.TargetKey == targetKey)
            .OrderByDescending(e => e.At).ThenByDescending(e => e.Id).Skip(keep).Select(e => e.Id).ToListAsync(ct);
        if (oldest.Count > 0) await db.Set<PlaygroundHistoryEntry>().Where(e => oldest.Contains(e.Id)).ExecuteDeleteAsync(ct);
    }

    /// <summary>
    /// The newest requests, without their bodies: a page lists up to 50 of them after every run, and an image's body is
    /// megabytes. <see cref="RequestOfAsync"/> fetches one when it is run again.
    /// </summary>
    public async Task<IReadOnlyList<PlaygroundHistoryItem>> ListAsync(string userId, string targetKey, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Set<PlaygroundHistoryEntry>().AsNoTracking().Where(e => e.UserId == userId && e.TargetKey == targetKey)
            .OrderByDescending(e => e.At).ThenByDescending(e => e.Id).Take(options.Value.HistoryLength)
            .Select(e => new PlaygroundHistoryItem(e.Id, e.At, e.Status, e.InputSummary, e.OutputSummary, e.RoundTripMilliseconds, e.ComputeMilliseconds,
                e.RequestJson != null))
            .ToListAsync(ct);
    }

    /// <summary>One of the user's kept request bodies; null when it is not theirs or was not kept.</summary>
    public async Task<string?> RequestOfAsync(long id, string userId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Set<PlaygroundHistoryEntry>().AsNoTracking().Where(e => e.Id == id && e.UserId == userId).Select(e => e.RequestJson).SingleOrDefaultAsync(ct);
    }

    /// <summary>Saves inputs under a name; <paramref name="shared"/> is honoured for the model's owner only.</summary>
    public async Task<PlaygroundExample> SaveExampleAsync(Guid modelId, string authorId, bool isModelOwner, string name, bool shared, string requestJson,
        CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var example = new PlaygroundExample
        {
            ModelId = modelId, AuthorId = authorId, Name = Cut(name.Trim(), 200), Shared = shared && isModelOwner, RequestJson = requestJson,
            CreatedAt = clock.GetUtcNow(),
        };
        db.Set<PlaygroundExample>().Add(example);
        await db.SaveChangesAsync(ct);
        return example;
    }

    /// <summary>The user's own examples for the model and those its owner attached.</summary>
    public async Task<IReadOnlyList<PlaygroundExample>> ListExamplesAsync(Guid modelId, string userId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Set<PlaygroundExample>().AsNoTracking().Where(e => e.ModelId == modelId && (e.AuthorId == userId || e.Shared))
            .OrderBy(e => e.Name).ToListAsync(ct);
    }

    public async Task<bool> DeleteExampleAsync(Guid id, string userId, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        return await db.Set<PlaygroundExample>().Where(e => e.Id == id && e.AuthorId == userId).ExecuteDeleteAsync(ct) > 0;
    }

    private static string Cut(string text, int max = 2000) => text.Length <= max ? text : text[..(max - 1)] + "…";
}
