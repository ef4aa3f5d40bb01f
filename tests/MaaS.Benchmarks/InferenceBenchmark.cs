using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using MaaS.Onnx.Inference;
using Microsoft.ML.OnnxRuntime;

namespace MaaS.Benchmarks;

/// <summary>
/// The inference figures of issue 6 ("Measure"), all in one run on this machine, with the portal as its own process
/// (Release, Production) and every client an <see cref="HttpClient"/> (keep-alive) in this process over loopback:
/// <list type="bullet">
/// <item>(a) ResNet-18 batch 1: p50 of <see cref="InferenceSession.Run(RunOptions, IReadOnlyCollection{string}, IReadOnlyCollection{OrtValue}, IReadOnlyCollection{string})"/>
/// here (the deployment's session options: 1 intra-op thread) against p50 of V2 calls over HTTP with JSON and with
/// binary tensors, interleaved call by call so background load hits all three alike.</item>
/// <item>(b) a 4-feature classifier deployed with dynamic batching (up to 32 rows, no added delay, 4 instances:
/// --tiny-batch, --tiny-delay, --tiny-instances): requests per second from many concurrent clients, against
/// <see cref="MinimalInferenceServer"/> (the obvious Kestrel + ONNX Runtime server) on the same body, each measured once
/// its JIT has settled.</item>
/// <item>(c) ResNet-18 (batch dimension made symbolic) deployed twice, batching off and on, same instances and threads:
/// throughput at 16 concurrent clients.</item>
/// <item>(d) steady paced load on the classifier for --minutes: errors, and the portal's resident memory every 10 s.</item>
/// </list>
/// </summary>
internal static class InferenceBenchmark
{
    private const string ResNetInput = "Input247";
    private const string ResNetOutput = "Pooling395_Output_0";
    private static readonly long[] ResNetShape = [1, 3, 224, 224];
    private static readonly TimeSpan SteadyWarmUp = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RssInterval = TimeSpan.FromSeconds(10);

    private sealed record Settings(
        bool Quick, double Minutes, int Clients, int BatchClients, double SteadyRate, int SteadyClients,
        int Samples, TimeSpan LoadPerServer, TimeSpan LoadPerBatching, int Rounds, int BatchDelayMs, int TinyInstances, TimeSpan WarmUp, int TinyBatch, int TinyDelayMs, int BatchInstances, int BatchThreads);

    private sealed record Row(string Figure, string Measured, string Target, string Verdict);

    public static async Task<int> RunAsync(string[] args)
    {
        var quick = args.Contains("--quick");
        // --phases a,b,c,d picks figures (all by default), e.g. to profile one phase while it runs.
        var phases = (ValueOf(args, "--phases") ?? "a,b,c,d").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
        var cores = Environment.ProcessorCount;
        var settings = new Settings(
            Quick: quick,
            Minutes: double.Parse(ValueOf(args, "--minutes") ?? (quick ? "1" : "10"), CultureInfo.InvariantCulture),
            Clients: int.Parse(ValueOf(args, "--clients") ?? "32", CultureInfo.InvariantCulture),
            BatchClients: 16,
            SteadyRate: double.Parse(ValueOf(args, "--rate") ?? "250", CultureInfo.InvariantCulture),
            SteadyClients: 8,
            Samples: quick ? 40 : 300,
            LoadPerServer: TimeSpan.FromSeconds(double.Parse(ValueOf(args, "--seconds") ?? (quick ? "6" : "15"), CultureInfo.InvariantCulture)),
            LoadPerBatching: TimeSpan.FromSeconds(quick ? 6 : 20),
            Rounds: 3,
            BatchDelayMs: int.Parse(ValueOf(args, "--batch-delay") ?? "4", CultureInfo.InvariantCulture),
            TinyInstances: int.Parse(ValueOf(args, "--tiny-instances") ?? "4", CultureInfo.InvariantCulture),
            TinyBatch: int.Parse(ValueOf(args, "--tiny-batch") ?? "32", CultureInfo.InvariantCulture),
            TinyDelayMs: int.Parse(ValueOf(args, "--tiny-delay") ?? "0", CultureInfo.InvariantCulture),
            BatchInstances: int.Parse(ValueOf(args, "--batch-instances") ?? cores.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture),
            BatchThreads: int.Parse(ValueOf(args, "--batch-threads") ?? "1", CultureInfo.InvariantCulture),
            WarmUp: TimeSpan.FromSeconds(double.Parse(ValueOf(args, "--warm-up") ?? (quick ? "5" : "15"), CultureInfo.InvariantCulture)));

        var clock = Stopwatch.StartNew();
        var loadBefore = LoadAverage();
        var work = Directory.CreateTempSubdirectory("maas-inference-bench-");
        var rows = new List<Row>();
        var details = new List<string>();
        Process? portal = null;
        Process? minimal = null;
        try
        {
            var resnetPath = Path.Combine(AppContext.BaseDirectory, "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
            var resnetBatchPath = Path.Combine(work.FullName, "resnet18-batch.onnx");
            var tinyPath = Path.Combine(work.FullName, "tiny.onnx");
            BenchmarkModels.WriteResNet18WithBatchDimension(resnetPath, resnetBatchPath);
            BenchmarkModels.WriteTinyClassifier(tinyPath);

            var port = UploadBenchmark.FreePort();
            portal = UploadBenchmark.StartPortal(port, Path.Combine(work.FullName, "data"),
                "--Deployments:DefaultRequestsPerSecond", "1000000", "--Jobs:PollInterval", "00:00:00.200");
            var baseAddress = new Uri($"http://127.0.0.1:{port}");
            using var api = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(10) };
            api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", UploadBenchmark.ApiKey);
            await UploadBenchmark.WaitReadyAsync(api, portal);
            Log($"portal up on {baseAddress} (pid {portal.Id})");

            var resnet = await UploadAsync(api, resnetPath, "resnet18");
            var resnetBatch = await UploadAsync(api, resnetBatchPath, "resnet18-batch");
            var tiny = await UploadAsync(api, tinyPath, "tiny-classifier");
            await DeployAsync(api, "resnet18", resnet, new { instances = 1, intraOpThreads = 1, maxBatchSize = 1 });
            // A model this small runs in microseconds, and ONNX Runtime's fixed cost per run (binding, allocation,
            // dispatch) is most of it: one run of 32 rows costs about what one row does. Dynamic batching with no added
            // delay takes whatever requests wait when an instance frees up, so under load runs fill up and a quiet
            // deployment answers at once. This is how its owner would deploy it for throughput (batch 1 with 8 instances
            // measured 0.64-0.73x the minimal server, 2026-11-29).
            await DeployAsync(api, "tiny", tiny, new { instances = settings.TinyInstances, intraOpThreads = 1, maxBatchSize = settings.TinyBatch, batchingDelayMilliseconds = settings.TinyDelayMs });
            await DeployAsync(api, "resnet18-unbatched", resnetBatch, new { instances = settings.BatchInstances, intraOpThreads = settings.BatchThreads, maxBatchSize = 1 });
            await DeployAsync(api, "resnet18-batched", resnetBatch,
                new { instances = settings.BatchInstances, intraOpThreads = settings.BatchThreads, maxBatchSize = 16, batchingDelayMilliseconds = settings.BatchDelayMs });
            Log("deployed: resnet18, tiny, resnet18-unbatched, resnet18-batched");

            using var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = int.MaxValue };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromMinutes(2) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", UploadBenchmark.ApiKey);

            if (phases.Contains("a")) await OverheadAsync(http, baseAddress, resnetPath, settings, rows, details);

            if (phases.Contains("b"))
            {
                var minimalPort = UploadBenchmark.FreePort();
                minimal = StartMinimalServer(minimalPort, tinyPath);
                await WaitMinimalReadyAsync(http, minimal, minimalPort);
                Log($"(b) minimal server up (pid {minimal.Id})");
                await TinyThroughputAsync(http, baseAddress, new Uri($"http://127.0.0.1:{minimalPort}"), portal, minimal, settings, rows, details);
                UploadBenchmark.Stop(minimal);
            }

            if (phases.Contains("c")) await BatchingAsync(http, baseAddress, portal, resnetBatchPath, settings, rows, details);
            if (phases.Contains("d")) await SteadyAsync(http, baseAddress, portal, settings, rows, details);
        }
        finally
        {
            if (minimal is not null) UploadBenchmark.Stop(minimal);
            if (portal is not null) UploadBenchmark.Stop(portal);
            try
            {
                work.Delete(recursive: true);
            }
            catch (IOException)
            {
                // The portal may still be letting go of its files.
            }
        }

        Console.WriteLine();
        Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, " +
                          $"{GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1L << 30)} GiB; .NET {Environment.Version}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}, CPU; " +
                          $"load average (1/5/15 min) at start {loadBefore}, at end {LoadAverage()}; portal: own process, Release, Production; clients: HttpClient keep-alive over loopback in the harness process" +
                          $"{(settings.Quick ? "; QUICK run (short phases: not the reported figures)" : "")}; took {clock.Elapsed.TotalMinutes:0.0} min");
        Console.WriteLine();
        Console.WriteLine("| figure | measured | target | verdict |");
        Console.WriteLine("|---|---|---|---|");
        foreach (var row in rows) Console.WriteLine($"| {row.Figure} | {row.Measured} | {row.Target} | {row.Verdict} |");
        Console.WriteLine();
        foreach (var line in details) Console.WriteLine($"- {line}");
        return 0;
    }

    // ---- (a) overhead of the HTTP path over InferenceSession.Run, ResNet-18 batch 1 ----

    private static async Task OverheadAsync(HttpClient http, Uri portal, string resnetPath, Settings settings, List<Row> rows, List<string> details)
    {
        var image = new float[3 * 224 * 224];
        var random = new Random(11);
        for (var i = 0; i < image.Length; i++) image[i] = (float)(random.NextDouble() * 2 - 1);

        // The deployment's session options (LoadedModel.CreateOptions): 1 intra-op thread, sequential, all optimisations.
        using var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        using var session = new InferenceSession(resnetPath, options);
        using var runOptions = new RunOptions();
        float[] Direct()
        {
            using var input = OrtValue.CreateTensorValueFromMemory(image, ResNetShape);
            using var outputs = session.Run(runOptions, [ResNetInput], [input], [ResNetOutput]);
            return outputs[0].GetTensorDataAsSpan<float>().ToArray();
        }

        // Bodies are encoded once: the figure is the call, not the client's encoding of 150,528 floats.
        var tensor = InferenceTensor.FromValues<float>(ResNetInput, ResNetShape, image);
        var jsonBody = V2Codec.EncodeRequest(InferenceRequest.Of(tensor));
        var binaryBody = V2Codec.EncodeRequest(new InferenceRequest(null, new Dictionary<string, JsonElement>(), [tensor], null, BinaryDataOutput: true), binaryInputs: true);
        var url = new Uri(portal, "/v2/models/resnet18/infer");
        async Task<float[]> CallAsync(V2Body body)
        {
            using var response = await http.SendAsync(Request(url, body));
            var bytes = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"ResNet-18 call failed: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
            long? headerLength = response.Headers.TryGetValues(V2Body.HeaderLengthHeader, out var values) ? long.Parse(values.First(), CultureInfo.InvariantCulture) : null;
            return V2Codec.ParseResponse(bytes, headerLength).Outputs[0].ToArray<float>();
        }

        var expected = Direct();
        var jsonAnswer = await CallAsync(jsonBody);
        var binaryAnswer = await CallAsync(binaryBody);
        details.Add($"(a) answers agree with the direct run: max |Δ| JSON {MaxDiff(expected, jsonAnswer):0.0e0}, binary {MaxDiff(expected, binaryAnswer):0.0e0} over {expected.Length} features; " +
                    $"request bodies: JSON {jsonBody.Body.Length / 1e6:0.00} MB, binary {binaryBody.Body.Length / 1e6:0.00} MB");

        var direct = new List<double>();
        var json = new List<double>();
        var binary = new List<double>();
        var warmUp = 10;
        for (var round = 0; round < warmUp + settings.Samples; round++)
        {
            // Rotate the order each round so no mode always follows the same one.
            for (var k = 0; k < 3; k++)
            {
                var mode = (round + k) % 3;
                var sw = Stopwatch.StartNew();
                switch (mode)
                {
                    case 0: Direct(); break;
                    case 1: await CallAsync(jsonBody); break;
                    default: await CallAsync(binaryBody); break;
                }
                var ms = sw.Elapsed.TotalMilliseconds;
                if (round < warmUp) continue;
                (mode == 0 ? direct : mode == 1 ? json : binary).Add(ms);
            }
        }

        var p50Direct = Percentile(direct, 50);
        var p50Json = Percentile(json, 50);
        var p50Binary = Percentile(binary, 50);
        rows.Add(new("(a) ResNet-18 batch 1, `InferenceSession.Run` in process (1 intra-op thread)", $"p50 {p50Direct:0.00} ms (p90 {Percentile(direct, 90):0.00})", "baseline", ""));
        rows.Add(new("(a) same over HTTP, binary tensors", $"p50 {p50Binary:0.00} ms (p90 {Percentile(binary, 90):0.00}) = **{p50Binary / p50Direct:0.000}×**", "≤ 1.10×", Verdict(p50Binary / p50Direct <= 1.10)));
        rows.Add(new("(a) same over HTTP, JSON", $"p50 {p50Json:0.00} ms (p90 {Percentile(json, 90):0.00}) = **{p50Json / p50Direct:0.000}×**", "≤ 1.5×", Verdict(p50Json / p50Direct <= 1.5)));
        details.Add($"(a) {settings.Samples} interleaved calls per mode after {warmUp} warm-up rounds; HTTP added at p50: binary +{p50Binary - p50Direct:0.00} ms, JSON +{p50Json - p50Direct:0.00} ms");
        details.Add($"(a) the portal's codec alone, in this process (median of 20): V2Codec.ParseRequest of the JSON body {MedianMilliseconds(() => V2Codec.ParseRequest(jsonBody.Body)):0.00} ms, " +
                    $"of the binary body {MedianMilliseconds(() => V2Codec.ParseRequest(binaryBody.Body, binaryBody.HeaderLength)):0.00} ms; " +
                    $"System.Text.Json deserializing the JSON body into records with float[] data (the minimal server's way) {MedianMilliseconds(() => MinimalInferenceServer.ParseBody(jsonBody.Body)):0.00} ms");
        Log($"(a) direct {p50Direct:0.00} ms, binary {p50Binary:0.00} ms, JSON {p50Json:0.00} ms");
    }

    // ---- (b) tiny model: portal vs the minimal server ----

    private static async Task TinyThroughputAsync(HttpClient http, Uri portalAddress, Uri minimalAddress, Process portal, Process minimal,
        Settings settings, List<Row> rows, List<string> details)
    {
        var body = TinyBody(0);
        var portalUrl = new Uri(portalAddress, "/v2/models/tiny/infer");
        var minimalUrl = new Uri(minimalAddress, "/v2/models/tiny/infer");
        await CheckTinyAnswerAsync(http, portalUrl, body, "portal");
        await CheckTinyAnswerAsync(http, minimalUrl, body, "minimal server");

        var perRound = settings.LoadPerServer / settings.Rounds;
        // Each server is measured once its JIT has settled. perf (2026-11-29) showed the portal's tiered-compilation
        // thread busy for over 30 s of load on 2 cores (15 % of the portal's CPU still in the first rounds after a 15 s
        // warm-up), against about 12 s for the minimal server, which has far fewer methods to recompile: a round
        // measured meanwhile compares a half-compiled portal, not the steady state a deployment serves in.
        var portalWarmUp = await WarmUpUntilCompiledAsync(http, () => Request(portalUrl, body), settings, portal);
        var minimalWarmUp = await WarmUpUntilCompiledAsync(http, () => Request(minimalUrl, body), settings, minimal);
        var portalResults = new List<LoadResult>();
        var minimalResults = new List<LoadResult>();
        for (var round = 0; round < settings.Rounds; round++)
        {
            // Alternate which goes first, so drift in the machine's load does not favour one.
            if (round % 2 == 0)
            {
                portalResults.Add(await LoadAsync(http, () => Request(portalUrl, body), settings.Clients, perRound, portal));
                minimalResults.Add(await LoadAsync(http, () => Request(minimalUrl, body), settings.Clients, perRound, minimal));
            }
            else
            {
                minimalResults.Add(await LoadAsync(http, () => Request(minimalUrl, body), settings.Clients, perRound, minimal));
                portalResults.Add(await LoadAsync(http, () => Request(portalUrl, body), settings.Clients, perRound, portal));
            }
        }
        var p = LoadResult.Combine(portalResults);
        var m = LoadResult.Combine(minimalResults);
        rows.Add(new($"(b) 4-feature classifier, {settings.Clients} clients, minimal Kestrel + ONNX Runtime server (the floor)", Describe(m), "floor", ""));
        rows.Add(new($"(b) same, portal ({settings.TinyInstances} instances × 1 thread)", $"{Describe(p)} = **{p.Rate / m.Rate:0.00}× the floor**", "≥ 1× (beat the floor)", Verdict(p.Rate >= m.Rate && p.Errors == 0)));
        // Each round's ratio on its own, so a reader sees how far the machine's noise moves the figure within one run.
        var roundRatios = portalResults.Zip(minimalResults, (portalRound, minimalRound) => $"{portalRound.Rate / minimalRound.Rate:0.00}×");
        details.Add($"(b) {settings.Rounds} alternating rounds of {perRound.TotalSeconds:0.#} s per server, each after load until its JIT had settled (portal {portalWarmUp.TotalSeconds:0} s, minimal {minimalWarmUp.TotalSeconds:0} s); portal vs floor by round: {string.Join(", ", roundRatios)}; " +
                    $"server CPU per request: portal {p.ServerCpuMicroseconds:0} µs, minimal {m.ServerCpuMicroseconds:0} µs; " +
                    $"harness (client) CPU per request: portal phase {p.ClientCpuMicroseconds:0} µs, minimal phase {m.ClientCpuMicroseconds:0} µs");

        // Where the portal's time goes: the same clients on two cheaper routes of the same process.
        var live = new Uri(portalAddress, "/v2/health/live");
        var ready = new Uri(portalAddress, "/v2/models/tiny/ready");
        var diagnosis = TimeSpan.FromSeconds(settings.Quick ? 3 : 5);
        await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, live), settings.Clients, TimeSpan.FromSeconds(1), portal);
        var l = await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, live), settings.Clients, diagnosis, portal);
        await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, ready), settings.Clients, TimeSpan.FromSeconds(1), portal);
        var r = await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, ready), settings.Clients, diagnosis, portal);
        var minimalReady = new Uri(minimalAddress, "/ready");
        await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, minimalReady), settings.Clients, TimeSpan.FromSeconds(1), minimal);
        var mr = await LoadAsync(http, () => new HttpRequestMessage(HttpMethod.Get, minimalReady), settings.Clients, diagnosis, minimal);
        rows.Add(new("(b) diagnosis: minimal server `GET /ready` (Kestrel and routing alone)", $"{Describe(mr)}; server CPU {mr.ServerCpuMicroseconds:0} µs/request", "—", ""));
        rows.Add(new("(b) diagnosis: portal `GET /v2/health/live` (anonymous: Kestrel, routing, middleware)", $"{Describe(l)}; portal CPU {l.ServerCpuMicroseconds:0} µs/request", "—", ""));
        rows.Add(new("(b) diagnosis: portal `GET /v2/models/tiny/ready` (API key check + deployment lookup, no inference)", $"{Describe(r)}; portal CPU {r.ServerCpuMicroseconds:0} µs/request", "—", ""));
        if (p.ErrorSamples.Count > 0) details.Add($"(b) portal errors, first: {string.Join(" | ", p.ErrorSamples)}");
        if (m.ErrorSamples.Count > 0) details.Add($"(b) minimal server errors, first: {string.Join(" | ", m.ErrorSamples)}");
        Log($"(b) portal {p.Rate:0} req/s, minimal {m.Rate:0} req/s");
    }

    private static async Task CheckTinyAnswerAsync(HttpClient http, Uri url, V2Body body, string who)
    {
        using var response = await http.SendAsync(Request(url, body));
        var bytes = await response.Content.ReadAsByteArrayAsync();
        if (response.StatusCode != HttpStatusCode.OK) throw new InvalidOperationException($"The {who} failed the classifier call: {(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes)}");
        var output = V2Codec.ParseResponse(bytes).Outputs.Single().ToArray<float>();
        if (output.Length != 3 || Math.Abs(output.Sum() - 1) > 1e-4) throw new InvalidOperationException($"The {who} answered [{string.Join(", ", output)}], not three probabilities.");
    }

    private static V2Body TinyBody(int seed)
    {
        var random = new Random(seed);
        float[] features = [.. Enumerable.Range(0, 4).Select(_ => (float)(random.NextDouble() * 4 - 2))];
        return V2Codec.EncodeRequest(InferenceRequest.Of(InferenceTensor.FromValues<float>("features", [1, 4], features)));
    }

    // ---- (c) dynamic batching on ResNet-18 ----

    private static async Task BatchingAsync(HttpClient http, Uri portalAddress, Process portal, string modelPath, Settings settings, List<Row> rows, List<string> details)
    {
        var image = new float[3 * 224 * 224];
        var random = new Random(12);
        for (var i = 0; i < image.Length; i++) image[i] = (float)(random.NextDouble() * 2 - 1);
        var tensor = InferenceTensor.FromValues<float>(ResNetInput, ResNetShape, image);
        var body = V2Codec.EncodeRequest(new InferenceRequest(null, new Dictionary<string, JsonElement>(), [tensor], null, BinaryDataOutput: true), binaryInputs: true);
        var off = new Uri(portalAddress, "/v2/models/resnet18-unbatched/infer");
        var on = new Uri(portalAddress, "/v2/models/resnet18-batched/infer");

        var perRound = settings.LoadPerBatching / settings.Rounds;
        await LoadAsync(http, () => Request(off, body), settings.BatchClients, TimeSpan.FromSeconds(2), portal);
        await LoadAsync(http, () => Request(on, body), settings.BatchClients, TimeSpan.FromSeconds(2), portal);
        var offResults = new List<LoadResult>();
        var onResults = new List<LoadResult>();
        for (var round = 0; round < settings.Rounds; round++)
        {
            if (round % 2 == 0)
            {
                offResults.Add(await LoadAsync(http, () => Request(off, body), settings.BatchClients, perRound, portal));
                onResults.Add(await LoadAsync(http, () => Request(on, body), settings.BatchClients, perRound, portal));
            }
            else
            {
                onResults.Add(await LoadAsync(http, () => Request(on, body), settings.BatchClients, perRound, portal));
                offResults.Add(await LoadAsync(http, () => Request(off, body), settings.BatchClients, perRound, portal));
            }
        }
        var a = LoadResult.Combine(offResults);
        var b = LoadResult.Combine(onResults);
        var cores = Environment.ProcessorCount;
        rows.Add(new($"(c) ResNet-18, {settings.BatchClients} clients, binary, batching off ({settings.BatchInstances} instance{(settings.BatchInstances == 1 ? "" : "s")} × {settings.BatchThreads} thread{(settings.BatchThreads == 1 ? "" : "s")})", Describe(a), "baseline", ""));
        rows.Add(new($"(c) same, batching on (max 16, delay {settings.BatchDelayMs} ms)", $"{Describe(b)} = **{b.Rate / a.Rate:0.00}×**", "≥ 1.3×", Verdict(b.Rate / a.Rate >= 1.3 && a.Errors + b.Errors == 0)));
        details.Add($"(c) {settings.Rounds} alternating rounds of {perRound.TotalSeconds:0.#} s per deployment after 2 s warm-up each; portal CPU per request: off {a.ServerCpuMicroseconds / 1000:0.0} ms, on {b.ServerCpuMicroseconds / 1000:0.0} ms");
        details.Add(BatchingFromOrt(modelPath, settings, image, threads: 1));
        details.Add(BatchingFromOrt(modelPath, settings, image, threads: cores));
        Log($"(c) off {a.Rate:0.0} req/s, on {b.Rate:0.0} req/s");
    }

    /// <summary>
    /// What batching can give at most on this machine: the same batched model run directly, batch 1 against batch 8
    /// (what 16 clients over 2 instances make), images per second on one thread. Says whether a shortfall in (c) is
    /// ONNX Runtime's or the portal's.
    /// </summary>
    private static string BatchingFromOrt(string path, Settings settings, float[] image, int threads)
    {
        using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        using var session = new InferenceSession(path, options);
        using var runOptions = new RunOptions();
        double ImagesPerSecond(int batch)
        {
            var data = new float[image.Length * batch];
            for (var i = 0; i < batch; i++) image.CopyTo(data, i * image.Length);
            using var input = OrtValue.CreateTensorValueFromMemory(data, [batch, 3, 224, 224]);
            session.Run(runOptions, [ResNetInput], [input], [ResNetOutput]).Dispose();
            var runs = settings.Quick ? 3 : 8;
            var sw = Stopwatch.StartNew();
            for (var r = 0; r < runs; r++) session.Run(runOptions, [ResNetInput], [input], [ResNetOutput]).Dispose();
            return runs * batch / sw.Elapsed.TotalSeconds;
        }
        var one = ImagesPerSecond(1);
        var eight = ImagesPerSecond(8);
        return $"(c) ONNX Runtime alone, one session, {threads} thread{(threads == 1 ? "" : "s")}, no HTTP: batch 1 {one:0.0} images/s, batch 8 {eight:0.0} images/s = {eight / one:0.00}× (the most batching can give here)";
    }

    // ---- (d) steady load ----

    private static async Task SteadyAsync(HttpClient http, Uri portalAddress, Process portal, Settings settings, List<Row> rows, List<string> details)
    {
        var bodies = Enumerable.Range(1, 64).Select(TinyBody).ToArray();
        var url = new Uri(portalAddress, "/v2/models/tiny/infer");
        var next = 0;
        var measured = TimeSpan.FromMinutes(settings.Minutes);
        var samples = new List<(TimeSpan At, long Rss)>();
        using var stop = new CancellationTokenSource();
        var started = Stopwatch.StartNew();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                samples.Add((started.Elapsed, UploadBenchmark.RssBytes(portal.Id)));
                try
                {
                    await Task.Delay(RssInterval, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });
        Log($"(d) steady load: {settings.SteadyRate:0} req/s for {SteadyWarmUp.TotalSeconds:0} s warm-up + {settings.Minutes:0.#} min");
        var warm = await LoadAsync(http, () => Request(url, bodies[Interlocked.Increment(ref next) & 63]), settings.SteadyClients, SteadyWarmUp, portal,
            TimeSpan.FromSeconds(settings.SteadyClients / settings.SteadyRate));
        var load = await LoadAsync(http, () => Request(url, bodies[Interlocked.Increment(ref next) & 63]), settings.SteadyClients, measured, portal,
            TimeSpan.FromSeconds(settings.SteadyClients / settings.SteadyRate));
        samples.Add((started.Elapsed, UploadBenchmark.RssBytes(portal.Id)));
        await stop.CancelAsync();
        await sampler;

        var after = samples.Where(s => s.At >= SteadyWarmUp).Select(s => (double)s.Rss).ToList();
        var mean = after.Average();
        var deviation = after.Max(r => Math.Abs(r - mean)) / mean;
        var errors = warm.Errors + load.Errors;
        rows.Add(new($"(d) steady load, {settings.Minutes:0.#} min at {settings.SteadyRate:0} req/s ({settings.SteadyClients} paced clients), 4-feature classifier",
            $"{load.Requests:N0} requests, **{errors} errors** ({warm.Errors} in warm-up); {load.Rate:0.0} req/s, p50 {Percentile(load.Latencies, 50):0.00} ms, p99 {Percentile(load.Latencies, 99):0.00} ms",
            "0 errors", Verdict(errors == 0)));
        rows.Add(new($"(d) portal resident memory after {SteadyWarmUp.TotalSeconds:0} s warm-up, every {RssInterval.TotalSeconds:0} s",
            $"mean {mean / 1048576:0} MiB, min {after.Min() / 1048576:0}, max {after.Max() / 1048576:0}: max deviation **±{deviation * 100:0.0}%**", "±10%", Verdict(deviation <= 0.10)));
        details.Add($"(d) RSS samples (s: MiB): {string.Join(", ", samples.Select(s => $"{s.At.TotalSeconds:0}: {s.Rss / 1048576.0:0}"))}");
        if (after.Count >= 4)
        {
            var half = after.Count / 2;
            details.Add($"(d) RSS trend: mean of the first half after warm-up {after.Take(half).Average() / 1048576:0.0} MiB, of the second half {after.Skip(half).Average() / 1048576:0.0} MiB");
        }
        if (load.ErrorSamples.Count > 0 || warm.ErrorSamples.Count > 0) details.Add($"(d) errors, first: {string.Join(" | ", warm.ErrorSamples.Concat(load.ErrorSamples).Take(5))}");
        Log($"(d) {load.Requests} requests, {errors} errors, RSS ±{deviation * 100:0.0}%");
    }

    // ---- load generation ----

    private sealed record LoadResult(long Requests, long Errors, double Seconds, List<double> Latencies, TimeSpan ServerCpu, TimeSpan ClientCpu, List<string> ErrorSamples)
    {
        public double Rate => Requests / Seconds;
        public double ServerCpuMicroseconds => ServerCpu.TotalMicroseconds / Math.Max(1, Requests + Errors);
        public double ClientCpuMicroseconds => ClientCpu.TotalMicroseconds / Math.Max(1, Requests + Errors);

        public static LoadResult Combine(List<LoadResult> parts) => new(
            parts.Sum(p => p.Requests), parts.Sum(p => p.Errors), parts.Sum(p => p.Seconds), [.. parts.SelectMany(p => p.Latencies)],
            TimeSpan.FromTicks(parts.Sum(p => p.ServerCpu.Ticks)), TimeSpan.FromTicks(parts.Sum(p => p.ClientCpu.Ticks)),
            [.. parts.SelectMany(p => p.ErrorSamples).Take(5)]);
    }

    /// <summary>
    /// <paramref name="clients"/> loops sending requests for <paramref name="duration"/>, each waiting for its answer (closed
    /// loop), or, with <paramref name="interval"/>, each starting one request per interval (paced). Requests counts 200s.
    /// </summary>
    private static async Task<LoadResult> LoadAsync(HttpClient http, Func<HttpRequestMessage> request, int clients, TimeSpan duration, Process server, TimeSpan? interval = null)
    {
        var serverCpuBefore = CpuTime(server);
        var clientCpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var end = duration;
        var workers = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var latencies = new List<double>(4096);
            var errors = 0L;
            var samples = new List<string>();
            var offset = interval is { } step ? step * c / clients : TimeSpan.Zero;
            for (var k = 0L; ; k++)
            {
                if (interval is { } every)
                {
                    var due = offset + every * k;
                    if (due >= end) break;
                    var wait = due - clock.Elapsed;
                    if (wait > TimeSpan.Zero) await Task.Delay(wait);
                }
                else if (clock.Elapsed >= end)
                {
                    break;
                }
                var sent = clock.Elapsed;
                try
                {
                    using var response = await http.SendAsync(request());
                    var bytes = await response.Content.ReadAsByteArrayAsync();
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        latencies.Add((clock.Elapsed - sent).TotalMilliseconds);
                    }
                    else
                    {
                        errors++;
                        if (samples.Count < 3) samples.Add($"{(int)response.StatusCode} {System.Text.Encoding.UTF8.GetString(bytes.AsSpan(0, Math.Min(200, bytes.Length)))}");
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
                {
                    errors++;
                    if (samples.Count < 3) samples.Add($"{ex.GetType().Name}: {ex.Message}");
                }
            }
            return (latencies, errors, samples);
        })).ToArray();
        var results = await Task.WhenAll(workers);
        var seconds = clock.Elapsed.TotalSeconds;
        return new LoadResult(
            results.Sum(r => (long)r.latencies.Count), results.Sum(r => r.errors), seconds, [.. results.SelectMany(r => r.latencies)],
            CpuTime(server) - serverCpuBefore, Process.GetCurrentProcess().TotalProcessorTime - clientCpuBefore,
            [.. results.SelectMany(r => r.samples).Take(5)]);
    }

    private static HttpRequestMessage Request(Uri url, V2Body body)
    {
        var content = new ReadOnlyMemoryContent(body.Body);
        content.Headers.ContentType = new MediaTypeHeaderValue(body.ContentType);
        var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = content };
        if (body.HeaderLength is { } length) message.Headers.Add(V2Body.HeaderLengthHeader, length.ToString(CultureInfo.InvariantCulture));
        return message;
    }

    /// <summary>
    /// Loads <paramref name="server"/> for at least <see cref="Settings.WarmUp"/>, then in 3 s slices until its
    /// tiered-compilation thread used under 2 % of a slice (or 120 s in all), and says how long that took. The thread's
    /// CPU time comes from /proc; elsewhere the minimum alone applies.
    /// </summary>
    private static async Task<TimeSpan> WarmUpUntilCompiledAsync(HttpClient http, Func<HttpRequestMessage> request, Settings settings, Process server)
    {
        var clock = Stopwatch.StartNew();
        await LoadAsync(http, request, settings.Clients, settings.WarmUp, server);
        var slice = TimeSpan.FromSeconds(3);
        while (clock.Elapsed < TimeSpan.FromSeconds(120) && JitThreadCpu(server) is { } before)
        {
            await LoadAsync(http, request, settings.Clients, slice, server);
            // A worker thread that idles long enough exits and a new one starts later, taking its count along: a drop
            // says nothing, so it takes another slice.
            if (JitThreadCpu(server) is not { } after || (after >= before && after - before < slice * 0.02)) break;
        }
        return clock.Elapsed;
    }

    /// <summary>CPU time of the runtime's tiered-compilation threads (".NET Tiered Compilation Worker"), or null where /proc cannot say.</summary>
    private static TimeSpan? JitThreadCpu(Process process)
    {
        var tasks = $"/proc/{process.Id}/task";
        if (!Directory.Exists(tasks)) return null;
        var ticks = 0L;
        foreach (var task in Directory.EnumerateDirectories(tasks))
        {
            try
            {
                if (!File.ReadAllText(Path.Combine(task, "comm")).StartsWith(".NET Tiered", StringComparison.Ordinal)) continue;
                // Fields after the parenthesised name: state is field 3, utime 14 and stime 15 (clock ticks).
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread ended between listing and reading: it was idle.
            }
        }
        // Linux reports these in USER_HZ, 100 per second on every mainstream kernel build.
        return TimeSpan.FromSeconds(ticks / 100.0);
    }

    private static TimeSpan CpuTime(Process process)
    {
        try
        {
            process.Refresh();
            return process.TotalProcessorTime;
        }
        catch (InvalidOperationException)
        {
            return TimeSpan.Zero;
        }
    }

    // ---- the portal's management API ----

    private sealed record Uploaded(string Slug, int Version);

    private static async Task<Uploaded> UploadAsync(HttpClient api, string path, string name)
    {
        await using var file = File.OpenRead(path);
        var content = new StreamContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var response = await api.PostAsync($"/api/models?name={name}&filename={name}.onnx", content);
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.Created) throw new InvalidOperationException($"Uploading {name} failed: {(int)response.StatusCode} {text}");
        using var json = JsonDocument.Parse(text);
        return new Uploaded(json.RootElement.GetProperty("model").GetProperty("slug").GetString()!, json.RootElement.GetProperty("version").GetProperty("version").GetInt32());
    }

    private static async Task DeployAsync(HttpClient api, string name, Uploaded model, object settings)
    {
        using var response = await api.PostAsJsonAsync("/api/deployments", new { name, modelId = model.Slug, version = model.Version, settings });
        var text = await response.Content.ReadAsStringAsync();
        if (response.StatusCode != HttpStatusCode.Accepted) throw new InvalidOperationException($"Deploying {name} failed: {(int)response.StatusCode} {text}");
        string jobId;
        using (var json = JsonDocument.Parse(text)) jobId = json.RootElement.GetProperty("job").GetProperty("id").GetString()!;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var job = JsonDocument.Parse(await api.GetStringAsync($"/api/jobs/{jobId}"));
            var state = job.RootElement.GetProperty("state").GetString();
            if (state == "Succeeded") break;
            if (state is "Failed" or "Cancelled")
                throw new InvalidOperationException($"The deployment job for {name} ended {state}: {job.RootElement.GetProperty("message")}");
            if (deadline.Elapsed > TimeSpan.FromMinutes(5)) throw new TimeoutException($"The deployment job for {name} did not finish in 5 minutes ({state}).");
            await Task.Delay(200);
        }
        using var ready = await api.GetAsync($"/v2/models/{name}/ready");
        if (!ready.IsSuccessStatusCode) throw new InvalidOperationException($"{name} is deployed but not ready: {(int)ready.StatusCode}");
    }

    // ---- the minimal server as its own process ----

    private static Process StartMinimalServer(int port, string modelPath)
    {
        var host = Environment.ProcessPath ?? "dotnet";
        var start = new ProcessStartInfo(host) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet") start.ArgumentList.Add(typeof(InferenceBenchmark).Assembly.Location);
        foreach (var arg in new[] { MinimalInferenceServer.Command, "--urls", $"http://127.0.0.1:{port}", "--model", modelPath, "--threads", "1" })
        {
            start.ArgumentList.Add(arg);
        }
        // Server GC, as the portal has it (Microsoft.NET.Sdk.Web's default); this console project defaults to workstation GC.
        start.Environment["DOTNET_gcServer"] = "1";
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"minimal server: {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => UploadBenchmark.Stop(process);
        return process;
    }

    private static async Task WaitMinimalReadyAsync(HttpClient http, Process server, int port)
    {
        for (var i = 0; i < 300; i++)
        {
            if (server.HasExited) throw new InvalidOperationException("The minimal server exited during start-up.");
            try
            {
                using var response = await http.GetAsync($"http://127.0.0.1:{port}/ready");
                if (response.IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            await Task.Delay(100);
        }
        throw new TimeoutException("The minimal server did not start in 30 s.");
    }

    // ---- figures ----

    private static string Describe(LoadResult r) =>
        $"{r.Rate:0.0} req/s (p50 {Percentile(r.Latencies, 50):0.00} ms, p99 {Percentile(r.Latencies, 99):0.00} ms, {r.Errors} errors)";

    private static double Percentile(List<double> values, double percent)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        var rank = (int)Math.Ceiling(percent / 100 * sorted.Count) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Count - 1)];
    }

    private static double MedianMilliseconds(Action action)
    {
        action();
        var times = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times.Add(sw.Elapsed.TotalMilliseconds);
        }
        return Percentile(times, 50);
    }

    private static string LoadAverage() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    private static double MaxDiff(float[] a, float[] b) =>
        a.Length != b.Length ? double.PositiveInfinity : a.Zip(b).Max(p => Math.Abs((double)p.First - p.Second));

    private static string Verdict(bool met) => met ? "met" : "**missed**";

    private static void Log(string line) => Console.WriteLine($"[{DateTime.Now:HH:mm:ss}] {line}");

    private static string? ValueOf(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
