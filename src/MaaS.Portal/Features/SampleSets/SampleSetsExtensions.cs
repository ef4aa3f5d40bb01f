namespace MaaS.Portal.Features.SampleSets;

public static class SampleSetsExtensions
{
    public static void AddSampleSets(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<SampleSetsOptions>()
            .Bind(builder.Configuration.GetSection(SampleSetsOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<SampleSetService>();
    }
}
