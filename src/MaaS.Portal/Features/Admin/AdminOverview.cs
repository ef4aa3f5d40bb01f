using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Admin;

public sealed record AdminOverviewView(int Users, int DisabledUsers, int Admins, int Deployments, int ReadyDeployments, int FailedDeployments,
    int JobsRunning, int JobsQueued, int JobsFailed24h, int JobsSucceeded24h, int Models, int Versions, long StoredBytes, int SampleSets, long SampleBytes);

/// <summary>The admin's landing figures: one query each, counted in SQLite.</summary>
public sealed class AdminOverview(IDbContextFactory<PortalDbContext> dbFactory, TimeProvider clock)
{
    public async Task<AdminOverviewView> GetAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var since = clock.GetUtcNow().AddHours(-24);
        var adminRole = await db.Roles.Where(r => r.Name == Accounts.Roles.Admin).Select(r => r.Id).FirstOrDefaultAsync(ct);
        return new AdminOverviewView(
            await db.Users.CountAsync(ct),
            await db.Users.CountAsync(u => u.IsDisabled, ct),
            adminRole is null ? 0 : await db.UserRoles.CountAsync(r => r.RoleId == adminRole, ct),
            await db.Deployments.CountAsync(ct),
            await db.Deployments.CountAsync(d => d.State == DeploymentStates.Ready, ct),
            await db.Deployments.CountAsync(d => d.State == DeploymentStates.Failed, ct),
            await db.Jobs.CountAsync(j => j.State == JobState.Running, ct),
            await db.Jobs.CountAsync(j => j.State == JobState.Queued, ct),
            await db.Jobs.CountAsync(j => j.State == JobState.Failed && j.FinishedAt >= since, ct),
            await db.Jobs.CountAsync(j => j.State == JobState.Succeeded && j.FinishedAt >= since, ct),
            await db.Models.CountAsync(ct),
            await db.ModelVersions.CountAsync(ct),
            await db.ModelVersions.SumAsync(v => (long?)v.SizeBytes, ct) ?? 0,
            await db.SampleSets.CountAsync(ct),
            await db.SampleSets.SumAsync(s => (long?)s.Length, ct) ?? 0);
    }
}
