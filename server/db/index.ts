import "server-only";
// The Prisma client. With DATABASE_URL: PostgreSQL through @prisma/adapter-pg. Without: embedded
// PGlite (with pgvector) under DATA_DIR through pglite-prisma-adapter; the process that opens it
// owns the folder (owner.lock) and serves it on 127.0.0.1 over pglite-socket, and any other
// process (the CLI while the server runs) reaches it through that port with @prisma/adapter-pg.
// Pending migrations are applied on open.
//
// `getDb()` is the process-wide client; `openDatabase()` opens an independent one (tests, tools).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import type { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaClient } from "./generated/prisma/client.ts";
import { applyMigrations, MigrationError, pgExecutor, pgliteExecutor, type SqlExecutor } from "./migrate.ts";
import { acquireOwnerLock, type OwnerLock } from "./owner-lock.ts";
import { startPgliteServer, type PgliteServer } from "./pglite-server.ts";
import { loadEnv } from "../env.ts";
import { getLogger, redactSecrets } from "../logger.ts";

export type DatabaseKind = "pglite" | "postgres";

export interface DatabaseHandle {
  readonly prisma: PrismaClient;
  readonly kind: DatabaseKind;
  /** PGlite owned by another process, reached through its pglite-socket port. */
  readonly viaOwnerSocket: boolean;
  /** The port this process serves its PGlite on (owner only). */
  readonly servingPort: number | undefined;
  /** Migrations applied when this handle was opened. */
  readonly appliedMigrations: readonly string[];
  /**
   * Plain SQL with $1.. parameters, outside Prisma: for bulk paths such as
   * `INSERT ... SELECT * FROM unnest($1::text[], ...)`. (`prisma.$queryRawUnsafe` works too.)
   */
  rawQuery<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Applies pending migrations; returns their names. */
  migrate(): Promise<string[]>;
  /** Disconnects; an owner also stops serving and releases DATA_DIR. Idempotent. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** PostgreSQL connection string; unset means embedded PGlite under dataDir. */
  databaseUrl?: string;
  /** Absolute DATA_DIR; PGlite's files go to `<dataDir>/pglite`. */
  dataDir: string;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
  /** Default `<cwd>/prisma/migrations`. */
  migrationsDir?: string;
  /** Connections in the pg pool (default 10; 4 through an owner's socket). */
  poolMax?: number;
  /** Embedded PGlite in memory, with no folder, lock or socket server (tests). */
  memory?: boolean;
  /** A PGlite data-dir dump (dumpDataDir) that a new embedded database starts from, instead of initdb. */
  template?: string;
  /** How long to wait for an owner that is still opening DATA_DIR (default 60 s). */
  ownerWaitMs?: number;
}

/**
 * PGlite runs one transaction at a time for all its users (this process and the socket clients),
 * so an interactive transaction can wait longer to start than Prisma's default 2 s allows.
 */
const PGLITE_TRANSACTION_OPTIONS = { maxWait: 15_000, timeout: 15_000 };

/** Opens a database without touching the process-wide singleton. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const migrate = options.migrate ?? true;
  if (options.databaseUrl) {
    return openPg({
      config: { connectionString: options.databaseUrl },
      kind: "postgres",
      viaOwnerSocket: false,
      migrate,
      migrationsDir: options.migrationsDir,
      poolMax: options.poolMax ?? 10,
      secret: passwordOf(options.databaseUrl),
    });
  }
  if (options.memory) return openPglite({ ...options, migrate, lock: undefined });

  mkdirSync(options.dataDir, { recursive: true });
  const found = await acquireOwnerLock(options.dataDir, { waitMs: options.ownerWaitMs });
  if (found.role === "client") {
    return openPg({
      config: { host: "127.0.0.1", port: found.owner.port, user: "postgres", database: "postgres" },
      kind: "pglite",
      viaOwnerSocket: true,
      migrate,
      migrationsDir: options.migrationsDir,
      // PGlite runs one query at a time: more connections only queue.
      poolMax: Math.min(options.poolMax ?? 4, 4),
      ownerHint: `the database owned by process ${found.owner.pid} on 127.0.0.1:${found.owner.port} (${found.lockPath})`,
    });
  }
  try {
    return await openPglite({ ...options, migrate, lock: found.lock });
  } catch (error) {
    found.lock.release();
    throw error;
  }
}

async function openPg(o: {
  config: pg.PoolConfig;
  kind: DatabaseKind;
  viaOwnerSocket: boolean;
  migrate: boolean;
  migrationsDir: string | undefined;
  poolMax: number;
  secret?: string;
  ownerHint?: string;
}): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    ...o.config,
    max: o.poolMax,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // PostgreSQL's JIT compiles a query whose estimated cost passes jit_above_cost; for the usage
    // statistics that took 40 to 80 ms of compiling for a query that runs in 10 to 60 ms, and
    // nothing this service runs is long enough to gain from it. The pool awaits this before it
    // hands a new connection out. (A setting in the startup packet would do it in one step, but
    // PgBouncer refuses unknown startup parameters.)
    ...(o.kind === "postgres"
      ? {
          onConnect: (client: pg.ClientBase) =>
            client.query("SET jit = off").then(
              () => undefined,
              (e: unknown) => getLogger().warn({ err: sanitizeDatabaseError(e, o.secret) }, "could not turn JIT off"),
            ),
        }
      : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on("error", (e) => getLogger().warn({ err: sanitizeDatabaseError(e, o.secret) }, "database connection lost"));

  const migrateOnce = async () => {
    const client = await pool.connect();
    try {
      return await applyMigrations(pgExecutor(client), { migrationsDir: o.migrationsDir });
    } finally {
      client.release();
    }
  };

  let applied: string[] = [];
  try {
    if (o.migrate) applied = await migrateOnce();
  } catch (error) {
    await pool.end().catch(() => undefined);
    if (error instanceof MigrationError) throw error;
    if (o.ownerHint && isConnectionRefused(error)) {
      throw new Error(`Cannot reach ${o.ownerHint}: ${sanitizeDatabaseError(error).message}`, { cause: error });
    }
    throw sanitizeDatabaseError(error, o.secret);
  }

  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, { onPoolError: () => undefined }),
    ...(o.kind === "pglite" ? { transactionOptions: PGLITE_TRANSACTION_OPTIONS } : {}),
  });
  let closing: Promise<void> | undefined;
  return {
    prisma,
    kind: o.kind,
    viaOwnerSocket: o.viaOwnerSocket,
    servingPort: undefined,
    appliedMigrations: applied,
    rawQuery: async <T,>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
    migrate: migrateOnce,
    close: () =>
      (closing ??= (async () => {
        await prisma.$disconnect().catch(() => undefined);
        await pool.end().catch(() => undefined);
      })()),
  };
}

async function openPglite(o: OpenDatabaseOptions & { migrate: boolean; lock: OwnerLock | undefined }): Promise<DatabaseHandle> {
  const [{ PGlite }, { vector }, { PrismaPGlite }] = await Promise.all([
    import("@electric-sql/pglite"),
    import("@electric-sql/pglite/vector"),
    import("pglite-prisma-adapter"),
  ]);
  const extensions = { vector };
  const folder = o.lock ? path.join(o.dataDir, "pglite") : undefined;
  // A new database may start from a dump of an initialised one (PGLITE_TEMPLATE): initdb is the
  // slowest part of opening, and tests open many databases. Migrations still run after it.
  const fresh = !folder || !existsSync(path.join(folder, "PG_VERSION"));
  const template = fresh && o.template ? new Blob([readFileSync(o.template)]) : undefined;
  const options = template ? { extensions, loadDataDir: template } : { extensions };
  const db: PGlite = folder ? await PGlite.create(folder, options) : await PGlite.create(options);
  let server: PgliteServer | undefined;
  const executor: SqlExecutor = pgliteExecutor(db);
  const migrateNow = () => applyMigrations(executor, { migrationsDir: o.migrationsDir });
  let applied: string[] = [];
  try {
    if (o.migrate) applied = await migrateNow();
    if (o.lock) {
      server = await startPgliteServer(db);
      o.lock.setPort(server.port);
    }
  } catch (error) {
    await server?.stop().catch(() => undefined);
    await db.close().catch(() => undefined);
    throw error;
  }

  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db), transactionOptions: PGLITE_TRANSACTION_OPTIONS });
  let closing: Promise<void> | undefined;
  return {
    prisma,
    kind: "pglite",
    viaOwnerSocket: false,
    servingPort: server?.port,
    appliedMigrations: applied,
    rawQuery: async <T,>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
    migrate: migrateNow,
    close: () =>
      (closing ??= (async () => {
        await prisma.$disconnect().catch(() => undefined);
        // Stop serving before closing, and close before unlocking: no one may open the folder
        // while this process still has it open.
        await server?.stop().catch(() => undefined);
        await db.close().catch(() => undefined);
        o.lock?.release();
      })()),
  };
}

function passwordOf(url: string): string | undefined {
  try {
    const p = new URL(url).password;
    return p ? decodeURIComponent(p) : undefined;
  } catch {
    return undefined;
  }
}

function isConnectionRefused(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || /ECONNREFUSED/.test(String(error));
}

/** An Error whose message and stack carry neither the connection string's password nor any URL credential. */
export function sanitizeDatabaseError(error: unknown, secret?: string): Error {
  const clean = (text: string) => {
    let t = redactSecrets(text);
    if (secret) {
      for (const form of new Set([secret, encodeURIComponent(secret)])) t = t.split(form).join("[redacted]");
    }
    return t;
  };
  const e = error instanceof Error ? error : new Error(String(error));
  const out = new Error(clean(e.message));
  out.name = e.name;
  if (e.stack) out.stack = clean(e.stack);
  const code = (e as NodeJS.ErrnoException).code;
  if (code) (out as NodeJS.ErrnoException).code = code;
  return out;
}

// ---------------------------------------------------------------------------------------------
// The process-wide database. On globalThis so that Next's separate route bundles and dev hot
// reloads share one client (and one owner lock).

interface DbState {
  opening?: Promise<DatabaseHandle>;
  handle?: DatabaseHandle;
}

const state: DbState = ((globalThis as { __modelServiceDb?: DbState }).__modelServiceDb ??= {});

function databaseSecret(): string | undefined {
  const url = loadEnv().DATABASE_URL;
  return url ? passwordOf(url) : undefined;
}

function openShared(migrate: boolean): Promise<DatabaseHandle> {
  state.opening ??= (async () => {
    const env = loadEnv();
    const log = getLogger();
    try {
      const handle = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.dataDir, migrate, template: env.PGLITE_TEMPLATE });
      state.handle = handle;
      if (handle.appliedMigrations.length > 0) log.info({ migrations: handle.appliedMigrations }, "applied database migrations");
      log.info(
        {
          kind: handle.kind,
          ...(handle.viaOwnerSocket ? { via: "owner socket" } : {}),
          ...(handle.servingPort ? { servingPort: handle.servingPort } : {}),
        },
        "database open",
      );
      return handle;
    } catch (error) {
      state.opening = undefined;
      throw sanitizeDatabaseError(error, databaseSecret());
    }
  })();
  return state.opening;
}

/** The process-wide Prisma client, opened (and migrated) on first use. */
export async function getDb(): Promise<PrismaClient> {
  return (await openShared(true)).prisma;
}

/** The process-wide handle, for raw SQL (bulk inserts) next to Prisma. */
export function getDatabase(): Promise<DatabaseHandle> {
  return openShared(true);
}

/** Which database this process uses (decided by DATABASE_URL before it is opened). */
export function databaseKind(): DatabaseKind {
  return state.handle?.kind ?? (loadEnv().DATABASE_URL ? "postgres" : "pglite");
}

/** The kind, and whether the embedded database is reached through another process's socket. */
export function databaseInfo(): { kind: DatabaseKind; open: boolean; viaOwnerSocket: boolean; servingPort?: number } {
  return {
    kind: databaseKind(),
    open: state.handle !== undefined,
    viaOwnerSocket: state.handle?.viaOwnerSocket ?? false,
    ...(state.handle?.servingPort ? { servingPort: state.handle.servingPort } : {}),
  };
}

/** `select 1` against the process-wide database within `timeoutMs` (opening it if needed). */
export async function checkDatabase(timeoutMs = 2_000): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        const handle = await openShared(true);
        await handle.rawQuery("select 1");
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, latencyMs: Math.round((performance.now() - started) * 100) / 100 };
  } catch (error) {
    return {
      ok: false,
      latencyMs: Math.round((performance.now() - started) * 100) / 100,
      error: sanitizeDatabaseError(error, databaseSecret()).message,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Applies pending migrations to the process-wide database; returns the names applied. */
export async function runMigrations(): Promise<string[]> {
  const handle = await openShared(false);
  const names = await handle.migrate();
  if (names.length > 0) getLogger().info({ migrations: names }, "applied database migrations");
  return names;
}

/** Closes the process-wide database: disconnects, stops serving DATA_DIR and releases its lock. */
export async function closeDb(): Promise<void> {
  const opening = state.opening;
  if (!opening) return;
  state.opening = undefined;
  state.handle = undefined;
  const handle = await opening.catch(() => undefined);
  await handle?.close();
}

export { applyMigrations, MigrationError, pendingMigrations, defaultMigrationsDir } from "./migrate.ts";
export type { PrismaClient } from "./generated/prisma/client.ts";
