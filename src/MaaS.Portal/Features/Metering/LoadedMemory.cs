using MaaS.Onnx.Inference;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Deployments;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Metering;

/// <summary>One model version loaded in the host right now, with the memory it holds and whose it is.</summary>
public sealed record LoadedVersion(string Deployment, string OwnerId, Guid ModelId, int Version, long Bytes, DateTimeOffset? ReadyAt);

/// <summary>
/// Models loaded in the host without a deployment row (the playground's temporary sessions): their private name, who
/// they are billed to, and the version, so their memory is metered too.
/// </summary>
public interface ITemporaryModels
{
    IEnumerable<(string Name, string OwnerId, Guid ModelId, int Version, DateTimeOffset OpenedAt)> Loaded { get; }
}

/// <summary>
/// The memory the host holds per loaded version, for the memory meter and the <c>maas_model_memory_bytes</c> gauge.
/// A version's bytes are the resident memory its load added (measured by the host when it loaded); when that
/// measurement is not positive (the GC freed as much as the load took), the model file's size stands in: its
/// weights are in memory at the least.
/// </summary>
public sealed class LoadedMemory(IDbContextFactory<PortalDbContext> dbFactory, ModelHost host, IEnumerable<ITemporaryModels> temporary)
{
    public async Task<IReadOnlyList<LoadedVersion>> ListAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var deployments = await db.Deployments.AsNoTracking()
            .Select(d => new { d.Name, d.OwnerId, d.ModelId, d.ReadyAt, Versions = d.Targets.Select(t => t.Version).ToList() })
            .ToListAsync(ct);
        var loaded = new List<LoadedVersion>();
        foreach (var d in deployments)
        {
            foreach (var version in d.Versions)
            {
                if (host.Loaded(d.Name, version) is { IsRetired: false } model)
                {
                    loaded.Add(new LoadedVersion(d.Name, d.OwnerId, d.ModelId, version, BytesOf(model), d.ReadyAt));
                }
            }
        }
        foreach (var (name, owner, modelId, version, openedAt) in temporary.SelectMany(t => t.Loaded))
        {
            if (host.Loaded(name, version) is { IsRetired: false } model) loaded.Add(new LoadedVersion(name, owner, modelId, version, BytesOf(model), openedAt));
        }
        return loaded;
    }

    public static long BytesOf(LoadedModel model)
    {
        if (model.LoadReport.MemoryGrowthBytes > 0) return model.LoadReport.MemoryGrowthBytes;
        try
        {
            return new FileInfo(model.Path).Length;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
