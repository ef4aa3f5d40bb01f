using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Deployments;

/// <summary>
/// At start-up the host is empty while the database says what should be served: this loads every deployment again
/// (the same work as the deploy job), one after another in the background so the portal answers meanwhile. Until it
/// is done, /v2/health/ready says 400 (not ready); a deployment that fails to load is marked Failed and the others still load.
/// </summary>
public sealed class DeploymentReconciler(IServiceProvider services, IDbContextFactory<PortalDbContext> dbFactory, ILogger<DeploymentReconciler> logger)
    : BackgroundService
{
    private volatile bool _startupDone;

    public bool StartupDone => _startupDone;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await using var db = await dbFactory.CreateDbContextAsync(stoppingToken);
            var ids = await db.Deployments.AsNoTracking().OrderBy(d => d.Name).Select(d => d.Id).ToListAsync(stoppingToken);
            foreach (var id in ids)
            {
                try
                {
                    using var scope = services.CreateScope();
                    var outcome = await scope.ServiceProvider.GetRequiredService<DeployJob>().ApplyAsync(id, null, stoppingToken);
                    if (outcome.Failure is { } failure) logger.LogWarning("Deployment {Deployment} did not come back: {Failure}", outcome.Name, failure);
                    else logger.LogInformation("Deployment {Deployment} is back: {Summary}", outcome.Name, outcome.Summary);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One deployment's trouble must not keep the others from loading.
                    logger.LogError(ex, "Reloading deployment {Id} failed", id);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Reloading deployments at start-up failed");
        }
        finally
        {
            _startupDone = true;
        }
    }
}
