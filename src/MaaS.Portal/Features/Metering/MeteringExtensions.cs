using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MaaS.Portal.Features.Metering;

public sealed class MeteringOptions
{
    public const string Section = "Metering";

    /// <summary>How often the in-memory buckets are written (and loaded memory sampled).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Whether /metrics answers requests from the machine itself without a key (see MeteringApi.MapMetricsEndpoint).</summary>
    public bool AnonymousMetricsFromLoopback { get; set; } = true;
}

/// <summary>
/// Metering (ARCHITECTURE.md, decision 7): what inference used, counted in memory per request and written as minute
/// buckets; /metrics for Prometheus; GET /api/usage. Prices and money are the Costs feature's, which reads these buckets.
/// </summary>
public static class MeteringExtensions
{
    public static void AddMetering(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<MeteringOptions>()
            .Bind(builder.Configuration.GetSection(MeteringOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<UsageMeter>();
        builder.Services.AddSingleton<InferenceMetrics>();
        builder.Services.AddSingleton<LoadedMemory>();
        builder.Services.AddSingleton<UsageFlusher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UsageFlusher>());
    }
}
