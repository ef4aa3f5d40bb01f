using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Deployments;

public sealed class DeploymentsOptions
{
    public const string Section = "Deployments";

    [Range(1, 64)] public int MaxInstances { get; set; } = 8;
    [Range(1, 256)] public int MaxIntraOpThreads { get; set; } = 16;
    [Range(1, 4096)] public int MaxBatchSize { get; set; } = 256;
    [Range(0, 1000)] public int MaxBatchingDelayMilliseconds { get; set; } = 100;
    [Range(100, 600_000)] public int MaxRequestTimeoutMilliseconds { get; set; } = 300_000;
    [Range(1024, 4L << 30)] public long MaxRequestBytes { get; set; } = 1L << 30;
    /// <summary>Requests per second a key may make on /v2 unless an admin set its own limit.</summary>
    [Range(0.1, 1_000_000)] public double DefaultRequestsPerSecond { get; set; } = 200;
}

/// <summary>
/// Deployments as desired state: checks and stores what should be served, then queues the job that brings the host in
/// line. Used by the REST API and the pages alike; each call opens its own DbContext.
/// </summary>
public sealed partial class DeploymentService(
    IDbContextFactory<PortalDbContext> dbFactory,
    ModelRegistry registry,
    JobService jobs,
    ModelHost host,
    DeploymentDirectory directory,
    DeploymentMetrics metrics,
    BudgetService budgets,
    IOptions<DeploymentsOptions> options)
{
    public async Task<IReadOnlyList<DeploymentView>> ListAsync(string userId, bool everyone, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var rows = await db.Deployments.AsNoTracking().Include(d => d.Model).Include(d => d.Targets)
            .Where(d => everyone || d.OwnerId == userId).OrderBy(d => d.Name).ToListAsync(cancellationToken);
        return rows.Select(DeploymentView.From).ToList();
    }

    public async Task<DeploymentView?> GetAsync(string name, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var row = await FindAsync(name, userId, isAdmin, cancellationToken);
        return row is null ? null : DeploymentView.From(row);
    }

    public async Task<DeploymentChange> CreateAsync(CreateDeploymentRequest request, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        var errors = new List<string>();
        var name = request.Name?.Trim().ToLowerInvariant() ?? "";
        if (!NamePattern().IsMatch(name))
            errors.Add("'name' must be 1–63 characters of lower-case letters, digits and '-', starting with a letter or digit (it becomes /v2/models/{name}).");
        if (string.IsNullOrWhiteSpace(request.ModelId)) errors.Add("'modelId' names the model (id or slug).");
        if (request.Version is not > 0) errors.Add("'version' is the model version to serve (1 or more).");
        var deployment = new Deployment { Name = name, OwnerId = userId };
        errors.AddRange(ApplySettings(deployment, request.Settings));
        if (errors.Count > 0) return DeploymentChange.Refused(400, [.. errors]);
        // Over budget: what serves keeps serving, nothing new starts (an admin can lift it for the month).
        if ((await budgets.StatusAsync(userId, cancellationToken)).DeployRefusal is { } overBudget) return DeploymentChange.Refused(403, overBudget);

        var version = await registry.GetVersionAsync(request.ModelId!, request.Version!.Value, userId, isAdmin, cancellationToken);
        if (version is null) return DeploymentChange.Refused(404, $"Model '{request.ModelId}' has no version {request.Version} of yours.");
        if (version.Status != VersionStatuses.Ready)
            return DeploymentChange.Refused(400, $"Version {request.Version} was rejected by its quality gate; deploy a version that passed, or the parent.");

        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        if (await db.Deployments.AnyAsync(d => d.Name == name, cancellationToken))
            return DeploymentChange.Refused(409, $"A deployment named '{name}' exists already; choose another name or change that one.");
        deployment.ModelId = version.ModelId;
        deployment.Targets.Add(new DeploymentTarget { Version = version.Version, Weight = 100 });
        db.Deployments.Add(deployment);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            return DeploymentChange.Refused(409, $"A deployment named '{name}' exists already; choose another name or change that one.");
        }
        return await QueueApplyAsync(deployment.Id, userId, $"Deploy {name} ({version.ModelSlug} v{version.Version})", cancellationToken);
    }

    public async Task<DeploymentChange> UpdateAsync(string name, UpdateDeploymentRequest request, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var deployment = await db.Deployments.Include(d => d.Targets).Include(d => d.Model)
            .SingleOrDefaultAsync(d => d.Name == name.ToLowerInvariant() && (isAdmin || d.OwnerId == userId), cancellationToken);
        if (deployment is null) return DeploymentChange.Refused(404, $"There is no deployment '{name}' of yours.");

        var errors = new List<string>();
        if (request.Version is not null && request.Traffic is not null) errors.Add("Give either 'version' or 'traffic', not both.");
        if (request.Version is null && request.Traffic is null && request.Settings is null) errors.Add("Nothing to change: give 'version', 'traffic' or 'settings'.");
        IReadOnlyList<TrafficShare>? traffic = request.Version is { } single ? [new TrafficShare(single, 100)] : request.Traffic;
        if (traffic is not null)
        {
            if (traffic.Any(t => t is null)) errors.Add("'traffic' lists {\"version\", \"weight\"} objects; one is null.");
            else if (traffic.Count is 0 or > 4) errors.Add("'traffic' lists one to four versions.");
            else if (traffic.Any(t => t.Version < 1)) errors.Add("Each version in 'traffic' (or 'version') is a version number, 1 or more.");
            else if (traffic.Any(t => t.Weight is < 0 or > 1000)) errors.Add("Traffic weights are 0 to 1000 (relative shares, e.g. 90 and 10).");
            else if (traffic.Sum(t => t.Weight) <= 0) errors.Add("At least one traffic weight must be above 0.");
            else if (traffic.Select(t => t.Version).Distinct().Count() != traffic.Count) errors.Add("A version appears twice in 'traffic'.");
        }
        errors.AddRange(ApplySettings(deployment, request.Settings));
        if (errors.Count > 0) return DeploymentChange.Refused(400, [.. errors]);
        // Over budget: a new version or larger settings would load more; what serves keeps serving as it is.
        if ((await budgets.StatusAsync(deployment.OwnerId, cancellationToken)).DeployRefusal is { } overBudget) return DeploymentChange.Refused(403, overBudget);

        if (traffic is not null)
        {
            foreach (var share in traffic)
            {
                var version = await registry.GetVersionAsync(deployment.ModelId.ToString(), share.Version, deployment.OwnerId, isAdmin: true, cancellationToken);
                if (version is null) return DeploymentChange.Refused(404, $"Model '{deployment.Model!.Slug}' has no version {share.Version}.");
                if (version.Status != VersionStatuses.Ready) return DeploymentChange.Refused(400, $"Version {share.Version} was rejected by its quality gate.");
            }
            db.DeploymentTargets.RemoveRange(deployment.Targets);
            deployment.Targets = traffic.Select(t => new DeploymentTarget { DeploymentId = deployment.Id, Version = t.Version, Weight = t.Weight }).ToList();
            db.DeploymentTargets.AddRange(deployment.Targets);
        }
        deployment.Generation++;
        deployment.UpdatedAt = DateTimeOffset.UtcNow;
        await db.SaveChangesAsync(cancellationToken);
        var what = traffic is null ? "settings" : string.Join(" / ", traffic.Select(t => $"v{t.Version} {t.Weight}"));
        return await QueueApplyAsync(deployment.Id, userId, $"Update {deployment.Name}: {what}", cancellationToken);
    }

    /// <summary>Undeploy: the row goes and the host releases the sessions (requests in flight finish first).</summary>
    public async Task<bool> DeleteAsync(string name, string userId, bool isAdmin, CancellationToken cancellationToken = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var deleted = await db.Deployments.Where(d => d.Name == name.ToLowerInvariant() && (isAdmin || d.OwnerId == userId)).ExecuteDeleteAsync(cancellationToken);
        if (deleted == 0) return false;
        directory.Forget(name.ToLowerInvariant());
        metrics.Forget(name.ToLowerInvariant());
        await host.UnloadAsync(name.ToLowerInvariant());
        return true;
    }

    private async Task<DeploymentChange> QueueApplyAsync(Guid deploymentId, string userId, string title, CancellationToken cancellationToken)
    {
        var job = await jobs.EnqueueAsync<DeployJob>(DeployJob.Kind, userId, title, new DeployArguments(deploymentId));
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        var row = await db.Deployments.AsNoTracking().Include(d => d.Model).Include(d => d.Targets).SingleAsync(d => d.Id == deploymentId, cancellationToken);
        directory.Forget(row.Name);
        return new DeploymentChange(DeploymentView.From(row), job, 202, []);
    }

    private async Task<Deployment?> FindAsync(string name, string userId, bool isAdmin, CancellationToken cancellationToken)
    {
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        return await db.Deployments.AsNoTracking().Include(d => d.Model).Include(d => d.Targets)
            .SingleOrDefaultAsync(d => d.Name == name.ToLowerInvariant() && (isAdmin || d.OwnerId == userId), cancellationToken);
    }

    /// <summary>Copies the given settings onto the row, each checked against the configured limits.</summary>
    private IEnumerable<string> ApplySettings(Deployment deployment, DeploymentSettings? settings)
    {
        if (settings is null) yield break;
        var limits = options.Value;
        if (settings.Instances is { } instances)
        {
            if (instances < 1 || instances > limits.MaxInstances) yield return $"'instances' is 1 to {limits.MaxInstances}.";
            else deployment.Instances = instances;
        }
        if (settings.IntraOpThreads is { } threads)
        {
            if (threads < 1 || threads > limits.MaxIntraOpThreads) yield return $"'intraOpThreads' is 1 to {limits.MaxIntraOpThreads}.";
            else deployment.IntraOpThreads = threads;
        }
        if (settings.ExecutionProvider is { } provider)
        {
            var normalised = provider.Trim().ToLowerInvariant();
            if (normalised is not ("cpu" or "cuda")) yield return "'executionProvider' is cpu or cuda.";
            else if (normalised == "cuda" && !ModelHost.CudaAvailable) yield return "'executionProvider' cuda is not available here: this machine's ONNX Runtime has no CUDA provider.";
            else deployment.ExecutionProvider = normalised;
        }
        if (settings.MaxBatchSize is { } batch)
        {
            if (batch < 1 || batch > limits.MaxBatchSize) yield return $"'maxBatchSize' is 1 (no batching) to {limits.MaxBatchSize}.";
            else deployment.MaxBatchSize = batch;
        }
        if (settings.BatchingDelayMilliseconds is { } delay)
        {
            if (delay < 0 || delay > limits.MaxBatchingDelayMilliseconds) yield return $"'batchingDelayMilliseconds' is 0 to {limits.MaxBatchingDelayMilliseconds}.";
            else deployment.BatchingDelayMilliseconds = delay;
        }
        if (settings.RequestTimeoutMilliseconds is { } timeout)
        {
            if (timeout < 100 || timeout > limits.MaxRequestTimeoutMilliseconds) yield return $"'requestTimeoutMilliseconds' is 100 to {limits.MaxRequestTimeoutMilliseconds}.";
            else deployment.RequestTimeoutMilliseconds = timeout;
        }
        if (settings.MaxRequestBytes is { } bytes)
        {
            if (bytes < 1024 || bytes > limits.MaxRequestBytes) yield return $"'maxRequestBytes' is 1024 to {limits.MaxRequestBytes}.";
            else deployment.MaxRequestBytes = bytes;
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,62}$")]
    private static partial Regex NamePattern();
}
