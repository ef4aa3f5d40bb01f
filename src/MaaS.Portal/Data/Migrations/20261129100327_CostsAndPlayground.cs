using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MaaS.Portal.Data.Migrations
{
    /// <inheritdoc />
    public partial class CostsAndPlayground : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "LatencyHistogram",
                table: "UsageMinutes",
                type: "TEXT",
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "BudgetAlerts",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    UserId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    Month = table.Column<string>(type: "TEXT", maxLength: 7, nullable: false),
                    Percent = table.Column<int>(type: "INTEGER", nullable: false),
                    Spent = table.Column<decimal>(type: "TEXT", nullable: false),
                    Budget = table.Column<decimal>(type: "TEXT", nullable: false),
                    RaisedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_BudgetAlerts", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "PlaygroundExamples",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    AuthorId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Shared = table.Column<bool>(type: "INTEGER", nullable: false),
                    RequestJson = table.Column<string>(type: "TEXT", nullable: false),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PlaygroundExamples", x => x.Id);
                    table.ForeignKey(
                        name: "FK_PlaygroundExamples_Models_ModelId",
                        column: x => x.ModelId,
                        principalTable: "Models",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "PlaygroundHistory",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    UserId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    TargetKey = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    At = table.Column<long>(type: "INTEGER", nullable: false),
                    Status = table.Column<int>(type: "INTEGER", nullable: false),
                    InputSummary = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    OutputSummary = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    RoundTripMilliseconds = table.Column<double>(type: "REAL", nullable: false),
                    ComputeMilliseconds = table.Column<double>(type: "REAL", nullable: true),
                    RequestJson = table.Column<string>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PlaygroundHistory", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "PriceSheets",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    EffectiveFrom = table.Column<long>(type: "INTEGER", nullable: false),
                    Currency = table.Column<string>(type: "TEXT", maxLength: 3, nullable: false),
                    VcpuHour = table.Column<decimal>(type: "TEXT", nullable: false),
                    MemoryGbHour = table.Column<decimal>(type: "TEXT", nullable: false),
                    StorageGbMonth = table.Column<decimal>(type: "TEXT", nullable: false),
                    PerThousandRequests = table.Column<decimal>(type: "TEXT", nullable: false),
                    ChangedBy = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    ChangedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    Note = table.Column<string>(type: "TEXT", maxLength: 500, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_PriceSheets", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "RollupMarks",
                columns: table => new
                {
                    Name = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    Through = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_RollupMarks", x => x.Name);
                });

            migrationBuilder.CreateTable(
                name: "StorageHours",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Hour = table.Column<long>(type: "INTEGER", nullable: false),
                    OwnerId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Bytes = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_StorageHours", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "UsageRollups",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Hours = table.Column<int>(type: "INTEGER", nullable: false),
                    Start = table.Column<long>(type: "INTEGER", nullable: false),
                    DeploymentName = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    OwnerId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Requests = table.Column<long>(type: "INTEGER", nullable: false),
                    Errors = table.Column<long>(type: "INTEGER", nullable: false),
                    ComputeSeconds = table.Column<double>(type: "REAL", nullable: false),
                    VcpuSeconds = table.Column<double>(type: "REAL", nullable: false),
                    BytesIn = table.Column<long>(type: "INTEGER", nullable: false),
                    BytesOut = table.Column<long>(type: "INTEGER", nullable: false),
                    QueueSeconds = table.Column<double>(type: "REAL", nullable: false),
                    LatencySeconds = table.Column<double>(type: "REAL", nullable: false),
                    LatencyHistogram = table.Column<string>(type: "TEXT", nullable: false),
                    MemoryByteSeconds = table.Column<double>(type: "REAL", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_UsageRollups", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "UserBudgets",
                columns: table => new
                {
                    UserId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    MonthlyAmount = table.Column<decimal>(type: "TEXT", nullable: false),
                    LiftedForMonth = table.Column<string>(type: "TEXT", maxLength: 7, nullable: true),
                    SetBy = table.Column<string>(type: "TEXT", maxLength: 256, nullable: false),
                    SetAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_UserBudgets", x => x.UserId);
                });

            migrationBuilder.CreateIndex(
                name: "IX_BudgetAlerts_Month",
                table: "BudgetAlerts",
                column: "Month");

            migrationBuilder.CreateIndex(
                name: "IX_BudgetAlerts_UserId_Month_Percent",
                table: "BudgetAlerts",
                columns: new[] { "UserId", "Month", "Percent" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_PlaygroundExamples_ModelId_CreatedAt",
                table: "PlaygroundExamples",
                columns: new[] { "ModelId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_PlaygroundHistory_UserId_TargetKey_At",
                table: "PlaygroundHistory",
                columns: new[] { "UserId", "TargetKey", "At" });

            migrationBuilder.CreateIndex(
                name: "IX_PriceSheets_EffectiveFrom",
                table: "PriceSheets",
                column: "EffectiveFrom");

            migrationBuilder.CreateIndex(
                name: "IX_StorageHours_Hour",
                table: "StorageHours",
                column: "Hour");

            migrationBuilder.CreateIndex(
                name: "IX_StorageHours_OwnerId_Hour",
                table: "StorageHours",
                columns: new[] { "OwnerId", "Hour" });

            migrationBuilder.CreateIndex(
                name: "IX_UsageRollups_Hours_DeploymentName_Start",
                table: "UsageRollups",
                columns: new[] { "Hours", "DeploymentName", "Start" });

            migrationBuilder.CreateIndex(
                name: "IX_UsageRollups_Hours_OwnerId_Start",
                table: "UsageRollups",
                columns: new[] { "Hours", "OwnerId", "Start" });

            migrationBuilder.CreateIndex(
                name: "IX_UsageRollups_Hours_Start",
                table: "UsageRollups",
                columns: new[] { "Hours", "Start" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "BudgetAlerts");

            migrationBuilder.DropTable(
                name: "PlaygroundExamples");

            migrationBuilder.DropTable(
                name: "PlaygroundHistory");

            migrationBuilder.DropTable(
                name: "PriceSheets");

            migrationBuilder.DropTable(
                name: "RollupMarks");

            migrationBuilder.DropTable(
                name: "StorageHours");

            migrationBuilder.DropTable(
                name: "UsageRollups");

            migrationBuilder.DropTable(
                name: "UserBudgets");

            migrationBuilder.DropColumn(
                name: "LatencyHistogram",
                table: "UsageMinutes");
        }
    }
}
