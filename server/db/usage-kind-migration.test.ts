// The usage_kind migration on a database that already holds usage: events and roll-up rows take
// the kind of their model's type (a model no longer in the catalogue keeps the old guess from its
// endpoint), and the per-dimension roll-ups, which were split by that guess, are rebuilt by kind.
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
const kindMigration = all.find((n) => n.endsWith("_usage_kind"))!;
const before = all.filter((n) => n < kindMigration);

// e1: an embedding model paid for by a vector endpoint (guessed llm); e2: a chat model; e3 and e4:
// models the catalogue no longer has, kept as guessed from their endpoints.
const EVENTS = [
  { id: "e1", model: "text-embedding-3-small", endpoint: "/v1/vector/documents", cost: "0.1", guessed: "llm", kind: "embedding" },
  { id: "e2", model: "gpt-4", endpoint: "/v1/llm/generate", cost: "0.2", guessed: "llm", kind: "llm" },
  { id: "e3", model: "retired-embedder", endpoint: "/v1/llm/generate-embeddings", cost: "0.3", guessed: "embedding", kind: "embedding" },
  { id: "e4", model: "retired-chat", endpoint: "/v1/vector/search", cost: "0.4", guessed: "llm", kind: "llm" },
];

describe.each(testDatabases())("the usage_kind migration on $kind", ({ kind }) => {
  let db: SqlExecutor;
  let dir: string;
  let cleanup: () => Promise<void>;
  const q = async <T>(sql: string, params?: unknown[]) => (await db.query<T>(sql, params)).rows;

  beforeAll(async () => {
    dir = makeTempDir("usage-kind-migration-");
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
    await q(`INSERT INTO models (id, name, provider, type, context_window, input_price_per_mtok, updated_at) VALUES
      ('text-embedding-3-small', 'Embedding 3 small', 'openai', 'embedding', 8191, 0.02, now()),
      ('gpt-4', 'GPT-4', 'openai', 'chat', 8192, 30, now())`);
    for (const e of EVENTS) {
      await q(
        `INSERT INTO usage_events (id, created_at, endpoint, model_id, provider, api_key_id, status, total_cost, latency_ms)
         VALUES ($1, '2026-11-20T10:15:00Z', $2, $3, 'openai', 'key-1', 'success', $4::numeric, 10)`,
        [e.id, e.endpoint, e.model, e.cost],
      );
      const keys = "user_id, api_key_id, model_id, provider, endpoint, status, requests, cost";
      await q(`INSERT INTO usage_daily (day, ${keys}) VALUES ('2026-11-20', '', 'key-1', $1, 'openai', $2, 'success', 1, $3::numeric)`, [
        e.model,
        e.endpoint,
        e.cost,
      ]);
      await q(
        `INSERT INTO usage_hourly (hour, ${keys}) VALUES ('2026-11-20T10:00:00Z', '', 'key-1', $1, 'openai', $2, 'success', 1, $3::numeric)`,
        [e.model, e.endpoint, e.cost],
      );
    }
    // The per-dimension rows as the old writer made them: split by the guessed kind.
    for (const table of ["usage_daily_dims", "usage_hourly_dims"]) {
      const at = table === "usage_daily_dims" ? "day" : "hour";
      const when = table === "usage_daily_dims" ? "2026-11-20" : "2026-11-20T10:00:00Z";
      await q(
        `INSERT INTO ${table} (${at}, kind, dim, value, requests, cost)
         SELECT $1, g.guessed, 'total', '', count(*), sum(g.cost) FROM unnest($2::text[], $3::numeric[]) AS g(guessed, cost) GROUP BY g.guessed`,
        [when, EVENTS.map((e) => e.guessed), EVENTS.map((e) => e.cost)],
      );
    }
    cpSync(path.join(realMigrations, kindMigration), path.join(dir, kindMigration), { recursive: true });
    expect(await applyMigrations(db, { migrationsDir: dir })).toEqual([kindMigration]);
  }, 120_000);

  afterAll(async () => {
    await cleanup?.();
    removeTempDir(dir);
  });

  it("gives each event and roll-up row the kind of its model, or the old guess for a model the catalogue lost", async () => {
    const expected = EVENTS.map((e) => ({ model_id: e.model, kind: e.kind }));
    expect(await q("SELECT model_id, kind FROM usage_events ORDER BY id")).toEqual(expected);
    expect(await q("SELECT model_id, kind FROM usage_daily ORDER BY cost")).toEqual(expected);
    expect(await q("SELECT model_id, kind FROM usage_hourly ORDER BY cost")).toEqual(expected);
  });

  it("rebuilds the per-dimension roll-ups by the recorded kind", async () => {
    for (const table of ["usage_daily_dims", "usage_hourly_dims"]) {
      expect(await q(`SELECT kind, requests, cost::text FROM ${table} WHERE dim = 'total' ORDER BY kind`), table).toEqual([
        { kind: "embedding", requests: 2, cost: "0.400000000000" },
        { kind: "llm", requests: 2, cost: "0.600000000000" },
      ]);
      const endpoints = await q<{ kind: string; value: string }>(`SELECT kind, value FROM ${table} WHERE dim = 'endpoint'`);
      expect(Object.fromEntries(endpoints.map((r) => [r.value, r.kind]))).toEqual(
        Object.fromEntries(EVENTS.map((e) => [e.endpoint, e.kind])),
      );
    }
  });

  it("keys the roll-ups by kind, and refuses an event without one", async () => {
    const pk = await q<{ columns: string }>(
      `SELECT string_agg(a.attname, ',' ORDER BY k.ord) AS columns FROM pg_constraint c
       CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
       WHERE c.conname = 'usage_daily_pkey' GROUP BY c.conname`,
    );
    expect(pk[0]?.columns).toBe("day,user_id,api_key_id,model_id,provider,endpoint,status,kind");
    await expect(
      q(
        `INSERT INTO usage_events (id, created_at, endpoint, model_id, provider, status, latency_ms) VALUES ('e5', now(), '/x', 'gpt-4', 'openai', 'success', 1)`,
      ),
    ).rejects.toThrow(/kind/);
  });
});
