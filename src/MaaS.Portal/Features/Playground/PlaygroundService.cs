using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using MaaS.Onnx.Inference;
using MaaS.Onnx.Models;
using MaaS.Onnx.Samples;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Inference;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// Opens playgrounds and runs their requests through <see cref="InferenceEndpoint.InvokeAsync"/>, the V2 API's own
/// path: the body the form builds is the body the snippets show, parsed, checked, run and metered exactly as over REST.
/// </summary>
public sealed class PlaygroundService(
    IDbContextFactory<PortalDbContext> dbFactory,
    DeploymentDirectory directory,
    ModelHost host,
    ModelRegistry registry,
    PlaygroundSessions sessions,
    InferenceEndpoint endpoint,
    BlobStore blobs,
    ILogger<PlaygroundService> logger)
{
    // A vocab.txt is parsed once per file (MiniLM's has 30,522 lines) and shared: tokenizers are read-only.
    private static readonly ConcurrentDictionary<string, TextTokenizer> Tokenizers = new(StringComparer.Ordinal);
    private const long MaxVocabularyBytes = 8L * 1024 * 1024;

    public async Task<(PlaygroundTarget? Target, PlaygroundUnavailable? Unavailable)> OpenDeploymentAsync(
        string name, string userId, bool isAdmin, CancellationToken ct = default)
    {
        var deployment = await FindDeploymentAsync(name, userId, isAdmin, ct);
        if (deployment is null) return (null, new PlaygroundUnavailable($"There is no deployment '{name}' of yours.", true));
        var version = host.RouteOf(deployment.Name)?.Targets.FirstOrDefault().Version
                      ?? deployment.Targets.OrderBy(t => t.Version).Select(t => t.Version).FirstOrDefault();
        if (host.Loaded(deployment.Name, version) is not { } loaded)
            return (null, new PlaygroundUnavailable($"Deployment '{deployment.Name}' is not serving yet ({deployment.State}); try again once it is Ready.", false));
        var files = await registry.GetFilesAsync(deployment.ModelId.ToString(), version, deployment.OwnerId, isAdmin: true, ct);
        if (files is null) return (null, new PlaygroundUnavailable($"The model of '{deployment.Name}' is gone.", true));
        return (await TargetAsync(PlaygroundTargetKind.Deployment, deployment.Name, files.Value.ModelSlug, files.Value.Version, loaded.Signature, userId, ct), null);
    }

    /// <summary>Opens (or reuses) the user's temporary session of a version; loading a big model takes seconds.</summary>
    public async Task<(PlaygroundTarget? Target, PlaygroundUnavailable? Unavailable)> OpenVersionAsync(
        string modelSlug, int version, string userId, bool isAdmin, CancellationToken ct = default)
    {
        var files = await registry.GetFilesAsync(modelSlug, version, userId, isAdmin, ct);
        if (files is null) return (null, new PlaygroundUnavailable($"There is no version {version} of a model '{modelSlug}' of yours.", true));
        try
        {
            var session = await sessions.OpenAsync(userId, files.Value.ModelSlug, files.Value.Version, ct);
            if (host.Loaded(session.Name, version) is not { } loaded)
                return (null, new PlaygroundUnavailable("The temporary session was released while it opened; open the playground again.", false));
            return (await TargetAsync(PlaygroundTargetKind.Version, session.Name, files.Value.ModelSlug, files.Value.Version, loaded.Signature, userId, ct), null);
        }
        catch (Exception ex) when (ex is DeploymentFailedException or ModelLoadException or IOException)
        {
            logger.LogWarning(ex, "Playground session for {Model} v{Version} failed to open", modelSlug, version);
            return (null, new PlaygroundUnavailable($"Version {version} could not be loaded: {ex.Message}", false));
        }
    }

    /// <summary>
    /// Sends <paramref name="body"/> (a V2 JSON request) through the inference path. A deployment removed (or a
    /// session released) since the page opened gives an answer that says so, not an exception.
    /// </summary>
    public async Task<PlaygroundRun> RunAsync(PlaygroundTarget target, ReadOnlyMemory<byte> body, string userId, bool isAdmin, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        Deployment? deployment;
        if (target.Kind == PlaygroundTargetKind.Deployment)
        {
            deployment = await FindDeploymentAsync(target.Name, userId, isAdmin, ct);
            if (deployment is null)
                return new PlaygroundRun(404, $"Deployment '{target.Name}' is gone: it was undeployed (or renamed) since this page opened.", [], 0, null, null, Stopwatch.GetElapsedTime(started), TargetGone: true);
        }
        else
        {
            var session = sessions.Find(target.Name);
            if (session is null || !host.IsServing(target.Name))
            {
                // Released for being idle: open it again, as the first request did.
                var (reopened, unavailable) = await OpenVersionAsync(target.ModelSlug, target.Version, userId, isAdmin, ct);
                if (reopened is null)
                    return new PlaygroundRun(404, unavailable!.Message, [], 0, null, null, Stopwatch.GetElapsedTime(started), TargetGone: unavailable.NotFound);
                session = sessions.Find(target.Name);
            }
            if (session is null) return new PlaygroundRun(503, "The temporary session could not be opened again.", [], 0, null, null, Stopwatch.GetElapsedTime(started));
            session.Touch(DateTimeOffset.UtcNow);
            deployment = session.Deployment;
        }

        using var content = new MemoryStream(body.ToArray(), writable: false);
        var call = new InferenceCall(deployment, null, V2Body.JsonContentType, null, body.Length, content);
        // ONNX Runtime runs synchronously once an instance is free: off the circuit's thread, so the page stays live.
        var answer = await Task.Run(() => endpoint.InvokeAsync(call, ct, started), ct);
        var roundTrip = Stopwatch.GetElapsedTime(started);
        if (!answer.Succeeded) return new PlaygroundRun(answer.Status, answer.Error, [], answer.Version, null, null, roundTrip);
        var response = V2Codec.ParseResponse(answer.Body, answer.HeaderLength, V2RequestLimits.Default with { AllowNonFiniteFloats = true });
        return new PlaygroundRun(200, null, response.Outputs, answer.Version, answer.Result?.ComputeTime, answer.Result?.QueueTime, roundTrip);
    }

    private async Task<Deployment?> FindDeploymentAsync(string name, string userId, bool isAdmin, CancellationToken ct)
    {
        var deployment = await directory.FindAsync(name.ToLowerInvariant(), ct);
        return deployment is not null && (deployment.OwnerId == userId || isAdmin) ? deployment : null;
    }

    private async Task<PlaygroundTarget> TargetAsync(PlaygroundTargetKind kind, string name, string slug, ModelVersion version, ModelSignature signature,
        string userId, CancellationToken ct)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var model = await db.Models.AsNoTracking().Where(m => m.Id == version.ModelId).Select(m => new { m.Name, m.OwnerId }).SingleAsync(ct);
        var vocabulary = await db.SampleSets.AsNoTracking()
            .Where(s => s.ModelId == version.ModelId && s.VocabularySha256 != null)
            .OrderByDescending(s => s.CreatedAt).Select(s => s.VocabularySha256).FirstOrDefaultAsync(ct);
        return new PlaygroundTarget(kind, name, version.ModelId, slug, model.Name, version.Number, model.OwnerId == userId,
            signature, await LabelsAsync(version, ct), TokenizerFor(vocabulary));
    }

    private async Task<IReadOnlyList<string>?> LabelsAsync(ModelVersion version, CancellationToken ct)
    {
        var file = version.Files.FirstOrDefault(f => f.Role == FileRoles.Labels);
        if (file is null || !blobs.Exists(file.Sha256)) return null;
        await using var stream = blobs.OpenRead(file.Sha256);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync(ct);
        return text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
    }

    private TextTokenizer? TokenizerFor(string? sha256)
    {
        if (sha256 is null || !blobs.Exists(sha256)) return null;
        if (Tokenizers.TryGetValue(sha256, out var cached)) return cached;
        try
        {
            using var stream = blobs.OpenRead(sha256);
            if (stream.Length > MaxVocabularyBytes) return null;
            return Tokenizers.GetOrAdd(sha256, TextTokenizer.Load(stream));
        }
        catch (SampleFormatException ex)
        {
            logger.LogInformation("The vocabulary {Sha} does not load: {Reason}", sha256, ex.Message);
            return null;
        }
    }
}
