// bench/usage: (a) how many usage events per second the batched writer stores in PostgreSQL, roll-ups
// included; (b) how long the 90-day usage statistics take at 10 thousand, 1 million and 10 million
// events, with the ratio to the 10-thousand time. Each run uses a fresh scratch database on the
// server named by --database-url or TEST_DATABASE_URL (created here, dropped at the end).
//
//   npm run bench:usage [-- --sizes 10000,1000000,10000000 --writer-events 100000 --runs 15 --keep]
//   (--skip-writer or --skip-stats runs one half)
//
// Events for (b) are generated in the database (INSERT ... SELECT generate_series) over the last 90
// days, 12 keys of 5 users (2 keys without one), 8 models of 2 providers, chat and embedding
// endpoints, 3 % errors; the roll-ups are then built from them, a day at a time, by the same SQL the
// writer runs (usage-rollups.ts). Targets: (a) ≥ 10,000 events/s; (b) ≤ 100 ms at 10 million
// events and within 2× of the 10-thousand time.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import pino from "pino";
import { fmt, percentile } from "./lib.ts";

const { values } = parseArgs({
  options: {
    "database-url": { type: "string" },
    sizes: { type: "string", default: "10000,1000000,10000000" },
    "writer-events": { type: "string", default: "100000" },
    runs: { type: "string", default: "15" },
    keep: { type: "boolean", default: false },
    "skip-writer": { type: "boolean", default: false },
    "skip-stats": { type: "boolean", default: false },
  },
});
const serverUrl = values["database-url"] ?? process.env.TEST_DATABASE_URL;
if (!serverUrl) {
  console.error("Set TEST_DATABASE_URL or pass --database-url postgresql://user@host:5432/postgres (a server where a scratch database may be created)");
  process.exit(2);
}
const sizes = values.sizes.split(",").map((s) => Number(s.trim()));
if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error("--sizes: whole numbers, e.g. 10000,1000000");
const runs = Number(values.runs);

// A scratch database, and the service pointed at it before any server module loads.
const scratch = `ms_bench_usage_${randomBytes(4).toString("hex")}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`CREATE DATABASE "${scratch}"`);
const url = new URL(serverUrl);
url.pathname = `/${scratch}`;
const dataDir = mkdtempSync(path.join(tmpdir(), "bench-usage-"));
Object.assign(process.env, { DATABASE_URL: url.toString(), DATA_DIR: dataDir, LOG_LEVEL: "warn" });

const { getDatabase, closeDb } = await import("../server/db/index.ts");
const { UsageWriter } = await import("../server/services/usage-writer.ts");
const { rollupCtes } = await import("../server/services/usage-rollups.ts");
const { usageStats } = await import("../server/services/usage-stats.ts");
const { recentRequests } = await import("../server/services/usage-recent.ts");
const { costOf } = await import("../server/services/pricing.ts");
const { addDays } = await import("../server/services/time-zones.ts");
type Identity = Parameters<typeof usageStats>[0];

const db = await getDatabase();
const q = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => db.rawQuery<T>(sql, params);
const version = (await q<{ v: string }>("SELECT current_setting('server_version') AS v"))[0]!.v;
console.log(`bench/usage on PostgreSQL ${version} (scratch database ${scratch}), ${new Date().toISOString()}`);

const MODELS = [
  { id: "gpt-4o-mini", provider: "openai", input: "0.15", output: "0.6", endpoint: "/v1/llm/generate" },
  { id: "gpt-4o", provider: "openai", input: "2.5", output: "10", endpoint: "/v1/llm/generate" },
  { id: "gpt-4.1", provider: "openai", input: "2", output: "8", endpoint: "/v1/chat/completions" },
  { id: "o3-mini", provider: "openai", input: "1.1", output: "4.4", endpoint: "/v1/chat/completions" },
  { id: "claude-3-5-sonnet-20241022", provider: "anthropic", input: "3", output: "15", endpoint: "/v1/llm/generate" },
  { id: "claude-3-5-haiku-20241022", provider: "anthropic", input: "0.8", output: "4", endpoint: "/v1/llm/generate" },
  { id: "claude-sonnet-4-5-20250929", provider: "anthropic", input: "3", output: "15", endpoint: "/v1/messages" },
  { id: "text-embedding-3-small", provider: "openai", input: "0.02", output: "0", endpoint: "/v1/llm/generate-embeddings" },
];
const KEYS = Array.from({ length: 12 }, (_, i) => ({ key: `bench-key-${i}`, user: i < 10 ? `bench-user-${i % 5}` : null }));

// ---------------------------------------------------------------------------------------------
// (a) writer throughput

async function writerThroughput(total: number): Promise<void> {
  const statementMs: number[] = [];
  const writer = new UsageWriter({
    rawQuery: async () => async (sql, params) => {
      const t = performance.now();
      const rows = await q(sql, params);
      statementMs.push(performance.now() - t);
      return rows;
    },
    log: pino({ level: "silent" }),
    flushIntervalMs: 1000,
  });
  writer.start();
  const now = Date.now();
  const started = performance.now();
  // A producer that never waits for the database, as requests do; the writer flushes every
  // second and whenever 2,000 events are queued.
  for (let i = 0; i < total; i++) {
    const m = MODELS[i % MODELS.length]!;
    const k = KEYS[(i * 7) % KEYS.length]!;
    const usage = { inputTokens: 200 + (i % 900), outputTokens: m.output === "0" ? 0 : 50 + (i % 400), cachedInputTokens: i % 5 === 0 ? 128 : 0 };
    writer.record({
      createdAt: new Date(now - (i % 3600) * 1000),
      endpoint: m.endpoint,
      modelId: m.id,
      provider: m.provider,
      apiKeyId: k.key,
      userId: k.user,
      status: i % 33 === 0 ? "error" : "success",
      stream: i % 2 === 0,
      reasoningTokens: 0,
      ...usage,
      ...costOf({ inputPerMTok: m.input, outputPerMTok: m.output }, usage),
      latencyMs: 100 + ((i * 37) % 5000),
      ttftMs: null,
    });
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await writer.stop();
  const seconds = (performance.now() - started) / 1000;
  const stats = writer.getStats();
  const stored = Number((await q<{ n: string }>("SELECT count(*)::text AS n FROM usage_events"))[0]!.n);
  statementMs.sort((a, b) => a - b);
  const rate = stored / seconds;
  console.log(
    `\n(a) writer: ${stored.toLocaleString("en-US")} events stored in ${fmt(seconds, 2)} s = ${Math.round(rate).toLocaleString("en-US")} events/s ` +
      `(${statementMs.length} statements of up to 2,000 events: p50 ${fmt(percentile(statementMs, 50), 0)} ms, p95 ${fmt(percentile(statementMs, 95), 0)} ms; failed flushes ${stats.failedFlushes}) ` +
      `— target ≥ 10,000/s: ${rate >= 10_000 ? "met" : "NOT met"}`,
  );
  await q("TRUNCATE usage_events, usage_daily, usage_hourly, usage_daily_dims, usage_hourly_dims");
}

// ---------------------------------------------------------------------------------------------
// (b) statistics at growing sizes

const today = new Date().toISOString().slice(0, 10);
const start = addDays(today, -89);

const MODEL_VALUES = MODELS.map((m, i) => `(${i}, '${m.id}', '${m.provider}', ${m.input}::numeric, ${m.output}::numeric, '${m.endpoint}')`).join(", ");
const KEY_VALUES = KEYS.map((k, i) => `(${i}, '${k.key}', ${k.user ? `'${k.user}'` : "NULL"})`).join(", ");

/** Adds `count` synthetic events (ids from `from`), spread over the 90 days up to now. */
async function generateEvents(from: number, count: number): Promise<void> {
  const chunk = 1_000_000;
  for (let a = from; a < from + count; a += chunk) {
    const b = Math.min(from + count, a + chunk) - 1;
    await q(
      `INSERT INTO usage_events (id, created_at, endpoint, model_id, provider, api_key_id, user_id, status, error_code, stream,
         input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, input_cost, output_cost, total_cost, latency_ms, ttft_ms)
       SELECT 'e' || g.n, $1::timestamptz - g.age, m.endpoint, m.id, m.provider, k.key, k.user_id, g.status,
         CASE WHEN g.status = 'error' THEN 'provider_error' END, g.stream,
         g.input, g.output, 0, 0,
         g.input * m.pin / 1000000, g.output * m.pout / 1000000, (g.input * m.pin + g.output * m.pout) / 1000000,
         g.latency, CASE WHEN g.stream THEN g.latency / 4 END
       FROM (
         SELECT n, (random() * 7775999)::int * interval '1 second' AS age, (random() * 7.999)::int AS mi, (random() * 11.999)::int AS ki,
           CASE WHEN random() < 0.03 THEN 'error' ELSE 'success' END AS status, random() < 0.5 AS stream,
           (50 + random() * 2000)::int AS input, (random() * 800)::int AS output, (100 + exp(random() * 8))::int AS latency
         FROM generate_series($2::int, $3::int) AS n
       ) g
       JOIN (VALUES ${MODEL_VALUES}) AS m(i, id, provider, pin, pout, endpoint) ON m.i = g.mi
       JOIN (VALUES ${KEY_VALUES}) AS k(i, key, user_id) ON k.i = g.ki`,
      [new Date().toISOString(), a, b],
    );
  }
}

async function buildRollups(): Promise<void> {
  await q("TRUNCATE usage_daily, usage_hourly, usage_daily_dims, usage_hourly_dims");
  for (let d = addDays(start, -1); d <= today; d = addDays(d, 1)) {
    await q(`WITH ${rollupCtes("(SELECT * FROM usage_events WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz) AS day_events")} SELECT 1`, [
      `${d}T00:00:00Z`,
      `${addDays(d, 1)}T00:00:00Z`,
    ]);
  }
  // Fresh planner statistics, as autovacuum would keep them (ANALYZE samples: quick even at 10M rows).
  await q("VACUUM ANALYZE usage_daily, usage_hourly, usage_daily_dims, usage_hourly_dims");
  await q("ANALYZE usage_events");
}

async function count(table: string): Promise<number> {
  return Number((await q<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]!.n);
}

const ADMIN = { kind: "apiKey", apiKeyId: "bench-admin", userId: null, role: "admin", tier: "premium", scopes: [] } as unknown as Identity;
const USER = { kind: "apiKey", apiKeyId: "bench-key-1", userId: "bench-user-1", role: "user", tier: "premium", scopes: [] } as unknown as Identity;

type Variant = { name: string; who: Identity; query: Parameters<typeof usageStats>[1] };
const VARIANTS: Variant[] = [
  { name: "all usage, UTC (the dashboard's default; REST /v1/llm/usage)", who: ADMIN, query: { start, end: today } },
  { name: "all usage, UTC, with the previous 90 days (dashboard cards)", who: ADMIN, query: { start, end: today, compare: true } },
  { name: "all usage, Europe/Berlin", who: ADMIN, query: { start, end: today, tz: "Europe/Berlin" } },
  { name: "all usage, America/New_York", who: ADMIN, query: { start, end: today, tz: "America/New_York" } },
  { name: "one model (admin filter), UTC", who: ADMIN, query: { start, end: today, model: "gpt-4o" } },
  { name: "one user's own usage, UTC", who: USER, query: { start, end: today } },
  { name: "one user's own usage, America/New_York", who: USER, query: { start, end: today, tz: "America/New_York" } },
];

async function time(v: Variant): Promise<{ median: number; p95: number; requests: number }> {
  const ms: number[] = [];
  let requests = 0;
  for (let i = 0; i < runs + 2; i++) {
    const t = performance.now();
    const s = await usageStats(v.who as never, v.query);
    const elapsed = performance.now() - t;
    requests = s.totals.requests;
    if (i >= 2) ms.push(elapsed); // two warm-up runs
  }
  ms.sort((a, b) => a - b);
  return { median: percentile(ms, 50), p95: percentile(ms, 95), requests };
}

/** The recent-requests view: the first page, and the page after 50 pages followed by cursor. */
async function recentPages(who: Identity, query: Parameters<typeof recentRequests>[1] = {}): Promise<{ first: number; deep: number }> {
  const page = (cursor?: string) => recentRequests(who as never, { start, end: today, limit: 50, ...query, ...(cursor ? { cursor } : {}) });
  await page();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await page();
    ms.push(performance.now() - t);
  }
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) cursor = (await page(cursor)).nextCursor ?? undefined;
  const deep: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await page(cursor);
    deep.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  deep.sort((a, b) => a - b);
  return { first: percentile(ms, 50), deep: percentile(deep, 50) };
}

async function statistics(): Promise<void> {
  const results: { size: number; rows: string; times: Awaited<ReturnType<typeof time>>[] }[] = [];
  const recent: { size: number; admin: { first: number; deep: number }; user: { first: number; deep: number } }[] = [];
  let generated = 0;
  for (const size of [...sizes].sort((a, b) => a - b)) {
    const t = performance.now();
    await generateEvents(generated, size - generated);
    generated = size;
    const tg = performance.now();
    await buildRollups();
    const tr = performance.now();
    const rows = `${await count("usage_daily_dims")} / ${await count("usage_daily")} / ${await count("usage_hourly_dims")} / ${await count("usage_hourly")}`;
    console.log(`  ${size.toLocaleString("en-US")} events: generated in ${fmt((tg - t) / 1000, 1)} s, roll-ups built in ${fmt((tr - tg) / 1000, 1)} s (rows: daily dims / daily / hourly dims / hourly = ${rows})`);
    const times = [];
    for (const v of VARIANTS) times.push(await time(v));
    results.push({ size, rows, times });
    recent.push({ size, admin: await recentPages(ADMIN), user: await recentPages(USER) });
  }
  const base = results[0]!;
  console.log(`\n(b) 90-day statistics (${start} to ${today}), median of ${runs} runs after 2 warm-ups, ms (ratio to ${base.size.toLocaleString("en-US")} events):`);
  VARIANTS.forEach((v, i) => {
    const cells = results.map((r) => `${r.size.toLocaleString("en-US").padStart(11)}: ${fmt(r.times[i]!.median, 1).padStart(6)} (${fmt(r.times[i]!.median / base.times[i]!.median, 2)}x)`);
    console.log(`  ${v.name}\n    ${cells.join("   ")}`);
  });
  console.log(`\nRecent requests (50 a page, by cursor over the (created_at, id) index), median ms: page 1 / page 51`);
  for (const r of recent) {
    console.log(`  ${r.size.toLocaleString("en-US").padStart(11)} events: everyone's ${fmt(r.admin.first, 1)} / ${fmt(r.admin.deep, 1)}; one user's ${fmt(r.user.first, 1)} / ${fmt(r.user.deep, 1)}`);
  }
  const largest = results.at(-1)!;
  const main = largest.times[0]!;
  const ratio = main.median / base.times[0]!.median;
  console.log(
    `\nTargets for the default query at ${largest.size.toLocaleString("en-US")} events: ${fmt(main.median, 1)} ms (p95 ${fmt(main.p95, 1)}) ≤ 100 ms: ${main.median <= 100 ? "met" : "NOT met"}; ` +
      `${fmt(ratio, 2)}x the ${base.size.toLocaleString("en-US")}-event time ≤ 2x: ${ratio <= 2 ? "met" : "NOT met"}.`,
  );
  console.log(`(Checked: the default query counted ${main.requests.toLocaleString("en-US")} requests of ${largest.size.toLocaleString("en-US")} events.)`);
}

try {
  if (!values["skip-writer"]) await writerThroughput(Number(values["writer-events"]));
  if (!values["skip-stats"]) await statistics();
} finally {
  await closeDb();
  if (!values.keep) await admin.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
  else console.log(`Kept the database ${scratch}.`);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
}
