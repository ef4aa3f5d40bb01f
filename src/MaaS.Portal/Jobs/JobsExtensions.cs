using System.ComponentModel.DataAnnotations;
using Hangfire;
using Hangfire.Dashboard;
using Hangfire.Storage.SQLite;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Storage;
using Microsoft.AspNetCore.Authentication;

namespace MaaS.Portal.Jobs;

public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>How many jobs run at once. Compression and training are CPU-bound: keep this near the core count.</summary>
    [Range(1, 64)]
    public int WorkerCount { get; set; } = 2;

    /// <summary>How often idle workers look for new jobs in the SQLite queue.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);
}

public static class JobsExtensions
{
    public const string DashboardPath = "/admin/jobs";

    /// <summary>
    /// The one place that chooses job storage: Hangfire on its own SQLite file beside the portal's database.
    /// </summary>
    public static void AddJobs(this WebApplicationBuilder builder, DataPaths paths)
    {
        builder.Services.AddOptions<JobsOptions>()
            .Bind(builder.Configuration.GetSection(JobsOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        var options = builder.Configuration.GetSection(JobsOptions.Section).Get<JobsOptions>() ?? new JobsOptions();

        builder.Services.AddHangfire(config => config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseSQLiteStorage(paths.JobsDatabase, new SQLiteStorageOptions { QueuePollInterval = options.PollInterval }));

        builder.Services.AddSingleton<JobNotifier>();
        builder.Services.AddSingleton<JobCancellations>();
        builder.Services.AddSingleton<JobService>();
        builder.Services.AddTransient(typeof(JobRunner<>));

        // Registered before the Hangfire server so interrupted records are settled before any worker starts.
        builder.Services.AddHostedService<JobRecovery>();
        builder.Services.AddHangfireServer(server =>
        {
            server.WorkerCount = options.WorkerCount;
            server.ServerName = $"{Environment.MachineName}:{Environment.ProcessId}";
        });
        builder.Services.AddHealthChecks().AddCheck<JobStorageHealthCheck>("job-storage", tags: ["ready"]);
    }

    /// <summary>Hangfire's dashboard for admins: anonymous visitors are sent to log in, other users get 403.</summary>
    public static void UseJobsDashboard(this WebApplication app)
    {
        app.UseWhen(
            ctx => ctx.Request.Path.StartsWithSegments(DashboardPath) && ctx.User.Identity?.IsAuthenticated != true,
            branch => branch.Run(ctx => ctx.ChallengeAsync()));
        app.UseWhen(
            ctx => ctx.Request.Path.StartsWithSegments(DashboardPath) && ctx.User.Identity?.IsAuthenticated == true && !ctx.User.IsInRole(Roles.Admin),
            branch => branch.Run(async ctx =>
            {
                // Hangfire's own refusal is a bare 403 that browsers show as a broken page; people get words.
                ctx.Response.StatusCode = StatusCodes.Status403Forbidden;
                ctx.Response.ContentType = "text/html; charset=utf-8";
                await ctx.Response.WriteAsync("<!DOCTYPE html><title>Access denied</title><h1>Access denied</h1>" +
                    "<p>The job dashboard is for administrators. Your own jobs are on the <a href=\"/jobs\">Jobs page</a>.</p>");
            }));
        app.UseHangfireDashboard(DashboardPath, new DashboardOptions
        {
            DashboardTitle = "MaaS Portal · jobs",
            AppPath = "/jobs",
            // Replaces Hangfire's default local-requests-only filter: loopback gets no pass.
            Authorization = [new AdminOnlyDashboardFilter()],
        });
    }

    private sealed class AdminOnlyDashboardFilter : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) => context.GetHttpContext().User.IsInRole(Roles.Admin);
    }
}
