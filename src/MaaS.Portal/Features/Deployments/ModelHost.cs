using System.Collections.Concurrent;
using System.Globalization;
using MaaS.Onnx.Inference;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Portal.Features.Deployments;

/// <summary>A version to serve, where its .onnx file is, and its share of the traffic.</summary>
public sealed record ServedVersion(int Version, int Weight, string ModelPath);

/// <summary>What applying a deployment cost: the slowest version's cold start and the memory all its loads added.</summary>
public sealed record ApplyReport(TimeSpan ColdStart, long MemoryGrowthBytes, IReadOnlyList<string> Notes);

/// <summary>
/// The portal's side of the in-process ONNX Runtime host: per deployment, the versions loaded and a routing table with
/// their weights. A change loads what is new first, then switches the table in one assignment, then unloads what is
/// no longer served (after its in-flight requests finish), so no request fails during a change.
/// </summary>
public sealed class ModelHost(ILogger<ModelHost> logger) : IAsyncDisposable
{
    private readonly InferenceHost _host = new();
    private readonly ConcurrentDictionary<string, Route> _routes = new(StringComparer.Ordinal);
    // One change at a time per deployment: a job and the reconciler must not interleave their loads.
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _changes = new(StringComparer.Ordinal);
    // The newest generation applied per deployment: a job that read an older row must not switch traffic back.
    private readonly ConcurrentDictionary<string, int> _generations = new(StringComparer.Ordinal);

    public static bool CudaAvailable { get; } = OrtEnv.Instance().GetAvailableProviders().Contains("CUDAExecutionProvider");

    /// <summary>The versions a deployment serves right now with their weights; picks one per request.</summary>
    public sealed record Route(IReadOnlyList<(int Version, int Weight)> Targets)
    {
        public int Pick()
        {
            var total = Targets.Sum(t => t.Weight);
            var ticket = Random.Shared.Next(total);
            foreach (var (version, weight) in Targets)
            {
                if (ticket < weight) return version;
                ticket -= weight;
            }
            return Targets[^1].Version;
        }
    }

    public bool IsServing(string deployment) => _routes.ContainsKey(deployment);

    public Route? RouteOf(string deployment) => _routes.GetValueOrDefault(deployment);

    public static ModelKey Key(string deployment, int version) => new(deployment, version.ToString(CultureInfo.InvariantCulture));

    public LoadedModel? Loaded(string deployment, int version) => _host.TryGet(Key(deployment, version), out var model) ? model : null;

    /// <summary>The versions of a deployment loaded now, weight-0 ones included, in order.</summary>
    public IReadOnlyList<int> LoadedVersions(string deployment) =>
        _host.Keys.Where(k => k.Deployment == deployment).Select(k => int.Parse(k.Version, CultureInfo.InvariantCulture)).Order().ToList();

    /// <summary>
    /// Brings one deployment in line: loads (or reloads with new settings) every version it should serve, switches the
    /// route, and unloads the versions it no longer serves. If a load fails, what was served before keeps serving.
    /// </summary>
    /// <param name="stillWanted">
    /// Asked once this change holds the deployment's lock: false when the row it came from is gone. Undeploying takes
    /// the same lock after deleting the row, so a job that read the row before an undeploy (and perhaps before a new
    /// deployment took the name) cannot load the old versions under that name afterwards.
    /// </param>
    public async Task<ApplyReport?> ApplyAsync(string deployment, int generation, IReadOnlyList<ServedVersion> versions, InferenceSettings settings, CancellationToken ct,
        Func<CancellationToken, Task<bool>>? stillWanted = null)
    {
        var gate = _changes.GetOrAdd(deployment, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            if (stillWanted is not null && !await stillWanted(ct)) return null;
            // Two deploy jobs of one deployment may run at once; the older row's job arriving last changes nothing.
            if (_generations.TryGetValue(deployment, out var applied) && applied > generation) return null;
            var coldStart = TimeSpan.Zero;
            long memory = 0;
            var notes = new List<string>();
            foreach (var served in versions)
            {
                var key = Key(deployment, served.Version);
                if (_host.TryGet(key, out var current) && current.Path == served.ModelPath && current.Settings == settings) continue;
                var model = await _host.ReplaceAsync(key, served.ModelPath, settings, ct);
                coldStart = coldStart > model.LoadReport.ColdStart ? coldStart : model.LoadReport.ColdStart;
                memory += Math.Max(0, model.LoadReport.MemoryGrowthBytes);
                if (model.BatchingUnavailable is { } why) notes.Add($"v{served.Version}: dynamic batching is off: {why}");
                if (model.LoadReport.WarmUpSkipped is { } skipped) notes.Add($"v{served.Version}: warm-up skipped: {skipped}");
            }
            _routes[deployment] = new Route(versions.Where(v => v.Weight > 0).Select(v => (v.Version, v.Weight)).ToList());
            _generations[deployment] = generation;
            // Everything loaded for this deployment that it no longer serves goes, weight-0 versions included.
            var kept = versions.Select(v => Key(deployment, v.Version)).ToHashSet();
            foreach (var gone in _host.Keys.Where(k => k.Deployment == deployment && !kept.Contains(k)))
            {
                await _host.UnloadAsync(gone, CancellationToken.None);
            }
            logger.LogInformation("Deployment {Deployment} serves {Versions}", deployment, string.Join(", ", versions.Select(v => $"v{v.Version}:{v.Weight}")));
            return new ApplyReport(coldStart, memory, notes);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Stops serving a deployment: the route goes first, then every version is released after its requests.</summary>
    public async Task UnloadAsync(string deployment)
    {
        var gate = _changes.GetOrAdd(deployment, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync();
        try
        {
            _routes.TryRemove(deployment, out _);
            _generations.TryRemove(deployment, out _);
            foreach (var key in _host.Keys.Where(k => k.Deployment == deployment))
            {
                await _host.UnloadAsync(key, CancellationToken.None);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Runs a request on the version the route picks (or the one asked for, if the deployment serves it). A version
    /// retired by a concurrent change is picked again from the new route, so a swap never fails a request.
    /// </summary>
    public async Task<(int Version, InferenceResult Result)> InferAsync(string deployment, int? version, InferenceRequest request, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            var route = RouteOf(deployment) ?? throw new ModelNotLoadedException($"Deployment '{deployment}' is not loaded.");
            var chosen = version ?? route.Pick();
            try
            {
                return (chosen, await _host.InferAsync(Key(deployment, chosen), request, ct));
            }
            catch (ModelNotLoadedException) when (attempt < 3 && version is null)
            {
                await Task.Yield();
            }
        }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
