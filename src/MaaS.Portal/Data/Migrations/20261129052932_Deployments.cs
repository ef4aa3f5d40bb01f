using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MaaS.Portal.Data.Migrations
{
    /// <inheritdoc />
    public partial class Deployments : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "DeploymentScope",
                table: "ApiKeys",
                type: "TEXT",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "ExpiresAt",
                table: "ApiKeys",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "RequestsPerSecond",
                table: "ApiKeys",
                type: "REAL",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "Deployments",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    OwnerId = table.Column<string>(type: "TEXT", nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: false),
                    State = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    StateMessage = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    Generation = table.Column<int>(type: "INTEGER", nullable: false),
                    Instances = table.Column<int>(type: "INTEGER", nullable: false),
                    IntraOpThreads = table.Column<int>(type: "INTEGER", nullable: false),
                    ExecutionProvider = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    MaxBatchSize = table.Column<int>(type: "INTEGER", nullable: false),
                    BatchingDelayMilliseconds = table.Column<int>(type: "INTEGER", nullable: false),
                    RequestTimeoutMilliseconds = table.Column<int>(type: "INTEGER", nullable: false),
                    MaxRequestBytes = table.Column<long>(type: "INTEGER", nullable: false),
                    ColdStartMilliseconds = table.Column<double>(type: "REAL", nullable: true),
                    ResidentMemoryBytes = table.Column<long>(type: "INTEGER", nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    UpdatedAt = table.Column<long>(type: "INTEGER", nullable: false),
                    ReadyAt = table.Column<long>(type: "INTEGER", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_Deployments", x => x.Id);
                    table.ForeignKey(
                        name: "FK_Deployments_Models_ModelId",
                        column: x => x.ModelId,
                        principalTable: "Models",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "DeploymentTargets",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    DeploymentId = table.Column<Guid>(type: "TEXT", nullable: false),
                    Version = table.Column<int>(type: "INTEGER", nullable: false),
                    Weight = table.Column<int>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_DeploymentTargets", x => x.Id);
                    table.ForeignKey(
                        name: "FK_DeploymentTargets_Deployments_DeploymentId",
                        column: x => x.DeploymentId,
                        principalTable: "Deployments",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_DeploymentTargets_DeploymentId_Version",
                table: "DeploymentTargets",
                columns: new[] { "DeploymentId", "Version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Deployments_ModelId",
                table: "Deployments",
                column: "ModelId");

            migrationBuilder.CreateIndex(
                name: "IX_Deployments_Name",
                table: "Deployments",
                column: "Name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "IX_Deployments_OwnerId",
                table: "Deployments",
                column: "OwnerId");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "DeploymentTargets");

            migrationBuilder.DropTable(
                name: "Deployments");

            migrationBuilder.DropColumn(
                name: "DeploymentScope",
                table: "ApiKeys");

            migrationBuilder.DropColumn(
                name: "ExpiresAt",
                table: "ApiKeys");

            migrationBuilder.DropColumn(
                name: "RequestsPerSecond",
                table: "ApiKeys");
        }
    }
}
