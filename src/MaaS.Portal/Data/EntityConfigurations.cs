using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Jobs;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace MaaS.Portal.Data;

internal sealed class ApiKeyConfiguration : IEntityTypeConfiguration<ApiKey>
{
    public void Configure(EntityTypeBuilder<ApiKey> key)
    {
        key.HasIndex(k => k.SecretHash).IsUnique();
        key.HasIndex(k => k.OwnerId);
        key.Property(k => k.Name).HasMaxLength(100);
        key.Property(k => k.Prefix).HasMaxLength(16);
        key.Property(k => k.SecretHash).HasMaxLength(64);
        key.Property(k => k.DeploymentScope).HasMaxLength(2000);
    }
}

internal sealed class DeploymentConfiguration : IEntityTypeConfiguration<Features.Deployments.Deployment>
{
    public void Configure(EntityTypeBuilder<Features.Deployments.Deployment> deployment)
    {
        deployment.HasIndex(d => d.Name).IsUnique();
        deployment.HasIndex(d => d.OwnerId);
        deployment.Property(d => d.Name).HasMaxLength(63);
        deployment.Property(d => d.State).HasMaxLength(20);
        deployment.Property(d => d.StateMessage).HasMaxLength(2000);
        deployment.Property(d => d.ExecutionProvider).HasMaxLength(20);
        // A model cannot be deleted while deployed (the registry answers 409); Restrict backs that up.
        deployment.HasOne(d => d.Model).WithMany().HasForeignKey(d => d.ModelId).OnDelete(DeleteBehavior.Restrict);
        deployment.HasMany(d => d.Targets).WithOne().HasForeignKey(t => t.DeploymentId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class DeploymentTargetConfiguration : IEntityTypeConfiguration<Features.Deployments.DeploymentTarget>
{
    public void Configure(EntityTypeBuilder<Features.Deployments.DeploymentTarget> target)
    {
        target.HasIndex(t => new { t.DeploymentId, t.Version }).IsUnique();
    }
}

internal sealed class JobRecordConfiguration : IEntityTypeConfiguration<JobRecord>
{
    public void Configure(EntityTypeBuilder<JobRecord> job)
    {
        job.HasIndex(j => new { j.OwnerId, j.CreatedAt });
        job.HasIndex(j => j.State);
        job.Property(j => j.Kind).HasMaxLength(50);
        job.Property(j => j.Title).HasMaxLength(300);
        job.Property(j => j.Stage).HasMaxLength(200);
        job.Property(j => j.State).HasConversion<string>().HasMaxLength(20);
        job.Ignore(j => j.IsFinished);
    }
}

internal sealed class RegisteredModelConfiguration : IEntityTypeConfiguration<Features.Models.RegisteredModel>
{
    public void Configure(EntityTypeBuilder<Features.Models.RegisteredModel> model)
    {
        model.HasIndex(m => m.Slug).IsUnique();
        model.HasIndex(m => new { m.OwnerId, m.UpdatedAt });
        model.Property(m => m.Slug).HasMaxLength(80);
        model.Property(m => m.Name).HasMaxLength(200);
        model.Property(m => m.Description).HasMaxLength(4000);
        model.Property(m => m.Tags).HasMaxLength(1000);
        model.Ignore(m => m.TagList);
        model.HasMany(m => m.Versions).WithOne(v => v.Model).HasForeignKey(v => v.ModelId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ModelVersionConfiguration : IEntityTypeConfiguration<Features.Models.ModelVersion>
{
    public void Configure(EntityTypeBuilder<Features.Models.ModelVersion> version)
    {
        version.HasIndex(v => new { v.ModelId, v.Number }).IsUnique();
        version.Property(v => v.Operation).HasMaxLength(20);
        version.Property(v => v.OperationDetail).HasMaxLength(500);
        version.Property(v => v.Status).HasMaxLength(20);
        version.Property(v => v.ModelFileName).HasMaxLength(255);
        version.Property(v => v.Sha256).HasMaxLength(64);
        version.HasMany(v => v.Files).WithOne().HasForeignKey(f => f.VersionId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class VersionFileConfiguration : IEntityTypeConfiguration<Features.Models.VersionFile>
{
    public void Configure(EntityTypeBuilder<Features.Models.VersionFile> file)
    {
        file.HasIndex(f => f.Sha256);
        file.Property(f => f.FileName).HasMaxLength(255);
        file.Property(f => f.Role).HasMaxLength(20);
        file.Property(f => f.Sha256).HasMaxLength(64);
    }
}

internal sealed class SampleSetConfiguration : IEntityTypeConfiguration<Features.SampleSets.SampleSet>
{
    public void Configure(EntityTypeBuilder<Features.SampleSets.SampleSet> set)
    {
        set.HasIndex(s => new { s.OwnerId, s.CreatedAt });
        set.HasIndex(s => s.ModelId);
        set.HasIndex(s => s.Sha256);
        set.Property(s => s.Name).HasMaxLength(200);
        set.Property(s => s.Kind).HasMaxLength(20);
        set.Property(s => s.FileName).HasMaxLength(255);
        set.Property(s => s.Sha256).HasMaxLength(64);
        set.Property(s => s.VocabularySha256).HasMaxLength(64);
        set.Property(s => s.Normalization).HasMaxLength(20);
        // A set attached to a model goes with it; its blobs are then unreferenced and housekeeping removes them.
        set.HasOne<Features.Models.RegisteredModel>().WithMany().HasForeignKey(s => s.ModelId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class UsageMinuteConfiguration : IEntityTypeConfiguration<Features.Metering.UsageMinute>
{
    public void Configure(EntityTypeBuilder<Features.Metering.UsageMinute> usage)
    {
        // Periods are read by time; one deployment's hours by name and time (the flush's upsert finds its row by these too).
        // Not unique: SQLite's unique indexes treat NULL key ids as distinct; the flusher's update-then-insert keeps one row.
        usage.HasIndex(u => u.Minute);
        usage.HasIndex(u => new { u.DeploymentName, u.Minute });
        usage.HasIndex(u => new { u.OwnerId, u.Minute });
        usage.Property(u => u.DeploymentName).HasMaxLength(63);
        usage.Property(u => u.OwnerId).HasMaxLength(450);
    }
}

internal sealed class MemoryMinuteConfiguration : IEntityTypeConfiguration<Features.Metering.MemoryMinute>
{
    public void Configure(EntityTypeBuilder<Features.Metering.MemoryMinute> memory)
    {
        memory.HasIndex(m => m.Minute);
        memory.HasIndex(m => new { m.DeploymentName, m.Minute }).IsUnique();
        memory.Property(m => m.DeploymentName).HasMaxLength(63);
        memory.Property(m => m.OwnerId).HasMaxLength(450);
    }
}

internal sealed class PriceSheetConfiguration : IEntityTypeConfiguration<Features.Costs.PriceSheet>
{
    public void Configure(EntityTypeBuilder<Features.Costs.PriceSheet> price)
    {
        price.HasIndex(p => p.EffectiveFrom);
        price.Property(p => p.Currency).HasMaxLength(3);
        price.Property(p => p.ChangedBy).HasMaxLength(256);
        price.Property(p => p.Note).HasMaxLength(500);
    }
}

internal sealed class UsageRollupConfiguration : IEntityTypeConfiguration<Features.Costs.UsageRollup>
{
    public void Configure(EntityTypeBuilder<Features.Costs.UsageRollup> rollup)
    {
        // Reports read a resolution over a period, for everyone, one owner or one deployment.
        rollup.HasIndex(r => new { r.Hours, r.Start });
        rollup.HasIndex(r => new { r.Hours, r.OwnerId, r.Start });
        rollup.HasIndex(r => new { r.Hours, r.DeploymentName, r.Start });
        rollup.Property(r => r.DeploymentName).HasMaxLength(63);
        rollup.Property(r => r.OwnerId).HasMaxLength(450);
    }
}

internal sealed class StorageHourConfiguration : IEntityTypeConfiguration<Features.Costs.StorageHour>
{
    public void Configure(EntityTypeBuilder<Features.Costs.StorageHour> storage)
    {
        storage.HasIndex(s => s.Hour);
        storage.HasIndex(s => new { s.OwnerId, s.Hour });
        storage.Property(s => s.OwnerId).HasMaxLength(450);
    }
}

internal sealed class RollupMarkConfiguration : IEntityTypeConfiguration<Features.Costs.RollupMark>
{
    public void Configure(EntityTypeBuilder<Features.Costs.RollupMark> mark)
    {
        mark.HasKey(m => m.Name);
        mark.Property(m => m.Name).HasMaxLength(32);
    }
}

internal sealed class UserBudgetConfiguration : IEntityTypeConfiguration<Features.Costs.UserBudget>
{
    public void Configure(EntityTypeBuilder<Features.Costs.UserBudget> budget)
    {
        budget.HasKey(b => b.UserId);
        budget.Property(b => b.UserId).HasMaxLength(450);
        budget.Property(b => b.SetBy).HasMaxLength(256);
        budget.Property(b => b.LiftedForMonth).HasMaxLength(7);
    }
}

internal sealed class BudgetAlertConfiguration : IEntityTypeConfiguration<Features.Costs.BudgetAlert>
{
    public void Configure(EntityTypeBuilder<Features.Costs.BudgetAlert> alert)
    {
        alert.HasIndex(a => new { a.UserId, a.Month, a.Percent }).IsUnique();
        alert.HasIndex(a => a.Month);
        alert.Property(a => a.UserId).HasMaxLength(450);
        alert.Property(a => a.Month).HasMaxLength(7);
    }
}

internal sealed class DatasetConfiguration : IEntityTypeConfiguration<Features.Training.Dataset>
{
    public void Configure(EntityTypeBuilder<Features.Training.Dataset> dataset)
    {
        dataset.HasIndex(d => new { d.OwnerId, d.CreatedAt });
        dataset.HasIndex(d => d.Sha256);
        dataset.Property(d => d.Name).HasMaxLength(200);
        dataset.Property(d => d.FileName).HasMaxLength(255);
        dataset.Property(d => d.Sha256).HasMaxLength(64);
    }
}

internal sealed class TrainingRunConfiguration : IEntityTypeConfiguration<Features.Training.TrainingRun>
{
    public void Configure(EntityTypeBuilder<Features.Training.TrainingRun> run)
    {
        run.HasKey(r => r.JobId);
        run.HasIndex(r => new { r.DatasetId, r.CreatedAt });
        run.Property(r => r.LabelColumn).HasMaxLength(200);
        run.Property(r => r.Task).HasMaxLength(20);
        run.Property(r => r.Trainer).HasMaxLength(20);
        run.Property(r => r.ModelSlug).HasMaxLength(80);
        // A run's record goes with its dataset; the model it made stays (it has its own lineage).
        run.HasOne<Features.Training.Dataset>().WithMany().HasForeignKey(r => r.DatasetId).OnDelete(DeleteBehavior.Cascade);
    }
}
