using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using MaaS.ModelProbe;
using MaaS.Onnx.Models;

// MaaS.ModelProbe <modelPath> --max-model-bytes N [--memory-limit-bytes N]
//
// Opens one untrusted model in this throw-away process: the managed checks first, then ONNX Runtime, once on small
// generated inputs. Prints exactly one JSON ProbeReport line to stdout; exit code 0 admitted, 2 rejected, anything
// else (a signal, an unhandled exception) is a crash for ModelProbeClient to put into words.

// Should the machine run out of memory while this process holds a hostile model (several probes at once, each under its
// cap, can still add up), the kernel's out-of-memory killer takes this process, not the portal: 1000 marks it first in line.
try
{
    if (OperatingSystem.IsLinux()) File.WriteAllText("/proc/self/oom_score_adj", "1000");
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    // A kernel without it, or a sandbox that forbids it: the memory cap still holds.
}

// Nothing but the report may reach stdout: the client parses it. Everything else written through Console goes to stderr.
var reportStream = Console.OpenStandardOutput();
Console.SetOut(Console.Error);

if (!ProbeArguments.TryParse(args, out var arguments, out var usage))
{
    Console.Error.WriteLine(usage);
    return 64;
}

ProbeReport report;
try
{
    report = Probe.Run(arguments);
}
catch (ModelRejectedException rejected)
{
    report = ProbeReport.Rejected(rejected.Check, rejected.Message);
}
catch (OutOfMemoryException)
{
    report = ProbeReport.Rejected(AdmissionChecks.Memory, ProbeMessages.NeededMoreMemory(arguments.MemoryLimitBytes));
}
catch (InsufficientExecutionStackException)
{
    report = ProbeReport.Rejected(AdmissionChecks.Budget, "The model nests subgraphs too deeply to be checked.");
}

report = report with { PeakMemoryBytes = Process.GetCurrentProcess().PeakWorkingSet64 };
JsonSerializer.Serialize(reportStream, report, ProbeJson.Options);
reportStream.Write("\n"u8);
reportStream.Flush();
return report.Admitted ? ModelProbeClient.AdmittedExitCode : ModelProbeClient.RejectedExitCode;

namespace MaaS.ModelProbe
{
    internal sealed record ProbeArguments(string ModelPath, long MaxModelBytes, long MemoryLimitBytes)
    {
        public static bool TryParse(string[] args, out ProbeArguments arguments, out string usage)
        {
            usage = "usage: MaaS.ModelProbe <modelPath> --max-model-bytes N [--memory-limit-bytes N]";
            arguments = new ProbeArguments("", 0, 0);
            string? path = null;
            long? maxModelBytes = null;
            long memory = 0;
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--max-model-bytes" when i + 1 < args.Length && long.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var max):
                        maxModelBytes = max;
                        i++;
                        break;
                    case "--memory-limit-bytes" when i + 1 < args.Length && long.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var limit):
                        memory = limit;
                        i++;
                        break;
                    case var value when path is null && !value.StartsWith("--", StringComparison.Ordinal):
                        path = value;
                        break;
                    default:
                        return false;
                }
            }
            if (path is null || maxModelBytes is null) return false;
            arguments = new ProbeArguments(path, maxModelBytes.Value, memory);
            return true;
        }
    }
}
