using System.Security.Claims;
using System.Text;
using MaaS.Portal.Features.Accounts;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MaaS.Portal.Features.SampleSets;

public static class SampleSetsApi
{
    private const int MaxFieldBytes = 16 * 1024;

    /// <summary>The management API for sample sets (API keys).</summary>
    public static void MapSampleSetsApi(this RouteGroupBuilder api)
    {
        var limits = ((IEndpointRouteBuilder)api).ServiceProvider.GetRequiredService<IOptions<SampleSetsOptions>>().Value;
        var sets = api.MapGroup("/sample-sets").WithTags("Sample sets");

        sets.MapPost("/", CreateAsync)
            .WithMetadata(new RequestSizeLimitAttribute(limits.MaxUploadBytes + limits.MaxVocabularyBytes + 1024 * 1024))
            .WithSummary("New sample set: multipart/form-data with 'file' (.zip of images, .txt of lines, or .json of V2 inputs), 'kind' (images|text|tensors; from the extension when absent), 'name', 'modelId' (id or slug), 'normalization' (images: imagenet|zero-one|minus-one-one|raw), 'vocabulary' (text: vocab.txt).")
            .Produces<SampleSetView>(StatusCodes.Status201Created).ProducesProblem(400).ProducesProblem(404).ProducesProblem(413).ProducesProblem(415).ProducesProblem(422);

        sets.MapGet("/", async (ClaimsPrincipal user, SampleSetService service, string? modelId, CancellationToken cancellationToken) =>
                TypedResults.Ok(await service.ListAsync(user.UserId(), user.IsAdmin(), modelId, cancellationToken)))
            .WithSummary("Your sample sets (admins: all), newest first; ?modelId= (id or slug) for those attached to a model.");

        sets.MapGet("/{id:guid}", async Task<IResult> (Guid id, ClaimsPrincipal user, SampleSetService service, CancellationToken cancellationToken) =>
                await service.GetAsync(id, user.UserId(), user.IsAdmin(), cancellationToken) is { } set ? TypedResults.Ok(set) : NotFound(id))
            .WithSummary("One sample set.");

        sets.MapGet("/{id:guid}/preview", async Task<IResult> (Guid id, ClaimsPrincipal user, SampleSetService service, int? count, CancellationToken cancellationToken) =>
                await service.PreviewAsync(id, user.UserId(), user.IsAdmin(), count ?? 6, cancellationToken) is { } preview ? TypedResults.Ok(preview) : NotFound(id))
            .WithSummary("The first samples: image thumbnails (PNG data URLs) and sizes, text lines, or tensor names and shapes.");

        sets.MapDelete("/{id:guid}", async Task<IResult> (Guid id, ClaimsPrincipal user, SampleSetService service, CancellationToken cancellationToken) =>
                await service.DeleteAsync(id, user.UserId(), user.IsAdmin(), cancellationToken) ? TypedResults.NoContent() : NotFound(id))
            .WithSummary("Deletes a sample set and its file.");
    }

    private static async Task<IResult> CreateAsync(HttpContext http, SampleSetService service, IOptions<SampleSetsOptions> options)
    {
        var limits = options.Value;
        var request = http.Request;
        var cancellationToken = http.RequestAborted;
        if (request.ContentLength > limits.MaxUploadBytes + limits.MaxVocabularyBytes + MaxFieldBytes * 8)
        {
            return Problem(SampleSetService.TooLarge(limits.MaxUploadBytes, nameof(SampleSetsOptions.MaxUploadBytes)));
        }
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) ||
            !contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(statusCode: 415, title: "Unsupported content type", detail: "Send the sample set as multipart/form-data with the file in the 'file' field.");
        }
        var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
        if (string.IsNullOrEmpty(boundary)) return TypedResults.Problem(statusCode: 400, title: "Malformed upload", detail: "The multipart body has no boundary.");

        ReceivedSampleFile? file = null, vocabulary = null;
        try
        {
            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            var reader = new MultipartReader(boundary, request.Body) { HeadersLengthLimit = 16 * 1024, HeadersCountLimit = 16 };
            MultipartSection? section;
            while ((section = await reader.ReadNextSectionAsync(cancellationToken)) is not null)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                var clientName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                switch (name.ToLowerInvariant())
                {
                    case "file":
                        if (file is not null) throw new InvalidDataException("Send one sample file per upload.");
                        file = await service.ReceiveAsync(section.Body, clientName, limits.MaxUploadBytes, nameof(SampleSetsOptions.MaxUploadBytes), cancellationToken);
                        break;
                    case "vocabulary":
                        if (vocabulary is not null) throw new InvalidDataException("Send one vocabulary per upload.");
                        vocabulary = await service.ReceiveAsync(section.Body, clientName, limits.MaxVocabularyBytes, nameof(SampleSetsOptions.MaxVocabularyBytes), cancellationToken);
                        break;
                    case "kind" or "name" or "modelid" or "normalization":
                        fields[name] = await ReadTextAsync(section.Body, name, cancellationToken);
                        break;
                }
            }
            if (file is null) return TypedResults.Problem(statusCode: 400, title: "No file", detail: "The form has no 'file' part; send the samples as the 'file' field.");
            if (vocabulary is { Length: 0 })
            {
                vocabulary.Dispose();
                vocabulary = null;
            }

            var upload = new SampleSetUpload(fields.GetValueOrDefault("name"), fields.GetValueOrDefault("kind"),
                fields.GetValueOrDefault("modelId"), fields.GetValueOrDefault("normalization"));
            var (received, vocab) = (file, vocabulary);
            (file, vocabulary) = (null, null); // the service consumes them
            var set = await service.CreateAsync(received, vocab, upload, http.User.UserId(), http.User.IsAdmin(), cancellationToken);
            return TypedResults.Created($"/api/sample-sets/{set.Id}", set);
        }
        catch (SampleSetUploadException ex)
        {
            return Problem(ex);
        }
        catch (SampleSetException ex)
        {
            return TypedResults.Problem(statusCode: 422, title: "Sample set rejected", detail: ex.Message);
        }
        catch (InvalidDataException ex)
        {
            return TypedResults.Problem(statusCode: 400, title: "Malformed upload", detail: ex.Message);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return Problem(SampleSetService.TooLarge(limits.MaxUploadBytes, nameof(SampleSetsOptions.MaxUploadBytes)));
        }
        finally
        {
            file?.Dispose();
            vocabulary?.Dispose();
        }
    }

    private static IResult Problem(SampleSetUploadException ex) => TypedResults.Problem(statusCode: ex.StatusCode, title: ex.Title, detail: ex.Message);

    private static IResult NotFound(Guid id) => TypedResults.Problem(statusCode: 404, title: "Sample set not found", detail: $"There is no sample set {id} of yours.");

    private static async Task<string> ReadTextAsync(Stream stream, string field, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxFieldBytes) throw new InvalidDataException($"The '{field}' field is longer than {MaxFieldBytes / 1024} KiB.");
            buffer.Write(chunk, 0, read);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
