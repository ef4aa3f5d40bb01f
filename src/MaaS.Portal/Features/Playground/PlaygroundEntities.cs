using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace MaaS.Portal.Features.Playground;

/// <summary>
/// One request made from a playground, for the user's history of that deployment (or tried version): summaries for
/// people, timing, and the body itself when small enough to run again.
/// </summary>
/// <summary>A history row as pages list it: everything but the body, and whether one was kept to run again.</summary>
public sealed record PlaygroundHistoryItem(long Id, DateTimeOffset At, int Status, string InputSummary, string OutputSummary,
    double RoundTripMilliseconds, double? ComputeMilliseconds, bool CanRerun);

public sealed class PlaygroundHistoryEntry
{
    public long Id { get; set; }
    public required string UserId { get; set; }
    /// <summary>The deployment's name, or "model-slug/vN" for a version tried before deployment.</summary>
    public required string TargetKey { get; set; }
    public DateTimeOffset At { get; set; } = DateTimeOffset.UtcNow;
    public int Status { get; set; }
    public required string InputSummary { get; set; }
    public required string OutputSummary { get; set; }
    public double RoundTripMilliseconds { get; set; }
    public double? ComputeMilliseconds { get; set; }
    /// <summary>The V2 request body; null when it was over <see cref="PlaygroundOptions.MaxStoredRequestBytes"/>.</summary>
    public string? RequestJson { get; set; }
}

/// <summary>
/// Inputs saved under a name for a model. The owner's examples marked <see cref="Shared"/> are attached to the model:
/// everyone who can see the model gets them; the rest are their author's.
/// </summary>
public sealed class PlaygroundExample
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public Guid ModelId { get; set; }
    public required string AuthorId { get; set; }
    public required string Name { get; set; }
    public bool Shared { get; set; }
    public required string RequestJson { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

internal sealed class PlaygroundHistoryEntryConfiguration : IEntityTypeConfiguration<PlaygroundHistoryEntry>
{
    public void Configure(EntityTypeBuilder<PlaygroundHistoryEntry> entry)
    {
        entry.ToTable("PlaygroundHistory");
        // History is always read per user and target, newest first.
        entry.HasIndex(e => new { e.UserId, e.TargetKey, e.At });
        entry.Property(e => e.UserId).HasMaxLength(450);
        entry.Property(e => e.TargetKey).HasMaxLength(200);
        entry.Property(e => e.InputSummary).HasMaxLength(2000);
        entry.Property(e => e.OutputSummary).HasMaxLength(2000);
    }
}

internal sealed class PlaygroundExampleConfiguration : IEntityTypeConfiguration<PlaygroundExample>
{
    public void Configure(EntityTypeBuilder<PlaygroundExample> example)
    {
        example.ToTable("PlaygroundExamples");
        example.HasIndex(e => new { e.ModelId, e.CreatedAt });
        example.Property(e => e.AuthorId).HasMaxLength(450);
        example.Property(e => e.Name).HasMaxLength(200);
        // Examples go with their model.
        example.HasOne<Models.RegisteredModel>().WithMany().HasForeignKey(e => e.ModelId).OnDelete(DeleteBehavior.Cascade);
    }
}
