using MaaS.Onnx.Models;

namespace MaaS.Portal.Features.Models;

public static class ModelsExtensions
{
    public static ModelsOptions AddModels(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<ModelsOptions>()
            .Bind(builder.Configuration.GetSection(ModelsOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(services =>
            new ModelProbeClient(maxConcurrentProbes: services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ModelsOptions>>().Value.MaxConcurrentProbes));
        builder.Services.AddSingleton<UploadReceiver>();
        builder.Services.AddSingleton<ModelRegistry>();
        builder.Services.AddSingleton<ModelUploadEndpoint>();
        builder.Services.AddTransient<HousekeepingJob>();
        builder.Services.AddTransient<HousekeepingTrigger>();
        builder.Services.AddHostedService<HousekeepingSchedule>();
        return builder.Configuration.GetSection(ModelsOptions.Section).Get<ModelsOptions>() ?? new ModelsOptions();
    }
}
