namespace MaaS.Portal.IntegrationTests;

internal static class Poll
{
    /// <summary>Waits for a background effect (a job finishing), failing with what was last seen.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        T last;
        do
        {
            last = await read();
            if (done(last)) return last;
            await Task.Delay(100);
        } while (DateTime.UtcNow < deadline);
        throw new TimeoutException($"Gave up waiting; last seen: {last}");
    }
}
