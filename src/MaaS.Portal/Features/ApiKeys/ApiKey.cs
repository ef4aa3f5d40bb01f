namespace MaaS.Portal.Features.ApiKeys;

/// <summary>An API key as stored: only the SHA-256 of the secret, and a short prefix so people can tell keys apart.</summary>
public sealed class ApiKey
{
    public Guid Id { get; set; } = Guid.NewGuid();
    public required string OwnerId { get; set; }
    public required string Name { get; set; }
    public required string Prefix { get; set; }
    public required string SecretHash { get; set; }
    public DateTimeOffset CreatedAt { get; set; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? LastUsedAt { get; set; }
    public DateTimeOffset? RevokedAt { get; set; }
    /// <summary>After this the key is refused (401), as if revoked.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
    /// <summary>Deployment names the key may call, stored as ",a,b,"; null: every deployment its owner may call.</summary>
    public string? DeploymentScope { get; set; }
    /// <summary>Requests per second this key may make on /v2 (set by admins); null: the portal's default.</summary>
    public double? RequestsPerSecond { get; set; }
}
