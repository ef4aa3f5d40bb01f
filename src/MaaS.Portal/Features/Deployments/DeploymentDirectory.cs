using System.Collections.Concurrent;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Deployments;

/// <summary>
/// Deployment rows by name for the inference hot path, kept for <see cref="Lifetime"/>: a query per request costs
/// more than a small model's inference. Changes through <see cref="DeploymentService"/> and the deploy job clear the
/// entry at once, so only the state text (Loading, Ready) may lag, by at most the lifetime.
/// </summary>
public sealed class DeploymentDirectory(IDbContextFactory<PortalDbContext> dbFactory, TimeProvider clock)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, (Deployment Row, DateTimeOffset Until)> _rows = new(StringComparer.Ordinal);

    /// <summary>The deployment (with its targets) or null when there is none by that name.</summary>
    public async Task<Deployment?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        if (_rows.TryGetValue(name, out var entry) && entry.Until > now) return entry.Row;
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.Deployments.AsNoTracking().Include(d => d.Targets).SingleOrDefaultAsync(d => d.Name == name, cancellationToken);
        // Misses are not kept: the names come from callers, and keeping every name asked for would let one key grow
        // this without bound. An unknown name costs its query, like any other 404.
        if (row is not null) _rows[name] = (row, now + Lifetime);
        else _rows.TryRemove(name, out _);
        return row;
    }

    public void Forget(string name) => _rows.TryRemove(name, out _);

    /// <summary>How many names are kept now (tests: that unknown names are not).</summary>
    internal int KeptCount => _rows.Count;
}
