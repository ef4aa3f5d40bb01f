using Bunit;
using MudBlazor.Services;

namespace MaaS.Portal.Tests;

/// <summary>
/// bUnit with MudBlazor: its services, loose JS interop (MudBlazor calls JS we do not emulate), and async
/// disposal, which MudBlazor's components need.
/// </summary>
public abstract class MudTestBase : BunitContext, IAsyncLifetime
{
    protected MudTestBase()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.DisposeAsync() => await base.DisposeAsync();
}
