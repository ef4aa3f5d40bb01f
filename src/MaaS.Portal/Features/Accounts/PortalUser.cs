using Microsoft.AspNetCore.Identity;

namespace MaaS.Portal.Features.Accounts;

public sealed class PortalUser : IdentityUser
{
    /// <summary>An admin switched the account off: it cannot log in, and its API keys stop working.</summary>
    public bool IsDisabled { get; set; }

    /// <summary>The theme the user last chose, remembered across devices.</summary>
    public bool PrefersDarkMode { get; set; }

    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
}

public static class Roles
{
    public const string Admin = "Admin";
    public const string User = "User";
    public static readonly string[] All = [Admin, User];
}
