using Hangfire;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Models;

public sealed record HousekeepingReport(int TempEntriesRemoved, int BlobsRemoved, long BytesFreed, int ServingCopiesRemoved);

/// <summary>
/// Removes what crashes and aborted uploads leave behind: temp files and folders, blobs no version, sample set or dataset
/// refers to, and copies of deleted bundles under serving/.
/// Only things older than an hour go, so nothing an upload or job is still writing is touched.
/// </summary>
public sealed class HousekeepingJob(DataPaths paths, BlobStore blobs, IDbContextFactory<PortalDbContext> dbFactory, ILogger<HousekeepingJob> logger) : IPortalJob
{
    public const string Kind = "housekeeping";
    public static readonly TimeSpan MinimumAge = TimeSpan.FromHours(1);

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        var cutoff = DateTime.UtcNow - MinimumAge;
        long bytes = 0;
        var tempRemoved = 0;
        await context.ReportAsync(0.1, "cleaning temp files", cancellationToken);
        await using var db = await dbFactory.CreateDbContextAsync(cancellationToken);
        // Compression and training work in tmp/<job id>.<kind>; a long job's folder stays until the job ends, however
        // long it has been quiet (it writes into subfolders, so the folder's own time is its start).
        var activeJobs = (await db.Jobs.Where(j => j.State == JobState.Queued || j.State == JobState.Running).Select(j => j.Id).ToListAsync(cancellationToken))
            .Select(id => id.ToString("N")).ToHashSet(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in new DirectoryInfo(paths.Temp).EnumerateFileSystemInfos())
        {
            try
            {
                if (activeJobs.Contains(Path.GetFileNameWithoutExtension(entry.Name)) || NewestWrite(entry) >= cutoff) continue;
                if (entry is DirectoryInfo dir)
                {
                    bytes += dir.EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                    dir.Delete(recursive: true);
                }
                else
                {
                    bytes += ((FileInfo)entry).Length;
                    entry.Delete();
                }
                tempRemoved++;
            }
            catch (IOException ex)
            {
                // Gone or changed meanwhile (its owner finished and cleaned up): the next run looks again.
                logger.LogDebug(ex, "Housekeeping skipped {Entry}", entry.FullName);
            }
        }

        await context.ReportAsync(0.5, "finding unreferenced blobs", cancellationToken);
        var referenced = (await db.VersionFiles.Select(f => f.Sha256).Distinct().ToListAsync(cancellationToken)).ToHashSet();
        // Sample sets keep their file (and vocabulary) in the same store.
        referenced.UnionWith(await db.SampleSets.Select(s => s.Sha256).ToListAsync(cancellationToken));
        referenced.UnionWith(await db.SampleSets.Where(s => s.VocabularySha256 != null).Select(s => s.VocabularySha256!).ToListAsync(cancellationToken));
        // So do datasets (their CSV).
        referenced.UnionWith(await db.Datasets.Select(d => d.Sha256).ToListAsync(cancellationToken));
        var blobsRemoved = 0;
        foreach (var hash in blobs.List().ToList())
        {
            cancellationToken.ThrowIfCancellationRequested();
            var file = new FileInfo(blobs.PathOf(hash));
            if (referenced.Contains(hash) || file.LastWriteTimeUtc >= cutoff) continue;
            // The set above may be stale by now (a registration may have reused these bytes since): asked again, locked.
            var freed = await BlobReferences.DeleteUnreferencedAsync(db, blobs, [hash], cancellationToken);
            if (freed == 0) continue;
            bytes += freed;
            blobsRemoved++;
        }

        await context.ReportAsync(0.9, "removing unused serving copies", cancellationToken);
        var servingRemoved = 0;
        var serving = new DirectoryInfo(ServingFiles.Root(paths));
        if (serving.Exists)
        {
            // A bundle is copied under serving/ when it is first loaded; once no version has those files, the copy goes.
            var bundles = (await db.VersionFiles.AsNoTracking().ToListAsync(cancellationToken))
                .GroupBy(f => f.VersionId)
                .Where(files => files.Count(f => f.Role != FileRoles.Labels) > 1)
                .Select(ServingFiles.FolderName)
                .ToHashSet(StringComparer.Ordinal);
            foreach (var copy in serving.EnumerateDirectories())
            {
                try
                {
                    if (bundles.Contains(copy.Name) || NewestWrite(copy) >= cutoff) continue;
                    bytes += copy.EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                    copy.Delete(recursive: true);
                    servingRemoved++;
                }
                catch (IOException ex)
                {
                    logger.LogDebug(ex, "Housekeeping skipped {Entry}", copy.FullName);
                }
            }
        }

        var report = new HousekeepingReport(tempRemoved, blobsRemoved, bytes, servingRemoved);
        context.Summary = $"Removed {tempRemoved} temp entries, {blobsRemoved} unreferenced blobs and {servingRemoved} unused serving copies ({Format.Bytes(bytes)}).";
        logger.LogInformation("Housekeeping: {Summary}", context.Summary);
        return report;
    }

    /// <summary>A file's last write; for a folder, the newest of everything in it (work goes on in subfolders).</summary>
    private static DateTime NewestWrite(FileSystemInfo entry) =>
        entry is DirectoryInfo dir
            ? dir.EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Select(e => e.LastWriteTimeUtc).Append(dir.LastWriteTimeUtc).Max()
            : entry.LastWriteTimeUtc;
}

/// <summary>Hangfire's recurring entry: queues a housekeeping job record, so each run shows on the Jobs page.</summary>
public sealed class HousekeepingTrigger(JobService jobs)
{
    public const string SystemOwner = "system";

    // A retry after the record was saved would queue the run twice; the next scheduled run comes soon enough.
    [AutomaticRetry(Attempts = 0)]
    public Task EnqueueAsync() => jobs.EnqueueAsync<HousekeepingJob>(HousekeepingJob.Kind, SystemOwner, "Housekeeping: temp files, unreferenced blobs, unused serving copies");
}

/// <summary>Registers the recurring job (hourly by default) at start-up (idempotent: AddOrUpdate).</summary>
public sealed class HousekeepingSchedule(IRecurringJobManager recurringJobs, IOptions<ModelsOptions> options) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        recurringJobs.AddOrUpdate<HousekeepingTrigger>("housekeeping", trigger => trigger.EnqueueAsync(), options.Value.HousekeepingCron);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
