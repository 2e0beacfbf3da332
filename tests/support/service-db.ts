// Gives a test file's services (which use the process-wide `getDb()`/`getDatabase()`) a fresh
// test database: an in-memory PGlite or a scratch PostgreSQL database (tests/support/db.ts),
// installed as the process's database for the enclosing describe block. Every Prisma model call
// and raw query through it is counted, so a test can assert that a hot path does not reach the
// database.
import { afterAll, beforeAll } from "vitest";
import type { DatabaseHandle, DatabaseKind } from "@/server/db/index.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

type DbState = { opening?: Promise<DatabaseHandle>; handle?: DatabaseHandle };

export type QueryCounter = {
  /** Calls per `model.method` (e.g. `apiKey.findUnique`) and `raw` for raw SQL. */
  counts: Map<string, number>;
  total(prefix?: string): number;
  reset(): void;
};

function counter(): QueryCounter {
  const counts = new Map<string, number>();
  return {
    counts,
    total: (prefix = "") => [...counts].filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0),
    reset: () => counts.clear(),
  };
}

function countingHandle(handle: TestDatabase, queries: QueryCounter): DatabaseHandle {
  const bump = (name: string) => queries.counts.set(name, (queries.counts.get(name) ?? 0) + 1);
  const prisma = new Proxy(handle.prisma, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof prop !== "string" || prop.startsWith("$") || typeof value !== "object" || value === null) {
        if (typeof value === "function" && typeof prop === "string" && prop.startsWith("$")) {
          return (...args: unknown[]) => {
            bump(prop);
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        }
        return value;
      }
      return new Proxy(value, {
        get(model, method) {
          const fn = Reflect.get(model, method) as unknown;
          if (typeof fn !== "function" || typeof method !== "string") return fn;
          return (...args: unknown[]) => {
            bump(`${prop}.${method}`);
            return (fn as (...a: unknown[]) => unknown).apply(model, args);
          };
        },
      });
    },
  });
  return {
    ...handle,
    prisma,
    rawQuery: (sql, params) => {
      bump("raw");
      return handle.rawQuery(sql, params);
    },
  } as DatabaseHandle;
}

/** A handle whose every query fails: the process-wide database after a test file's block is done. */
function closedHandle(kind: DatabaseKind): DatabaseHandle {
  const fail = async (): Promise<never> => {
    throw new Error("the test database of this block is closed");
  };
  return {
    // `then` stays undefined so that `await getDb()` resolves to this client rather than hanging.
    prisma: new Proxy({} as DatabaseHandle["prisma"], {
      get: (_target, prop) => (prop === "then" ? undefined : new Proxy(fail, { get: (_f, p) => (p === "then" ? undefined : fail) })),
    }),
    kind,
    viaOwnerSocket: false,
    servingPort: undefined,
    appliedMigrations: [],
    rawQuery: fail,
    longRunning: fail,
    usable: () => true,
    migrate: fail,
    close: async () => {},
  };
}

export function useServiceDatabase(kind: DatabaseKind): { db: () => TestDatabase; queries: QueryCounter } {
  const queries = counter();
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(kind);
    const state = ((globalThis as { __modelServiceDb?: DbState }).__modelServiceDb ??= {});
    const handle = countingHandle(db, queries);
    state.handle = handle;
    state.opening = Promise.resolve(handle);
  });
  afterAll(async () => {
    const state = (globalThis as { __modelServiceDb?: DbState }).__modelServiceDb;
    if (state) {
      // Not undefined: a background flush (usage writer, keys' last use) after this point would
      // then open a new embedded database in DATA_DIR while the test file removes that folder.
      // A closed handle makes such a flush fail, as it would with the database down, and retry.
      const closed = closedHandle(kind);
      state.handle = closed;
      state.opening = Promise.resolve(closed);
    }
    await db?.destroy();
  });
  return {
    db: () => {
      if (!db) throw new Error("the database opens in beforeAll");
      return db;
    },
    queries,
  };
}
