using MaaS.Portal.Jobs;
using MudBlazor;

namespace MaaS.Portal.Components.Shared;

/// <summary>
/// The one way the UI cancels a job: ask first, because a misclick would throw away what the job has done (an hour of
/// training, a long compression), then say what happened.
/// </summary>
public static class JobCancelPrompt
{
    /// <summary>False when the user chose to let the job run.</summary>
    public static async Task<bool> ConfirmAndCancelAsync(IDialogService dialogs, JobService jobs, ISnackbar snackbar, JobView job, string userId, bool isAdmin)
    {
        var confirmed = await dialogs.ShowMessageBoxAsync("Cancel job",
            $"Stop '{job.Title}'? Nothing it has done so far is kept.", yesText: "Stop it", cancelText: "Let it run");
        if (confirmed != true) return false;
        var result = await jobs.CancelAsync(job.Id, userId, isAdmin);
        snackbar.Add(result.Outcome switch
        {
            CancelOutcome.Cancelled => "Cancelled before it started.",
            CancelOutcome.CancelRequested => "Asked the job to stop; it will show Cancelled when it does.",
            CancelOutcome.AlreadyFinished => "That job had already finished.",
            _ => "That job no longer exists.",
        }, Severity.Info);
        return true;
    }
}
