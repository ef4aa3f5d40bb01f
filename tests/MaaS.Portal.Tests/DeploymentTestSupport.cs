using System.Text.Json;
using System.Text.Json.Serialization;
using Hangfire;
using MaaS.Onnx.Models;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Tests;

/// <summary>
/// The deployment pages' services with their real dependencies on a test database: jobs are enqueued into real
/// Hangfire storage but no server runs them, so a new deployment stays Pending until a test says otherwise.
/// </summary>
internal static class DeploymentTestSupport
{
    public static void AddDeploymentServices(this IServiceCollection services, TestDatabase db)
    {
        services.AddSingleton(db.Factory);
        services.AddSingleton(db.Paths);
        services.AddSingleton(new BlobStore(db.Paths));
        services.AddSingleton(new ModelProbeClient());
        services.AddSingleton(Options.Create(new ModelsOptions()));
        services.AddSingleton(Options.Create(new DeploymentsOptions()));
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<ModelRegistry>();
        services.AddSingleton(new JobNotifier(NullLogger<JobNotifier>.Instance));
        services.AddSingleton<JobCancellations>();
        services.AddSingleton<IBackgroundJobClient>(new BackgroundJobClient(db.JobStorage));
        services.AddSingleton<JobService>();
        services.AddSingleton(new ModelHost(NullLogger<ModelHost>.Instance));
        services.AddSingleton<DeploymentMetrics>();
        services.AddSingleton<DeploymentDirectory>();
        services.AddCostServices(db);
        services.AddSingleton<DeploymentService>();
    }

    /// <summary>The cost feature's services (prices at their defaults) on the test database.</summary>
    public static void AddCostServices(this IServiceCollection services, TestDatabase db)
    {
        services.AddSingleton(db.Factory);
        services.AddSingleton(Options.Create(new CostsOptions()));
        services.AddSingleton<PriceSheets>();
        services.AddSingleton<CostReports>();
        services.AddSingleton<BudgetService>();
        services.AddSingleton<CompressionSavings>();
    }

    private static readonly JsonSerializerOptions InspectionJson = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// A model with the given versions, as rows only (no files): enough for the registry's views and the deployment
    /// service's checks. Its input is float [batch, 4], like a small tabular classifier.
    /// </summary>
    public static async Task<Guid> AddModelAsync(this TestDatabase db, string ownerId, string slug, params int[] versions)
    {
        var inspection = new ModelInspection(8, [new OpsetImport("", 13)], "test", null, "mlp", null,
            [new TensorSignature("features", "float", [new Dimension(null, "batch"), new Dimension(4, null)])],
            [new TensorSignature("scores", "float", [new Dimension(null, "batch"), new Dimension(3, null)])],
            2, new Dictionary<string, int> { ["Gemm"] = 2 }, 27, 4, new Dictionary<string, long> { ["float"] = 108 }, 0,
            WeightStorage.Initializers, [], []);
        var model = new RegisteredModel { Slug = slug, Name = slug, OwnerId = ownerId };
        foreach (var number in versions)
        {
            model.Versions.Add(new ModelVersion
            {
                Number = number, Operation = VersionOperations.Upload, ModelFileName = "model.onnx", Sha256 = new string('0', 64),
                SizeBytes = 1024, InspectionJson = JsonSerializer.Serialize(inspection, InspectionJson), CreatedById = ownerId,
            });
        }
        await using var context = await db.Factory.CreateDbContextAsync();
        context.Models.Add(model);
        await context.SaveChangesAsync();
        return model.Id;
    }

    /// <summary>A deployment row as the deploy job leaves it, serving the given (version, weight) pairs.</summary>
    public static async Task AddDeploymentAsync(this TestDatabase db, string ownerId, Guid modelId, string name, string state,
        params (int Version, int Weight)[] traffic)
    {
        var deployment = new Deployment { Name = name, OwnerId = ownerId, ModelId = modelId, State = state };
        if (state == DeploymentStates.Ready)
        {
            deployment.ReadyAt = DateTimeOffset.UtcNow;
            deployment.ColdStartMilliseconds = 42;
            deployment.ResidentMemoryBytes = 3 << 20;
        }
        deployment.Targets.AddRange(traffic.Select(t => new DeploymentTarget { Version = t.Version, Weight = t.Weight }));
        await using var context = await db.Factory.CreateDbContextAsync();
        context.Deployments.Add(deployment);
        await context.SaveChangesAsync();
    }
}
