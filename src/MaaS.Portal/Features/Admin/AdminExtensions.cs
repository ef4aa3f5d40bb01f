namespace MaaS.Portal.Features.Admin;

public static class AdminExtensions
{
    public static void AddAdmin(this WebApplicationBuilder builder)
    {
        builder.Services.AddTransient<VerifyBlobStoreJob>();
        builder.Services.AddSingleton<AdminOverview>();
    }
}
