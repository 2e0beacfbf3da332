// The worker of bench/usage.ts: one process per scratch database, with the service's modules
// pointed at it (DATABASE_URL is set by the parent before this module loads). Roles:
//   --role writer --events N   stores N events through the usage writer and reports the rate;
//   --role stats --size N      fills its database with N synthetic events and their roll-ups, then
//                              answers the parent's "time variant i" and "recent pages" messages,
//                              so that the parent can interleave the sizes' timings.
import { parseArgs } from "node:util";
import pino from "pino";
import { fmt, percentile } from "./lib.ts";

const { values } = parseArgs({
  options: {
    role: { type: "string" },
    events: { type: "string", default: "100000" },
    size: { type: "string", default: "10000" },
    runs: { type: "string", default: "15" },
  },
});
const runs = Number(values.runs);

const { getDatabase, closeDb } = await import("../server/db/index.ts");
const { UsageWriter } = await import("../server/features/usage/usage-writer.ts");
const { rollupCtes } = await import("../server/features/usage/usage-rollups.ts");
const { usageStats } = await import("../server/features/usage/usage-stats.ts");
const { recentRequests } = await import("../server/features/usage/usage-recent.ts");
const { testUsageEvent } = await import("../tests/support/usage-events.ts");
const { addDays } = await import("../server/features/usage/time-zones.ts");
type Identity = Parameters<typeof usageStats>[0];

const db = await getDatabase();
const q = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => db.rawQuery<T>(sql, params);

/** Messages between the parent and a worker. */
export type ToWorker = { cmd: "time"; variant: number } | { cmd: "recent" } | { cmd: "exit" };
export type FromWorker =
  | { type: "written"; line: string }
  | { type: "ready"; line: string; start: string; end: string; variants: string[]; eventsInRange: number }
  | { type: "timed"; ms: number; requests: number }
  | { type: "recent"; lists: (RecentTimes & { name: string })[] }
  | { type: "failed"; error: string };
type RecentTimes = { first: number; deep: number };

const send = (m: FromWorker) => new Promise<void>((resolve) => process.send!(m, () => resolve()));

const MODELS = [
  { id: "gpt-4o-mini", provider: "openai", input: "0.15", output: "0.6", endpoint: "/v1/llm/generate", kind: "llm" as const },
  { id: "gpt-4o", provider: "openai", input: "2.5", output: "10", endpoint: "/v1/llm/generate", kind: "llm" as const },
  { id: "gpt-4.1", provider: "openai", input: "2", output: "8", endpoint: "/v1/chat/completions", kind: "llm" as const },
  { id: "o3-mini", provider: "openai", input: "1.1", output: "4.4", endpoint: "/v1/chat/completions", kind: "llm" as const },
  { id: "claude-3-5-sonnet-20241022", provider: "anthropic", input: "3", output: "15", endpoint: "/v1/llm/generate", kind: "llm" as const },
  { id: "claude-3-5-haiku-20241022", provider: "anthropic", input: "0.8", output: "4", endpoint: "/v1/llm/generate", kind: "llm" as const },
  { id: "claude-sonnet-4-5-20250929", provider: "anthropic", input: "3", output: "15", endpoint: "/v1/messages", kind: "llm" as const },
  {
    id: "text-embedding-3-small",
    provider: "openai",
    input: "0.02",
    output: "0",
    endpoint: "/v1/llm/generate-embeddings",
    kind: "embedding" as const,
  },
];
const KEYS = Array.from({ length: 12 }, (_, i) => ({ key: `bench-key-${i}`, user: i < 10 ? `bench-user-${i % 5}` : null }));
// Attribution (features/usage/attribution.ts), which multiplies the full roll-ups' rows: each event
// one of these sets of tags (distinct and sorted, as the service stores them; a third have none)
// and, for two thirds, one of END_USERS end users.
const TAG_SETS = [
  [],
  [],
  ["search"],
  ["chat"],
  ["beta", "search"],
  ["batch", "eval"],
  ["chat", "support"],
  ["beta", "chat", "search"],
  [],
  ["chat"],
];
const END_USERS = 20;

// ---------------------------------------------------------------------------------------------
// (a) writer throughput

async function writerThroughput(total: number): Promise<string> {
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
    writer.record(
      testUsageEvent({
        at: new Date(now - (i % 3600) * 1000),
        endpoint: m.endpoint,
        kind: m.kind,
        modelId: m.id,
        provider: m.provider,
        apiKeyId: k.key,
        userId: k.user,
        status: i % 33 === 0 ? "error" : "success",
        stream: i % 2 === 0,
        usage: {
          inputTokens: 200 + (i % 900),
          outputTokens: m.output === "0" ? 0 : 50 + (i % 400),
          cachedInputTokens: i % 5 === 0 ? 128 : 0,
        },
        price: { inputPerMTok: m.input, outputPerMTok: m.output },
        latencyMs: 100 + ((i * 37) % 5000),
        attribution: {
          tags: TAG_SETS[i % TAG_SETS.length]!,
          endUser: i % 3 === 0 ? null : `cust-${i % END_USERS}`,
          session: i % 2 === 0 ? `session-${i % 500}` : null,
          metadata: i % 4 === 0 ? { feature: "bench", run: i % 10 } : null,
        },
      }),
    );
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  // Every event written (the final flush may take longer than stop()'s deadline, past which the rest would be spooled).
  await writer.flush();
  await writer.stop();
  const seconds = (performance.now() - started) / 1000;
  const stats = writer.getStats();
  const stored = Number((await q<{ n: string }>("SELECT count(*)::text AS n FROM usage_events"))[0]!.n);
  statementMs.sort((a, b) => a - b);
  const rate = stored / seconds;
  return (
    `(a) writer: ${stored.toLocaleString("en-US")} events stored in ${fmt(seconds, 2)} s = ${Math.round(rate).toLocaleString("en-US")} events/s ` +
    `(${statementMs.length} statements of up to 2,000 events: p50 ${fmt(percentile(statementMs, 50), 0)} ms, p95 ${fmt(percentile(statementMs, 95), 0)} ms; failed flushes ${stats.failedFlushes}) ` +
    `— target ≥ 10,000/s: ${rate >= 10_000 ? "met" : "NOT met"}`
  );
}

// ---------------------------------------------------------------------------------------------
// (b) statistics

const today = new Date().toISOString().slice(0, 10);
const start = addDays(today, -89);

const MODEL_VALUES = MODELS.map(
  (m, i) => `(${i}, '${m.id}', '${m.provider}', ${m.input}::numeric, ${m.output}::numeric, '${m.endpoint}', '${m.kind}')`,
).join(", ");
const TAG_VALUES = TAG_SETS.map((t, i) => `(${i}, '{${t.join(",")}}'::text[])`).join(", ");
const KEY_VALUES = KEYS.map((k, i) => `(${i}, '${k.key}', ${k.user ? `'${k.user}'` : "NULL"})`).join(", ");

/** Inserts `count` synthetic events, spread over the 90 days up to now, a million per statement. */
async function generateEvents(count: number): Promise<void> {
  const chunk = 1_000_000;
  for (let a = 0; a < count; a += chunk) {
    const b = Math.min(count, a + chunk) - 1;
    await q(
      `INSERT INTO usage_events (id, created_at, endpoint, kind, model_id, provider, api_key_id, user_id, status, error_code, stream,
         input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, input_cost, output_cost, total_cost, latency_ms, ttft_ms,
         tags, end_user, session_id)
       SELECT 'e' || g.n, $1::timestamptz - g.age, m.endpoint, m.kind, m.id, m.provider, k.key, k.user_id, g.status,
         CASE WHEN g.status = 'error' THEN 'provider_error' END, g.stream,
         g.input, g.output, 0, 0,
         g.input * m.pin / 1000000, g.output * m.pout / 1000000, (g.input * m.pin + g.output * m.pout) / 1000000,
         g.latency, CASE WHEN g.stream THEN g.latency / 4 END,
         t.tags, CASE WHEN g.eu < ${END_USERS} THEN 'cust-' || g.eu END, CASE WHEN g.stream THEN 'session-' || (g.n % 500) END
       FROM (
         SELECT n, floor(random() * 7776000)::int * interval '1 second' AS age, floor(random() * 8)::int AS mi, floor(random() * 12)::int AS ki,
           CASE WHEN random() < 0.03 THEN 'error' ELSE 'success' END AS status, random() < 0.5 AS stream,
           (50 + random() * 2000)::int AS input, (random() * 800)::int AS output, (100 + exp(random() * 8))::int AS latency,
           floor(random() * ${TAG_SETS.length})::int AS ti, floor(random() * ${END_USERS * 1.5})::int AS eu
         FROM generate_series($2::int, $3::int) AS n
       ) g
       JOIN (VALUES ${TAG_VALUES}) AS t(i, tags) ON t.i = g.ti
       JOIN (VALUES ${MODEL_VALUES}) AS m(i, id, provider, pin, pout, endpoint, kind) ON m.i = g.mi
       JOIN (VALUES ${KEY_VALUES}) AS k(i, key, user_id) ON k.i = g.ki`,
      [new Date().toISOString(), a, b],
    );
  }
}

async function buildRollups(): Promise<void> {
  for (let d = addDays(start, -1); d <= today; d = addDays(d, 1)) {
    await q(
      `WITH ${rollupCtes("(SELECT * FROM usage_events WHERE created_at >= $1::timestamptz AND created_at < $2::timestamptz) AS day_events")} SELECT 1`,
      [`${d}T00:00:00Z`, `${addDays(d, 1)}T00:00:00Z`],
    );
  }
  // The state autovacuum keeps a live database in (fresh planner statistics, visibility map), and
  // the millions of new rows' pages written out: without this the timings ran while the
  // checkpointer flushed gigabytes, and the 10-million figures doubled.
  await q(
    "VACUUM ANALYZE usage_events, usage_daily, usage_hourly, usage_daily_dims, usage_hourly_dims, usage_daily_attr, usage_hourly_attr, usage_daily_scoped, usage_hourly_scoped",
  );
  await q("CHECKPOINT").catch(() => undefined); // needs a superuser or pg_checkpoint; without, the checkpointer catches up on its own
}

async function count(table: string): Promise<number> {
  return Number((await q<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`))[0]!.n);
}

const ADMIN = { kind: "apiKey", apiKeyId: "bench-admin", userId: null, role: "admin", tier: "premium", scopes: [] } as unknown as Identity;
const KEYLESS = {
  kind: "apiKey",
  apiKeyId: "bench-key-11",
  userId: null,
  role: "user",
  tier: "premium",
  scopes: [],
} as unknown as Identity;
const USER = {
  kind: "apiKey",
  apiKeyId: "bench-key-1",
  userId: "bench-user-1",
  role: "user",
  tier: "premium",
  scopes: [],
} as unknown as Identity;

type Variant = { name: string; who: Identity; query: Parameters<typeof usageStats>[1]; opts?: Parameters<typeof usageStats>[2] };
const VARIANTS: Variant[] = [
  { name: "all usage, UTC (the dashboard's default; REST /v1/llm/usage)", who: ADMIN, query: { start, end: today } },
  { name: "all usage, UTC, with the previous 90 days (dashboard cards)", who: ADMIN, query: { start, end: today, compare: true } },
  { name: "all usage, Europe/Berlin", who: ADMIN, query: { start, end: today, tz: "Europe/Berlin" } },
  { name: "all usage, America/New_York", who: ADMIN, query: { start, end: today, tz: "America/New_York" } },
  { name: "one model (admin filter), UTC", who: ADMIN, query: { start, end: today, model: "gpt-4o" } },
  { name: "one user's own usage, UTC", who: USER, query: { start, end: today } },
  { name: "one user's own usage, America/New_York", who: USER, query: { start, end: today, tz: "America/New_York" } },
  { name: "one tag (admin filter), UTC", who: ADMIN, query: { start, end: today, tag: "search" } },
  { name: "one end user (admin filter), UTC", who: ADMIN, query: { start, end: today, endUser: "cust-3" } },
  { name: "one user's own usage, one tag, UTC", who: USER, query: { start, end: today, tag: "chat" } },
  {
    name: "one key's own usage (a key without a user), America/New_York",
    who: KEYLESS,
    query: { start, end: today, tz: "America/New_York" },
  },
  {
    name: "one model with its tag and end-user breakdowns asked for (attribution=true), UTC",
    who: ADMIN,
    query: { start, end: today, model: "gpt-4o", attribution: true },
  },
];

// The filtered views again as the service read them before the scoped roll-ups (usage_daily and
// usage_*_attr, the tag and end-user breakdowns always): the same-run comparison of the change.
const SCOPED_VIEWS = [4, 5, 6, 7, 8, 10];
VARIANTS.push(
  ...SCOPED_VIEWS.map((i) => {
    const v = VARIANTS[i]!;
    return {
      ...v,
      name: `${v.name} [before: no scoped roll-ups, attribution always]`,
      query: { ...v.query, attribution: true },
      opts: { scoped: false },
    };
  }),
);

/** The requests lists timed (GET /v1/llm/requests): who asks and with which filters. */
const LISTS: { name: string; who: Identity; query: Parameters<typeof recentRequests>[1] }[] = [
  { name: "everyone's", who: ADMIN, query: {} },
  { name: "one user's own", who: USER, query: {} },
  { name: "one tag and one end user (admin)", who: ADMIN, query: { tag: "search", endUser: "cust-3" } },
  { name: "cost from $0.01 and latency up to 500 ms (admin)", who: ADMIN, query: { minCost: "0.01", maxLatencyMs: 500 } },
];

/** The recent-requests view: the first page, and the page after 50 pages followed by cursor. */
async function recentPages(who: Identity, query: Parameters<typeof recentRequests>[1] = {}): Promise<RecentTimes> {
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

async function runStats(size: number): Promise<void> {
  const t = performance.now();
  await generateEvents(size);
  const tg = performance.now();
  await buildRollups();
  const tr = performance.now();
  const rows = `${await count("usage_daily_dims")} / ${await count("usage_daily")} / ${await count("usage_hourly_dims")} / ${await count("usage_hourly")}; attribution daily / hourly = ${await count("usage_daily_attr")} / ${await count("usage_hourly_attr")}; scoped daily / hourly = ${await count("usage_daily_scoped")} / ${await count("usage_hourly_scoped")}`;
  const eventsInRange = Number(
    (await q<{ n: string }>("SELECT count(*)::text AS n FROM usage_events WHERE created_at >= $1::timestamptz", [`${start}T00:00:00Z`]))[0]!
      .n,
  );
  await send({
    type: "ready",
    line: `  ${size.toLocaleString("en-US")} events: generated in ${fmt((tg - t) / 1000, 1)} s, roll-ups built and the tables vacuumed in ${fmt((tr - tg) / 1000, 1)} s (rows: daily dims / daily / hourly dims / hourly = ${rows})`,
    start,
    end: today,
    variants: VARIANTS.map((v) => v.name),
    eventsInRange,
  });
  for await (const m of messages()) {
    if (m.cmd === "exit") return;
    if (m.cmd === "time") {
      const v = VARIANTS[m.variant]!;
      const started = performance.now();
      const s = await usageStats(v.who as never, v.query, v.opts);
      await send({ type: "timed", ms: performance.now() - started, requests: s.totals.requests });
    } else if (m.cmd === "recent") {
      const lists: (RecentTimes & { name: string })[] = [];
      for (const l of LISTS) lists.push({ name: l.name, ...(await recentPages(l.who, l.query)) });
      await send({ type: "recent", lists });
    }
  }
}

/** The parent's messages, one at a time, until it disconnects. */
async function* messages(): AsyncGenerator<ToWorker> {
  const queue: ToWorker[] = [];
  let wake: (() => void) | undefined;
  let open = true;
  process.on("message", (m: ToWorker) => {
    queue.push(m);
    wake?.();
  });
  process.on("disconnect", () => {
    open = false;
    wake?.();
  });
  while (open || queue.length) {
    if (!queue.length) await new Promise<void>((r) => (wake = r));
    wake = undefined;
    const m = queue.shift();
    if (m) yield m;
  }
}

try {
  if (values.role === "writer") await send({ type: "written", line: await writerThroughput(Number(values.events)) });
  else if (values.role === "stats") await runStats(Number(values.size));
  else throw new Error(`--role writer|stats, not ${values.role}`);
} catch (err) {
  await send({ type: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
} finally {
  await closeDb();
  process.disconnect?.();
}
