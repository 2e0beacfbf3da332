// The migration runner against PGlite and (with TEST_DATABASE_URL) PostgreSQL: Prisma's
// bookkeeping, idempotence, refusal of an edited migration, and all-or-nothing failure.
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, MigrationError, pgExecutor, pgliteExecutor, pendingMigrations, type SqlExecutor } from "./migrate.ts";
import { createScratchPostgres, makeTempDir, removeTempDir, testDatabases } from "@/tests/support/db.ts";

const realMigrations = path.resolve("prisma/migrations");
const initName = readdirSync(realMigrations).find((n) => n.endsWith("_init"))!;

interface Row {
  id: string;
  checksum: string;
  finished_at: Date | null;
  migration_name: string;
  logs: string | null;
  rolled_back_at: Date | null;
  started_at: Date;
  applied_steps_count: number;
}

async function tableNames(db: SqlExecutor): Promise<string[]> {
  const { rows } = await db.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
  );
  return rows.map((r) => r.table_name);
}

describe.each(testDatabases())("migration runner on $kind", ({ kind }) => {
  let db: SqlExecutor;
  let dir: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    dir = makeTempDir("migrations-");
    cpSync(path.join(realMigrations, initName), path.join(dir, initName), { recursive: true });
    if (kind === "pglite") {
      const lite = await PGlite.create();
      db = pgliteExecutor(lite);
      cleanup = () => lite.close();
    } else {
      const scratch = await createScratchPostgres();
      const client = new pg.Client({ connectionString: scratch.url });
      await client.connect();
      db = pgExecutor(client);
      cleanup = async () => {
        await client.end();
        await scratch.drop();
      };
    }
  }, 120_000);
  afterAll(async () => {
    await cleanup?.();
    removeTempDir(dir);
  });

  it("applies the init migration with Prisma's bookkeeping", async () => {
    expect(await pendingMigrations(db, dir)).toEqual([initName]);
    const before = Date.now();
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([initName]);

    const { rows } = await db.query<Row>(`SELECT * FROM "_prisma_migrations"`);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    const file = readFileSync(path.join(dir, initName, "migration.sql"), "utf8");
    expect(row.checksum).toBe(createHash("sha256").update(file.replace(/\r\n/g, "\n")).digest("hex"));
    expect(row.migration_name).toBe(initName);
    expect(row.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(row.applied_steps_count).toBe(1);
    expect(row.rolled_back_at).toBeNull();
    expect(row.logs).toBeNull();
    expect(row.finished_at).toBeInstanceOf(Date);
    expect(row.finished_at!.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
    expect(row.started_at.getTime()).toBeGreaterThan(before - 60_000);

    // The table has Prisma's exact shape.
    const { rows: cols } = await db.query<{ column_name: string; data_type: string; is_nullable: string; len: number | null }>(
      `SELECT column_name, data_type, is_nullable, character_maximum_length AS len
         FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    expect(cols.map((c) => [c.column_name, c.data_type, c.is_nullable, c.len])).toEqual([
      ["id", "character varying", "NO", 36],
      ["checksum", "character varying", "NO", 64],
      ["finished_at", "timestamp with time zone", "YES", null],
      ["migration_name", "character varying", "NO", 255],
      ["logs", "text", "YES", null],
      ["rolled_back_at", "timestamp with time zone", "YES", null],
      ["started_at", "timestamp with time zone", "NO", null],
      ["applied_steps_count", "integer", "NO", null],
    ]);
    expect(await tableNames(db)).toEqual(
      ["_prisma_migrations", "api_keys", "models", "usage_daily", "usage_events", "users", "vector_collections"].sort(),
    );
    expect(await pendingMigrations(db, dir)).toEqual([]);
  });

  it("applies nothing the second time", async () => {
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([]);
    const { rows } = await db.query(`SELECT * FROM "_prisma_migrations"`);
    expect(rows).toHaveLength(1);
  });

  it("rolls back a failing migration entirely and names it with the database's message", async () => {
    const bad = "29990101000000_bad";
    mkdirSync(path.join(dir, bad));
    writeFileSync(
      path.join(dir, bad, "migration.sql"),
      `CREATE TABLE "partial_one" ("id" TEXT NOT NULL);\nALTER TABLE "users" ADD COLUMN "partial_col" TEXT;\nSELECT no_such_function();\n`,
    );
    const error = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).migrationName).toBe(bad);
    expect((error as Error).message).toContain(bad);
    expect((error as Error).message).toMatch(/no_such_function\(\) does not exist/);

    expect(await tableNames(db)).not.toContain("partial_one");
    const { rows: cols } = await db.query(
      `SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'partial_col'`,
    );
    expect(cols).toHaveLength(0);
    const { rows } = await db.query<Row>(`SELECT migration_name FROM "_prisma_migrations" ORDER BY started_at`);
    expect(rows.map((r) => r.migration_name)).toEqual([initName]);
    // The session is usable again (no transaction left open).
    await expect(db.query(`SELECT 1 AS one`)).resolves.toMatchObject({ rows: [{ one: 1 }] });

    // A script that succeeds but whose bookkeeping row cannot be written must not stay applied
    // either: the script and its row are one transaction.
    writeFileSync(
      path.join(dir, bad, "migration.sql"),
      `CREATE TABLE "partial_one" ("id" TEXT NOT NULL);\n` +
        `ALTER TABLE "_prisma_migrations" ADD CONSTRAINT "no_bad" CHECK (migration_name <> '${bad}');\n`,
    );
    await expect(applyMigrations(db, { migrationsDir: dir })).rejects.toThrow(/no_bad/);
    expect(await tableNames(db)).not.toContain("partial_one");
    const { rows: checks } = await db.query(`SELECT 1 FROM pg_constraint WHERE conname = 'no_bad'`);
    expect(checks).toHaveLength(0);

    // Fixed, it applies.
    writeFileSync(path.join(dir, bad, "migration.sql"), `CREATE TABLE "partial_one" ("id" TEXT NOT NULL);\n`);
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([bad]);
  });

  it("refuses to run when an applied migration was modified", async () => {
    const file = path.join(dir, initName, "migration.sql");
    const original = readFileSync(file, "utf8");
    // Only line endings changed: still the same migration for Prisma.
    writeFileSync(file, original.replace(/\n/g, "\r\n"));
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([]);

    writeFileSync(file, `${original}\n-- edited\n`);
    const later = "29990102000000_later";
    mkdirSync(path.join(dir, later));
    writeFileSync(path.join(dir, later, "migration.sql"), `CREATE TABLE "later" ("id" TEXT);\n`);
    const error = await applyMigrations(db, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as Error).message).toMatch(new RegExp(`${initName} was modified after it was applied`));
    // Nothing after it ran either.
    expect(await tableNames(db)).not.toContain("later");
    writeFileSync(file, original);
  });

  it("refuses to run over a failed migration recorded by Prisma", async () => {
    await db.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, applied_steps_count) VALUES ($1, $2, $3, $4, 0)`,
      ["00000000-0000-4000-8000-000000000000", "x".repeat(64), "29990103000000_failed", "boom"],
    );
    await expect(applyMigrations(db, { migrationsDir: dir })).rejects.toThrow(/29990103000000_failed failed earlier/);
    await db.query(`DELETE FROM "_prisma_migrations" WHERE migration_name = '29990103000000_failed'`);
  });
});

describe.runIf(Boolean(process.env.TEST_DATABASE_URL))("migration runner on postgres, concurrently", () => {
  it("serialises two runners with the advisory lock: the migration is applied once", async () => {
    const scratch = await createScratchPostgres();
    const clients = [new pg.Client({ connectionString: scratch.url }), new pg.Client({ connectionString: scratch.url })];
    try {
      await Promise.all(clients.map((c) => c.connect()));
      const results = await Promise.all(clients.map((c) => applyMigrations(pgExecutor(c), { migrationsDir: realMigrations })));
      expect(results.map((r) => r.length).sort()).toEqual([0, readdirSync(realMigrations).filter((n) => /^\d/.test(n)).length]);
      const { rows } = await clients[0]!.query(`SELECT count(*)::int AS n FROM "_prisma_migrations"`);
      expect(rows[0].n).toBe(results.flat().length);
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await scratch.drop();
    }
  });
});
