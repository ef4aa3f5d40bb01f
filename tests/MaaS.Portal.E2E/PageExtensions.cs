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

    /// <summary>Saves a screenshot beside the test results, for people reading a failed run.</summary>
    public static Task ScreenshotAsync(this IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(AppContext.BaseDirectory, "screenshots", $"{name}.png"), FullPage = true });
}
