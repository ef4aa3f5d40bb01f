using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Security.Claims;
using MaaS.Onnx.Inference;
using MaaS.Portal.Data;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Features.ApiKeys;
using MaaS.Portal.Features.Deployments;
using MaaS.Portal.Features.Metering;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace MaaS.Portal.Features.Inference;

/// <summary>
/// The Open Inference Protocol (KServe V2) over REST, with the deployment name as the model name. Health and server
/// metadata answer anyone; model metadata, readiness and inference need an API key that may call the deployment
/// (its owner's, scoped to it or unscoped; admins: all). Errors are <c>{"error": "..."}</c> with Triton's codes.
/// </summary>
public static class InferenceApi
{
    public const string ServerName = "maas-portal";

    public static void MapInferenceApi(this IEndpointRouteBuilder app, long maxRequestBytes)
    {
        // Kestrel's cap for these routes is the largest any deployment may allow; each deployment's own is checked in code.
        var bodyLimit = new Microsoft.AspNetCore.Mvc.RequestSizeLimitAttribute(maxRequestBytes);
        var v2 = app.MapGroup("/v2").WithTags("Inference (Open Inference Protocol)");

        // Health answers GET and HEAD (HTTP requires both of a general-purpose server; probes and load balancers send HEAD).
        // "A 200 status code indicates true and a 4xx status code indicates false" (the protocol): not ready is 400, as Triton answers.
        string[] getOrHead = [HttpMethods.Get, HttpMethods.Head];
        v2.MapMethods("/health/live", getOrHead, () => TypedResults.Ok(new { live = true })).AllowAnonymous()
            .WithSummary("200 while the process serves.");
        // Ready means the deployments that were serving before the start are loaded again. It does not wait for every
        // deployment to be Ready: one user's model that fails to load must not take every other deployment out of a load balancer.
        v2.MapMethods("/health/ready", getOrHead, (DeploymentReconciler reconciler) =>
                reconciler.StartupDone ? Results.Ok(new { ready = true }) : Results.Json(new { ready = false }, statusCode: NotReady))
            .AllowAnonymous()
            .WithSummary("200 once the deployments that were serving before the start are loaded again; 400 until then.");
        v2.MapMethods("/", getOrHead, () => TypedResults.Ok(new
            {
                name = ServerName,
                version = typeof(InferenceApi).Assembly.GetName().Version?.ToString(3) ?? "1.0.0",
                extensions = new[] { "binary_tensor_data" },
            }))
            .AllowAnonymous()
            .WithSummary("Server metadata.");

        var models = v2.MapGroup("/models").RequireAuthorization(AccountsExtensions.InferencePolicy);
        models.MapGet("/{name}", (string name, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host) =>
            MetadataAsync(name, null, user, directory, host));
        models.MapGet("/{name}/versions/{version}", (string name, string version, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host) =>
            MetadataAsync(name, version, user, directory, host));
        models.MapMethods("/{name}/ready", getOrHead, (string name, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host) =>
            ReadyAsync(name, null, user, directory, host));
        models.MapMethods("/{name}/versions/{version}/ready", getOrHead, (string name, string version, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host) =>
            ReadyAsync(name, version, user, directory, host));

        // Inference is the hot path. Its two routes are short-circuited: routing runs them as soon as they match, past
        // the middleware (error pages, cookie authentication, authorization, antiforgery), which for a small model cost
        // more than everything else the portal does per request (README, benchmark (b): about half the portal's CPU per
        // request). The endpoint checks the API key itself, with the authenticator the ApiKey scheme uses, and answers
        // its own errors (InferenceEndpoint.HandleAsync).
        var endpoint = app.ServiceProvider.GetRequiredService<InferenceEndpoint>();
        v2.MapPost("/models/{name}/infer", (string name, HttpContext http) => endpoint.HandleAsync(http, name, null))
            .WithMetadata(bodyLimit).DisableAntiforgery().DisableValidation().ShortCircuit()
            .WithSummary("Inference; needs an API key that may call the deployment.");
        v2.MapPost("/models/{name}/versions/{version}/infer", (string name, string version, HttpContext http) => endpoint.HandleAsync(http, name, version))
            .WithMetadata(bodyLimit).DisableAntiforgery().DisableValidation().ShortCircuit()
            .WithSummary("Inference on one version; needs an API key that may call the deployment.");
    }

    public static IResult Error(int status, string message) => Results.Json(new { error = message }, statusCode: status);

    /// <summary>The health and ready routes' "false".</summary>
    private const int NotReady = StatusCodes.Status400BadRequest;

    /// <summary>The deployment if the caller's key may call it; null (→ 404) otherwise, so others' names do not leak.</summary>
    public static async Task<Deployment?> CallableAsync(string name, ClaimsPrincipal user, DeploymentDirectory directory, CancellationToken ct)
    {
        // Names are case-sensitive, as every string in the protocol (deployment names are lower-case by construction).
        if (!ApiKeyClaims.MayCall(user, name)) return null;
        var deployment = await directory.FindAsync(name, ct);
        return deployment is not null && (deployment.OwnerId == user.UserId() || user.IsAdmin()) ? deployment : null;
    }

    public static int? ParseVersion(string? version) =>
        version is null ? null : int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : -1;

    private static async Task<IResult> MetadataAsync(string name, string? version, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host)
    {
        var deployment = await CallableAsync(name, user, directory, CancellationToken.None);
        if (deployment is null) return Error(404, $"Unknown model '{name}'.");
        var served = ServedVersions(deployment, host);
        var number = ParseVersion(version) ?? host.RouteOf(deployment.Name)?.Targets.FirstOrDefault().Version ?? served.FirstOrDefault();
        if (version is not null && !served.Contains(number)) return Error(404, $"Model '{deployment.Name}' does not serve version '{version}'.");
        if (host.Loaded(deployment.Name, number) is not { } loaded) return Error(503, $"Model '{deployment.Name}' is not ready ({deployment.State}).");
        return Results.Ok(new
        {
            name = deployment.Name,
            versions = served.Select(v => v.ToString(CultureInfo.InvariantCulture)),
            platform = "onnxruntime_onnx",
            inputs = loaded.Signature.Inputs.Select(t => new { name = t.Name, datatype = t.Datatype, shape = t.MetadataShape }),
            outputs = loaded.Signature.Outputs.Select(t => new { name = t.Name, datatype = t.Datatype, shape = t.MetadataShape }),
        });
    }

    private static async Task<IResult> ReadyAsync(string name, string? version, ClaimsPrincipal user, DeploymentDirectory directory, ModelHost host)
    {
        var deployment = await CallableAsync(name, user, directory, CancellationToken.None);
        if (deployment is null) return Error(404, $"Unknown model '{name}'.");
        var route = host.RouteOf(deployment.Name);
        var number = ParseVersion(version);
        if (number is not null && !Serves(deployment, host, number.Value)) return Error(404, $"Model '{deployment.Name}' does not serve version '{version}'.");
        // A version with weight 0 takes no routed traffic but is loaded and answers when asked for by number.
        var ready = route is not null && (number is null || host.Loaded(deployment.Name, number.Value) is not null);
        return ready ? Results.Ok(new { name = deployment.Name, ready = true }) : Results.Json(new { name = deployment.Name, ready = false }, statusCode: NotReady);
    }

    /// <summary>
    /// Whether a caller may name this version: the deployment should serve it, or the host still does. During a change,
    /// and after one whose load failed, the version served before keeps serving, so calls naming it keep working.
    /// </summary>
    public static bool Serves(Deployment deployment, ModelHost host, int version) =>
        deployment.Targets.Any(t => t.Version == version) || host.Loaded(deployment.Name, version) is not null;

    private static List<int> ServedVersions(Deployment deployment, ModelHost host) =>
        deployment.Targets.Select(t => t.Version).Union(host.LoadedVersions(deployment.Name)).Order().ToList();
}

/// <summary>
/// One call of the inference path, however it arrived: the V2 HTTP endpoint makes one from its request, the playground
/// from its form, so both pass the same checks, the same codec, the same host and the same metering.
/// </summary>
/// <param name="Body">The request body, read up to the deployment's limit.</param>
/// <param name="DeclaredLength">The body's Content-Length when the caller declared one (checked before reading).</param>
/// <param name="ApiKeyId">The calling key (rate-limited and metered per key); null for calls made in the UI.</param>
public sealed record InferenceCall(
    Deployment Deployment,
    string? Version,
    string? ContentType,
    string? HeaderLengthText,
    long? DeclaredLength,
    Stream Body,
    Guid? ApiKeyId = null,
    double? KeyRequestsPerSecond = null);

/// <summary>
/// What the inference path answered: the status, the encoded body (a V2 response or <c>{"error": ...}</c>), and for
/// people the error in words, the version that served and the run's result (queue and compute time).
/// </summary>
public sealed record InferenceAnswer(
    int Status,
    ReadOnlyMemory<byte> Body,
    string ContentType,
    int? HeaderLength,
    string? Error,
    int Version,
    InferenceResult? Result,
    TimeSpan? RetryAfter = null)
{
    public bool Succeeded => Status == 200;
}

/// <summary>POST .../infer: limits, rate limit, parse, run, encode — and every failure as a status with words.</summary>
public sealed class InferenceEndpoint(
    DeploymentDirectory directory,
    ModelHost host,
    KeyRateLimiter rateLimiter,
    DeploymentMetrics metrics,
    UsageMeter usage,
    InferenceMetrics inferenceMetrics,
    ApiKeyAuthenticator authenticator,
    IOptions<DeploymentsOptions> options,
    ILogger<InferenceEndpoint> logger)
{
    /// <summary>
    /// POST /v2/models/{name}[/versions/{version}]/infer. The route is short-circuited past the middleware, so this
    /// checks the API key itself and turns anything unexpected into a 500 with the protocol's error body.
    /// </summary>
    public async Task HandleAsync(HttpContext http, string name, string? version)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var key = await authenticator.CheckAsync(http.Request.Headers.Authorization, http.RequestAborted);
            if (key.Identity is not { } identity)
            {
                await ApiKeyAuthenticator.WriteChallengeAsync(http);
                return;
            }
            http.User = identity.Principal;
            var deployment = await InferenceApi.CallableAsync(name, http.User, directory, http.RequestAborted);
            if (deployment is null)
            {
                inferenceMetrics.ObserveUnknownModel();
                await WriteAsync(http, ErrorAnswer(404, $"Unknown model '{name}'."));
                return;
            }
            var headerLength = http.Request.Headers.TryGetValue(V2Body.HeaderLengthHeader, out var header) ? header.ToString() : null;
            var call = new InferenceCall(deployment, version, http.Request.ContentType, headerLength, http.Request.ContentLength, http.Request.Body,
                identity.KeyId, identity.RequestsPerSecond ?? options.Value.DefaultRequestsPerSecond);
            var answer = await InvokeAsync(call, http.RequestAborted, started);
            await WriteAsync(http, answer);
        }
        catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (!http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted)
        {
            // Kestrel refused the body while we read it (cut short, too slow, over its own cap): its status, our words.
            http.Response.Clear();
            await WriteAsync(http, ErrorAnswer(ex.StatusCode, $"The request body could not be read: {ex.Message}"));
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && http.RequestAborted.IsCancellationRequested)
        {
            // The client hung up; there is nobody to answer. 499 (client closed request) keeps it out of the server's errors.
            if (!http.Response.HasStarted) http.Response.StatusCode = StatusCodes.Status499ClientClosedRequest;
        }
        catch (Exception ex) when (!http.Response.HasStarted)
        {
            logger.LogError(ex, "Inference request to {Deployment} failed", name);
            http.Response.Clear();
            await WriteAsync(http, ErrorAnswer(500, "The portal failed to handle this request; it is logged."));
        }
    }

    /// <summary>
    /// Runs one call and meters it (requests, errors, compute, bytes: in-memory additions the usage flusher writes as
    /// minute buckets, ARCHITECTURE.md decision 7). Cancelling <paramref name="ct"/> abandons the call, as a client
    /// that hangs up does. <paramref name="startedAt"/> (a <see cref="Stopwatch"/> timestamp) lets the latency include
    /// what the caller did before, such as looking the deployment up.
    /// </summary>
    public async Task<InferenceAnswer> InvokeAsync(InferenceCall call, CancellationToken ct, long? startedAt = null)
    {
        var started = startedAt ?? Stopwatch.GetTimestamp();
        var deployment = call.Deployment;
        var served = new Served();
        var answer = await RunAsync(call, served, ct);
        var latency = Stopwatch.GetElapsedTime(started);
        metrics.Record(deployment.Name, latency, answer.Status, answer.Error);
        // Usage is the deployment owner's, whoever's key called; the key is kept to tell callers apart.
        var metered = new MeteredRequest(deployment.Name, served.Version, call.ApiKeyId, deployment.OwnerId, deployment.ModelId,
            answer.Status, latency, served.BytesIn, answer.Body.Length, deployment.IntraOpThreads, served.Result, served.Rows);
        usage.Record(metered);
        inferenceMetrics.Observe(metered);
        return answer with { Version = served.Version, Result = served.Result };
    }

    /// <summary>
    /// What the infer route reads: application/json or application/octet-stream, in any case, parameters (charset…)
    /// ignored; none at all, because Triton's and KServe's HTTP clients send none (the body's framing is the
    /// Inference-Header-Content-Length header's business); and application/x-www-form-urlencoded, which is what
    /// <c>curl -d @request.json</c> labels a JSON body with. Anything else (multipart forms, text, images) is refused with 415.
    /// </summary>
    internal static bool IsV2ContentType(string? contentType)
    {
        if (contentType is null) return true;
        var semicolon = contentType.IndexOf(';');
        var mediaType = (semicolon >= 0 ? contentType.AsSpan(0, semicolon) : contentType.AsSpan()).Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase)
            || mediaType.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>What metering needs from a request's run: the version chosen (0: none), bytes read, and the result.</summary>
    private sealed class Served
    {
        public int Version;
        public long BytesIn;
        public InferenceResult? Result;
        public long Rows;
    }

    private async Task<InferenceAnswer> RunAsync(InferenceCall call, Served served, CancellationToken ct)
    {
        var deployment = call.Deployment;
        if (call.ApiKeyId is { } keyId)
        {
            var rate = call.KeyRequestsPerSecond ?? options.Value.DefaultRequestsPerSecond;
            if (!rateLimiter.TryAcquire(keyId, rate, out var retryAfter))
            {
                return ErrorAnswer(429, $"Rate limit of {rate:0.##} requests per second for this key reached; retry after the time in Retry-After.") with
                {
                    RetryAfter = TimeSpan.FromSeconds(Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))),
                };
            }
        }
        var number = InferenceApi.ParseVersion(call.Version);
        if (number == -1 || number is not null && !InferenceApi.Serves(deployment, host, number.Value))
            return ErrorAnswer(404, $"Model '{deployment.Name}' does not serve version '{call.Version}'.");
        served.Version = number ?? 0;
        if (!host.IsServing(deployment.Name)) return ErrorAnswer(503, $"Model '{deployment.Name}' is not ready ({deployment.State}).");

        if (!IsV2ContentType(call.ContentType))
            return ErrorAnswer(415, "Send application/json, or application/octet-stream with the binary tensor extension.");
        long? headerLength = null;
        if (call.HeaderLengthText is { } header)
        {
            if (!long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                return ErrorAnswer(400, $"{V2Body.HeaderLengthHeader} must be a non-negative integer.");
            headerLength = parsed;
        }
        var limit = deployment.MaxRequestBytes;
        if (call.DeclaredLength > limit) return ErrorAnswer(413, $"The request body is over this deployment's limit of {limit:N0} bytes.");

        var body = await ReadBodyAsync(call.Body, call.DeclaredLength, limit, ct);
        if (body is null) return ErrorAnswer(413, $"The request body is over this deployment's limit of {limit:N0} bytes.");
        served.BytesIn = body.Length;

        var timeout = TimeSpan.FromMilliseconds(deployment.RequestTimeoutMilliseconds);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cancel.CancelAfter(timeout);
        try
        {
            var limits = new V2RequestLimits(MaxRequestBytes: limit);
            InferenceRequest request;
            if (headerLength == 0)
            {
                var chosen = number ?? host.RouteOf(deployment.Name)?.Pick() ?? 0;
                if (host.Loaded(deployment.Name, chosen) is not { } loaded) return ErrorAnswer(503, $"Model '{deployment.Name}' is not ready.");
                request = V2Codec.ParseRawBinaryRequest(body, loaded.Signature, limits);
                number = chosen;
                served.Version = chosen;
            }
            else
            {
                request = V2Codec.ParseRequest(body, headerLength, limits);
            }
            var (servedVersion, result) = await host.InferAsync(deployment.Name, number, request, cancel.Token);
            (served.Version, served.Result) = (servedVersion, result);
            served.Rows = request.Inputs.Count > 0 && request.Inputs[0].Shape.Length > 0 ? request.Inputs[0].Shape[0] : 0;
            var encoded = V2Codec.EncodeResponse(result.ToResponse(deployment.Name, servedVersion.ToString(CultureInfo.InvariantCulture), request.Id));
            return new InferenceAnswer(200, encoded.Body, encoded.ContentType, encoded.HeaderLength, null, servedVersion, result);
        }
        catch (InferenceRequestTooLargeException ex)
        {
            return ErrorAnswer(413, ex.Message);
        }
        catch (InferenceRequestException ex)
        {
            return ErrorAnswer(400, ex.Message);
        }
        catch (InferenceOverloadedException ex)
        {
            return ErrorAnswer(503, ex.Message);
        }
        catch (ModelNotLoadedException)
        {
            // A version named by the caller that the deployment should serve is still loading (503, try again); one it no
            // longer serves was retired by a change since the check above (404).
            if (number is null || deployment.Targets.Any(t => t.Version == number))
                return ErrorAnswer(503, number is null ? $"Model '{deployment.Name}' is not ready." : $"Version {number} of '{deployment.Name}' is not loaded yet.");
            return ErrorAnswer(404, $"Model '{deployment.Name}' does not serve version {number}.");
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return ErrorAnswer(503, $"The request took longer than this deployment's timeout of {timeout.TotalMilliseconds:0} ms.");
        }
        catch (InferenceRuntimeException ex)
        {
            logger.LogWarning(ex, "Inference failed on {Deployment}", deployment.Name);
            return ErrorAnswer(500, ex.Message);
        }
    }

    /// <summary>
    /// The body, read up to the limit; null when it is longer (chunked bodies have no Content-Length to check first).
    /// A declared length (already checked against the limit) is read straight into an array of that size: no copy,
    /// and no scratch buffer per request, which at thousands of small requests a second was most of the garbage. Only
    /// up to <see cref="PreallocatedBodyBytes"/>, so a slow client declaring a huge body does not hold that much memory
    /// before sending it; larger bodies grow with the bytes that arrive.
    /// </summary>
    private static async Task<byte[]?> ReadBodyAsync(Stream source, long? declared, long limit, CancellationToken ct)
    {
        if (declared is { } length && length <= PreallocatedBodyBytes)
        {
            var body = GC.AllocateUninitializedArray<byte>((int)length);
            var read = await source.ReadAtLeastAsync(body, body.Length, throwOnEndOfStream: false, ct);
            return read == body.Length ? body : body[..read];
        }
        using var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(81920);
        try
        {
            int count;
            while ((count = await source.ReadAsync(chunk, ct)) > 0)
            {
                if (buffer.Length + count > limit) return null;
                buffer.Write(chunk, 0, count);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }

    private const int PreallocatedBodyBytes = 16 * 1024 * 1024;

    /// <summary>An answer with the protocol's <c>{"error": ...}</c> body, serialised first so metering can count its bytes.</summary>
    private static InferenceAnswer ErrorAnswer(int status, string message) =>
        new(status, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new { error = message }, ErrorJson), "application/json; charset=utf-8", null, message, 0, null);

    /// <summary>
    /// Written as the other routes' errors are (ASP.NET Core's JSON options, which Results.Json uses): the body goes to the
    /// client as application/json, never into a page, so quotes in a message stay readable ('input') instead of \u0027.
    /// </summary>
    private static readonly System.Text.Json.JsonSerializerOptions ErrorJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static async Task WriteAsync(HttpContext http, InferenceAnswer answer)
    {
        http.Response.StatusCode = answer.Status;
        http.Response.ContentType = answer.ContentType;
        if (answer.RetryAfter is { } retryAfter) http.Response.Headers.RetryAfter = ((int)retryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        if (answer.HeaderLength is { } length) http.Response.Headers[V2Body.HeaderLengthHeader] = length.ToString(CultureInfo.InvariantCulture);
        http.Response.ContentLength = answer.Body.Length;
        await http.Response.Body.WriteAsync(answer.Body, http.RequestAborted);
    }
}
