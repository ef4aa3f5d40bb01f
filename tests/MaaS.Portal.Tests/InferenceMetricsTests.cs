using System.Text;
using MaaS.Onnx.Inference;
using MaaS.Portal.Features.Metering;

namespace MaaS.Portal.Tests;

public sealed class InferenceMetricsTests
{
    [Fact]
    public void WriteTo_GivesCountersAndCumulativeHistograms_InTheTextFormat()
    {
        var metrics = new InferenceMetrics();
        var result = new InferenceResult([], new HashSet<string>(), TimeSpan.FromMilliseconds(2), TimeSpan.FromMilliseconds(5), 4, 4);
        metrics.Observe(Request(200, 0.003, result));
        metrics.Observe(Request(200, 0.2, result));
        metrics.Observe(Request(429, 0.0001));
        metrics.Observe(Request(400, 99));

        var text = new StringBuilder();
        metrics.WriteTo(text, [("a\"b", 1, 1024)], [("Ready", 2)]);
        var lines = text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);

        Assert.Contains("maas_inference_requests_total{deployment=\"a\\\"b\",version=\"1\",outcome=\"ok\"} 2", lines);
        Assert.Contains("maas_inference_requests_total{deployment=\"a\\\"b\",version=\"1\",outcome=\"rate_limited\"} 1", lines);
        Assert.Contains("maas_inference_requests_total{deployment=\"a\\\"b\",version=\"1\",outcome=\"client_error\"} 1", lines);
        // Buckets are cumulative; an observation above the last bound only shows in +Inf and the count.
        Assert.Contains("maas_inference_request_duration_seconds_bucket{deployment=\"a\\\"b\",le=\"0.001\"} 1", lines);
        Assert.Contains("maas_inference_request_duration_seconds_bucket{deployment=\"a\\\"b\",le=\"0.005\"} 2", lines);
        Assert.Contains("maas_inference_request_duration_seconds_bucket{deployment=\"a\\\"b\",le=\"30\"} 3", lines);
        Assert.Contains("maas_inference_request_duration_seconds_bucket{deployment=\"a\\\"b\",le=\"+Inf\"} 4", lines);
        Assert.Contains("maas_inference_request_duration_seconds_count{deployment=\"a\\\"b\"} 4", lines);
        Assert.Contains("maas_inference_batch_size_bucket{deployment=\"a\\\"b\",le=\"2\"} 0", lines);
        Assert.Contains("maas_inference_batch_size_bucket{deployment=\"a\\\"b\",le=\"4\"} 2", lines);
        Assert.Contains("maas_inference_queue_seconds_count{deployment=\"a\\\"b\"} 2", lines);
        Assert.Contains("maas_model_memory_bytes{deployment=\"a\\\"b\",version=\"1\"} 1024", lines);
        Assert.Contains("maas_deployments{state=\"Ready\"} 2", lines);
        Assert.Contains("# TYPE maas_inference_request_duration_seconds histogram", lines);
        var sum = lines.Single(l => l.StartsWith("maas_inference_request_duration_seconds_sum", StringComparison.Ordinal));
        Assert.Equal(99.2031, double.Parse(sum.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), 6);
    }

    [Theory]
    [InlineData(200, "ok")]
    [InlineData(404, "client_error")]
    [InlineData(413, "too_large")]
    [InlineData(429, "rate_limited")]
    [InlineData(500, "server_error")]
    [InlineData(503, "unavailable")]
    public void OutcomeOf_NamesTheStatusClass(int status, string outcome) => Assert.Equal(outcome, InferenceMetrics.OutcomeOf(status));

    private static MeteredRequest Request(int status, double seconds, InferenceResult? result = null) =>
        new("a\"b", 1, null, "o", Guid.Empty, status, TimeSpan.FromSeconds(seconds), 0, 0, 1, result);
}
