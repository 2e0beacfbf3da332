// A scratch database on a PostgreSQL server: created with a random name, dropped on request. Used
// by the tests (through tests/support/db.ts, on TEST_DATABASE_URL's server) and by the benchmarks
// (on --database-url's), so it imports nothing from vitest.
import { randomBytes } from "node:crypto";
import pg from "pg";

export type ScratchPostgres = { url: string; name: string; drop(): Promise<void> };

/** Creates `<prefix>_<random>` on the server of `serverUrl` (a role allowed to create databases). */
export async function createScratchPostgres(serverUrl: string, prefix = "ms_test"): Promise<ScratchPostgres> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}

/** One statement on its own connection (CREATE/DROP DATABASE cannot run in a transaction or pool). */
export async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
