using System.Security.Cryptography;
using MaaS.Onnx.Inference;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Deployments;

public sealed record DeployArguments(Guid DeploymentId);

/// <summary>
/// Brings the host in line with one deployment's row: checks each version's artifact against its recorded SHA-256,
/// loads and warms it up (the new session before the old one goes), switches the traffic, records cold start and
/// memory, and marks the deployment Ready — or Failed with the reason, leaving what served before serving. Running it
/// again is harmless: versions already loaded with the same settings are kept.
/// </summary>
public sealed class DeployJob(
    IDbContextFactory<PortalDbContext> dbFactory,
    ModelHost host,
    DeploymentDirectory directory,
    BlobStore blobs,
    DataPaths paths,
    ILogger<DeployJob> logger) : IPortalJob
{
    public const string Kind = "deploy";

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        var args = context.Arguments<DeployArguments>();
        await context.ReportAsync(0.02, "checking artifacts", cancellationToken);
        var outcome = await ApplyAsync(args.DeploymentId, (fraction, stage) => context.ReportAsync(fraction, stage, cancellationToken), cancellationToken);
        if (outcome.Failure is { } failure) throw new JobFailedException(failure);
        context.Summary = outcome.Summary;
        return new { deployment = outcome.Name };
    }

    public sealed record Outcome(string Name, string? Summary, string? Failure);

    /// <summary>The work of the job, also run by the reconciler at start-up (without a job record).</summary>
    public async Task<Outcome> ApplyAsync(Guid deploymentId, Func<double, string, Task>? progress, CancellationToken cancellationToken)
    {
        progress ??= (_, _) => Task.CompletedTask;
        Deployment deployment;
        List<ModelVersion> versions;
        await using (var db = await dbFactory.CreateDbContextAsync(cancellationToken))
        {
            var row = await db.Deployments.AsNoTracking().Include(d => d.Targets).SingleOrDefaultAsync(d => d.Id == deploymentId, cancellationToken);
            if (row is null) return new Outcome("", null, "The deployment was removed before it could be loaded.");
            deployment = row;
            var numbers = deployment.Targets.Select(t => t.Version).ToList();
            versions = await db.ModelVersions.AsNoTracking().Include(v => v.Files)
                .Where(v => v.ModelId == deployment.ModelId && numbers.Contains(v.Number)).ToListAsync(cancellationToken);
            await SetStateAsync(db, deployment, DeploymentStates.Loading, null, cancellationToken);
        }

        try
        {
            var served = new List<ServedVersion>();
            foreach (var target in deployment.Targets.OrderBy(t => t.Version))
            {
                var version = versions.SingleOrDefault(v => v.Number == target.Version)
                    ?? throw new DeploymentFailedException($"Version {target.Version} no longer exists.");
                await progress(0.05 + 0.25 * served.Count / deployment.Targets.Count, $"checking v{version.Number}");
                served.Add(new ServedVersion(version.Number, target.Weight, await ServingFiles.MaterialiseAsync(blobs, paths, version, cancellationToken)));
            }

            await progress(0.35, "loading and warming up");
            var report = await host.ApplyAsync(deployment.Name, deployment.Generation, served, SettingsOf(deployment), cancellationToken,
                stillWanted: async ct =>
                {
                    await using var check = await dbFactory.CreateDbContextAsync(ct);
                    return await check.Deployments.AnyAsync(d => d.Id == deploymentId, ct);
                });
            if (report is null) return new Outcome(deployment.Name, $"{deployment.Name}: a newer change was applied meanwhile, or it was undeployed; this one was skipped.", null);

            await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
            if (!await db.Deployments.AnyAsync(d => d.Id == deploymentId, CancellationToken.None))
            {
                // Undeployed while this job loaded: what it loaded must not stay in memory under that name. The undeploy
                // unloads it too; unloading here as well would take down a new deployment that has the name since.
                if (!await db.Deployments.AnyAsync(d => d.Name == deployment.Name, CancellationToken.None)) await host.UnloadAsync(deployment.Name);
                return new Outcome(deployment.Name, null, "The deployment was removed while it was being loaded.");
            }
            var now = DateTimeOffset.UtcNow;
            // Only the generation this run loaded may mark itself Ready: a newer change has its own job coming.
            var updated = await db.Deployments.Where(d => d.Id == deploymentId && d.Generation == deployment.Generation)
                .ExecuteUpdateAsync(s => s
                    .SetProperty(d => d.State, DeploymentStates.Ready)
                    .SetProperty(d => d.StateMessage, report.Notes.Count == 0 ? null : string.Join(" ", report.Notes))
                    .SetProperty(d => d.ColdStartMilliseconds, report.ColdStart.TotalMilliseconds)
                    .SetProperty(d => d.ResidentMemoryBytes, d => report.MemoryGrowthBytes > 0 ? report.MemoryGrowthBytes : d.ResidentMemoryBytes)
                    .SetProperty(d => d.ReadyAt, now), CancellationToken.None);
            directory.Forget(deployment.Name);
            var summary = $"{deployment.Name} serves {string.Join(", ", served.Select(s => $"v{s.Version} ({s.Weight})"))}; " +
                          $"cold start {report.ColdStart.TotalMilliseconds:0} ms, memory +{Format.Bytes(Math.Max(0, report.MemoryGrowthBytes))}" +
                          (updated == 0 ? " (a newer change is being applied)" : "");
            return new Outcome(deployment.Name, summary, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancelled (or the portal stopping) part-way: the row must not stay Loading for ever. The route was not
            // switched, so what served before still serves; the state says the change did not happen.
            await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
            await SetStateAsync(db, deployment, DeploymentStates.Failed,
                "The change was cancelled before it took effect; what served before keeps serving. Apply it again to retry.", CancellationToken.None);
            throw;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogWarning(ex, "Deployment {Deployment} failed to load", deployment.Name);
            var message = ex is DeploymentFailedException or ModelLoadException or InvalidDataException or IOException
                ? ex.Message
                : $"Loading failed unexpectedly: {ex.Message}";
            await using var db = await dbFactory.CreateDbContextAsync(CancellationToken.None);
            // What served before keeps serving; the state says the change failed and why.
            await SetStateAsync(db, deployment, DeploymentStates.Failed, message, CancellationToken.None);
            return new Outcome(deployment.Name, null, message);
        }
    }

    private static InferenceSettings SettingsOf(Deployment d) => new()
    {
        Instances = d.Instances,
        IntraOpThreads = d.IntraOpThreads,
        ExecutionProvider = d.ExecutionProvider == "cuda" ? ExecutionProviderKind.Cuda : ExecutionProviderKind.Cpu,
        MaxBatchSize = d.MaxBatchSize,
        BatchingDelay = TimeSpan.FromMilliseconds(d.BatchingDelayMilliseconds),
        QueueTimeout = TimeSpan.FromMilliseconds(d.RequestTimeoutMilliseconds),
    };

    private async Task SetStateAsync(PortalDbContext db, Deployment deployment, string state, string? message, CancellationToken cancellationToken)
    {
        await db.Deployments.Where(d => d.Id == deployment.Id && d.Generation == deployment.Generation)
            .ExecuteUpdateAsync(s => s.SetProperty(d => d.State, state).SetProperty(d => d.StateMessage, message), cancellationToken);
        directory.Forget(deployment.Name);
    }
}

/// <summary>A deployment that cannot be loaded, with the reason for people.</summary>
public sealed class DeploymentFailedException(string message) : Exception(message);
