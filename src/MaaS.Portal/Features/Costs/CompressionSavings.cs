using System.Text.Json;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Features.Models;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Costs;

/// <summary>
/// One deployment's monthly cost at its current traffic next to a version it could serve instead. For a deployment
/// serving a compressed version, <see cref="OtherVersion"/> is its parent and <see cref="MonthlySaving"/> what
/// compression saves; for one serving an uncompressed version, the best compressed child that passed its gate and what
/// switching would save. Nothing to compare: no row.
/// </summary>
public sealed record SavingRow(string Deployment, string OwnerId, string Model, int ServedVersion, int OtherVersion, bool ServesCompressed,
    string Recipe, decimal MonthlyCost, decimal OtherMonthlyCost, double LatencyRatio, double SizeRatio)
{
    /// <summary>Positive when the compressed version is the cheaper one (the usual case).</summary>
    public decimal MonthlySaving => ServesCompressed ? OtherMonthlyCost - MonthlyCost : MonthlyCost - OtherMonthlyCost;
}

/// <summary>
/// Compression savings in money (README, "Cost model"). Current traffic is the last 7 days', scaled to a 730-hour month.
/// The other version's cost scales inference compute by the compression report's p50 latency ratio and loaded memory by
/// its model-size ratio (an upper bound on the memory saving: the runtime's own overhead does not shrink); requests cost
/// the same. Storage is left out: both versions stay stored.
/// </summary>
public sealed class CompressionSavings(IDbContextFactory<PortalDbContext> dbFactory, CostReports reports, TimeProvider clock)
{
    public static readonly TimeSpan TrafficWindow = TimeSpan.FromDays(7);

    public async Task<IReadOnlyList<SavingRow>> EstimateAsync(string? ownerId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        var traffic = await reports.BuildAsync(new CostQuery(now - TrafficWindow, now, ownerId), ct: ct);
        var perMonth = (decimal)(CostArithmetic.HoursPerMonth / TrafficWindow.TotalHours);
        var costs = traffic.ByDeployment.Where(r => !r.Deleted).ToDictionary(r => (r.Key, r.OwnerId ?? ""), r => r.Cost.Scale(perMonth));

        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var deployments = await db.Deployments.AsNoTracking().Include(d => d.Targets).Include(d => d.Model)
            .Where(d => ownerId == null || d.OwnerId == ownerId).ToListAsync(ct);
        var modelIds = deployments.Select(d => d.ModelId).Distinct().ToList();
        var versions = (await db.ModelVersions.AsNoTracking().Where(v => modelIds.Contains(v.ModelId))
                .Select(v => new { v.ModelId, v.Number, v.ParentNumber, v.Operation, v.Status, v.ReportJson }).ToListAsync(ct))
            .Select(v => (v.ModelId, v.Number, v.ParentNumber, v.Status, Report: v.Operation == VersionOperations.Compress ? Compression(v.ReportJson) : null))
            .ToList();

        var rows = new List<SavingRow>();
        foreach (var deployment in deployments)
        {
            var served = deployment.Targets.Where(t => t.Weight > 0).OrderByDescending(t => t.Weight).FirstOrDefault();
            if (served is null || !costs.TryGetValue((deployment.Name, deployment.OwnerId), out var cost)) continue;
            var model = deployment.Model?.Name ?? deployment.ModelId.ToString();
            var current = versions.FirstOrDefault(v => v.ModelId == deployment.ModelId && v.Number == served.Version);
            if (current.Report is { } report && Ratios(report) is { } ratios)
            {
                // Serving a compressed version: its parent would have been slower and bigger by the report's ratios.
                var parent = Scale(cost, 1 / ratios.Latency, 1 / ratios.Size);
                rows.Add(new SavingRow(deployment.Name, deployment.OwnerId, model, served.Version, report.ParentVersion, true, report.Recipe,
                    cost.Total, parent.Total, ratios.Latency, ratios.Size));
                continue;
            }
            var best = versions
                .Where(v => v.ModelId == deployment.ModelId && v.ParentNumber == served.Version && v.Status == VersionStatuses.Ready && v.Report is not null)
                .Select(v => (v.Number, Report: v.Report!, Ratios: Ratios(v.Report!)))
                .Where(v => v.Ratios is not null)
                .Select(v => (v.Number, v.Report, Ratios: v.Ratios!.Value, Cost: Scale(cost, v.Ratios!.Value.Latency, v.Ratios!.Value.Size)))
                .OrderBy(v => v.Cost.Total).FirstOrDefault();
            if (best.Report is null) continue;
            rows.Add(new SavingRow(deployment.Name, deployment.OwnerId, model, served.Version, best.Number, false, best.Report.Recipe,
                cost.Total, best.Cost.Total, best.Ratios.Latency, best.Ratios.Size));
        }
        return rows.OrderByDescending(r => r.MonthlySaving).ToList();
    }

    /// <summary>Compressed ÷ parent, for p50 latency and size; null when the report lacks an evaluation to read them from.</summary>
    private static (double Latency, double Size)? Ratios(CompressionReportView report)
    {
        if (report.Evaluation is not { } e || e.Original.P50Milliseconds <= 0 || e.Candidate.P50Milliseconds <= 0 || report.SizeBefore <= 0 || report.SizeAfter <= 0)
            return null;
        return (e.Candidate.P50Milliseconds / e.Original.P50Milliseconds, (double)report.SizeAfter / report.SizeBefore);
    }

    private static CostLine Scale(CostLine cost, double latency, double size) =>
        cost with { InferenceCompute = cost.InferenceCompute * (decimal)latency, Memory = cost.Memory * (decimal)size };

    private static CompressionReportView? Compression(string? reportJson)
    {
        if (string.IsNullOrEmpty(reportJson)) return null;
        try
        {
            using var document = JsonDocument.Parse(reportJson);
            return CompressionReportView.FromReport(document.RootElement);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
