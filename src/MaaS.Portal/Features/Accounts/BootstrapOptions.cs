namespace MaaS.Portal.Features.Accounts;

/// <summary>Automation bootstrap (rest-api.md): an admin account and API key ensured at every start.</summary>
public sealed class BootstrapOptions
{
    public const string Section = "MaaS:Bootstrap";

    public string? AdminEmail { get; set; }
    public string? AdminPassword { get; set; }
    public string? AdminApiKey { get; set; }
}
