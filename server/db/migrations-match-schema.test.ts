// prisma/migrations must describe exactly prisma/schema.prisma: Prisma's own schema engine
// (the WebAssembly build behind scripts/migration-diff.ts) replays the migrations on a shadow
// database and finds nothing left to migrate. A schema change without its migration fails here.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EMPTY_MIGRATION, migrationDiff } from "@/scripts/migration-diff.ts";
import { testDatabaseUrl } from "@/tests/support/db.ts";

describe("prisma/migrations", () => {
  it("bring an empty database exactly to schema.prisma", async () => {
    // The shadow database: a scratch one on TEST_DATABASE_URL's server, else an in-memory PGlite.
    const sql = await migrationDiff({ from: "migrations", shadowServerUrl: testDatabaseUrl() });
    expect(sql.trim()).toBe(EMPTY_MIGRATION);
  }, 120_000);

  it("start with the engine's own SQL for the schema's first state", async () => {
    const dirs = readdirSync(path.resolve("prisma/migrations"))
      .filter((n) => /^\d{14}_/.test(n))
      .sort();
    expect(dirs[0]).toMatch(/^\d{14}_init$/);
    const init = readFileSync(path.resolve("prisma/migrations", dirs[0]!, "migration.sql"), "utf8");
    expect(init).toMatch(/^-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n-- CreateEnum\n/);
    if (dirs.length === 1) {
      // While init is the only migration it is the whole schema: byte for byte what Prisma writes.
      expect(await migrationDiff({ from: "empty", shadowServerUrl: testDatabaseUrl() })).toBe(init);
    }
  }, 120_000);
});
