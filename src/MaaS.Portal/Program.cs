using MaaS.Portal.Components;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Features.Admin;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Compression;
using MaaS.Portal.Features.Costs;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Inference;
using MaaS.Portal.Features.Jobs;
using MaaS.Portal.Features.Metering;
using MaaS.Portal.Features.Models;
using MaaS.Portal.Features.Operations;
using MaaS.Portal.Features.Playground;
using MaaS.Portal.Features.SampleSets;
using MaaS.Portal.Features.Training;
using MaaS.Portal.Jobs;
using MaaS.Portal.Storage;

var builder = WebApplication.CreateBuilder(args);

var paths = builder.AddStorage();
builder.AddPortalData(paths);
builder.AddAccounts(paths);
builder.AddJobs(paths);
builder.AddAdmin();
var models = builder.AddModels();
builder.AddSampleSets();
builder.AddCompression();
builder.AddTraining();
var deployments = builder.AddDeployments();
builder.AddMetering();
builder.AddCosts();
builder.AddPlayground();
builder.AddOperations();

builder.AddPortalUi();

var app = builder.Build();

app.UseErrorHandling();
app.UseAuthentication();
app.UseAuthorization();
app.UseAntiforgery();
app.UseJobsDashboard();

app.MapStaticAssets();
app.MapOperations();
app.MapAccountEndpoints();
app.MapModelsBrowserEndpoints(models.MaxUploadBytes);

var api = app.MapGroup("/api").RequireAuthorization(AccountsExtensions.ApiPolicy);
api.MapJobsApi();
api.MapApiKeysApi();
api.MapModelsApi(models.MaxUploadBytes);
api.MapSampleSetsApi();
api.MapCompressionApi();
api.MapTrainingApi();
api.MapDeploymentsApi();
api.MapCostsApi();
app.MapInferenceApi(deployments.MaxRequestBytes);
app.MapMetricsEndpoint();
app.MapPlayground();

app.MapRazorComponents<App>().AddInteractiveServerRenderMode();

app.Run();

/// <summary>Visible to WebApplicationFactory in the integration tests.</summary>
public partial class Program;
