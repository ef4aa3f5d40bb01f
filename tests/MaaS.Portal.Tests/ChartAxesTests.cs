using Bunit;
using MaaS.Portal.Components;
using MaaS.Portal.Features.Deployments;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Tests;

public sealed class ChartAxesTests : MudTestBase
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(3, 1)]
    [InlineData(5, 1)]
    [InlineData(7.3, 2)]
    [InlineData(12, 5)]
    [InlineData(37, 10)]
    [InlineData(1000, 200)]
    [InlineData(2600, 1000)]
    public void Step_ReachesTheLargestValue_InAboutFiveNiceSteps(double max, int expected) =>
        Assert.Equal(expected, ChartAxes.Step(max));

    [Fact]
    public void Sparse_KeepsAtMostEightLabels_EvenlySpaced_WithTheNewest()
    {
        var days = Enumerable.Range(1, 30).Select(d => $"day {d}").ToList();

        var shown = ChartAxes.Sparse(days).Where(l => l.Length > 0).ToList();

        Assert.Equal(["day 2", "day 6", "day 10", "day 14", "day 18", "day 22", "day 26", "day 30"], shown);
        Assert.Equal(30, ChartAxes.Sparse(days).Length);
        Assert.Equal(["a", "b", "c"], ChartAxes.Sparse(["a", "b", "c"]));
    }

    [Fact]
    public void TrafficChart_FitsAFewRequestsAMinute_InsteadOfMudBlazorsDefaultTwenty()
    {
        Services.AddSingleton(TimeProvider.System);
        var minute = DateTimeOffset.UtcNow;
        minute = new DateTimeOffset(minute.Year, minute.Month, minute.Day, minute.Hour, minute.Minute, 0, TimeSpan.Zero);
        var charts = Render<DeploymentTrafficCharts>(p => p.Add(c => c.LastHour, [new MinuteFigures(minute, 4, 0, 1.2, 2.8)]));

        var axis = YAxisLabels(charts.Find("[data-testid=requests-chart]"));
        Assert.Contains("4", axis);
        Assert.DoesNotContain("20", axis);
    }

    [Fact]
    public void LatencyChart_LeavesMinutesWithoutRequestsBlank_InsteadOfDrawingThemAsZero()
    {
        Services.AddSingleton(TimeProvider.System);
        var minute = DateTimeOffset.UtcNow;
        minute = new DateTimeOffset(minute.Year, minute.Month, minute.Day, minute.Hour, minute.Minute, 0, TimeSpan.Zero);
        var charts = Render<DeploymentTrafficCharts>(p => p.Add(c => c.LastHour,
            [new MinuteFigures(minute.AddMinutes(-10), 1, 0, 1.0, 1.0), new MinuteFigures(minute.AddMinutes(-3), 4, 0, 1.2, 2.8), new MinuteFigures(minute.AddMinutes(-2), 6, 0, 1.4, 3.0)]));

        // Latency: each percentile has a point for each of the three measured minutes and nothing else; the lone minute
        // is its own piece (the line breaks at the gap) and has a marker, having no line to show it.
        var latencyChart = charts.Find("[data-testid=latency-chart]");
        var latency = SeriesPaths(latencyChart);
        Assert.Equal(2, latency.Count);
        Assert.All(latency, path => Assert.Equal(3, PointCount(path)));
        Assert.All(latency, path => Assert.Equal(2, path.Split(' ').Count(part => part == "M")));
        Assert.Equal(6, latencyChart.QuerySelectorAll("circle.mud-chart-point").Count(c => c.GetAttribute("opacity") != "0"));
        // Requests: every minute of the hour keeps its place, zero where nothing came; errors are drawn in red.
        var requests = charts.Find("[data-testid=requests-chart]").QuerySelectorAll("path.mud-chart-line");
        Assert.All(requests, path => Assert.Equal(60, PointCount(path.GetAttribute("d")!)));
        Assert.Equal(MudBlazor.Colors.Red.Darken1, requests[1].GetAttribute("stroke"), StringComparer.OrdinalIgnoreCase);
    }

    private static List<string> SeriesPaths(AngleSharp.Dom.IElement chart) =>
        chart.QuerySelectorAll("path.mud-chart-line").Select(p => p.GetAttribute("d")!).ToList();

    private static int PointCount(string path) => path.Split(' ').Count(part => part is "M" or "L");

    private static List<string> YAxisLabels(AngleSharp.Dom.IElement chart) =>
        chart.QuerySelectorAll("text").Select(t => t.TextContent.Trim()).Where(t => t.Length > 0 && char.IsDigit(t[0]) && !t.Contains(':')).ToList();
}
