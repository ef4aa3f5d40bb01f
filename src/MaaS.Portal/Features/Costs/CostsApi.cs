using System.Security.Claims;
using MaaS.Portal.Features.Accounts;
using MaaS.Portal.Features.Metering;

namespace MaaS.Portal.Features.Costs;

public static class UsageGroupings
{
    public const string User = "user";
    public const string Model = "model";
    public const string Deployment = "deployment";
    public const string Day = "day";
    public static readonly IReadOnlyList<string> All = [User, Model, Deployment, Day];
}

/// <summary>A usage group with its money: <see cref="Cost"/> in the report's currency, and p95 latency from the histograms.</summary>
public sealed record UsageGroupCost(string Key, string Label, bool Deleted, string? OwnerId, UsageQuantities Usage, CostLine Cost, double? P95LatencySeconds);

/// <summary>
/// <c>GET /api/usage</c>: metered quantities and their money per user, model, deployment or UTC day. <see cref="UsageGroupCost.Key"/>
/// is the user id, model id, deployment name or date (yyyy-MM-dd); a deleted user, model or deployment keeps its usage, marked.
/// </summary>
public sealed record UsageCostReport(DateTimeOffset From, DateTimeOffset To, string GroupBy, bool AllUsers, string Currency,
    IReadOnlyList<string> Currencies, UsageQuantities Totals, CostLine TotalCost, IReadOnlyList<UsageGroupCost> Groups);

public sealed record BudgetRequest(decimal? MonthlyAmount);

public sealed record LiftRequest(bool Lifted = true);

public static class CostsApi
{
    public static void MapCostsApi(this RouteGroupBuilder api)
    {
        api.MapGet("/usage", async Task<IResult> (ClaimsPrincipal user, CostReports costs, TimeProvider clock,
                DateTimeOffset? from, DateTimeOffset? to, string? groupBy, CancellationToken ct) =>
            {
                var end = to ?? clock.GetUtcNow();
                if (end.UtcDateTime.Year is < 2000 or > 2100) return Problem("'from' and 'to' must lie between the years 2000 and 2100.");
                var start = from ?? end.AddDays(-7);
                var grouping = (groupBy ?? UsageGroupings.Deployment).Trim().ToLowerInvariant();
                if (!UsageGroupings.All.Contains(grouping))
                    return Problem($"'groupBy' is one of {string.Join(", ", UsageGroupings.All)}; '{groupBy}' is not.");
                if (PeriodError(start, end) is { } error) return Problem(error);
                var report = await costs.BuildAsync(new CostQuery(start, end, user.IsAdmin() ? null : user.UserId()), ct: ct);
                return TypedResults.Ok(Usage(report, grouping, user.IsAdmin()));
            })
            .WithTags("Usage")
            .Produces<UsageCostReport>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("Metered usage and its cost in [from, to) (ISO 8601; default: the last 7 days) grouped by user, model, deployment or day (UTC): " +
                "requests, errors, computeSeconds, vcpuSeconds (compute × threads), bytesIn, bytesOut, queueSeconds and latencySeconds " +
                "(sums), memoryByteSeconds (loaded memory × time); cost per category at the prices in force then, and p95 latency. " +
                "Your own usage; admins: everyone's. Deleted users, models and deployments keep their usage, marked deleted.");

        api.MapGet("/costs", async Task<IResult> (ClaimsPrincipal user, CostReports costs, TimeProvider clock, DateTimeOffset? from, DateTimeOffset? to,
                string? zone, string? owner, string? deployment, CancellationToken ct) =>
            {
                var end = to ?? clock.GetUtcNow();
                if (end.UtcDateTime.Year is < 2000 or > 2100) return Problem("'from' and 'to' must lie between the years 2000 and 2100.");
                var start = from ?? end.AddDays(-7);
                if (PeriodError(start, end) is { } error) return Problem(error);
                var ownerId = user.IsAdmin() ? owner : user.UserId();
                var query = new CostQuery(start, end, ownerId, deployment?.Trim().ToLowerInvariant(), CostPeriods.Zone(zone));
                return TypedResults.Ok(await costs.BuildAsync(query, hourly: deployment is not null, ct));
            })
            .WithTags("Usage")
            .Produces<CostReport>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("The cost report behind the dashboards: totals by category, tables by user, model and deployment, and the chart's " +
                "buckets (hourly up to 48 h, else daily in 'zone', an IANA id). Admins may narrow to an 'owner' (user id); 'deployment' adds hourly rows.");

        api.MapGet("/budget", async (ClaimsPrincipal user, BudgetService budgets, CancellationToken ct) =>
                TypedResults.Ok(await budgets.StatusAsync(user.UserId(), ct)))
            .WithTags("Usage")
            .WithSummary("Your spend this month (UTC) against your budget, if an admin set one.");

        var admin = api.MapGroup("/admin").RequireAuthorization(AccountsExtensions.AdminApiPolicy).WithTags("Admin");

        admin.MapGet("/prices", async (PriceSheets prices, CancellationToken ct) => TypedResults.Ok(await prices.GetAsync(ct)))
            .WithSummary("The price sheet in force, the next scheduled change if any, and the history.");

        admin.MapPut("/prices", async Task<IResult> (PriceChange change, ClaimsPrincipal user, PriceSheets prices, CancellationToken ct) =>
            {
                var (sheet, errors) = await prices.ChangeAsync(change, user.Identity?.Name ?? user.UserId(), ct);
                return sheet is null
                    ? TypedResults.Problem(statusCode: 400, title: "Price change refused", detail: string.Join(" ", errors))
                    : TypedResults.Ok(sheet);
            })
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .WithSummary("Schedules a price change ({currency?, vcpuHour?, memoryGbHour?, storageGbMonth?, perThousandRequests?, effectiveFrom?, note?}); " +
                "omitted prices stay as they are. It applies from effectiveFrom, a whole UTC hour not in the past (default: the next hour); past costs keep their prices.");

        admin.MapGet("/budgets", async (BudgetService budgets, CancellationToken ct) => TypedResults.Ok(await budgets.ListAsync(ct)))
            .WithSummary("Every user's monthly budget (null: none) and whether the deploy limit is lifted this month.");

        admin.MapPut("/budgets/{userId}", async Task<IResult> (string userId, BudgetRequest request, ClaimsPrincipal user, BudgetService budgets, CancellationToken ct) =>
                await budgets.SetAsync(userId, request.MonthlyAmount, user.Identity?.Name ?? user.UserId(), ct) is { } error
                    ? TypedResults.Problem(statusCode: error == "There is no such user." ? 404 : 400, title: "Budget refused", detail: error)
                    : TypedResults.NoContent())
            .WithSummary("Sets a user's monthly budget ({monthlyAmount}; null removes it).");

        admin.MapPost("/budgets/{userId}/lift", async Task<IResult> (string userId, LiftRequest request, ClaimsPrincipal user, BudgetService budgets, CancellationToken ct) =>
                await budgets.LiftAsync(userId, request.Lifted, user.Identity?.Name ?? user.UserId(), ct) is { } error
                    ? TypedResults.Problem(statusCode: 404, title: "Nothing to lift", detail: error)
                    : TypedResults.NoContent())
            .WithSummary("Lets a user over budget deploy again this month ({lifted: true}) or takes it back ({lifted: false}).");
    }

    public static string? PeriodError(DateTimeOffset from, DateTimeOffset to) =>
        from.UtcDateTime.Year < 2000 || to.UtcDateTime.Year > 2100 ? "'from' and 'to' must lie between the years 2000 and 2100."
        : to <= from ? "'to' must be after 'from'."
        : to - from > CostPeriods.MaxSpan ? $"A period spans at most {CostPeriods.MaxSpan.TotalDays:0} days (two years); ask for a shorter one."
        : null;

    private static UsageCostReport Usage(CostReport report, string groupBy, bool allUsers)
    {
        static UsageGroupCost Group(CostRow r, string? ownerId) => new(r.Key, r.Label, r.Deleted, ownerId, r.Usage, r.Cost, r.P95Seconds);
        var groups = groupBy switch
        {
            UsageGroupings.User => report.ByUser.Select(r => Group(r, null)).ToList(),
            UsageGroupings.Model => report.ByModel.Select(r => Group(r, null)).ToList(),
            UsageGroupings.Deployment => report.ByDeployment.Select(r => Group(r, r.OwnerId)).ToList(),
            // The chart's buckets are hours or UTC days (the query's zone is UTC): summed per date, days with nothing left out.
            _ => report.Series.GroupBy(p => p.Start.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture))
                .Select(g => new UsageGroupCost(g.Key, g.Key, false, null, g.Aggregate(UsageQuantities.Zero, (sum, p) => sum.Plus(p.Usage)),
                    g.Aggregate(CostLine.Zero, (sum, p) => sum + p.Cost), null))
                .Where(g => g.Usage.Requests > 0 || g.Usage.MemoryByteSeconds > 0 || g.Cost.Total > 0)
                .ToList(),
        };
        return new UsageCostReport(report.From, report.To, groupBy, allUsers, report.Currency, report.Currencies, report.Usage, report.Totals, groups);
    }

    private static IResult Problem(string detail) => TypedResults.Problem(statusCode: 400, title: "Invalid usage query", detail: detail);
}
