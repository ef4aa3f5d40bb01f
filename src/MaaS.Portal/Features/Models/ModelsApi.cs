using System.IO.Compression;
using System.Security.Claims;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Storage;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Mvc;

namespace MaaS.Portal.Features.Models;

public static class ModelsApi
{
    /// <summary>The management API for models (API keys).</summary>
    public static void MapModelsApi(this RouteGroupBuilder api, long maxUploadBytes)
    {
        var models = api.MapGroup("/models").WithTags("Models");
        var uploadLimit = new RequestSizeLimitAttribute(maxUploadBytes + 1024 * 1024);

        models.MapPost("/", (HttpContext http, ModelUploadEndpoint upload) => upload.HandleAsync(http, null))
            .WithMetadata(uploadLimit)
            .WithSummary("New model from an upload: multipart/form-data with 'file' (.onnx or .zip bundle), 'name', 'description', 'tags', 'labels'; or application/octet-stream with ?name=.")
            .Produces(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);

        models.MapPost("/{modelId}/versions", (string modelId, HttpContext http, ModelUploadEndpoint upload) => upload.HandleAsync(http, modelId))
            .WithMetadata(uploadLimit)
            .WithSummary("New version of one of your models; same body as POST /api/models.")
            .Produces(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);

        models.MapGet("/", async (ClaimsPrincipal user, ModelRegistry registry, string? search, string? tag) =>
                TypedResults.Ok(await registry.ListAsync(user.UserId(), user.IsAdmin(), search, tag)))
            .WithSummary("Your models (admins: all), newest first; filter with ?search= and ?tag=.");

        models.MapGet("/{modelId}", async Task<IResult> (string modelId, ClaimsPrincipal user, ModelRegistry registry) =>
                await registry.GetAsync(modelId, user.UserId(), user.IsAdmin()) is { } model ? TypedResults.Ok(model) : NotFound(modelId))
            .WithSummary("One model (by id or slug) with its versions.");

        models.MapGet("/{modelId}/versions/{version:int}", async Task<IResult> (string modelId, int version, ClaimsPrincipal user, ModelRegistry registry) =>
                await registry.GetVersionAsync(modelId, version, user.UserId(), user.IsAdmin()) is { } detail ? TypedResults.Ok(detail) : NotFound(modelId, version))
            .WithSummary("A version: signature, opsets, producer, parameter count, size, SHA-256, op histogram, lineage, report.");

        models.MapGet("/{modelId}/versions/{version:int}/file", (string modelId, int version, ClaimsPrincipal user, ModelRegistry registry, BlobStore blobs, DataPaths paths) =>
                DownloadAsync(modelId, version, user, registry, blobs, paths))
            .WithSummary("The artifact: the .onnx file, or a .zip of the .onnx and its external-data files.");

        models.MapDelete("/{modelId}", async Task<IResult> (string modelId, ClaimsPrincipal user, ModelRegistry registry) =>
                Deleted(await registry.DeleteModelAsync(modelId, user.UserId(), user.IsAdmin()), modelId))
            .WithSummary("Deletes a model, its versions and the files no other version uses.");

        models.MapDelete("/{modelId}/versions/{version:int}", async Task<IResult> (string modelId, int version, ClaimsPrincipal user, ModelRegistry registry) =>
                Deleted(await registry.DeleteVersionAsync(modelId, version, user.UserId(), user.IsAdmin()), modelId, version))
            .WithSummary("Deletes one version and the files no other version uses.");
    }

    /// <summary>The same upload and download for the browser: log-in cookie plus antiforgery token, no API key.</summary>
    public static void MapModelsBrowserEndpoints(this IEndpointRouteBuilder app, long maxUploadBytes)
    {
        var ui = app.MapGroup("/ui/models").RequireAuthorization().ExcludeFromDescription();
        var uploadLimit = new RequestSizeLimitAttribute(maxUploadBytes + 1024 * 1024);

        ui.MapPost("/upload", async (HttpContext http, IAntiforgery antiforgery, ModelUploadEndpoint upload, string? modelId) =>
        {
            // A cookie-authenticated POST: the token proves the page of ours sent it.
            if (!await antiforgery.IsRequestValidAsync(http))
            {
                return TypedResults.Problem(statusCode: 400, title: "Expired page", detail: "Reload the page and upload again.");
            }
            return await upload.HandleAsync(http, string.IsNullOrEmpty(modelId) ? null : modelId);
        }).WithMetadata(uploadLimit).DisableAntiforgery();

        ui.MapGet("/{modelId}/versions/{version:int}/file", (string modelId, int version, ClaimsPrincipal user, ModelRegistry registry, BlobStore blobs, DataPaths paths) =>
            DownloadAsync(modelId, version, user, registry, blobs, paths));
    }

    private static async Task<IResult> DownloadAsync(string modelId, int version, ClaimsPrincipal user, ModelRegistry registry, BlobStore blobs, DataPaths paths)
    {
        if (await registry.GetFilesAsync(modelId, version, user.UserId(), user.IsAdmin()) is not var (slug, found)) return NotFound(modelId, version);
        var payload = found.Files.Where(f => f.Role != FileRoles.Labels).ToList();
        if (payload.Count == 1)
        {
            return TypedResults.Stream(blobs.OpenRead(found.Sha256), "application/octet-stream", $"{slug}-v{version}.onnx", enableRangeProcessing: true);
        }
        // A bundle: zip it to a temp file (ZipArchive writes synchronously) that disappears when the response is done.
        var zipPath = Path.Combine(paths.Temp, $"{Guid.NewGuid():N}.download.zip");
        using (var zip = ZipFile.Open(zipPath, ZipArchiveMode.Create))
        {
            foreach (var file in payload)
            {
                var entry = zip.CreateEntry(file.FileName, CompressionLevel.NoCompression);
                await using var target = entry.Open();
                await using var source = blobs.OpenRead(file.Sha256);
                await source.CopyToAsync(target);
            }
        }
        var stream = new FileStream(zipPath, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        return TypedResults.Stream(stream, "application/zip", $"{slug}-v{version}.zip");
    }

    private static IResult Deleted(DeleteOutcome outcome, string modelId, int? version = null) => outcome switch
    {
        { Done: true } => TypedResults.NoContent(),
        { DeployedAs: { } deployment } => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "Deployed",
            detail: $"Deployment '{deployment}' serves {(version is null ? "this model" : $"version {version}")}; undeploy it or move it to another version first."),
        _ => NotFound(modelId, version),
    };

    private static IResult NotFound(string modelId, int? version = null) => TypedResults.Problem(statusCode: 404,
        title: "Model not found", detail: version is null ? $"There is no model '{modelId}' of yours." : $"Model '{modelId}' has no version {version} of yours.");
}
