namespace MaaS.Portal.Jobs;

/// <summary>
/// The one channel through which job changes reach open pages. Pages subscribe in OnInitialized, update their
/// copy and call <c>InvokeAsync(StateHasChanged)</c>; the browser never polls.
/// </summary>
public sealed class JobNotifier(ILogger<JobNotifier> logger)
{
    public event Func<JobView, Task>? Changed;

    public async Task PublishAsync(JobView job)
    {
        var handlers = Changed;
        if (handlers is null) return;
        foreach (var handler in handlers.GetInvocationList().Cast<Func<JobView, Task>>())
        {
            try
            {
                await handler(job);
            }
            catch (Exception ex)
            {
                // A closed circuit must not stop a job or other pages from hearing about it.
                logger.LogDebug(ex, "A job change subscriber failed");
            }
        }
    }
}
