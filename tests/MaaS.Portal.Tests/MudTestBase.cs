using Bunit;
using MudBlazor.Services;

namespace MaaS.Portal.Tests;

/// <summary>
/// bUnit with MudBlazor: its services, loose JS interop (MudBlazor calls JS we do not emulate), async disposal,
/// which MudBlazor's components need, and waits long enough for a loaded machine.
/// </summary>
public abstract class MudTestBase : BunitContext, IAsyncLifetime
{
    protected MudTestBase()
    {
        JSInterop.Mode = JSRuntimeMode.Loose;
        Services.AddMudServices();
        // bUnit's 1 s default leaves little beyond the editors' 250-300 ms debounce on a busy two-core CI machine;
        // waits end as soon as their assertion passes, so only a failure pays for the longer limit.
        DefaultWaitTimeout = TimeSpan.FromSeconds(10);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    async Task IAsyncLifetime.DisposeAsync() => await base.DisposeAsync();
}
