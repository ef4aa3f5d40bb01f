namespace MaaS.Portal.Features.Costs;

/// <summary>
/// Costs: the price sheet with history, metered usage turned into money (README, "Cost model"), hourly and daily
/// roll-ups, budgets, compression savings, and the pages that show them (Admin → Costs, My usage, Admin overview).
/// </summary>
public static class CostsExtensions
{
    public static void AddCosts(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<CostsOptions>()
            .Bind(builder.Configuration.GetSection(CostsOptions.Section))
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<PriceSheets>();
        builder.Services.AddSingleton<CostReports>();
        builder.Services.AddSingleton<CostRollup>();
        builder.Services.AddSingleton<BudgetService>();
        builder.Services.AddSingleton<CompressionSavings>();
        builder.Services.AddTransient<CostRollupJob>();
        builder.Services.AddTransient<CostRollupTrigger>();
        builder.Services.AddHostedService<CostRollupSchedule>();
    }
}
