import "server-only";
// The Prisma client. With DATABASE_URL: PostgreSQL through @prisma/adapter-pg. Without: embedded
// PGlite (with pgvector) under DATA_DIR through pglite-prisma-adapter; the process that opens it
// owns the folder (owner.lock) and serves it on 127.0.0.1 over pglite-socket, and any other
// process (the CLI while the server runs) reaches it through that port with @prisma/adapter-pg.
// Pending migrations are applied on open.
//
// On PostgreSQL every statement is bounded (statement_timeout on the server, and a read deadline a
// little later on the client, for a server that does not answer at all), and so is the wait for a
// connection. A connection that times out opens the handle's circuit: until a probe (`select 1`
// every PROBE_EVERY_MS) answers again, queries fail at once with DatabaseUnavailable (503
// `unavailable`) instead of each waiting out its deadline; `isDatabaseUnavailable` tells such
// failures (refused, reset, timed out, circuit open) from a query's own errors.
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
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { getLogger, redactSecrets } from "../kernel/logger.ts";

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
  /**
   * Runs `work` on one connection whose statements may each take up to `timeoutMs` instead of the
   * statement timeout (index builds, bulk maintenance); the connection's own settings are restored after.
   */
  longRunning<T>(
    timeoutMs: number,
    work: (query: <R = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<R[]>) => Promise<T>,
  ): Promise<T>;
  /** Whether queries are being let through (false while a timed-out connection's circuit is open). */
  usable(): boolean;
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
  /** PostgreSQL: the longest a statement may run (statement_timeout; default none). Migrations are never bounded. */
  statementTimeoutMs?: number;
  /** PostgreSQL: the longest wait for a connection, new or pooled (default 10 s). */
  connectTimeoutMs?: number;
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
      statementTimeoutMs: options.statementTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
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
      connectTimeoutMs: options.connectTimeoutMs,
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
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
}): Promise<DatabaseHandle> {
  const statementTimeout = o.kind === "postgres" ? o.statementTimeoutMs : undefined;
  const connectionTimeoutMillis = o.connectTimeoutMs ?? 10_000;
  // Session settings made before the pool hands a new connection out. PostgreSQL's JIT compiles a
  // query whose estimated cost passes jit_above_cost; for the usage statistics that took 40 to 80 ms
  // of compiling for a query that runs in 10 to 60 ms, and nothing this service runs is long enough
  // to gain from it. (A setting in the startup packet would do it in one step, but PgBouncer
  // refuses unknown startup parameters.)
  const sessionSql = ["SET jit = off", ...(statementTimeout ? [`SET statement_timeout = ${statementTimeout}`] : [])].join("; ");
  const pool = new pg.Pool({
    ...o.config,
    max: o.poolMax,
    connectionTimeoutMillis,
    idleTimeoutMillis: 30_000,
    // The client's own deadline, for a server that stops answering altogether (statement_timeout is
    // the server's, and a hung server never sends it); a little later, so a live server's comes first.
    ...(statementTimeout ? { query_timeout: statementTimeout + READ_DEADLINE_MARGIN_MS } : {}),
    ...(o.kind === "postgres"
      ? {
          onConnect: (client: pg.ClientBase) =>
            client.query(sessionSql).then(
              () => undefined,
              (e: unknown) =>
                getLogger().warn({ err: sanitizeDatabaseError(e, o.secret) }, "could not apply the connection's session settings"),
            ),
        }
      : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on("error", (e) => getLogger().warn({ err: sanitizeDatabaseError(e, o.secret) }, "database connection lost"));
  const gate = new DatabaseGate(
    async () => {
      const probe = new pg.Client({ ...o.config, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
      probe.on("error", () => {});
      try {
        await probe.connect();
        await probe.query("select 1");
      } finally {
        void probe.end().catch(() => undefined);
      }
    },
    (e) => sanitizeDatabaseError(e, o.secret).message,
  );
  gate.guard(pool);

  // Migrations run on a connection of their own, without the statement bound (a migration may
  // rewrite a large table) but with the connection deadline.
  const migrateOnce = async () => {
    const client = new pg.Client({ ...o.config, connectionTimeoutMillis });
    client.on("error", () => {});
    await client.connect();
    try {
      if (o.kind === "postgres") await client.query("SET jit = off");
      return await applyMigrations(pgExecutor(client), { migrationsDir: o.migrationsDir });
    } finally {
      await client.end().catch(() => undefined);
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
    rawQuery: async <T>(sql: string, params?: unknown[]) => (await pool.query(sql, params)).rows as T[],
    longRunning: async (timeoutMs, work) => {
      const client = await pool.connect();
      let failed: unknown;
      try {
        if (statementTimeout) await client.query(`SET statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
        return await work(
          async <R>(sql: string, params?: unknown[]) =>
            (await client.query({ text: sql, values: params, query_timeout: timeoutMs + READ_DEADLINE_MARGIN_MS } as pg.QueryConfig))
              .rows as R[],
        );
      } catch (error) {
        failed = error;
        throw error;
      } finally {
        if (statementTimeout && !failed)
          await client.query(`SET statement_timeout = ${statementTimeout}`).catch((e: unknown) => (failed = e));
        // A connection whose setting could not be restored (or that failed) is not reused.
        client.release(failed instanceof Error ? failed : failed === undefined ? undefined : new Error(String(failed)));
      }
    },
    usable: () => gate.usable(),
    migrate: migrateOnce,
    close: () =>
      (closing ??= (async () => {
        gate.stop();
        // A pool with a connection stuck on a hung server never finishes ending: bounded, since the
        // process is leaving anyway.
        await bounded(
          (async () => {
            await prisma.$disconnect().catch(() => undefined);
            await pool.end().catch(() => undefined);
          })(),
          CLOSE_TIMEOUT_MS,
        );
      })()),
  };
}

/** How much later than statement_timeout the client gives up on a server that does not answer at all. */
const READ_DEADLINE_MARGIN_MS = 500;
/** How often an open circuit tries the database again, and the deadline of that try. */
export const PROBE_EVERY_MS = 1_000;
const PROBE_TIMEOUT_MS = 1_000;
/** How long closing may wait for connections to a server that may be hung. */
const CLOSE_TIMEOUT_MS = 2_000;

function bounded(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p.then(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

const UNAVAILABLE = Symbol.for("model-service.DatabaseUnavailable");

/**
 * A query refused or failed because the database is not answering (503 `unavailable` wherever
 * AppErrors are mapped). The message names no host or socket error: those stay in its cause (the
 * log) and in admins' /health.
 */
export class DatabaseUnavailable extends AppError {
  readonly [UNAVAILABLE] = true;
  constructor(message = "The database is not answering; try again shortly") {
    super("unavailable", message);
    this.name = "DatabaseUnavailable";
  }
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ECONNABORTED",
]);
// SQLSTATE 08: connection exceptions; 57P01-57P03: shut down, crashed, not accepting connections yet; 53300: too many connections.
const CONNECTION_SQLSTATES = /^(08...|57P0[123]|53300)$/;
// pg's own words for a connection that failed, closed or timed out (its errors carry no code).
const TIMEOUT_MESSAGES = /timeout exceeded when trying to connect|Query read timeout|Connection terminated due to connection timeout/i;
const CONNECTION_MESSAGES = /Connection terminated|not queryable|Connection is closed/i;
// What a caller may meet after Prisma wrapped the failure: its connection codes, its pool timeout.
const PRISMA_UNAVAILABLE = new Set(["P1001", "P1002", "P1008", "P1017", "P2024"]);
// 57014: a statement cancelled by statement_timeout (a live but overloaded database: 503 too, never 500).
const STATEMENT_TIMEOUT = "57014";

/**
 * A failure of the pool itself (raw pg and socket errors, as the gate sees them): "timeout" (no
 * answer in time: worth opening the circuit), "connection" (refused, reset, closed), or undefined.
 */
function connectionFailure(error: unknown, depth = 0): "timeout" | "connection" | undefined {
  if (depth > 4 || typeof error !== "object" || error === null) return undefined;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown };
  const message = typeof e.message === "string" ? e.message : "";
  if (TIMEOUT_MESSAGES.test(message) || e.code === "ETIMEDOUT") return "timeout";
  if (typeof e.code === "string" && (CONNECTION_CODES.has(e.code) || CONNECTION_SQLSTATES.test(e.code))) return "connection";
  if (CONNECTION_MESSAGES.test(message)) return "connection";
  return connectionFailure(e.cause, depth + 1);
}

/**
 * Whether `error` means the database did not answer: DatabaseUnavailable (which the pool's gate
 * throws for every connection failure), the same once Prisma has wrapped it (the brand does not
 * survive, its code and message do), Prisma's own connection codes, or a statement timeout.
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (depth > 6 || typeof error !== "object" || error === null) return false;
  const e = error as {
    [UNAVAILABLE]?: boolean;
    name?: unknown;
    code?: unknown;
    message?: unknown;
    cause?: unknown;
    meta?: { driverAdapterError?: unknown };
  };
  if (e[UNAVAILABLE]) return true;
  const prisma = typeof e.name === "string" && e.name.startsWith("PrismaClient");
  if (prisma && (e.code === "unavailable" || (typeof e.code === "string" && PRISMA_UNAVAILABLE.has(e.code)))) return true;
  if (e.code === STATEMENT_TIMEOUT || (e as { originalCode?: unknown }).originalCode === STATEMENT_TIMEOUT) return true;
  return isDatabaseUnavailable(e.cause, depth + 1) || isDatabaseUnavailable(e.meta?.driverAdapterError, depth + 1);
}

/**
 * The circuit of one pool: a connection or query that timed out opens it (each such wait costs
 * seconds; a refused connection fails fast by itself), and while it is open queries and connects
 * fail at once with DatabaseUnavailable. A probe tries every PROBE_EVERY_MS and closes it.
 */
class DatabaseGate {
  private open = false;
  private openedAt = 0;
  private probing: NodeJS.Timeout | undefined;
  private stopped = false;
  lastError: string | undefined;

  constructor(
    private readonly probe: () => Promise<void>,
    private readonly describe: (error: unknown) => string,
  ) {}

  usable(): boolean {
    return !this.open;
  }

  /** Routes the pool's query() and connect() (Prisma's adapter uses both) through the gate. */
  guard(pool: pg.Pool): void {
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<unknown>;
    // The callback forms are pg-pool's own (query() connects with a callback): already inside a guarded call.
    const callback = (args: unknown[]) => typeof args[args.length - 1] === "function";
    (pool as unknown as { query: typeof query }).query = (...args) => (callback(args) ? query(...args) : this.run(() => query(...args)));
    (pool as unknown as { connect: typeof connect }).connect = (...args) =>
      callback(args) ? connect(...args) : this.run(() => connect(...args));
  }

  private run<T>(op: () => Promise<T>): Promise<T> {
    if (this.open) return Promise.reject(new DatabaseUnavailable());
    return op().catch((error: unknown) => {
      const failure = connectionFailure(error);
      if (!failure) throw error;
      if (failure === "timeout") this.trip(error);
      this.lastError = this.describe(error);
      // One error for every way of not answering, with the original (host, port) kept as the cause for the log.
      throw Object.assign(new DatabaseUnavailable(), { cause: error });
    });
  }

  private trip(error: unknown): void {
    this.lastError = this.describe(error);
    if (this.open || this.stopped) return;
    this.open = true;
    this.openedAt = Date.now();
    getLogger().error({ err: this.lastError }, "the database is not answering: failing its queries at once until it does");
    this.probing = setInterval(() => void this.tryAgain(), PROBE_EVERY_MS);
    this.probing.unref();
  }

  private async tryAgain(): Promise<void> {
    try {
      await this.probe();
    } catch (error) {
      this.lastError = this.describe(error);
      return;
    }
    if (!this.open) return;
    this.open = false;
    clearInterval(this.probing);
    this.probing = undefined;
    getLogger().info({ downForMs: Date.now() - this.openedAt }, "the database answers again");
    for (const listener of recoveryListeners) listener();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.probing);
  }
}

const recoveryListeners: Set<() => void> = ((globalThis as { __modelServiceDbRecovery?: Set<() => void> }).__modelServiceDbRecovery ??=
  new Set());

/** Calls `listener` whenever the database answers again after its circuit was open (the usage writer flushes at once). */
export function onDatabaseRecovered(listener: () => void): void {
  recoveryListeners.add(listener);
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
    rawQuery: async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows,
    // In-process: no network to hang, and PGlite has no statement timeout to lift.
    longRunning: (_timeoutMs, work) => work(async <R>(sql: string, params?: unknown[]) => (await db.query<R>(sql, params)).rows),
    usable: () => true,
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
      const handle = await openDatabase({
        databaseUrl: env.DATABASE_URL,
        dataDir: env.dataDir,
        migrate,
        template: env.PGLITE_TEMPLATE,
        statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
        connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      });
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

/** Whether the process-wide database lets queries through now (false while its circuit is open). */
export function databaseUsable(): boolean {
  return state.handle?.usable() ?? true;
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
