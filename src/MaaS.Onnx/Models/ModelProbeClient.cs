using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace MaaS.Onnx.Models;

/// <summary>
/// Opens an untrusted model in MaaS.ModelProbe, a child process under a memory cap and a time limit (ARCHITECTURE.md
/// decision 3, hardening.md 1.2), and turns whatever happens to that process into a <see cref="ProbeReport"/>: its own
/// verdict, or words for an allocation failure, a crash or a timeout. The calling process never loads the model.
/// </summary>
public sealed class ModelProbeClient
{
    public const int AdmittedExitCode = 0;
    public const int RejectedExitCode = 2;

    // The report of a big model is still small; anything past this is not a report.
    private const int MaxStdoutChars = 16 * 1024 * 1024;
    // The end of stderr is what says why a process died; keep that much of it.
    private const int MaxStderrChars = 16 * 1024;

    // Each probe may use up to its memory cap; uploads at once must not add up to more than the machine has.
    private readonly SemaphoreSlim _running;

    /// <param name="probeAssemblyPath">MaaS.ModelProbe.dll; by default the copy next to the running program.</param>
    /// <param name="dotnetHostPath">The dotnet host that runs it; by default the one running this process.</param>
    /// <param name="maxConcurrentProbes">Probes that run at once; more wait their turn.</param>
    public ModelProbeClient(string? probeAssemblyPath = null, string? dotnetHostPath = null, int maxConcurrentProbes = 2)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrentProbes, 1);
        ProbeAssemblyPath = probeAssemblyPath ?? Path.Combine(AppContext.BaseDirectory, "MaaS.ModelProbe.dll");
        DotnetHostPath = dotnetHostPath ?? FindDotnetHost();
        _running = new SemaphoreSlim(maxConcurrentProbes, maxConcurrentProbes);
    }

    public string ProbeAssemblyPath { get; }

    public string DotnetHostPath { get; }

    /// <summary>util-linux prlimit, which sets RLIMIT_DATA and then execs the probe (Linux only).</summary>
    public string PrlimitPath { get; init; } = "/usr/bin/prlimit";

    public async Task<ProbeReport> ProbeAsync(string modelPath, ProbeLimits limits, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MemoryBytes, 1L << 20, nameof(limits));
        if (!File.Exists(ProbeAssemblyPath))
        {
            throw new FileNotFoundException("MaaS.ModelProbe.dll is not where the probe client looks for it; reference the "
                                            + "MaaS.ModelProbe project from the program that runs the client.", ProbeAssemblyPath);
        }
        var fullModelPath = Path.GetFullPath(modelPath);
        await _running.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return await RunProbeAsync(fullModelPath, limits, ct).ConfigureAwait(false);
        }
        finally
        {
            _running.Release();
        }
    }

    private async Task<ProbeReport> RunProbeAsync(string fullModelPath, ProbeLimits limits, CancellationToken ct)
    {
        using var process = new Process { StartInfo = StartInfo(fullModelPath, limits) };
        var started = Stopwatch.StartNew();
        process.Start();
        process.StandardInput.Close();
        var stdout = ReadBoundedAsync(process.StandardOutput, MaxStdoutChars, keepTail: false);
        var stderr = ReadBoundedAsync(process.StandardError, MaxStderrChars, keepTail: true);

        var timedOut = false;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            deadline.CancelAfter(limits.Timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Past the limit is past the limit, even when the process ended just before the late timer could kill it
                // (a loaded machine runs timers late).
                timedOut = Kill(process) || (!ct.IsCancellationRequested && started.Elapsed >= limits.Timeout);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        var output = await stdout.ConfigureAwait(false);
        var errors = await stderr.ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();

        if (timedOut)
        {
            return ProbeReport.Rejected(AdmissionChecks.Timeout,
                $"The model could not be opened safely: it did not open within {limits.Timeout.TotalSeconds.ToString("0.##", CultureInfo.InvariantCulture)} s.");
        }
        if (process.ExitCode is AdmittedExitCode or RejectedExitCode && ReadReport(output) is { } report)
        {
            return report;
        }
        return Crashed(process.ExitCode, errors, limits);
    }

    private ProcessStartInfo StartInfo(string modelPath, ProbeLimits limits)
    {
        var start = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            CreateNoWindow = true,
            WorkingDirectory = Path.GetDirectoryName(modelPath)!,
        };
        if (OperatingSystem.IsLinux())
        {
            // RLIMIT_DATA, not RLIMIT_AS: the .NET runtime reserves far more address space than it commits and does not
            // start under an address-space cap, while RLIMIT_DATA only counts memory actually made writable, so an
            // allocation bomb fails inside ONNX Runtime as a clean allocation error. No core files of untrusted models.
            start.FileName = PrlimitPath;
            start.ArgumentList.Add($"--data={limits.MemoryBytes}");
            start.ArgumentList.Add("--core=0");
            start.ArgumentList.Add("--");
            start.ArgumentList.Add(DotnetHostPath);
        }
        else
        {
            // Development on Windows or macOS: no rlimit; the GC limit below is the only cap.
            start.FileName = DotnetHostPath;
        }
        start.ArgumentList.Add(ProbeAssemblyPath);
        start.ArgumentList.Add(modelPath);
        start.ArgumentList.Add("--max-model-bytes");
        start.ArgumentList.Add(limits.MaxModelBytes.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add("--memory-limit-bytes");
        start.ArgumentList.Add(limits.MemoryBytes.ToString(CultureInfo.InvariantCulture));

        // Half the cap for the managed heap: the GC then collects within it and throws OutOfMemoryException (which the
        // probe reports) instead of failing to commit memory, and ONNX Runtime's native allocations keep the other half.
        start.Environment["DOTNET_GCHeapHardLimit"] = $"0x{limits.MemoryBytes / 2:X}";
        start.Environment["DOTNET_gcServer"] = "0";
        // No debugger or diagnostics IPC endpoint in a process that handles untrusted input.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        start.Environment.Remove("DOTNET_STARTUP_HOOKS");
        return start;
    }

    /// <summary>Kills the probe and anything it started; false when it had exited on its own meanwhile.</summary>
    private static bool Kill(Process process)
    {
        try
        {
            if (process.HasExited) return false;
            process.Kill(entireProcessTree: true);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    private static ProbeReport? ReadReport(string stdout)
    {
        // The report is the last line; anything native code printed before it is not ours to parse.
        var line = stdout.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .LastOrDefault(l => l.StartsWith('{'));
        if (line is null) return null;
        try
        {
            return JsonSerializer.Deserialize<ProbeReport>(line, ProbeJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static ProbeReport Crashed(int exitCode, string stderr, ProbeLimits limits)
    {
        if (ProbeMessages.LooksOutOfMemory(stderr))
        {
            return ProbeReport.Rejected(AdmissionChecks.Memory, ProbeMessages.NeededMoreMemory(limits.MemoryBytes));
        }
        var lines = stderr.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        // The .NET host's own failures exit with 0x800080xx, whose low byte looks like "128 + signal": tell them apart
        // by what the host printed. A managed crash prints the exception; a native crash inside ONNX Runtime prints nothing.
        if (lines.FirstOrDefault(l => l.StartsWith("Unhandled exception.", StringComparison.Ordinal)) is { } unhandled)
        {
            return ProbeReport.Rejected(AdmissionChecks.Crash,
                $"The model could not be opened safely: the probe failed ({ProbeMessages.Trim(unhandled["Unhandled exception.".Length..], 300)}).");
        }
        if (lines.FirstOrDefault(IsHostFailure) is { } hostFailure)
        {
            return ProbeReport.Rejected(AdmissionChecks.Crash,
                $"The model could not be opened safely: the probe process could not start ({ProbeMessages.Trim(hostFailure, 300)}).");
        }
        // .NET reports a process killed by signal N as exit code 128 + N.
        if (exitCode is > 128 and < 128 + 65)
        {
            var signal = exitCode - 128;
            var name = signal switch
            {
                4 => ", illegal instruction", 6 => ", aborted", 7 => ", bus error", 8 => ", arithmetic error",
                9 => ", killed", 11 => ", segmentation fault", _ => "",
            };
            return ProbeReport.Rejected(AdmissionChecks.Crash,
                $"The model could not be opened safely: ONNX Runtime crashed while opening it (signal {signal}{name}).");
        }
        return ProbeReport.Rejected(AdmissionChecks.Crash,
            $"The model could not be opened safely: the probe process failed (exit code {exitCode})"
            + (lines.Length == 0 ? "." : $": {ProbeMessages.Trim(lines[^1], 300)}"));
    }

    private static bool IsHostFailure(string line) =>
        line.StartsWith("Failed to ", StringComparison.Ordinal)
        || line.StartsWith("Cannot use file stream", StringComparison.Ordinal)
        || line.StartsWith("The application to execute does not exist", StringComparison.Ordinal)
        || line.StartsWith("A fatal error was encountered", StringComparison.Ordinal)
        || line.StartsWith("You must install or update .NET", StringComparison.Ordinal)
        || line.StartsWith("prlimit:", StringComparison.Ordinal);

    /// <summary>Reads a pipe to its end without holding more than about <paramref name="max"/> characters.</summary>
    private static async Task<string> ReadBoundedAsync(StreamReader reader, int max, bool keepTail)
    {
        var text = new StringBuilder();
        var buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            if (keepTail)
            {
                text.Append(buffer, 0, read);
                if (text.Length > 2 * max) text.Remove(0, text.Length - max);
            }
            else if (text.Length < max)
            {
                text.Append(buffer, 0, Math.Min(read, max - text.Length));
            }
        }
        if (keepTail && text.Length > max) text.Remove(0, text.Length - max);
        return text.ToString();
    }

    /// <summary>
    /// The dotnet host: DOTNET_HOST_PATH (set by the SDK), else this process when it is dotnet itself, else the host of
    /// the runtime this process runs on (an apphost-started program), else dotnet from PATH.
    /// </summary>
    private static string FindDotnetHost()
    {
        var hostName = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath)) return hostPath;
        if (Environment.ProcessPath is { } processPath
            && Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return processPath;
        }
        // The runtime lives in <root>/shared/Microsoft.NETCore.App/<version>/; the host sits in <root>.
        var root = Path.GetFullPath(Path.Combine(RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var beside = Path.Combine(root, hostName);
        return File.Exists(beside) ? beside : hostName;
    }
}

/// <summary>Words the probe and its client share, so a verdict reads the same whichever of them reached it.</summary>
public static class ProbeMessages
{
    public static string NeededMoreMemory(long limitBytes) => limitBytes > 0
        ? $"The model could not be opened safely: it needed more than {limitBytes / (1024 * 1024)} MB of memory."
        : "The model could not be opened safely: it needed more memory than the probe may use.";

    /// <summary>Whether an error text says an allocation failed (ONNX Runtime's bad_alloc, .NET's OutOfMemory, ENOMEM).</summary>
    public static bool LooksOutOfMemory(string text) =>
        OutOfMemoryMarkers.Any(marker => text.Contains(marker, StringComparison.OrdinalIgnoreCase));

    private static readonly string[] OutOfMemoryMarkers =
    [
        "bad_alloc", "bad allocation", "OutOfMemory", "out of memory", "Cannot allocate memory", "Failed to allocate",
        "GC heap initialization failed", "Failed to reserve memory",
        // E_OUTOFMEMORY and ERROR_NOT_ENOUGH_MEMORY, as the .NET host reports a runtime that could not start under the cap.
        "0x8007000E", "0x80070008",
    ];

    /// <summary>Collapses whitespace and shortens a message to at most <paramref name="max"/> characters.</summary>
    public static string Trim(string text, int max)
    {
        var collapsed = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return collapsed.Length <= max ? collapsed : string.Concat(collapsed.AsSpan(0, max - 1), "…");
    }
}
