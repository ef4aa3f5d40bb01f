using System.Security.Claims;
using System.Text;
using MaaS.Portal.Features.Accounts;
using MaaS.Training;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MaaS.Portal.Features.Training;

public static class TrainingApi
{
    private const int MaxFieldBytes = 16 * 1024;

    /// <summary>The management API for datasets and training (API keys).</summary>
    public static void MapTrainingApi(this RouteGroupBuilder api)
    {
        var limits = ((IEndpointRouteBuilder)api).ServiceProvider.GetRequiredService<IOptions<TrainingOptions>>().Value;
        var datasets = api.MapGroup("/datasets").WithTags("Datasets");

        datasets.MapPost("/", CreateAsync)
            .WithMetadata(new RequestSizeLimitAttribute(limits.MaxDatasetBytes + 1024 * 1024))
            .WithSummary("New dataset from a CSV (header row; comma, semicolon or tab): multipart/form-data with 'file' and optional 'name', or text/csv with ?name=. 201 with its profile; 413 too large; 422 not a usable CSV, naming row and column.")
            .Produces<DatasetView>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);

        datasets.MapGet("/", async (ClaimsPrincipal user, DatasetService service, CancellationToken cancellationToken) =>
                TypedResults.Ok(await service.ListAsync(user.UserId(), user.IsAdmin(), cancellationToken)))
            .WithSummary("Your datasets (admins: all), newest first.");

        datasets.MapGet("/{id:guid}", async Task<IResult> (Guid id, ClaimsPrincipal user, DatasetService service, CancellationToken cancellationToken) =>
                await service.GetAsync(id, user.UserId(), user.IsAdmin(), cancellationToken) is { } dataset ? TypedResults.Ok(dataset) : NotFound(id))
            .WithSummary("One dataset: columns with types (inferred and set), missing values, distinct values, suggested task per column, the first rows.");

        datasets.MapPut("/{id:guid}/column-types", async Task<IResult> (Guid id, ColumnTypesRequest request, ClaimsPrincipal user, DatasetService service, CancellationToken cancellationToken) =>
            {
                try
                {
                    return await service.SetColumnTypesAsync(id, request.ColumnTypes ?? [], user.UserId(), user.IsAdmin(), cancellationToken) is { } dataset
                        ? TypedResults.Ok(dataset)
                        : NotFound(id);
                }
                catch (DatasetRequestException ex)
                {
                    return Problem(ex);
                }
            })
            .WithSummary("Sets column types: {\"columnTypes\": {\"zip\": \"categorical\"}} (numeric, categorical, text, boolean). Training uses them.")
            .ProducesProblem(400).ProducesProblem(404);

        datasets.MapDelete("/{id:guid}", async Task<IResult> (Guid id, ClaimsPrincipal user, DatasetService service, CancellationToken cancellationToken) =>
            {
                try
                {
                    return await service.DeleteAsync(id, user.UserId(), user.IsAdmin(), cancellationToken) ? TypedResults.NoContent() : NotFound(id);
                }
                catch (DatasetRequestException ex)
                {
                    return Problem(ex);
                }
            })
            .WithSummary("Deletes a dataset, its file and its training runs' records (409 while one is queued or running). Models trained from it stay.")
            .ProducesProblem(404).ProducesProblem(409);

        var training = api.MapGroup("/training").WithTags("Training");

        training.MapPost("/", async Task<IResult> (TrainingStartRequest request, ClaimsPrincipal user, TrainingService service, CancellationToken cancellationToken) =>
            {
                var start = await service.StartAsync(request, user.UserId(), user.IsAdmin(), cancellationToken);
                return start.StatusCode switch
                {
                    202 => TypedResults.Accepted($"/api/jobs/{start.Job!.Id}", start.Job),
                    404 => TypedResults.Problem(statusCode: 404, title: "Not found", detail: start.Errors[0]),
                    _ => TypedResults.Problem(statusCode: 400, title: "Invalid training request", detail: string.Join(" ", start.Errors),
                        extensions: new Dictionary<string, object?> { ["errors"] = start.Errors }),
                };
            })
            .WithSummary("Starts a training job: {datasetId, labelColumn, task (binary|multiclass|regression; suggested when absent), trainer (auto|lightgbm|fasttree|sdca|lbfgs), features, columnTypes, validationFraction, seed, timeBudgetSeconds, modelId (new version of it), modelName}. 202 with the job; its result names the new version.")
            .Produces(StatusCodes.Status202Accepted).ProducesProblem(400).ProducesProblem(404);

        training.MapGet("/{jobId:guid}", async Task<IResult> (Guid jobId, ClaimsPrincipal user, TrainingService service, CancellationToken cancellationToken) =>
                await service.GetRunAsync(jobId, user.UserId(), user.IsAdmin(), cancellationToken) is { } run
                    ? TypedResults.Ok(run)
                    : TypedResults.Problem(statusCode: 404, title: "Training not found", detail: $"There is no training job {jobId} of yours that has started."))
            .WithSummary("A training job's record: each trainer's metrics as it finishes, and the version it made.");

        training.MapGet("/trainers", (string? task) =>
                Enum.TryParse<TrainingTask>(task, ignoreCase: true, out var parsed) && Enum.IsDefined(parsed)
                    ? Results.Ok(Trainers.For(parsed))
                    : Results.Problem(statusCode: 400, title: "Unknown task", detail: "Ask with ?task=binary, multiclass or regression."))
            .WithSummary("The trainers for a task, with what each is for.");
    }

    private static async Task<IResult> CreateAsync(HttpContext http, DatasetService service)
    {
        var request = http.Request;
        var cancellationToken = http.RequestAborted;
        if (request.ContentLength > service.MaxBytes + MaxFieldBytes * 4) return Problem(DatasetService.TooLarge(service.MaxBytes));
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType))
        {
            return TypedResults.Problem(statusCode: 415, title: "Unsupported content type", detail: "Send the CSV as multipart/form-data ('file' field) or as text/csv.");
        }
        try
        {
            var userId = http.User.UserId();
            if (contentType.MediaType.Equals("text/csv", StringComparison.OrdinalIgnoreCase) ||
                contentType.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
            {
                var name = request.Query["name"].ToString();
                var dataset = await service.CreateAsync(request.Body, $"{(name.Length == 0 ? "dataset" : name)}.csv", name, userId, cancellationToken);
                return TypedResults.Created($"/api/datasets/{dataset.Id}", dataset);
            }
            if (!contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                return TypedResults.Problem(statusCode: 415, title: "Unsupported content type", detail: "Send the CSV as multipart/form-data ('file' field) or as text/csv.");
            }
            var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
            if (string.IsNullOrEmpty(boundary)) return TypedResults.Problem(statusCode: 400, title: "Malformed upload", detail: "The multipart body has no boundary.");

            string? fieldName = null;
            var reader = new MultipartReader(boundary, request.Body) { HeadersLengthLimit = 16 * 1024, HeadersCountLimit = 16 };
            MultipartSection? section;
            while ((section = await reader.ReadNextSectionAsync(cancellationToken)) is not null)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var part = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (part.Equals("name", StringComparison.OrdinalIgnoreCase))
                {
                    fieldName = await ReadTextAsync(section.Body, cancellationToken);
                }
                else if (part.Equals("file", StringComparison.OrdinalIgnoreCase))
                {
                    // The file is profiled as it arrives; a 'name' sent after it is ignored, so clients send it first.
                    var clientName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    var dataset = await service.CreateAsync(section.Body, clientName, fieldName, userId, cancellationToken);
                    return TypedResults.Created($"/api/datasets/{dataset.Id}", dataset);
                }
            }
            return TypedResults.Problem(statusCode: 400, title: "No file", detail: "The form has no 'file' part; send the CSV as the 'file' field.");
        }
        catch (DatasetRequestException ex)
        {
            return Problem(ex);
        }
        catch (InvalidDataException ex)
        {
            return TypedResults.Problem(statusCode: 400, title: "Malformed upload", detail: ex.Message);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problem(DatasetService.TooLarge(service.MaxBytes));
        }
    }

    private static IResult Problem(DatasetRequestException ex)
    {
        var extensions = new Dictionary<string, object?>();
        if (ex.Row is { } row) extensions["row"] = row;
        if (ex.Column is { } column) extensions["column"] = column;
        return TypedResults.Problem(statusCode: ex.StatusCode, title: ex.Title, detail: ex.Message, extensions: extensions);
    }

    private static IResult NotFound(Guid id) => TypedResults.Problem(statusCode: 404, title: "Dataset not found", detail: $"There is no dataset {id} of yours.");

    private static async Task<string> ReadTextAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxFieldBytes) throw new InvalidDataException($"The 'name' field is longer than {MaxFieldBytes / 1024} KiB.");
            buffer.Write(chunk, 0, read);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
