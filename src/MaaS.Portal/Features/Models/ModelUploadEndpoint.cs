using System.Text;
using MaaS.Portal.Features.Accounts;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MaaS.Portal.Features.Models;

/// <summary>
/// Takes a model upload as multipart/form-data (file, name, description, tags, labels) or as a raw
/// application/octet-stream body (metadata in the query), streaming the file to disk without buffering it.
/// The REST API and the browser's upload both come through here.
/// </summary>
public sealed class ModelUploadEndpoint(UploadReceiver receiver, ModelRegistry registry, IOptions<ModelsOptions> options)
{
    private const int MaxFieldBytes = 64 * 1024;

    public async Task<IResult> HandleAsync(HttpContext http, string? modelIdOrSlug)
    {
        var request = http.Request;
        var cancellationToken = http.RequestAborted;
        if (request.ContentLength > options.Value.MaxUploadBytes + MaxFieldBytes * 4)
        {
            return TooLarge();
        }

        ReceivedFile? file = null;
        try
        {
            UploadMetadata metadata;
            if (MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) && contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
                if (string.IsNullOrEmpty(boundary)) return Problem(400, "Malformed upload", "The multipart body has no boundary.");
                (file, metadata) = await ReadMultipartAsync(request.Body, boundary, cancellationToken);
                if (file is null) return Problem(400, "No file", "The form has no 'file' part; send the model as the 'file' field.");
            }
            else if (contentType?.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase) == true)
            {
                var query = request.Query;
                string? clientName = query["filename"].FirstOrDefault() ?? query["name"].FirstOrDefault();
                file = await receiver.ReceiveAsync(request.Body, clientName, cancellationToken);
                metadata = new UploadMetadata(query["name"], query["description"], query["tags"], null);
            }
            else
            {
                return Problem(415, "Unsupported content type",
                    "Send the model as multipart/form-data (field 'file') or as application/octet-stream with ?name=.");
            }

            var result = await registry.RegisterUploadAsync(file, metadata, http.User.UserId(), http.User.IsAdmin(), modelIdOrSlug, cancellationToken);
            file = null; // the registry consumed it
            if (result is null) return Problem(404, "Model not found", $"There is no model '{modelIdOrSlug}' of yours.");
            if (!result.Succeeded)
            {
                return TypedResults.Problem(statusCode: 422, title: "Model rejected", detail: result.Message,
                    extensions: new Dictionary<string, object?> { ["check"] = result.FailedCheck });
            }
            return TypedResults.Created($"/api/models/{result.Model!.Slug}/versions/{result.Version!.Version}", new { model = result.Model, version = result.Version });
        }
        catch (UploadTooLargeException)
        {
            return TooLarge();
        }
        catch (InvalidDataException ex)
        {
            return Problem(400, "Malformed upload", ex.Message);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge();
        }
        finally
        {
            file?.Dispose();
        }
    }

    private IResult TooLarge() => Problem(413, "Upload too large",
        $"The upload is larger than the limit of {Format.Bytes(options.Value.MaxUploadBytes)} (setting Models:MaxUploadBytes).");

    private static IResult Problem(int status, string title, string detail) => TypedResults.Problem(statusCode: status, title: title, detail: detail);

    private async Task<(ReceivedFile? File, UploadMetadata Metadata)> ReadMultipartAsync(Stream body, string boundary, CancellationToken cancellationToken)
    {
        var reader = new MultipartReader(boundary, body) { HeadersLengthLimit = 16 * 1024, HeadersCountLimit = 16 };
        ReceivedFile? file = null;
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        try
        {
            MultipartSection? section;
            while ((section = await reader.ReadNextSectionAsync(cancellationToken)) is not null)
            {
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)) continue;
                var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
                if (name.Equals("file", StringComparison.OrdinalIgnoreCase))
                {
                    if (file is not null) throw new InvalidDataException("Send one model file per upload.");
                    var clientName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    file = await receiver.ReceiveAsync(section.Body, clientName, cancellationToken);
                }
                else if (name is "name" or "description" or "tags" or "labels")
                {
                    var limit = name == "labels" ? options.Value.MaxLabelsBytes : MaxFieldBytes;
                    fields[name] = await ReadTextAsync(section.Body, limit, name, cancellationToken);
                }
            }
            return (file, new UploadMetadata(fields.GetValueOrDefault("name"), fields.GetValueOrDefault("description"),
                fields.GetValueOrDefault("tags"), fields.GetValueOrDefault("labels")));
        }
        catch
        {
            file?.Dispose();
            throw;
        }
    }

    private static async Task<string> ReadTextAsync(Stream stream, int limit, string field, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit) throw new InvalidDataException($"The '{field}' field is longer than {Format.Bytes(limit)}.");
            buffer.Write(chunk, 0, read);
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
