using System.Collections.Concurrent;
using System.Globalization;
using MaaS.Portal.Data;
using Microsoft.EntityFrameworkCore;

namespace MaaS.Portal.Features.Costs;

public enum BudgetLevel { None, Warning, Exceeded }

/// <summary>A user's spend this UTC month against their budget (null when they have none).</summary>
public sealed record BudgetStatus(string UserId, string Month, decimal? Budget, decimal Spent, string Currency, bool Lifted)
{
    /// <summary>Spent as a share of the budget; null without a budget, or with a budget of zero (any spend is over it).</summary>
    public double? Percent => Budget is > 0 ? (double)Spent / (double)Budget.Value * 100 : null;

    public BudgetLevel Level => Budget switch
    {
        null => BudgetLevel.None,
        { } b when Spent >= b && Spent > 0 => BudgetLevel.Exceeded,
        { } b when b > 0 && Spent >= b * 0.8m => BudgetLevel.Warning,
        _ => BudgetLevel.None,
    };

    /// <summary>Why a new deployment is refused, or null: over budget and not lifted by an admin for this month.</summary>
    public string? DeployRefusal => Level == BudgetLevel.Exceeded && !Lifted
        ? $"Your monthly budget of {Budget:0.00} {Currency} is spent ({Spent:0.00} {Currency} in {Month}); new deployments are refused until next month " +
          "or until an admin lifts the limit. Existing deployments keep serving."
        : null;
}

public sealed record BudgetAlertView(string UserId, string User, string Month, int Percent, decimal Spent, decimal Budget, DateTimeOffset RaisedAt);

/// <summary>
/// Monthly budgets per user: admins set them; spend is this UTC month's cost so far; at 80 % and 100 % an alert is raised
/// once (shown as a banner to the user and to admins); at 100 % new deployments are refused until an admin lifts it.
/// Status is cached for a minute per user: the banner asks on every page.
/// </summary>
public sealed class BudgetService(IDbContextFactory<PortalDbContext> dbFactory, CostReports reports, PriceSheets prices, TimeProvider clock)
{
    public const decimal MaxBudget = 10_000_000m;
    private static readonly TimeSpan CacheFor = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, BudgetStatus Status)> _cache = new();

    public static string MonthOf(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    public async Task<BudgetStatus> StatusAsync(string userId, CancellationToken ct = default)
    {
        var now = clock.GetUtcNow();
        if (_cache.TryGetValue(userId, out var cached) && now - cached.At < CacheFor && cached.Status.Month == MonthOf(now)) return cached.Status;
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var budget = await db.UserBudgets.AsNoTracking().SingleOrDefaultAsync(b => b.UserId == userId, ct);
        var status = await ComputeAsync(userId, budget, now, ct);
        _cache[userId] = (now, status);
        if (status.Level != BudgetLevel.None) await RaiseAsync(db, status, ct);
        return status;
    }

    private async Task<BudgetStatus> ComputeAsync(string userId, UserBudget? budget, DateTimeOffset now, CancellationToken ct)
    {
        var month = MonthOf(now);
        var monthStart = new DateTimeOffset(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
        if (budget is null)
        {
            var current = (await prices.LoadAsync(ct)).Last(s => s.EffectiveFrom <= now);
            return new BudgetStatus(userId, month, null, 0, current.Currency, false);
        }
        return await SpentAsync(userId, budget, monthStart, now, month, ct);
    }

    private async Task<BudgetStatus> SpentAsync(string userId, UserBudget budget, DateTimeOffset from, DateTimeOffset to, string month, CancellationToken ct)
    {
        var report = await reports.BuildAsync(new CostQuery(from, to, userId), ct: ct);
        return new BudgetStatus(userId, month, budget.MonthlyAmount, report.Totals.Total, report.Currency, budget.LiftedForMonth == month);
    }

    /// <summary>Checks every budget (the roll-up job does, hourly) and raises the alerts due. Returns how many were new.</summary>
    public async Task<int> RaiseAlertsAsync(CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var now = clock.GetUtcNow();
        var raised = 0;
        var monthStart = new DateTimeOffset(now.UtcDateTime.Year, now.UtcDateTime.Month, 1, 0, 0, 0, TimeSpan.Zero);
        foreach (var budget in await db.UserBudgets.AsNoTracking().ToListAsync(ct))
        {
            // In a month's first hours, the month before is looked at once more through its end: spending in its last
            // hour, after the previous check, would otherwise never raise its alerts.
            if (now - monthStart < TimeSpan.FromHours(2))
            {
                var previousStart = monthStart.AddMonths(-1);
                raised += await RaiseAsync(db, await SpentAsync(budget.UserId, budget, previousStart, monthStart, MonthOf(previousStart), ct), ct);
            }
            var status = await ComputeAsync(budget.UserId, budget, now, ct);
            _cache[budget.UserId] = (now, status);
            raised += await RaiseAsync(db, status, ct);
        }
        return raised;
    }

    private async Task<int> RaiseAsync(PortalDbContext db, BudgetStatus status, CancellationToken ct)
    {
        if (status.Budget is not { } budget) return 0;
        int[] due = status.Level switch { BudgetLevel.Exceeded => [80, 100], BudgetLevel.Warning => [80], _ => [] };
        var existing = await db.BudgetAlerts.Where(a => a.UserId == status.UserId && a.Month == status.Month).Select(a => a.Percent).ToListAsync(ct);
        var raised = 0;
        foreach (var p in due.Except(existing))
        {
            db.BudgetAlerts.Add(new BudgetAlert { UserId = status.UserId, Month = status.Month, Percent = p, Spent = status.Spent, Budget = budget, RaisedAt = clock.GetUtcNow() });
            try
            {
                await db.SaveChangesAsync(ct);
                raised++;
            }
            catch (DbUpdateException)
            {
                // Raised meanwhile by another page or the roll-up (unique index): once is enough.
                db.ChangeTracker.Clear();
            }
        }
        return raised;
    }

    /// <summary>This month's alerts, newest first: every user's for admins, else the user's own.</summary>
    public async Task<IReadOnlyList<BudgetAlertView>> AlertsAsync(string? userId, CancellationToken ct = default)
    {
        var month = MonthOf(clock.GetUtcNow());
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var alerts = await db.BudgetAlerts.AsNoTracking().Where(a => a.Month == month && (userId == null || a.UserId == userId)).ToListAsync(ct);
        var ids = alerts.Select(a => a.UserId).Distinct().ToList();
        var emails = await db.Users.AsNoTracking().Where(u => ids.Contains(u.Id)).ToDictionaryAsync(u => u.Id, u => u.Email ?? u.UserName ?? u.Id, ct);
        return alerts.OrderByDescending(a => a.RaisedAt).ThenByDescending(a => a.Percent)
            .Select(a => new BudgetAlertView(a.UserId, emails.GetValueOrDefault(a.UserId) ?? "deleted user", a.Month, a.Percent, a.Spent, a.Budget, a.RaisedAt))
            .ToList();
    }

    public sealed record BudgetRow(string UserId, string User, decimal? Budget, bool Lifted);

    /// <summary>Every user with their budget (or none), for the admin's table.</summary>
    public async Task<IReadOnlyList<BudgetRow>> ListAsync(CancellationToken ct = default)
    {
        var month = MonthOf(clock.GetUtcNow());
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var budgets = await db.UserBudgets.AsNoTracking().ToDictionaryAsync(b => b.UserId, ct);
        var users = await db.Users.AsNoTracking().OrderBy(u => u.Email).Select(u => new { u.Id, u.Email, u.UserName }).ToListAsync(ct);
        return users.Select(u => new BudgetRow(u.Id, u.Email ?? u.UserName ?? u.Id, budgets.GetValueOrDefault(u.Id)?.MonthlyAmount,
            budgets.GetValueOrDefault(u.Id)?.LiftedForMonth == month)).ToList();
    }

    /// <summary>Sets (or, with null, removes) a user's monthly budget. Returns an error for a refused value.</summary>
    public async Task<string?> SetAsync(string userId, decimal? amount, string admin, CancellationToken ct = default)
    {
        if (amount is < 0) return "A budget cannot be negative.";
        if (amount > MaxBudget) return $"A budget above {MaxBudget:N0} is beyond the sanity limit; check the amount.";
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        if (!await db.Users.AnyAsync(u => u.Id == userId, ct)) return "There is no such user.";
        var budget = await db.UserBudgets.SingleOrDefaultAsync(b => b.UserId == userId, ct);
        if (amount is null)
        {
            if (budget is not null) db.UserBudgets.Remove(budget);
        }
        else if (budget is null)
        {
            db.UserBudgets.Add(new UserBudget { UserId = userId, MonthlyAmount = amount.Value, SetBy = admin, SetAt = clock.GetUtcNow() });
        }
        else
        {
            budget.MonthlyAmount = amount.Value;
            budget.SetBy = admin;
            budget.SetAt = clock.GetUtcNow();
        }
        await db.SaveChangesAsync(ct);
        _cache.TryRemove(userId, out _);
        return null;
    }

    /// <summary>Lets a user over budget deploy again for the rest of this month (or takes that back).</summary>
    public async Task<string?> LiftAsync(string userId, bool lifted, string admin, CancellationToken ct = default)
    {
        await using var db = await dbFactory.CreateDbContextAsync(ct);
        var budget = await db.UserBudgets.SingleOrDefaultAsync(b => b.UserId == userId, ct);
        if (budget is null) return "This user has no budget to lift.";
        budget.LiftedForMonth = lifted ? MonthOf(clock.GetUtcNow()) : null;
        budget.SetBy = admin;
        budget.SetAt = clock.GetUtcNow();
        await db.SaveChangesAsync(ct);
        _cache.TryRemove(userId, out _);
        return null;
    }
}
