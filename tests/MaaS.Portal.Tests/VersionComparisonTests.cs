using System.Text.Json;
using Bunit;
using MaaS.Onnx.Compression;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Models;

namespace MaaS.Portal.Tests;

public sealed class VersionComparisonTests : MudTestBase
{
    /// <summary>v2 made from v1 by FP16: half the size, half the latency, cosine 0.9995 on its one output.</summary>
    private static CompressionReportView Fp16Report(bool passed = true) => new(
        CompressionRecipes.Fp16, ParentVersion: 1, new Dictionary<string, string> { ["keepIoTypes"] = "true" },
        SizeBefore: 4_000_000, SizeAfter: 2_000_000,
        [
            new PassView("fp16", new Dictionary<string, string>(), Rewritten: 2, Skipped: 1,
                [
                    new NodeChange("fc1", "MatMul", NodeAction.Rewritten),
                    new NodeChange("fc2", "MatMul", NodeAction.Rewritten),
                    new NodeChange("argmax", "ArgMax", NodeAction.Skipped, "no float16 kernel in ONNX Runtime"),
                ],
                NodesTruncated: false, ["FP16 usually runs slower than float32 on CPUs."], new Dictionary<string, double> { ["castNodes"] = 2 }),
        ],
        new EvaluationResult(4_000_000, 2_000_000, new Latency(2.0, 4.0), new Latency(1.0, 3.0),
            [new OutputAgreement("logits", MaxAbsError: 0.002, MeanRelativeError: 0.001, MeanCosine: 0.9995, Top1Agreement: 0.98, NonFiniteValues: 0)],
            SampleCount: 16, GeneratedSamples: true),
        new GateView(new QualityGate(MinCosine: 0.9999), passed, passed ? [] : ["Output 'logits': mean cosine similarity 0.9995 is below the gate's 0.9999."]),
        Seconds: 3.2);

    private static VersionDetail Version(int number, long size, long parameters, int nodes, CompressionReportView? report = null) => new(
        Guid.Empty, "classifier", number, report?.Gate?.Passed == false ? VersionStatuses.RejectedByGate : VersionStatuses.Ready,
        size, new string('0', 64), DateTimeOffset.UnixEpoch, [], [], 8, [], null, nodes, parameters,
        new Dictionary<string, int>(), new Dictionary<string, long>(), "Initializers", [], [],
        report is null
            ? new Lineage(null, VersionOperations.Upload, "classifier.onnx", null)
            : new Lineage(report.ParentVersion, VersionOperations.Compress, "FP16 (fp16)", null),
        report is null ? null : JsonSerializer.Deserialize<JsonElement>(report.ToReportJson()));

    private static VersionSummary Summary(VersionDetail v) =>
        new(v.Version, v.Lineage.ParentVersion, v.Lineage.Operation, v.Lineage.Detail, v.Status, v.SizeBytes, v.Sha256, v.CreatedAt, false);

    private IRenderedComponent<VersionComparison> RenderComparison(int? selected, params VersionDetail[] versions) =>
        RenderComparison(selected, null, versions);

    /// <summary>Round prices, so the money reads back exactly: 3.6 per vCPU-hour is 0.001 per vCPU-second.</summary>
    private static readonly PriceSheetView RoundPrices = new(null, "EUR", VcpuHour: 3.6m, MemoryGbHour: 1m, StorageGbMonth: 0.02m,
        PerThousandRequests: 0m, "configuration", null, null);

    private IRenderedComponent<VersionComparison> RenderComparison(int? selected, PriceSheetView? prices, params VersionDetail[] versions)
    {
        Render<MudBlazor.MudPopoverProvider>();
        return Render<VersionComparison>(p => p
            .Add(c => c.Versions, versions.OrderByDescending(v => v.Version).Select(Summary).ToList())
            .Add(c => c.Selected, selected)
            .Add(c => c.Prices, prices)
            .Add(c => c.LoadVersion, n => Task.FromResult(versions.FirstOrDefault(v => v.Version == n))));
    }

    private static string[] Cells(IRenderedComponent<VersionComparison> comparison, string row) =>
        comparison.Find($"[data-testid=comparison-table] tr[data-row={row}]").QuerySelectorAll("td").Select(td => td.TextContent.Trim()).ToArray();

    [Fact]
    public void CompressedVersion_IsComparedWithItsParent_WithRatiosFromItsReport()
    {
        var comparison = RenderComparison(2, Version(1, 4_000_000, 1_000_000, 5), Version(2, 2_000_000, 1_000_000, 9, Fp16Report()));

        comparison.WaitForElement("[data-testid=comparison-table]");
        Assert.Equal(["Size", "3.8 MiB", "1.9 MiB", "×0.50"], Cells(comparison, "size"));
        Assert.Equal(["Parameters", "1,000,000", "1,000,000", "×1.00"], Cells(comparison, "parameters"));
        Assert.Equal(["Nodes", "5", "9", "×1.80"], Cells(comparison, "nodes"));
        Assert.Equal(["Latency p50", "2 ms", "1 ms", "×0.50"], Cells(comparison, "latency-p50"));
        Assert.Equal(["Latency p95", "4 ms", "3 ms", "×0.75"], Cells(comparison, "latency-p95"));
        Assert.Equal("— (not compressed)", Cells(comparison, "agreement")[1]);
        Assert.Equal("0.9995 (vs v1)", Cells(comparison, "agreement")[2]);
        Assert.Equal("compressed from v1: FP16 (fp16)", Cells(comparison, "lineage")[2]);
        Assert.Empty(comparison.FindAll("[data-testid=comparison-unknown]"));
        Assert.NotEmpty(comparison.FindAll("[data-testid=comparison-chart]"));
        Assert.Empty(comparison.FindAll("tr[data-row=compute-cost]"));
    }

    [Fact]
    public void WithAPriceSheet_TheCompressedVersionsCostIsPricedFromItsMeasuredLatencyAndSize()
    {
        var comparison = RenderComparison(2, RoundPrices, Version(1, 4_000_000, 1_000_000, 5), Version(2, 2_000_000, 1_000_000, 9, Fp16Report()));

        comparison.WaitForElement("[data-testid=comparison-table]");
        // A million requests at p50 2 ms = 2,000 vCPU-seconds at 0.001 each; the FP16 child at 1 ms costs half.
        Assert.Equal(["Compute per million requests", "2.00 EUR", "1.00 EUR", "×0.50"], Cells(comparison, "compute-cost"));
        // 4 MB loaded for a 730-hour month = 2.92 GB-hours at 1 per GB-hour.
        Assert.Equal(["Memory per month, one instance loaded", "2.92 EUR", "1.46 EUR", "×0.50"], Cells(comparison, "memory-cost"));
        Assert.Contains("3.6 EUR per vCPU-hour", comparison.Find("[data-testid=comparison-prices]").TextContent);
    }

    [Fact]
    public void WithAPriceSheet_UnrelatedVersionsGetMemoryMoney_ButNoComputeMoney()
    {
        var comparison = RenderComparison(2, RoundPrices, Version(1, 4_000_000, 1_000_000, 5), Version(2, 1_000_000, 250_000, 5));

        comparison.WaitForElement("[data-testid=comparison-table]");
        Assert.Equal(["Compute per million requests", "not measured together", "not measured together", "unknown"], Cells(comparison, "compute-cost"));
        Assert.Equal("×0.25", Cells(comparison, "memory-cost")[3]);
    }

    [Fact]
    public void ParentSelected_IsComparedWithItsChild_AndRejectedStatusReadsAsWords()
    {
        var comparison = RenderComparison(1, Version(1, 4_000_000, 1_000_000, 5), Version(2, 2_000_000, 1_000_000, 9, Fp16Report(passed: false)));

        comparison.WaitForElement("[data-testid=comparison-table]");
        Assert.Equal(["Status", "Ready", "Rejected by gate", ""], Cells(comparison, "status"));
        Assert.Equal("×0.50", Cells(comparison, "latency-p50")[3]);
    }

    [Fact]
    public void UnrelatedUploads_SayLatencyAndAgreementAreUnknown_ButCompareSizes()
    {
        var comparison = RenderComparison(2, Version(1, 4_000_000, 1_000_000, 5), Version(2, 1_000_000, 250_000, 5));

        comparison.WaitForElement("[data-testid=comparison-table]");
        Assert.Contains("not measured together", comparison.Find("[data-testid=comparison-unknown]").TextContent);
        Assert.Equal(["Latency p50", "not measured together", "not measured together", "unknown"], Cells(comparison, "latency-p50"));
        Assert.Equal("×0.25", Cells(comparison, "size")[3]);
        Assert.Equal("×0.25", Cells(comparison, "parameters")[3]);
    }

    [Fact]
    public void ReportSection_ShowsTheGateFailures_FiguresAndThePassesNodes()
    {
        var section = Render<CompressionReportSection>(p => p.Add(c => c.Report, Fp16Report(passed: false)));

        var verdict = section.Find("[data-testid=gate-verdict]").TextContent;
        Assert.Contains("Rejected by gate", verdict);
        Assert.Contains("mean cosine similarity 0.9995 is below the gate's 0.9999", verdict);
        var figures = section.Find("[data-testid=report-figures]").TextContent;
        Assert.Contains("50%", figures);
        Assert.Contains("×0.50", figures);
        Assert.Contains("0.9995", section.Find("[data-testid=report-agreement]").TextContent);
        Assert.Contains("fp16: 2 node(s) rewritten, 1 skipped", section.Markup);
    }
}
