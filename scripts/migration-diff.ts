// Developer tool: prints the SQL that Prisma's migrate would write to bring the database described
// by prisma/migrations (or an empty one) to prisma/schema.prisma. `prisma migrate dev` needs a
// native schema engine that cannot be downloaded on every machine; this runs Prisma's own engine
// compiled to WebAssembly (@prisma/schema-engine-wasm, a devDependency) instead. It is an internal
// Prisma API: it belongs to development only, never to the running service.
//
//   npx tsx scripts/migration-diff.ts                  # pending changes: migrations -> schema
//   npx tsx scripts/migration-diff.ts --from-empty     # the whole schema from an empty database
//   npx tsx scripts/migration-diff.ts --create add_foo # save pending changes as a new migration folder
//   (--schema other.prisma diffs to another schema file)
//
// Diffing from the existing migrations replays them on a shadow database: an in-memory PGlite by
// default, or a scratch database (created and dropped here) on the PostgreSQL server named by
// SHADOW_DATABASE_URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { PrismaPg } from "@prisma/adapter-pg";
// A dependency of @prisma/adapter-pg; the wrapper the engine expects around an adapter factory.
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";
import { createScratchPostgres, type ScratchPostgres } from "../tests/support/scratch-postgres.ts";

type Engine = {
  diff(params: unknown): Promise<{ exitCode: number; stdout: string | null }>;
  free(): void;
};
type EngineModule = { SchemaEngine: { new: (options: unknown, log: unknown, adapter: unknown) => Promise<Engine> } };

export const EMPTY_MIGRATION = "-- This is an empty migration.";

let engineModule: Promise<EngineModule> | undefined;

function loadEngineModule(): Promise<EngineModule> {
  // The package's entry imports the .wasm file as an ES module, which Node 20 cannot do without a
  // flag; instantiate it by hand and hand it to the generated bindings instead.
  engineModule ??= (async () => {
    const require = createRequire(import.meta.url);
    const bgPath = require.resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bg = (await import(pathToFileURL(bgPath).href)) as Record<string, unknown> & {
      __wbg_set_wasm(exports: unknown): void;
    };
    const bytes = readFileSync(path.join(path.dirname(bgPath), "schema_engine_bg.wasm"));
    const { instance } = await WebAssembly.instantiate(bytes, { "./schema_engine_bg.js": bg as WebAssembly.ModuleImports });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as () => void)();
    return bg as unknown as EngineModule;
  })();
  return engineModule;
}

/**
 * The engine's introspection reads catalogue columns of PostgreSQL's one-byte `"char"` type, which
 * @prisma/adapter-pg 7.10 rejects ("Column type 'char' could not be deserialized"). Their values
 * arrive as text anyway, so report such columns as text.
 */
class CharAsTextClient extends pg.Client {
  override query(...args: unknown[]): never {
    const fix = (res: pg.QueryResult | undefined) => {
      for (const field of res?.fields ?? []) if (field.dataTypeID === 18) field.dataTypeID = 25;
      return res;
    };
    // pg.Pool#query passes a callback; direct calls get a promise.
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (err: unknown, res: pg.QueryResult | undefined) => callback(err, fix(res));
    }
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    return (result instanceof Promise ? result.then(fix) : result) as never;
  }
}

function migrationsList(migrationsDir: string) {
  const dirs = existsSync(migrationsDir)
    ? readdirSync(migrationsDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort()
    : [];
  const lockPath = path.join(migrationsDir, "migration_lock.toml");
  return {
    baseDir: migrationsDir,
    lockfile: { path: "migration_lock.toml", content: existsSync(lockPath) ? readFileSync(lockPath, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: dirs.map((name) => {
      const file = path.join(migrationsDir, name, "migration.sql");
      return {
        path: name,
        migrationFile: {
          path: "migration.sql",
          content: existsSync(file) ? { tag: "ok", value: readFileSync(file, "utf8") } : { tag: "error", value: "missing migration.sql" },
        },
      };
    }),
  };
}

interface ShadowFactory {
  factory: { connect(): Promise<unknown>; connectToShadowDb(): Promise<unknown> };
  cleanup(): Promise<void>;
}

/**
 * Shadow databases as scratch databases on a PostgreSQL server. (PrismaPg's own connectToShadowDb
 * cannot be used: it passes `database` next to `connectionString`, pg lets the URL win, and the
 * migrations land in the server's main database.)
 */
function postgresShadow(serverUrl: string): ShadowFactory {
  const scratch: ScratchPostgres[] = [];
  const opened: { dispose(): Promise<void> }[] = [];
  const factory = new PrismaPg({ connectionString: serverUrl, Client: CharAsTextClient });
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    opened.push(adapter);
    return adapter;
  };
  factory.connectToShadowDb = async () => {
    const shadow = await createScratchPostgres(serverUrl, "migration_diff_shadow");
    scratch.push(shadow);
    const adapter = await new PrismaPg({ connectionString: shadow.url, Client: CharAsTextClient }).connect();
    opened.push(adapter);
    // @prisma/adapter-pg 7.10 runs a script by splitting it at every ";", which cuts a function's
    // body (and trips on a ";" in a comment). Sent whole, over the simple query protocol, it runs
    // as `prisma migrate` and the service's own runner (server/db/migrate.ts) run it.
    const pool = (adapter as unknown as { client: pg.Pool }).client;
    adapter.executeScript = async (script: string) => {
      await pool.query(script);
    };
    return adapter;
  };
  return {
    factory,
    async cleanup() {
      // The engine does not always dispose of what it opened; pools left open keep node running.
      for (const a of opened) await a.dispose().catch(() => undefined);
      for (const shadow of scratch) await shadow.drop();
    },
  };
}

/** Shadow databases as in-memory PGlite instances: no server needed. */
async function pgliteShadow(): Promise<ShadowFactory> {
  const [{ PGlite }, { PrismaPGlite }] = await Promise.all([import("@electric-sql/pglite"), import("pglite-prisma-adapter")]);
  const instances: { close(): Promise<void> }[] = [];
  const adapterOver = async (db: InstanceType<typeof PGlite>) => {
    // Same `"char"` problem as CharAsTextClient, on PGlite's result fields.
    const query = db.query.bind(db);
    const patched = new Proxy(db, {
      get(target, prop, receiver) {
        if (prop === "query") {
          return async (...args: Parameters<typeof db.query>) => {
            const res = await query(...args);
            for (const f of res.fields) if (f.dataTypeID === 18) (f as { dataTypeID: number }).dataTypeID = 25;
            return res;
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const adapter = await new PrismaPGlite(patched).connect();
    // pglite-prisma-adapter 0.7.2 does not wait for (or report) a script's result.
    adapter.executeScript = async (script: string) => {
      await db.exec(script);
    };
    return adapter;
  };
  const fresh = async () => {
    const db = await PGlite.create();
    instances.push(db);
    return db;
  };
  // The engine connects to a "main" database only to read its version; a diff changes nothing
  // there. Each PGlite takes seconds to create, so the first shadow database is that same
  // (untouched) instance, and further shadows get their own.
  let main: Promise<InstanceType<typeof PGlite>> | undefined;
  let mainLent = false;
  // Only its identity (provider, adapter name) is used: both connections are replaced.
  const factory = new PrismaPGlite(undefined as never);
  factory.connect = (async () => adapterOver(await (main ??= fresh()))) as never;
  factory.connectToShadowDb = (async () => {
    if (main && !mainLent) {
      mainLent = true;
      return adapterOver(await main);
    }
    return adapterOver(await fresh());
  }) as never;
  return {
    factory,
    async cleanup() {
      for (const db of instances) await db.close().catch(() => undefined);
    },
  };
}

export interface DiffOptions {
  /** "empty": the whole schema; "migrations": what the existing migrations lack. */
  from: "empty" | "migrations";
  schemaPath?: string;
  migrationsDir?: string;
  /**
   * A PostgreSQL server where scratch shadow databases may be created for replaying the
   * migrations; unset, in-memory PGlite instances serve as shadow databases.
   */
  shadowServerUrl?: string;
}

/** The migration SQL Prisma would write; `EMPTY_MIGRATION` when there is nothing to do. */
export async function migrationDiff(options: DiffOptions): Promise<string> {
  const root = process.cwd();
  const schemaPath = path.resolve(root, options.schemaPath ?? "prisma/schema.prisma");
  const migrationsDir = path.resolve(root, options.migrationsDir ?? "prisma/migrations");
  const schema = readFileSync(schemaPath, "utf8");
  const { SchemaEngine } = await loadEngineModule();

  const { factory, cleanup } = options.shadowServerUrl ? postgresShadow(options.shadowServerUrl) : await pgliteShadow();

  let engine: Engine | undefined;
  try {
    engine = await SchemaEngine.new(
      { datamodels: [[schemaPath, schema]] },
      (log: string) => process.env.DEBUG && process.stderr.write(`${log}\n`),
      bindMigrationAwareSqlAdapterFactory(factory as never),
    );
    const result = await engine.diff({
      from: options.from === "empty" ? { tag: "empty" } : { tag: "migrations", ...migrationsList(migrationsDir) },
      to: { tag: "schemaDatamodel", files: [{ path: schemaPath, content: schema }] },
      script: true,
      exitCode: null,
      filters: { externalTables: [], externalEnums: [] },
    });
    return result.stdout ?? "";
  } finally {
    engine?.free();
    await cleanup();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const valueOf = (flag: string) => {
    const i = args.indexOf(flag);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const createName = valueOf("--create");
  if (args.includes("--create") && !createName?.match(/^[a-z0-9_]+$/)) {
    throw new Error("--create needs a name of lower-case letters, digits and underscores");
  }
  const sql = await migrationDiff({
    from: args.includes("--from-empty") ? "empty" : "migrations",
    schemaPath: valueOf("--schema"),
    shadowServerUrl: process.env.SHADOW_DATABASE_URL,
  });
  if (!createName) {
    process.stdout.write(sql);
    return;
  }
  if (sql.trim() === "" || sql.includes(EMPTY_MIGRATION)) {
    process.stderr.write("No changes: the migrations already match the schema.\n");
    return;
  }
  const migrationsDir = path.resolve("prisma/migrations");
  const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
  const dir = path.join(migrationsDir, `${stamp}_${createName}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "migration.sql"), sql);
  const lock = path.join(migrationsDir, "migration_lock.toml");
  if (!existsSync(lock)) {
    writeFileSync(
      lock,
      '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
    );
  }
  process.stderr.write(`Wrote ${path.relative(process.cwd(), dir)}/migration.sql\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : JSON.stringify(e)}\n`);
    process.exit(1);
  });
}
