using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using MaaS.Onnx.Inference;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// A version tried before it is deployed: loaded in the host under a private name, with a deployment row that exists
/// only in memory so requests take the same inference path (and metering) as a real deployment's.
/// </summary>
public sealed class PlaygroundSession(string name, string userId, Guid modelId, int version, DateTimeOffset openedAt)
{
    private long _lastUsedTicks = openedAt.UtcTicks;

    /// <summary>The private name in the host; never a valid deployment name (it holds a ':'), so it cannot collide.</summary>
    public string Name { get; } = name;
    public string UserId { get; } = userId;
    public Guid ModelId { get; } = modelId;
    public int Version { get; } = version;
    public DateTimeOffset OpenedAt { get; } = openedAt;

    public DateTimeOffset LastUsed => new(Interlocked.Read(ref _lastUsedTicks), TimeSpan.Zero);

    public void Touch(DateTimeOffset now) => Interlocked.Exchange(ref _lastUsedTicks, now.UtcTicks);

    /// <summary>What the inference path needs: owner (billed), model, the one version, default limits.</summary>
    public Deployment Deployment => new()
    {
        Name = Name,
        OwnerId = UserId,
        ModelId = ModelId,
        State = DeploymentStates.Ready,
        Targets = [new DeploymentTarget { Version = Version, Weight = 100 }],
    };
}

/// <summary>
/// The playground's temporary sessions: opened on first use per user and version, released after
/// <see cref="PlaygroundOptions.SessionIdleTimeout"/> without requests (and when a user opens more than
/// <see cref="PlaygroundOptions.MaxSessionsPerUser"/>), so trying a model costs memory only while someone tries it.
/// </summary>
public sealed class PlaygroundSessions(
    ModelHost host,
    DeploymentMetrics metrics,
    BlobStore blobs,
    DataPaths paths,
    TimeProvider clock,
    IOptions<PlaygroundOptions> options,
    ILogger<PlaygroundSessions> logger) : BackgroundService, ITemporaryModels
{
    public const string NamePrefix = "try:";

    private readonly ConcurrentDictionary<string, PlaygroundSession> _sessions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _opening = new(1, 1);

    public IReadOnlyCollection<PlaygroundSession> Open => _sessions.Values.ToList();

    /// <summary>
    /// The private name for a user's session of a version: readable in usage reports (the slug, cut to 20 characters),
    /// and unique by 48 bits of the model's id and 48 of a hash of the user's, so two models whose slugs begin alike, or
    /// two users, do not share a session (sessions are also checked against their model and user when found). It fits
    /// the 63 characters a deployment name has in the usage tables.
    /// </summary>
    public static string NameFor(string userId, Guid modelId, string modelSlug, int version)
    {
        var user = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(userId)))[..12];
        var slug = modelSlug.Length > 20 ? modelSlug[..20] : modelSlug;
        return $"{NamePrefix}{slug}:v{version}:{modelId.ToString("N")[..12]}:{user}";
    }

    /// <summary>For the memory meter: temporary sessions hold memory like deployments and are billed to their user.</summary>
    public IEnumerable<(string Name, string OwnerId, Guid ModelId, int Version, DateTimeOffset OpenedAt)> Loaded =>
        _sessions.Values.Select(s => (s.Name, s.UserId, s.ModelId, s.Version, s.OpenedAt));

    public PlaygroundSession? Find(string name) => _sessions.GetValueOrDefault(name);

    private static bool IsOf(PlaygroundSession session, string userId, ModelVersion version) =>
        session.UserId == userId && session.ModelId == version.ModelId && session.Version == version.Number;

    /// <summary>
    /// The user's session of <paramref name="version"/>, loading it when there is none. Loading checks the files'
    /// hashes as a deployment does. Throws <see cref="DeploymentFailedException"/> or <see cref="ModelLoadException"/>.
    /// </summary>
    public async Task<PlaygroundSession> OpenAsync(string userId, string modelSlug, ModelVersion version, CancellationToken ct)
    {
        var name = NameFor(userId, version.ModelId, modelSlug, version.Number);
        if (_sessions.TryGetValue(name, out var open) && IsOf(open, userId, version) && host.IsServing(name))
        {
            open.Touch(clock.GetUtcNow());
            return open;
        }
        // One load at a time: two tabs of one user must not load the same model twice, and loads are heavy anyway.
        await _opening.WaitAsync(ct);
        try
        {
            if (_sessions.TryGetValue(name, out open) && IsOf(open, userId, version) && host.IsServing(name)) return open;
            var path = await ServingFiles.MaterialiseAsync(blobs, paths, version, ct);
            var settings = new InferenceSettings { Instances = 1, IntraOpThreads = 1, MaxBatchSize = 1 };
            await host.ApplyAsync(name, 1, [new ServedVersion(version.Number, 100, path)], settings, ct);
            var session = new PlaygroundSession(name, userId, version.ModelId, version.Number, clock.GetUtcNow());
            _sessions[name] = session;
            logger.LogInformation("Playground session {Session} opened", name);
            foreach (var extra in _sessions.Values.Where(s => s.UserId == userId && s.Name != name)
                         .OrderByDescending(s => s.LastUsed).Skip(options.Value.MaxSessionsPerUser - 1).ToList())
            {
                await ReleaseAsync(extra);
            }
            return session;
        }
        finally
        {
            _opening.Release();
        }
    }

    /// <summary>Releases every session idle for longer than the timeout; returns how many went.</summary>
    public async Task<int> SweepAsync()
    {
        var cutoff = clock.GetUtcNow() - options.Value.SessionIdleTimeout;
        var idle = _sessions.Values.Where(s => s.LastUsed < cutoff).ToList();
        foreach (var session in idle) await ReleaseAsync(session);
        return idle.Count;
    }

    private async Task ReleaseAsync(PlaygroundSession session)
    {
        if (!_sessions.TryRemove(new KeyValuePair<string, PlaygroundSession>(session.Name, session))) return;
        await host.UnloadAsync(session.Name);
        // Its live figures went with it; usage stays in the meter under its name.
        metrics.Forget(session.Name);
        logger.LogInformation("Playground session {Session} released", session.Name);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SweepInterval, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    await SweepAsync();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Releasing idle playground sessions failed; trying again at the next sweep");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Shutting down: the host unloads everything.
        }
    }
}
