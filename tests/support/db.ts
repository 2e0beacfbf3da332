// Fresh databases for tests: always an embedded PGlite (in memory), and also a real PostgreSQL
// database when TEST_DATABASE_URL points at a server (a database with a random name is created
// there, migrated, and dropped afterwards).
//
//   describe.each(testDatabases())("usage writer on $kind", ({ kind }) => {
//     const db = useTestDatabase(kind);            // beforeAll: open + migrate; afterAll: drop
//     it("...", async () => { await db.prisma.user.create(...); await db.rawQuery("select 1"); });
//   });
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createScratchPostgres as createScratchPostgresOn, type ScratchPostgres } from "./scratch-postgres.ts";
import { openDatabase, type DatabaseHandle, type DatabaseKind } from "@/server/db/index.ts";

export interface TestDatabaseCase {
  kind: DatabaseKind;
}

/** The server for PostgreSQL tests, or undefined (then only PGlite runs). */
export function testDatabaseUrl(): string | undefined {
  const url = process.env.TEST_DATABASE_URL?.trim();
  return url ? url : undefined;
}

/** `[{kind: "pglite"}]`, plus `{kind: "postgres"}` when TEST_DATABASE_URL is set. */
export function testDatabases(): TestDatabaseCase[] {
  return testDatabaseUrl() ? [{ kind: "pglite" }, { kind: "postgres" }] : [{ kind: "pglite" }];
}

export interface TestDatabase extends DatabaseHandle {
  /** For postgres: the connection string of the fresh database. */
  readonly url: string | undefined;
  /** Closes the handle and drops the database (postgres) or its folder. */
  destroy(): Promise<void>;
}

export interface CreateTestDatabaseOptions {
  migrate?: boolean;
  migrationsDir?: string;
}

/** PGlite's first open runs initdb: seconds when idle, much longer on a busy 2-core machine. */
export const TEST_DATABASE_OPEN_TIMEOUT = 120_000;

/** A temporary folder under the OS temp dir, for tests that need a DATA_DIR. */
export function makeTempDir(prefix = "db-"): string {
  const root = path.join(tmpdir(), "model-service-tests");
  return mkdtempSync(path.join(root, prefix));
}

/** A scratch database on TEST_DATABASE_URL's server (see scratch-postgres.ts). */
export async function createScratchPostgres(): Promise<ScratchPostgres> {
  const serverUrl = testDatabaseUrl();
  if (!serverUrl) throw new Error("TEST_DATABASE_URL is not set");
  return createScratchPostgresOn(serverUrl);
}

/** Opens a fresh, migrated (unless `migrate: false`) database of the given kind. */
export async function createTestDatabase(kind: DatabaseKind, options: CreateTestDatabaseOptions = {}): Promise<TestDatabase> {
  if (kind === "pglite") {
    const handle = await openDatabase({ dataDir: "", memory: true, template: process.env.PGLITE_TEMPLATE, ...options });
    return { ...handle, url: undefined, destroy: () => handle.close() };
  }
  const scratch = await createScratchPostgres();
  try {
    const handle = await openDatabase({ databaseUrl: scratch.url, dataDir: "", poolMax: 4, ...options });
    return {
      ...handle,
      url: scratch.url,
      destroy: async () => {
        await handle.close();
        await scratch.drop();
      },
    };
  } catch (error) {
    await scratch.drop();
    throw error;
  }
}

/**
 * Registers beforeAll/afterAll that give the enclosing describe block one fresh database, and
 * returns a proxy to it (usable inside tests and hooks, after beforeAll has run).
 */
export function useTestDatabase(kind: DatabaseKind, options: CreateTestDatabaseOptions = {}): TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(kind, options);
  }, TEST_DATABASE_OPEN_TIMEOUT);
  afterAll(async () => {
    await db?.destroy();
    db = undefined;
  }, TEST_DATABASE_OPEN_TIMEOUT);
  return new Proxy({} as TestDatabase, {
    get(_target, prop) {
      if (!db) throw new Error("the test database is opened in beforeAll: use it inside tests or hooks");
      return db[prop as keyof TestDatabase];
    },
  });
}

/** Removes a temp folder made by makeTempDir (ignores errors). */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
