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
