// The usage_scoped_rollups migration on a database that already holds usage: it fills the scoped
// roll-ups (per user, per key without a user, per tag and per end user) from the events, so that
// every scope's totals and each of its breakdowns equal the events' own sums, per day and per hour.
import { cpSync, readdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyMigrations, pgExecutor, pgliteExecutor, type SqlExecutor } from "./migrate.ts";
import { createScratchPostgres, makeTempDir, removeTempDir, testDatabases } from "@/tests/support/db.ts";

const realMigrations = path.resolve("prisma/migrations");
const all = readdirSync(realMigrations)
  .filter((n) => /^\d{14}_/.test(n))
  .sort();
const scopedMigration = all.find((n) => n.endsWith("_usage_scoped_rollups"))!;
const before = all.filter((n) => n < scopedMigration);

describe.each(testDatabases())("the usage_scoped_rollups migration on $kind", ({ kind }) => {
  let db: SqlExecutor;
  let dir: string;
  let cleanup: () => Promise<void>;
  const q = async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows;

  beforeAll(async () => {
    dir = makeTempDir("usage-scoped-migration-");
    for (const name of before) cpSync(path.join(realMigrations, name), path.join(dir, name), { recursive: true });
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
    await applyMigrations(db, { migrationsDir: dir });
    // 40 events over two days: two users' keys and a key without a user, tags, end users.
    await q(
      `INSERT INTO usage_events (id, created_at, endpoint, kind, model_id, provider, api_key_id, user_id, status, total_cost, latency_ms, tags, end_user)
       SELECT 'e' || n, '2026-11-20T00:00:00Z'::timestamptz + n * interval '71 minutes', '/v1/llm/generate', 'llm',
         CASE WHEN n % 3 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END, 'openai', 'key-' || (n % 3),
         CASE WHEN n % 3 = 2 THEN NULL ELSE 'user-' || (n % 3) END, CASE WHEN n % 7 = 0 THEN 'error' ELSE 'success' END,
         (n * 0.000001)::numeric, 10 + n, CASE WHEN n % 2 = 0 THEN ARRAY['a', 'b'] ELSE ARRAY['b'] END,
         CASE WHEN n % 4 = 0 THEN 'cust-' || (n % 8) END
       FROM generate_series(1, 40) AS n`,
    );
    for (const name of all.filter((n) => n >= scopedMigration))
      cpSync(path.join(realMigrations, name), path.join(dir, name), { recursive: true });
    await applyMigrations(db, { migrationsDir: dir });
  }, 120_000);

  afterAll(async () => {
    await cleanup?.();
    if (dir) removeTempDir(dir);
  });

  const SCOPES: [scope: string, expr: string, where: string][] = [
    ["user", "e.user_id", "e.user_id IS NOT NULL"],
    ["api_key", "e.api_key_id", "e.user_id IS NULL"],
    ["end_user", "e.end_user", "e.end_user IS NOT NULL"],
    ["tag", "s.tag", "true"],
  ];
  const DIMS: [dim: string, expr: string][] = [
    ["total", "''"],
    ["model", "e.model_id"],
    ["api_key", "e.api_key_id"],
    ["status", "e.status"],
    ["end_user", "e.end_user"],
    ["tag", "t.tag"],
  ];

  it.each(["day", "hour"])("fills every scope's rows per %s with the events' sums", async (period) => {
    const table = period === "day" ? "usage_daily_scoped" : "usage_hourly_scoped";
    const at = period === "day" ? "(e.created_at AT TIME ZONE 'UTC')::date::text" : "date_trunc('hour', e.created_at)::text";
    for (const [scope, scopeExpr, scopeWhere] of SCOPES) {
      for (const [dim, dimExpr] of DIMS) {
        const from = `usage_events e${scope === "tag" ? " CROSS JOIN LATERAL unnest(e.tags) AS s(tag)" : ""}${dim === "tag" ? " CROSS JOIN LATERAL unnest(e.tags) AS t(tag)" : ""}`;
        const want = await q<{ k: string; n: number; cost: string }>(
          `SELECT ${scopeExpr} || '|' || ${at} || '|' || ${dimExpr} AS k, count(*)::int AS n, sum(e.total_cost)::text AS cost
           FROM ${from} WHERE ${scopeWhere} AND ${dimExpr} IS NOT NULL GROUP BY 1 ORDER BY 1`,
        );
        const got = await q<{ k: string; n: number; cost: string }>(
          `SELECT scope_value || '|' || ${period === "day" ? "day::text" : "hour::text"} || '|' || value AS k, requests AS n, cost::text AS cost
           FROM ${table} WHERE scope = $1 AND dim = $2 ORDER BY 1`,
          [scope, dim],
        );
        const norm = (rows: { k: string; n: number; cost: string }[]) => rows.map((r) => [r.k, r.n, Number(r.cost).toFixed(12)]);
        expect(norm(got), `${scope} × ${dim}`).toEqual(norm(want));
        expect(want.length, `${scope} × ${dim}`).toBeGreaterThan(0);
      }
    }
  });
});
