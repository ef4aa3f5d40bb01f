using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

internal static class PageExtensions
{
    /// <summary>Clicks on interactive pages only work once the Blazor circuit is connected.</summary>
    public static async Task WaitForCircuitAsync(this IPage page)
    {
        try
        {
            await page.Locator("#circuit-ready").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });
        }
        catch (TimeoutException e)
        {
            // Say where the page got stuck: a timeout alone does not tell a failed log-in from a circuit that never came.
            await page.ScreenshotAsync("circuit-timeout");
            var text = await page.Locator("body").InnerTextAsync(new LocatorInnerTextOptions { Timeout = 5_000 });
            throw new TimeoutException($"No Blazor circuit on {page.Url}; the page reads: {text[..Math.Min(text.Length, 2_000)]}", e);
        }
    }

    public static async Task LogInAsync(this IPage page, string email, string password)
    {
        await page.GotoAsync("/Account/Login");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForCircuitAsync();
    }

    public static async Task RegisterAsync(this IPage page, string email, string password)
    {
        await page.GotoAsync("/Account/Register");
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.FillAsync("#confirm", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForCircuitAsync();
    }

    /// <summary>
    /// Picks a model file in the upload panel once its script listens: the panel attaches after the circuit starts,
    /// so a pick or a drop before then would go unheard.
    /// </summary>
    public static Task ChooseModelFileAsync(this IPage page, FilePayload file) => ChooseModelFileAsync(page, input => input.SetInputFilesAsync(file));

    /// <inheritdoc cref="ChooseModelFileAsync(IPage, FilePayload)"/>
    public static Task ChooseModelFileAsync(this IPage page, string path) => ChooseModelFileAsync(page, input => input.SetInputFilesAsync(path));

    private static async Task ChooseModelFileAsync(IPage page, Func<ILocator, Task> choose)
    {
        await page.Locator("[data-testid=drop-zone][data-ready=true]").WaitForAsync();
        await choose(page.Locator("[data-testid=model-file]"));
    }

    /// <summary>
    /// Picks a file in a Blazor InputFile (MudFileUpload renders one) once it listens: its script attaches one round
    /// trip after the render that shows it, and a pick before then goes unheard. The attach marks the element with
    /// <c>_blazorInputFileNextFileId</c>, an internal of .NET 10's blazor.web.js.
    /// </summary>
    public static async Task ChooseFileAsync(this ILocator input, FilePayload file)
    {
        await input.Page.WaitForFunctionAsync("input => input._blazorInputFileNextFileId !== undefined", await input.ElementHandleAsync());
        await input.SetInputFilesAsync(file);
    }

    /// <summary>Saves a screenshot beside the test results, for people reading a failed run.</summary>
    public static Task ScreenshotAsync(this IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "screenshots", $"{name}.png"), FullPage = true });

    /// <summary>
    /// Holds requests to <paramref name="url"/> (a glob) until <see cref="HeldRequests.Release"/>, as a slow connection
    /// would: <see cref="HeldRequests.Arrived"/> completes when the first one comes.
    /// </summary>
    public static async Task<HeldRequests> HoldAsync(this IPage page, string url)
    {
        var held = new HeldRequests();
        await page.RouteAsync(url, async route =>
        {
            held.Signal();
            await held.Released;
            await route.ContinueAsync();
        });
        return held;
    }
}

internal sealed class HeldRequests
{
    private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task Arrived => _arrived.Task.WaitAsync(TimeSpan.FromSeconds(20));
    internal Task Released => _released.Task;
    internal void Signal() => _arrived.TrySetResult();
    public void Release() => _released.TrySetResult();
}
