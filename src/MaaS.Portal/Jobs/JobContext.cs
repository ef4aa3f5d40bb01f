using System.Diagnostics;
using System.Text.Json;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Jobs;

/// <summary>What a running job sees of its record: its arguments and a way to report progress.</summary>
public sealed class JobContext
{
    // Progress is written at most this often; a new stage or the end is always written at once.
    private static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(250);

    private readonly IDbContextFactory<PortalDbContext> _dbFactory;
    private readonly JobNotifier _notifier;
    private readonly Stopwatch _sinceLastReport = Stopwatch.StartNew();
    private JobRecord _record;

    internal JobContext(JobRecord record, IDbContextFactory<PortalDbContext> dbFactory, JobNotifier notifier)
    {
        _record = record;
        _dbFactory = dbFactory;
        _notifier = notifier;
    }

    public Guid JobId => _record.Id;
    public string OwnerId => _record.OwnerId;
    public string? ArgumentsJson => _record.ArgumentsJson;

    /// <summary>A line for people about what a successful run did; becomes the job's message.</summary>
    public string? Summary { get; set; }

    public T Arguments<T>() =>
        JsonSerializer.Deserialize<T>(_record.ArgumentsJson ?? "null", JsonSerializerOptions.Web)
        ?? throw new JobFailedException($"The job's arguments are missing or not a {typeof(T).Name}.");

    /// <summary>Reports progress in [0, 1] and the stage people read ("calibrating", "saving").</summary>
    public async Task ReportAsync(double progress, string stage, CancellationToken cancellationToken = default)
    {
        progress = Math.Clamp(progress, 0, 1);
        var stageChanged = stage != _record.Stage;
        if (!stageChanged && _sinceLastReport.Elapsed < ReportInterval) return;
        _sinceLastReport.Restart();

        await using var db = await _dbFactory.CreateDbContextAsync(cancellationToken);
        // Only a running record is updated: a record cancelled or failed meanwhile keeps its final state.
        await db.Jobs.Where(j => j.Id == _record.Id && j.State == JobState.Running)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.Progress, progress).SetProperty(j => j.Stage, stage)
                .SetProperty(j => j.LastReportAt, DateTimeOffset.UtcNow), cancellationToken);
        _record.Progress = progress;
        _record.Stage = stage;
        await _notifier.PublishAsync(JobView.From(_record));
    }

    internal void Replace(JobRecord record) => _record = record;
}
