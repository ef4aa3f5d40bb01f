using MaaS.Portal.Components.Layout;
using MudBlazor.Services;

namespace MaaS.Portal.Components;

public static class UiExtensions
{
    /// <summary>Blazor Server with MudBlazor: the app shell every feature's pages live in.</summary>
    public static void AddPortalUi(this WebApplicationBuilder builder)
    {
        builder.Services.AddRazorComponents().AddInteractiveServerComponents();
        builder.Services.AddMudServices();
        builder.Services.AddSingleton<ThemePreference>();
    }
}
