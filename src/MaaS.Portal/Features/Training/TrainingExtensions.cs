namespace MaaS.Portal.Features.Training;

public static class TrainingExtensions
{
    public static void AddTraining(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<TrainingOptions>()
            .Bind(builder.Configuration.GetSection(TrainingOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<DatasetService>();
        builder.Services.AddSingleton<TrainingService>();
        builder.Services.AddTransient<TrainingJob>();
    }
}
