// The black-box harness: the one way a suite boots a host and talks to it. Two kinds of host:
//
// - `startServer(...)`: the real entry point (server/host/main.ts --api-only) as child processes
//   (server-process.ts), on a database of its own (an embedded PGlite in a fresh DATA_DIR, a scratch
//   PostgreSQL database on TEST_DATABASE_URL's server, or one the suite made), the emulator's
//   environment, one instance or several on the same database. `dispose()` stops them (SIGTERM, then
//   SIGKILL), drops what it made and removes the folders.
//
//     const server = await startServer({ env: { ...emulatorEnv(emulator), ...NO_RATE_LIMITS }, database: kind });
//     const { key } = await server.withDatabase((db) => createKey(db, { name: "caller" }));
//
// - `useHost(...)`: the host in this process (startHost), with the resets of the process-wide state
//   in one place, the emulator started and reset before each test, keys made by the service itself
//   (createApiKey), registered as beforeAll/afterAll of the enclosing describe block.
//
//     const host = useHost({ env: { RATE_LIMITS: "..." } });
//     it("...", async () => { await fetch(`${host.url}/ping`); });
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, beforeEach } from "vitest";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { generateApiKey, hashApiKey } from "@/server/access/key-lookup.ts";
import { resetRateLimitersForTests } from "@/server/access/rate-limits.ts";
import { getDatabase, openDatabase, type DatabaseHandle, type DatabaseKind } from "@/server/db/index.ts";
import { createApiKey, type CreateKeyInput } from "@/server/features/accounts/keys.ts";
import { resetModelCatalogueForTests } from "@/server/features/catalogue/models.ts";
import { resetCacheStoreForTests } from "@/server/features/inference/cache-store.ts";
import { setRetryPolicyForTests } from "@/server/features/inference/generation.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { startHost, type RunningHost } from "@/server/host/server.ts";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { resetProvidersForTests } from "@/server/providers/registry.ts";
import { startProviderEmulator, type ProviderEmulator, type EmulatorOptions } from "@/tests/emulators/provider-emulator.ts";
import { createScratchPostgres, TEST_DATABASE_OPEN_TIMEOUT } from "./db.ts";
import type { ScratchPostgres } from "./scratch-postgres.ts";
import { startServerProcess, type ServerProcess } from "./server-process.ts";
import { useServiceDatabase, type QueryCounter } from "./service-db.ts";

// ---------------------------------------------------------------------------------------------
// What both kinds share

export type EmulatedProvider = "openai" | "anthropic";

/** The environment that points a host's providers at the emulator (both by default). */
export function emulatorEnv(
  emulator: ProviderEmulator,
  providers: readonly EmulatedProvider[] = ["openai", "anthropic"],
): Record<string, string> {
  return {
    ...(providers.includes("openai") ? { OPENAI_API_KEY: emulator.openaiKey!, OPENAI_BASE_URL: emulator.openaiBaseUrl } : {}),
    ...(providers.includes("anthropic")
      ? { ANTHROPIC_API_KEY: emulator.anthropicKey!, ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl }
      : {}),
  };
}

/**
 * The environment that points each cloud provider (Azure OpenAI, Bedrock, Gemini, Vertex AI) at the
 * emulator, with the vendors' own variable names; Vertex signs with a service-account key file
 * written for it.
 */
export function cloudEmulatorEnv(emulator: ProviderEmulator): Record<string, string> {
  const keyFile = path.join(mkdtempSync(path.join(tmpdir(), "ms-cloud-")), "service-account.json");
  writeFileSync(keyFile, JSON.stringify(emulator.cloud.vertexServiceAccount()));
  const c = emulator.cloud;
  return {
    AZURE_OPENAI_ENDPOINT: c.azureEndpoint,
    AZURE_OPENAI_API_KEY: c.azureKey!,
    OPENAI_API_VERSION: "2024-10-21",
    AWS_REGION: c.bedrockRegion,
    AWS_ACCESS_KEY_ID: c.bedrockAccessKeyId!,
    AWS_SECRET_ACCESS_KEY: c.bedrockSecretAccessKey,
    AWS_ENDPOINT_URL_BEDROCK_RUNTIME: c.bedrockEndpoint,
    GEMINI_API_KEY: c.geminiKey!,
    GOOGLE_GEMINI_BASE_URL: c.googleBaseUrl,
    GOOGLE_CLOUD_PROJECT: c.vertexProject,
    GOOGLE_CLOUD_LOCATION: c.vertexLocation,
    GOOGLE_APPLICATION_CREDENTIALS: keyFile,
    GOOGLE_VERTEX_BASE_URL: c.googleBaseUrl,
  };
}

/** Every per-route and per-tier limit off, and the global one out of reach: for suites that count something else. */
export const NO_RATE_LIMITS: Record<string, string> = {
  RATE_LIMITS: JSON.stringify(
    Object.fromEntries(
      ["generate", "generate-embeddings", "vector-search", "tier:basic", "tier:standard", "tier:premium"].map((n) => [n, "off"]),
    ),
  ),
  RATE_LIMIT_REQUESTS: "1000000",
};

/** A fresh folder under the OS temp dir (a DATA_DIR). */
export function makeDataDir(label: string): string {
  return mkdtempSync(path.join(tmpdir(), `model-service-${label}-`));
}

export type KeyOptions = {
  name: string;
  /** The secret; a fresh random key by default. */
  secret?: string;
  /** The row's id; the database's default (a cuid) by default. */
  id?: string;
  tier?: "basic" | "standard" | "premium";
  scopes?: string[];
  isAdmin?: boolean;
  userId?: string;
  /** The team the key belongs to. */
  teamId?: string;
  monthlyBudgetUsd?: string;
};

/**
 * An API key written straight into a database, as the CLI's seeding would (for hosts in other
 * processes, whose own services are out of reach). Returns the secret and the row's id.
 */
export async function createKey(db: DatabaseHandle, options: KeyOptions): Promise<{ key: string; id: string }> {
  const key = options.secret ?? generateApiKey();
  const row = await db.prisma.apiKey.create({
    data: {
      ...(options.id ? { id: options.id } : {}),
      name: options.name,
      prefix: key.slice(0, 11),
      keyHash: hashApiKey(key),
      ...(options.tier ? { tier: options.tier } : {}),
      ...(options.scopes ? { scopes: options.scopes } : {}),
      isAdmin: options.isAdmin ?? false,
      userId: options.userId ?? null,
      teamId: options.teamId ?? null,
      monthlyBudgetUsd: options.monthlyBudgetUsd ?? null,
    },
  });
  return { key, id: row.id };
}

/** A readable secret for a key, unique in the run: `ms_<name>_<random>`. */
export function keySecret(name: string): string {
  return `ms_${name.replace(/\W/g, "")}_${randomBytes(16).toString("hex")}`;
}

export type DatabaseLocation = { databaseUrl?: string; dataDir?: string };

/**
 * Opens the database at `where`: PostgreSQL directly, an embedded one in its DATA_DIR (directly
 * when no server runs on it, through the owner's socket when one does).
 */
export function openDatabaseAt(where: DatabaseLocation, migrate = true): Promise<DatabaseHandle> {
  return where.databaseUrl
    ? openDatabase({ databaseUrl: where.databaseUrl, dataDir: "", migrate })
    : openDatabase({ dataDir: where.dataDir!, template: process.env.PGLITE_TEMPLATE, migrate });
}

/** The database at `where` (see openDatabaseAt) for the length of `fn`. */
export async function withDatabase<T>(where: DatabaseLocation, fn: (db: DatabaseHandle) => Promise<T>, migrate = true): Promise<T> {
  const db = await openDatabaseAt(where, migrate);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Child processes

export type ServerDatabase = "pglite" | "postgres" | { url: string };

export type StartServerOptions = {
  /** The servers' environment, over PORT=0, HOST, LOG_LEVEL=info, LOG_FORMAT=json, DATA_DIR, DATABASE_URL and REDIS_URL="". */
  env?: Record<string, string>;
  /**
   * "pglite" (the default): the embedded database in DATA_DIR; "postgres": a scratch database on
   * TEST_DATABASE_URL's server, dropped by dispose(); `{ url }`: the suite's own (kept).
   */
  database?: ServerDatabase;
  /** How many servers on the one database (each with a DATA_DIR of its own); PostgreSQL only for more than one. */
  instances?: number;
  /** Start them all at once (each migrates under the lock) rather than the first alone, then the rest. */
  together?: boolean;
  /** The (first) DATA_DIR: an existing folder, kept by dispose(); a fresh one by default. */
  dataDir?: string;
  /** Runs on the database before any server starts (keys, users, settings), then it is closed. */
  seed?: (db: DatabaseHandle) => Promise<void>;
  /** The entry point's arguments (["--api-only"]). */
  args?: string[];
  /** How long stop() and dispose() wait after SIGTERM before SIGKILL (30 s). */
  killAfterMs?: number;
  /** How long each server may take to listen (60 s; a Next server on a busy machine wants more). */
  startTimeoutMs?: number;
};

export type Servers = {
  /** The first server's http://127.0.0.1:port. */
  url: string;
  urls: string[];
  processes: ServerProcess[];
  /** The first server's process (for a test that signals it itself). */
  child: ServerProcess["child"];
  /** The first server's exit code, once it exits. */
  exited: Promise<number | null>;
  /** The first server's DATA_DIR. */
  dataDir: string;
  dataDirs: string[];
  /** The database the servers were given (a scratch one's own URL on PostgreSQL); undefined on PGlite. */
  databaseUrl: string | undefined;
  /** Everything the servers printed so far (JSON log lines), all instances. */
  output(): string;
  /** The servers' database (see openDatabaseAt), the caller closes it. */
  openDatabase(): Promise<DatabaseHandle>;
  /** The servers' database for the length of `fn`. */
  withDatabase<T>(fn: (db: DatabaseHandle) => Promise<T>): Promise<T>;
  /** SIGTERM to every server still running (SIGKILL after killAfterMs); their exit codes. */
  stop(): Promise<(number | null)[]>;
  /** stop(), then drops the scratch database and removes the folders it made. */
  dispose(): Promise<void>;
};

/** Starts `instances` server processes on one database; rejects (having cleaned up) if one fails to listen. */
export async function startServer(options: StartServerOptions = {}): Promise<Servers> {
  const { database = "pglite", instances = 1, killAfterMs = 30_000 } = options;
  if (database === "pglite" && instances > 1) throw new Error("one embedded database has one owner: several instances need PostgreSQL");
  const madeDirs: string[] = [];
  const dataDirs = Array.from({ length: instances }, (_, i) => {
    if (i === 0 && options.dataDir) return options.dataDir;
    const dir = makeDataDir("server");
    madeDirs.push(dir);
    return dir;
  });
  let scratch: ScratchPostgres | undefined;
  let databaseUrl = typeof database === "object" ? database.url : undefined;
  const processes: ServerProcess[] = [];

  const stop = () =>
    Promise.all(
      processes.filter(Boolean).map(async (p) => {
        if (p.child.exitCode === null && p.child.signalCode === null) {
          p.child.kill("SIGTERM");
          const killer = setTimeout(() => p.child.kill("SIGKILL"), killAfterMs);
          await p.exited;
          clearTimeout(killer);
        }
        return p.exited;
      }),
    );
  const dispose = async () => {
    await stop();
    await scratch?.drop();
    for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
  };

  try {
    if (database === "postgres") {
      scratch = await createScratchPostgres();
      databaseUrl = scratch.url;
    }
    if (options.seed) await withDatabase({ databaseUrl, dataDir: dataDirs[0] }, options.seed);
    const start = (i: number) =>
      startServerProcess(
        { LOG_FORMAT: "json", REDIS_URL: "", ...options.env, DATA_DIR: dataDirs[i]!, DATABASE_URL: databaseUrl ?? "" },
        options.args,
        options.startTimeoutMs,
      ).then((p) => void (processes[i] = p));
    // Settled, not raced: a server still starting when another fails is stopped with the rest.
    const startAll = async (indexes: number[]) => {
      const failed = (await Promise.allSettled(indexes.map(start))).find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    };
    const all = dataDirs.map((_, i) => i);
    if (options.together) {
      await startAll(all);
    } else {
      await startAll([0]);
      await startAll(all.slice(1));
    }
  } catch (error) {
    await dispose();
    throw error;
  }

  return {
    url: processes[0]!.url,
    urls: processes.map((p) => p.url),
    processes,
    child: processes[0]!.child,
    exited: processes[0]!.exited,
    dataDir: dataDirs[0]!,
    dataDirs,
    databaseUrl,
    output: () => processes.map((p) => p.output()).join(""),
    openDatabase: () => openDatabaseAt({ databaseUrl, dataDir: dataDirs[0] }),
    withDatabase: (fn) => withDatabase({ databaseUrl, dataDir: dataDirs[0] }, fn),
    stop,
    dispose,
  };
}

// ---------------------------------------------------------------------------------------------
// In this process

export type UseHostOptions = {
  /**
   * A database of this kind for the enclosing describe block (useServiceDatabase): blocks of one
   * file can each boot a host on its own. By default the host opens the process's embedded
   * database in a fresh DATA_DIR, once per file, and shuts down fully (hooks, database) at its end.
   */
  database?: DatabaseKind;
  /** The process's environment for the host, over DATA_DIR, LOG_LEVEL=silent and the emulator's. */
  env?: Record<string, string>;
  /** More environment, made from the started emulator (its URLs and keys for further providers). */
  extraEnv?: (emulator: ProviderEmulator) => Record<string, string>;
  /** Which providers are pointed at the emulator (both by default). */
  providers?: readonly EmulatedProvider[];
  emulator?: EmulatorOptions;
};

export type InProcessHost = {
  /** http://127.0.0.1:port */
  readonly url: string;
  readonly emulator: ProviderEmulator;
  readonly dataDir: string;
  /** The host's database. */
  db(): DatabaseHandle;
  /** Every query through the database, when `database` is given (see service-db.ts). */
  readonly queries: QueryCounter | undefined;
  /** A key made by the service, as the CLI makes it. */
  createKey(input: CreateKeyInput): ReturnType<typeof createApiKey>;
  /** Writes the usage events recorded so far. */
  flush(): Promise<void>;
};

/** Registers the hooks that boot the host in this process for the enclosing describe block (or file). */
export function useHost(options: UseHostOptions = {}): InProcessHost {
  const service = options.database ? useServiceDatabase(options.database) : undefined;
  let dataDir = "";
  let host: RunningHost | undefined;
  let emulator: ProviderEmulator | undefined;
  let db: DatabaseHandle | undefined;

  beforeAll(async () => {
    dataDir = makeDataDir("host");
    emulator = await startProviderEmulator(options.emulator);
    Object.assign(process.env, {
      DATA_DIR: dataDir,
      LOG_LEVEL: "silent",
      ...emulatorEnv(emulator, options.providers),
      ...options.env,
      ...options.extraEnv?.(emulator),
    });
    delete process.env.DATABASE_URL;
    delete process.env.REDIS_URL;
    resetEnvForTests();
    resetProvidersForTests();
    resetRateLimitersForTests();
    resetModelCatalogueForTests();
    resetCacheStoreForTests(); // the caches' entries may belong to an earlier block's database
    setRetryPolicyForTests({ baseDelayMs: 5, maxDelayMs: 20 });
    host = await startHost({ port: 0, host: "127.0.0.1", log: pino({ level: "silent" }) });
    db = service ? service.db() : await getDatabase();
  }, TEST_DATABASE_OPEN_TIMEOUT);

  afterAll(async () => {
    if (host && service) {
      // Not host.shutdown(): its hooks run once per process, and the next block (another
      // database) still needs the usage writer. useServiceDatabase drops the database itself.
      const closed = new Promise<void>((resolve) => host!.server.close(() => resolve()));
      host.server.closeAllConnections();
      await closed;
      await usageWriter().flush();
      resetModelCatalogueForTests();
    } else if (host) {
      await host.shutdown("test end");
    }
    await emulator?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  beforeEach(() => emulator?.reset());

  return {
    get url() {
      return host!.url;
    },
    get emulator() {
      return emulator!;
    },
    get dataDir() {
      return dataDir;
    },
    db: () => {
      if (!db) throw new Error("the host boots in beforeAll: use it inside tests or hooks");
      return db;
    },
    queries: service?.queries,
    createKey: (input) => createApiKey(CLI_ACTOR, input),
    flush: () => usageWriter().flush(),
  };
}
