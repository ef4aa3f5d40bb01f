using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using MaaS.Benchmarks;

// The performance figures of the portal, measured as they are quoted: run on one machine, in one run.
//   dotnet run -c Release --project tests/MaaS.Benchmarks -- upload [sizeMiB]
//   dotnet run -c Release --project tests/MaaS.Benchmarks -- compress [--quick] [--images DIR] [--threads N]
//   dotnet run -c Release --project tests/MaaS.Benchmarks -- inference [--quick] [--minutes N] [--phases a,b,c,d] [--seconds N (per server in b)]
//   dotnet run -c Release --project tests/MaaS.Benchmarks -- costs [--days N] [--deployments N]
//   dotnet run -c Release --project tests/MaaS.Benchmarks -- training [--rows N]
var command = args.FirstOrDefault() ?? "upload";
switch (command)
{
    case "upload":
        var mib = args.Length > 1 ? int.Parse(args[1]) : 1024;
        await UploadBenchmark.RunAsync(mib);
        break;
    case "compress":
        return CompressionBenchmark.Run(args[1..]);
    case "inference":
        return await InferenceBenchmark.RunAsync(args[1..]);
    case "costs":
        return await CostBenchmark.RunAsync(args[1..]);
    case "training":
        return TrainingBenchmark.Run(args[1..]);
    case MinimalInferenceServer.Command:
        // Started by the inference benchmark as its own process: the floor the portal is compared with.
        await MinimalInferenceServer.RunAsync(args[1..]);
        break;
    default:
        Console.Error.WriteLine($"Unknown benchmark '{command}'. Known: upload [sizeMiB]; compress [--quick] [--images DIR] [--threads N]; inference [--quick] [--minutes N] [--phases a,b,c,d] [--seconds N (per server in b)]; costs [--days N] [--deployments N]; training [--rows N]");
        return 2;
}
return 0;

namespace MaaS.Benchmarks
{
    /// <summary>
    /// Uploads a model-shaped file (a valid ONNX model holding one large float initializer) to POST /api/models over
    /// loopback, with the portal running as its own process, and reports throughput and the portal's memory growth.
    /// </summary>
    internal static class UploadBenchmark
    {
        internal const string ApiKey = "maas_benchmark-key-0123456789abcdefghijkl";

        public static async Task RunAsync(int mib)
        {
            var work = Directory.CreateTempSubdirectory("maas-bench-");
            try
            {
                var modelPath = Path.Combine(work.FullName, "big.onnx");
                var size = OnnxWriter.WriteModelWithInitializer(modelPath, (long)mib * 1024 * 1024);
                Console.WriteLine($"model file: {size / 1048576.0:0} MiB ({size:N0} bytes)");

                var port = FreePort();
                using var portal = StartPortal(port, Path.Combine(work.FullName, "data"));
                using var stopPortal = new StopOnDispose(() => Stop(portal));
                using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromMinutes(10) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
                await WaitReadyAsync(http, portal);

                // Warm-up: a small upload so JIT and first-request costs are not in the figure.
                var warm = Path.Combine(work.FullName, "warm.onnx");
                OnnxWriter.WriteModelWithInitializer(warm, 1024 * 1024);
                (await PostAsync(http, warm, new Stopwatch())).EnsureSuccessStatusCode();
                GC.Collect();

                var baseline = RssBytes(portal.Id);
                var peak = baseline;
                using var sampling = new CancellationTokenSource();
                var sampler = Task.Run(async () =>
                {
                    while (!sampling.IsCancellationRequested)
                    {
                        peak = Math.Max(peak, RssBytes(portal.Id));
                        await Task.Delay(20);
                    }
                });

                var sent = new Stopwatch();
                var total = Stopwatch.StartNew();
                var response = await PostAsync(http, modelPath, sent);
                total.Stop();
                await sampling.CancelAsync();
                await sampler;
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    throw new InvalidOperationException($"Upload failed: {(int)response.StatusCode} {body}");
                }

                var mb = size / 1e6;
                Console.WriteLine($"date: {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC; machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}");
                Console.WriteLine($"upload (bytes sent until the body was consumed): {sent.Elapsed.TotalSeconds:0.00} s = {mb / sent.Elapsed.TotalSeconds:0} MB/s");
                Console.WriteLine($"upload + admission (probe, store, register): {total.Elapsed.TotalSeconds:0.00} s = {mb / total.Elapsed.TotalSeconds:0} MB/s");
                Console.WriteLine($"portal resident memory: baseline {baseline / 1048576.0:0} MiB, peak {peak / 1048576.0:0} MiB, growth {(peak - baseline) / 1048576.0:0} MiB");
                Console.WriteLine($"targets: >= 200 MB/s upload; <= 100 MB growth");
            }
            finally
            {
                work.Delete(recursive: true);
            }
        }

        private static async Task<HttpResponseMessage> PostAsync(HttpClient http, string path, Stopwatch sent)
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
            var content = new StreamContent(new TimedStream(file, sent), 1 << 20);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.ContentLength = file.Length;
            sent.Restart();
            return await http.PostAsync($"/api/models?name=bench&filename={Path.GetFileName(path)}", content);
        }

        internal static Process StartPortal(int port, string dataDirectory, params string[] settings)
        {
            var root = RepoRoot();
            // The portal built in the harness's own configuration (a Debug build beside it may be newer, and slower).
            var configuration = Path.GetFileName(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory))) ?? "Release";
            var dll = Directory.GetFiles(Path.Combine(root, "src", "MaaS.Portal", "bin"), "MaaS.Portal.dll", SearchOption.AllDirectories)
                .OrderByDescending(path => path.Contains($"{Path.DirectorySeparatorChar}{configuration}{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                .ThenByDescending(File.GetLastWriteTimeUtc).First();
            var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
            {
                WorkingDirectory = Path.GetDirectoryName(dll)!,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            string[] arguments =
            [
                dll, "--urls", $"http://127.0.0.1:{port}", "--environment", "Production",
                "--Storage:DataDirectory", dataDirectory,
                "--MaaS:Bootstrap:AdminEmail", "bench@maas.local", "--MaaS:Bootstrap:AdminPassword", "Bench-Passw0rd!",
                "--MaaS:Bootstrap:AdminApiKey", ApiKey, "--Logging:LogLevel:Default", "Warning",
                .. settings,
            ];
            foreach (var arg in arguments)
            {
                start.ArgumentList.Add(arg);
            }
            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"portal: {e.Data}"); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            // Ctrl+C or a crash of the harness must not leave a portal running.
            AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop(process);
            return process;
        }

        internal static void Stop(Process process)
        {
            try
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already stopped and disposed.
            }
        }

        internal static async Task WaitReadyAsync(HttpClient http, Process portal)
        {
            for (var i = 0; i < 600; i++)
            {
                if (portal.HasExited) throw new InvalidOperationException("The portal exited during start-up.");
                try
                {
                    if ((await http.GetAsync("/readyz")).IsSuccessStatusCode) return;
                }
                catch (HttpRequestException)
                {
                    // not listening yet
                }
                await Task.Delay(100);
            }
            throw new TimeoutException("The portal did not become ready in 60 s.");
        }

        internal static long RssBytes(int pid)
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
                }
            }
            return 0;
        }

        internal static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        internal static string RepoRoot()
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "MaaS.Portal.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("Run the benchmark from inside the repository.");
        }
    }

    internal sealed class StopOnDispose(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }

    /// <summary>Stops the clock when the HTTP client has read the last byte of the body.</summary>
    internal sealed class TimedStream(Stream inner, Stopwatch clock) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Stop(inner.Read(buffer, offset, count));
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => Stop(await inner.ReadAsync(buffer, cancellationToken));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Stop(int read)
        {
            if (read == 0) clock.Stop();
            return read;
        }
    }

    /// <summary>
    /// Writes a valid ONNX model (y = Shape(w)) around one float initializer of the requested size, encoding the
    /// protobuf by hand so a gigabyte of weights streams to disk instead of being built in memory.
    /// </summary>
    internal static class OnnxWriter
    {
        public static long WriteModelWithInitializer(string path, long weightBytes)
        {
            var elements = weightBytes / 4;
            var rawBytes = elements * 4;
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);

            var tensorHeader = Concat(Varint(1, (ulong)elements), Varint(2, 1), LengthDelimited(8, "w"u8.ToArray()), Tag(9, 2), VarintBytes((ulong)rawBytes));
            var tensorLength = tensorHeader.Length + rawBytes;
            var node = Concat(LengthDelimited(1, "w"u8.ToArray()), LengthDelimited(2, "y"u8.ToArray()), LengthDelimited(3, "shape"u8.ToArray()), LengthDelimited(4, "Shape"u8.ToArray()));
            var int64Tensor = Concat(Varint(1, 7), LengthDelimited(2, LengthDelimited(1, Varint(1, 1))));
            var output = Concat(LengthDelimited(1, "y"u8.ToArray()), LengthDelimited(2, LengthDelimited(1, int64Tensor)));
            var graphPrefix = Concat(LengthDelimited(1, node), LengthDelimited(2, "big"u8.ToArray()), Tag(5, 2), VarintBytes((ulong)tensorLength));
            var graphSuffix = LengthDelimited(12, output);
            var graphLength = graphPrefix.Length + tensorLength + graphSuffix.Length;

            file.Write(Varint(1, 8)); // ir_version
            file.Write(LengthDelimited(8, Concat(LengthDelimited(1, []), Varint(2, 13)))); // opset_import ai.onnx 13
            file.Write(LengthDelimited(2, "maas-benchmark"u8.ToArray())); // producer_name
            file.Write(Tag(7, 2));
            file.Write(VarintBytes((ulong)graphLength));
            file.Write(graphPrefix);
            file.Write(tensorHeader);
            var chunk = new byte[1 << 20];
            new Random(42).NextBytes(chunk);
            for (long written = 0; written < rawBytes; written += chunk.Length)
            {
                file.Write(chunk, 0, (int)Math.Min(chunk.Length, rawBytes - written));
            }
            file.Write(graphSuffix);
            return file.Length;
        }

        private static byte[] Tag(int field, int wireType) => VarintBytes((ulong)((field << 3) | wireType));
        private static byte[] Varint(int field, ulong value) => Concat(Tag(field, 0), VarintBytes(value));
        private static byte[] LengthDelimited(int field, byte[] payload) => Concat(Tag(field, 2), VarintBytes((ulong)payload.Length), payload);

        private static byte[] VarintBytes(ulong value)
        {
            var bytes = new List<byte>();
            do
            {
                var b = (byte)(value & 0x7F);
                value >>= 7;
                bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
            } while (value != 0);
            return bytes.ToArray();
        }

        private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
    }
}
