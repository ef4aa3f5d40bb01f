using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MaaS.Portal.Data.Migrations
{
    /// <inheritdoc />
    public partial class Playground : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
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

            migrationBuilder.CreateIndex(
                name: "IX_PlaygroundExamples_ModelId_CreatedAt",
                table: "PlaygroundExamples",
                columns: new[] { "ModelId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_PlaygroundHistory_UserId_TargetKey_At",
                table: "PlaygroundHistory",
                columns: new[] { "UserId", "TargetKey", "At" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "PlaygroundExamples");

            migrationBuilder.DropTable(
                name: "PlaygroundHistory");
        }
    }
}
