using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MaaS.Portal.Data.Migrations
{
    /// <inheritdoc />
    public partial class SampleSets : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "SampleSets",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "TEXT", nullable: false),
                    Name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    Kind = table.Column<string>(type: "TEXT", maxLength: 20, nullable: false),
                    OwnerId = table.Column<string>(type: "TEXT", nullable: false),
                    ModelId = table.Column<Guid>(type: "TEXT", nullable: true),
                    SampleCount = table.Column<int>(type: "INTEGER", nullable: false),
                    FileName = table.Column<string>(type: "TEXT", maxLength: 255, nullable: false),
                    Sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    Length = table.Column<long>(type: "INTEGER", nullable: false),
                    VocabularySha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: true),
                    VocabularyLength = table.Column<long>(type: "INTEGER", nullable: true),
                    Normalization = table.Column<string>(type: "TEXT", maxLength: 20, nullable: true),
                    CreatedAt = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_SampleSets", x => x.Id);
                    table.ForeignKey(
                        name: "FK_SampleSets_Models_ModelId",
                        column: x => x.ModelId,
                        principalTable: "Models",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_SampleSets_ModelId",
                table: "SampleSets",
                column: "ModelId");

            migrationBuilder.CreateIndex(
                name: "IX_SampleSets_OwnerId_CreatedAt",
                table: "SampleSets",
                columns: new[] { "OwnerId", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_SampleSets_Sha256",
                table: "SampleSets",
                column: "Sha256");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "SampleSets");
        }
    }
}
