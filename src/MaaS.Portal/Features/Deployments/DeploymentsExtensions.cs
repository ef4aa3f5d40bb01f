using MaaS.Portal.Features.Inference;

namespace MaaS.Portal.Features.Deployments;

public static class DeploymentsExtensions
{
    public static DeploymentsOptions AddDeployments(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<DeploymentsOptions>()
            .Bind(builder.Configuration.GetSection(DeploymentsOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<ModelHost>();
        builder.Services.AddSingleton<DeploymentDirectory>();
        builder.Services.AddSingleton<DeploymentMetrics>();
        builder.Services.AddSingleton<DeploymentService>();
        builder.Services.AddSingleton<KeyRateLimiter>();
        builder.Services.AddSingleton<InferenceEndpoint>();
        builder.Services.AddTransient<DeployJob>();
        builder.Services.AddSingleton<DeploymentReconciler>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<DeploymentReconciler>());
        return builder.Configuration.GetSection(DeploymentsOptions.Section).Get<DeploymentsOptions>() ?? new DeploymentsOptions();
    }
}
