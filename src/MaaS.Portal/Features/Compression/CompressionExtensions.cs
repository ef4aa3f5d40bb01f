namespace MaaS.Portal.Features.Compression;

public static class CompressionExtensions
{
    public static void AddCompression(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<CompressionService>();
        builder.Services.AddTransient<CompressionJob>();
    }
}
