using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MaaS.Portal.Data.Migrations
{
    /// <inheritdoc />
    public partial class UsageMinutes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "MemoryMinutes",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Minute = table.Column<long>(type: "INTEGER", nullable: false),
                    DeploymentName = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    OwnerId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    ResidentBytes = table.Column<long>(type: "INTEGER", nullable: false),
                    ByteSeconds = table.Column<double>(type: "REAL", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_MemoryMinutes", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "UsageMinutes",
                columns: table => new
                {
                    Id = table.Column<long>(type: "INTEGER", nullable: false)
                        .Annotation("Sqlite:Autoincrement", true),
                    Minute = table.Column<long>(type: "INTEGER", nullable: false),
                    DeploymentName = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    ApiKeyId = table.Column<Guid>(type: "TEXT", nullable: true),
                    OwnerId = table.Column<string>(type: "TEXT", maxLength: 450, nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Requests = table.Column<long>(type: "INTEGER", nullable: false),
                    Errors = table.Column<long>(type: "INTEGER", nullable: false),
                    ComputeSeconds = table.Column<double>(type: "REAL", nullable: false),
                    VcpuSeconds = table.Column<double>(type: "REAL", nullable: false),
                    BytesIn = table.Column<long>(type: "INTEGER", nullable: false),
                    BytesOut = table.Column<long>(type: "INTEGER", nullable: false),
                    QueueSeconds = table.Column<double>(type: "REAL", nullable: false),
                    LatencySeconds = table.Column<double>(type: "REAL", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_UsageMinutes", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_MemoryMinutes_DeploymentName_Minute",
                table: "MemoryMinutes",
                columns: new[] { "DeploymentName", "Minute" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_MemoryMinutes_Minute",
                table: "MemoryMinutes",
                column: "Minute");

            migrationBuilder.CreateIndex(
                name: "IX_UsageMinutes_DeploymentName_Minute",
                table: "UsageMinutes",
                columns: new[] { "DeploymentName", "Minute" });

            migrationBuilder.CreateIndex(
                name: "IX_UsageMinutes_Minute",
                table: "UsageMinutes",
                column: "Minute");

            migrationBuilder.CreateIndex(
                name: "IX_UsageMinutes_OwnerId_Minute",
                table: "UsageMinutes",
                columns: new[] { "OwnerId", "Minute" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "MemoryMinutes");

            migrationBuilder.DropTable(
                name: "UsageMinutes");
        }
    }
}
