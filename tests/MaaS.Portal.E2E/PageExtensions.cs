using Microsoft.Playwright;

namespace MaaS.Portal.E2E;

internal static class PageExtensions
{
    /// <summary>Clicks on interactive pages only work once the Blazor circuit is connected.</summary>
    public static Task WaitForCircuitAsync(this IPage page) =>
        page.Locator("#circuit-ready").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Attached });

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

    /// <summary>Saves a screenshot beside the test results, for people reading a failed run.</summary>
    public static Task ScreenshotAsync(this IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "screenshots", $"{name}.png"), FullPage = true });
}
