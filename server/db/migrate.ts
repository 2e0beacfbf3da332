// Applies prisma/migrations/*/migration.sql the way `prisma migrate deploy` does, without Prisma's
// native schema engine (which cannot be downloaded on every machine). The bookkeeping is Prisma's
// own `_prisma_migrations` table, row for row, so `prisma migrate deploy` and `prisma migrate
// status` on a machine that has the engine see the same history.
//
// One difference, on purpose: each migration runs in a transaction together with its row, so a
// failed migration leaves neither tables nor a failed row behind (Prisma would record the failure
// and refuse further deploys until `migrate resolve`).
import "server-only";
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";

/** The one thing the runner needs from a connection: a pg Client (one session) or a PGlite. */
export interface SqlExecutor {
  /** One statement with $1.. parameters. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
  /** A script of several statements, no parameters. */
  exec(sql: string): Promise<void>;
}

/** The lock key Prisma's schema engine takes around migrations on PostgreSQL. */
export const PRISMA_ADVISORY_LOCK_KEY = 72707369;

/** `prisma/migrations` under the working directory: the project root for tsx, `next dev` and `next start`. */
export function defaultMigrationsDir(): string {
  return path.resolve(process.cwd(), "prisma", "migrations");
}

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

/** SHA-256 hex of the script with LF line endings, as Prisma stores it. */
export function migrationChecksum(sql: string): string {
  return createHash("sha256").update(sql.replace(/\r\n/g, "\n")).digest("hex");
}

/** The migration folders (those holding a migration.sql), in name order. */
export function readMigrations(dir: string = defaultMigrationsDir()): MigrationFile[] {
  // turbopackIgnore: a folder chosen at run time, which Next's file tracing would otherwise take for
  // the whole project; next.config.mjs includes prisma/migrations in the standalone output instead.
  if (!existsSync(/*turbopackIgnore: true*/ dir)) {
    throw new MigrationError(`No migrations folder at ${dir}`);
  }
  return readdirSync(/*turbopackIgnore: true*/ dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(/*turbopackIgnore: true*/ path.join(dir, d.name, "migration.sql")))
    .map((d) => d.name)
    .sort()
    .map((name) => {
      const sql = readFileSync(/*turbopackIgnore: true*/ path.join(dir, name, "migration.sql"), "utf8");
      return { name, sql, checksum: migrationChecksum(sql) };
    });
}

export class MigrationError extends Error {
  constructor(
    message: string,
    readonly migrationName?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "MigrationError";
  }
}

// Prisma's own definition (schema-engine, sql-migration-connector, postgres flavour).
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | string | null;
  rolled_back_at: Date | string | null;
}

export interface MigrateOptions {
  migrationsDir?: string;
  /** Called once per migration just before it runs. */
  onApply?: (name: string) => void;
}

/**
 * Applies the pending migrations in name order and returns their names. Throws a MigrationError
 * when an applied migration's file has changed, when the history has a failed migration, or when
 * a migration fails (naming it, with the database's message; that migration is rolled back).
 */
export async function applyMigrations(db: SqlExecutor, options: MigrateOptions = {}): Promise<string[]> {
  const migrations = readMigrations(options.migrationsDir);
  // Serialises runners on one PostgreSQL server (a rolling deploy starting two instances).
  await db.query(`SELECT pg_advisory_lock(${PRISMA_ADVISORY_LOCK_KEY})`);
  try {
    await db.exec(CREATE_MIGRATIONS_TABLE);
    const { rows } = await db.query<AppliedRow>(
      `SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at`,
    );
    const live = rows.filter((r) => r.rolled_back_at === null);

    const failed = live.filter((r) => r.finished_at === null);
    if (failed.length > 0) {
      throw new MigrationError(
        `Migration ${failed[0]!.migration_name} failed earlier and is recorded as unfinished in _prisma_migrations; ` +
          `fix the database by hand and mark it with \`prisma migrate resolve\` (or delete its row) before migrating again.`,
        failed[0]!.migration_name,
      );
    }

    const applied = new Map(live.map((r) => [r.migration_name, r.checksum]));
    for (const m of migrations) {
      const stored = applied.get(m.name);
      // Prisma accepts a script whose only change is CRLF vs LF; so do we.
      if (stored !== undefined && stored !== m.checksum && stored !== sha256(m.sql)) {
        throw new MigrationError(
          `Migration ${m.name} was modified after it was applied (its checksum no longer matches _prisma_migrations). ` +
            `Restore the original migration.sql and put the change in a new migration.`,
          m.name,
        );
      }
    }

    const names: string[] = [];
    for (const m of migrations) {
      if (applied.has(m.name)) continue;
      options.onApply?.(m.name);
      await applyOne(db, m);
      names.push(m.name);
    }
    return names;
  } finally {
    await db.query(`SELECT pg_advisory_unlock(${PRISMA_ADVISORY_LOCK_KEY})`).catch(() => undefined);
  }
}

async function applyOne(db: SqlExecutor, m: MigrationFile): Promise<void> {
  await db.exec("BEGIN");
  try {
    await db.exec(m.sql);
    await db.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, finished_at, applied_steps_count)
       VALUES ($1, $2, $3, now(), clock_timestamp(), 1)`,
      [randomUUID(), m.checksum, m.name],
    );
    await db.exec("COMMIT");
  } catch (error) {
    await db.exec("ROLLBACK").catch(() => undefined);
    const message = error instanceof Error ? error.message : String(error);
    throw new MigrationError(`Migration ${m.name} failed and was rolled back: ${message}`, m.name, { cause: error });
  }
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** Names of the migrations on disk that the database has not applied (for a status line). */
export async function pendingMigrations(db: SqlExecutor, migrationsDir?: string): Promise<string[]> {
  const migrations = readMigrations(migrationsDir);
  const { rows: exists } = await db.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  if (!exists[0]?.t) return migrations.map((m) => m.name);
  const { rows } = await db.query<{ migration_name: string }>(
    `SELECT migration_name FROM "_prisma_migrations" WHERE rolled_back_at IS NULL AND finished_at IS NOT NULL`,
  );
  const done = new Set(rows.map((r) => r.migration_name));
  return migrations.filter((m) => !done.has(m.name)).map((m) => m.name);
}

/** An executor over one pg session (a Client, or a client checked out of a Pool). */
export function pgExecutor(client: { query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }> }): SqlExecutor {
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await client.query(sql, params)) as { rows: T[] },
    // Without parameters pg uses the simple query protocol, which runs several statements.
    exec: async (sql) => {
      await client.query(sql);
    },
  };
}

/** An executor over a PGlite instance. */
export function pgliteExecutor(db: {
  query: (sql: string, params?: unknown[]) => Promise<{ rows: unknown[] }>;
  exec: (sql: string) => Promise<unknown>;
}): SqlExecutor {
  return {
    query: async <T>(sql: string, params?: unknown[]) => (await db.query(sql, params)) as { rows: T[] },
    exec: async (sql) => {
      await db.exec(sql);
    },
  };
}
