using MaaS.Portal.Jobs;

namespace MaaS.Portal.IntegrationTests;

/// <summary>A job that reports progress and then waits until it is cancelled: lets tests watch a running job.</summary>
public sealed class BlockingTestJob : IPortalJob
{
    public const string Kind = "test-blocking";

    public async Task<object?> ExecuteAsync(JobContext context, CancellationToken cancellationToken)
    {
        await context.ReportAsync(0.5, "waiting", cancellationToken);
        await Task.Delay(Timeout.Infinite, cancellationToken);
        return null;
    }
}
