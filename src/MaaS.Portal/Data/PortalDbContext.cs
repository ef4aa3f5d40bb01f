using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Features.SampleSets;
using MaaS.Portal.Features.Training;
using MaaS.Portal.Jobs;
using Microsoft.AspNetCore.Identity.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;

namespace MaaS.Portal.Data;

public sealed class PortalDbContext(DbContextOptions<PortalDbContext> options) : IdentityDbContext<PortalUser>(options)
{
    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();
    public DbSet<JobRecord> Jobs => Set<JobRecord>();
    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();
    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();
    public DbSet<VersionFile> VersionFiles => Set<VersionFile>();
    public DbSet<SampleSet> SampleSets => Set<SampleSet>();
    public DbSet<Deployment> Deployments => Set<Deployment>();
    public DbSet<DeploymentTarget> DeploymentTargets => Set<DeploymentTarget>();
    public DbSet<UsageMinute> UsageMinutes => Set<UsageMinute>();
    public DbSet<MemoryMinute> MemoryMinutes => Set<MemoryMinute>();
    public DbSet<PriceSheet> PriceSheets => Set<PriceSheet>();
    public DbSet<UsageRollup> UsageRollups => Set<UsageRollup>();
    public DbSet<StorageHour> StorageHours => Set<StorageHour>();
    public DbSet<RollupMark> RollupMarks => Set<RollupMark>();
    public DbSet<UserBudget> UserBudgets => Set<UserBudget>();
    public DbSet<BudgetAlert> BudgetAlerts => Set<BudgetAlert>();
    public DbSet<Dataset> Datasets => Set<Dataset>();
    public DbSet<TrainingRun> TrainingRuns => Set<TrainingRun>();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        base.OnModelCreating(builder);
        builder.ApplyConfigurationsFromAssembly(typeof(PortalDbContext).Assembly);
    }

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        // SQLite cannot compare or order DateTimeOffset stored as text; as a binary long it sorts correctly.
        configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
    }
}
