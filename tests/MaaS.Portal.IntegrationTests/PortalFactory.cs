using System.Net;
using System.Net.Http.Headers;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MaaS.Portal.Testing;

/// <summary>
/// The real portal on a fresh temporary data directory (real SQLite files, real Hangfire storage), with the
/// automation bootstrap set so tests know the admin's password and API key.
/// </summary>
public class PortalFactory : WebApplicationFactory<Program>
{
    public const string AdminEmail = "admin@test.local";
    public const string AdminPassword = "Admin-Passw0rd!";
    public const string AdminApiKey = "maas_test-admin-key-0123456789abcdefghij";

    private readonly string? _dataDirectory;

    /// <summary>
    /// Set it to restart a portal on the data of an earlier one (the test then owns the folder);
    /// left unset, each factory gets a fresh folder and deletes it when disposed.
    /// </summary>
    public string DataDirectory
    {
        get => _dataDirectory ?? _ownDataDirectory;
        init => _dataDirectory = value;
    }

    private readonly string _ownDataDirectory = NewDataDirectory();

    public static string NewDataDirectory() => Path.Combine(Path.GetTempPath(), "maas-tests", Guid.NewGuid().ToString("N"));

    /// <summary>Extra services for a test (e.g. a job kind only tests use).</summary>
    public Action<IServiceCollection>? ConfigureTestServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // UseSetting is host configuration: Program sees it while the app is being built.
        builder.UseSetting("Storage:DataDirectory", DataDirectory);
        builder.UseSetting("MaaS:Bootstrap:AdminEmail", AdminEmail);
        builder.UseSetting("MaaS:Bootstrap:AdminPassword", AdminPassword);
        builder.UseSetting("MaaS:Bootstrap:AdminApiKey", AdminApiKey);
        builder.UseSetting("Jobs:PollInterval", "00:00:00.200");
        // Load loops in tests would hit the default per-key rate limit; the rate-limit test sets its key's own.
        builder.UseSetting("Deployments:DefaultRequestsPerSecond", "100000");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        // Tests run housekeeping and the cost roll-up themselves; a scheduled run at :00 or :05 would race them.
        builder.UseSetting("Models:HousekeepingCron", Hangfire.Cron.Never());
        builder.UseSetting("Costs:RollupCron", Hangfire.Cron.Never());
        if (ConfigureTestServices is not null) builder.ConfigureServices(ConfigureTestServices);
    }

    public HttpClient CreateApiClient(string apiKey = AdminApiKey)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, BaseAddress = ClientOptions.BaseAddress });
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    /// <summary>A cookie-holding client logged in through the real log-in form.</summary>
    public async Task<HttpClient> CreateLoggedInClientAsync(string email, string password)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true, BaseAddress = ClientOptions.BaseAddress });
        var response = await PostFormAsync(client, "/Account/Login", "login", new() { ["Input.Email"] = email, ["Input.Password"] = password });
        if (response.StatusCode != HttpStatusCode.Redirect || response.Headers.Location?.ToString().Contains("Lockout") == true)
        {
            throw new InvalidOperationException($"Log-in as {email} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        return client;
    }

    /// <summary>Posts a statically rendered Blazor form the way a browser does: antiforgery token and handler name included.</summary>
    public static async Task<HttpResponseMessage> PostFormAsync(HttpClient client, string path, string formName, Dictionary<string, string> fields)
    {
        var page = await client.GetStringAsync(path);
        var token = Regex.Match(page, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        fields["__RequestVerificationToken"] = WebUtility.HtmlDecode(token);
        fields["_handler"] = formName;
        return await client.PostAsync(path, new FormUrlEncodedContent(fields));
    }

    public async Task RegisterAsync(string email, string password)
    {
        using var client = CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, BaseAddress = ClientOptions.BaseAddress });
        var response = await PostFormAsync(client, "/Account/Register", "register",
            new() { ["Input.Email"] = email, ["Input.Password"] = password, ["Input.ConfirmPassword"] = password });
        if (response.StatusCode != HttpStatusCode.Redirect)
        {
            throw new InvalidOperationException($"Registering {email} failed: {await response.Content.ReadAsStringAsync()}");
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) TryDeleteDataDirectory();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        TryDeleteDataDirectory();
        GC.SuppressFinalize(this);
    }

    private void TryDeleteDataDirectory()
    {
        try
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            if (_dataDirectory is null && Directory.Exists(_ownDataDirectory)) Directory.Delete(_ownDataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a finishing background thread; the temp folder is cleaned by the OS.
        }
    }
}
