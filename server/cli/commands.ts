import "server-only";
// Every CLI command, in one list; adding a command is one entry here.
import type { Command } from "./command.ts";
import { securityCommands } from "./security-commands.ts";
import { usageCommands } from "./usage-commands.ts";
import { teamCommands } from "./team-commands.ts";

export const commands: Command[] = [
  {
    name: "db migrate",
    summary:
      "Apply pending Prisma migrations (prisma/migrations) to the configured database: PostgreSQL when DATABASE_URL is set, else the embedded database under DATA_DIR (through the running server when one owns it).",
    async run(_values, io) {
      const { runMigrations } = await import("../db/index.ts");
      const applied = await runMigrations();
      io.out(
        applied.length
          ? `Applied ${applied.length} migration(s):\n${applied.map((m) => `  ${m}`).join("\n")}`
          : "The database is up to date: no pending migrations.",
      );
      const { syncCatalogue } = await import("../features/catalogue/models.ts");
      const c = await syncCatalogue({ watch: false });
      io.out(
        `Model catalogue: ${c.inserted.length} added, ${c.updated.length} updated, ${c.keptAdminEdits.length} kept as an admin edited them.`,
      );
    },
  },
  ...securityCommands,
  ...teamCommands,
  ...usageCommands,
];
