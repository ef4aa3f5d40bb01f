using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace MaaS.Benchmarks;

/// <summary>
/// The floor the portal's inference path has to beat (issue 6, "Measure" (b)): an ONNX Runtime HTTP server written the
/// obvious way, the way a tutorial would. One Kestrel endpoint takes the same V2 JSON body, deserializes it with
/// System.Text.Json into records, runs one shared <see cref="InferenceSession"/> through the NamedOnnxValue API, and writes
/// the outputs back as V2 JSON. No authentication, rate limit, metering, limits or error mapping: it does only the work.
/// The inference benchmark starts it as its own process (server GC, like the portal), so neither server shares a
/// process with the load generator.
/// </summary>
internal static class MinimalInferenceServer
{
    public const string Command = "minimal-server";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private sealed record V2Input(string Name, long[] Shape, string Datatype, float[] Data);
    private sealed record V2Request(List<V2Input> Inputs);
    private sealed record V2Output(string Name, string Datatype, long[] Shape, float[] Data);
    private sealed record V2Response(string ModelName, List<V2Output> Outputs);

    /// <summary>Arguments: --urls URL --model PATH [--threads N] (intra-op threads, as the portal's deployment has).</summary>
    public static async Task RunAsync(string[] args)
    {
        var urls = Value(args, "--urls") ?? "http://127.0.0.1:5099";
        var modelPath = Value(args, "--model") ?? throw new ArgumentException("--model PATH is required.");
        var threads = int.Parse(Value(args, "--threads") ?? "1", CultureInfo.InvariantCulture);

        var builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(urls);
        var app = builder.Build();

        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = threads };
        using var session = new InferenceSession(modelPath, options);

        app.MapPost("/v2/models/{name}/infer", async (string name, HttpRequest request) =>
        {
            var body = await JsonSerializer.DeserializeAsync<V2Request>(request.Body, Json);
            var inputs = body!.Inputs
                .Select(i => NamedOnnxValue.CreateFromTensor(i.Name, new DenseTensor<float>(i.Data, i.Shape.Select(d => (int)d).ToArray())))
                .ToList();
            using var results = session.Run(inputs);
            var outputs = results.Select(r =>
            {
                var tensor = r.AsTensor<float>();
                return new V2Output(r.Name, "FP32", tensor.Dimensions.ToArray().Select(d => (long)d).ToArray(), tensor.ToArray());
            }).ToList();
            return Results.Json(new V2Response(name, outputs), Json);
        });
        app.MapGet("/ready", () => "ready");

        await app.RunAsync();
    }

    /// <summary>The server's body parsing alone, for the benchmark to compare codecs with.</summary>
    internal static int ParseBody(ReadOnlyMemory<byte> body) =>
        JsonSerializer.Deserialize<V2Request>(body.Span, Json)!.Inputs.Sum(i => i.Data.Length);

    private static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
