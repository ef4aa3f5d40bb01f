using System.Security.Claims;

namespace MaaS.Portal.Features.Accounts;

public static class ClaimsPrincipalExtensions
{
    /// <summary>The signed-in user's id, from the cookie or the API key alike.</summary>
    public static string UserId(this ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("The request is not authenticated.");

    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(Roles.Admin);
}
