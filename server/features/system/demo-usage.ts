import { ZERO_USAGE } from "../../providers/types.ts";
import "server-only";
// Demo data: days of realistic usage for one user, written through the same batched writer as
// real calls (so the roll-ups are exactly what real traffic would produce), so that a new
// installation shows a full dashboard. Three keys of the user ("demo: web app", "demo: batch
// jobs", "demo: support bot") are created if missing; their secrets are never shown, so nobody can
// call with them (revoke them on the keys page to tidy up).
//
// The traffic: a weekday pattern (weekends at about a third), business hours with nightly batch
// jobs, slow growth, day-to-day noise, one incident day with many errors; several OpenAI and
// Anthropic models, streams with a time to first token, embeddings, cached prompt tokens, reasoning
// tokens, answers from the response and embedding caches (status cached, with the cost they saved),
// and costs at the catalogue's price of each moment. Event ids derive from the user, the
// day and a counter, and inserts are idempotent: running it again adds nothing for days it wrote.
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { getLogger } from "../../kernel/logger.ts";
import { CLI_ACTOR } from "../../access/identity.ts";
import { createApiKey, listApiKeys } from "../accounts/index.ts";
import { pricingFor, syncCatalogue } from "../catalogue/index.ts";
import { costOf } from "../catalogue/index.ts";
import { addDays } from "../usage/index.ts";
import { UsageWriter, type UsageEventInput } from "../usage/index.ts";
import { type UserRecord } from "../../access/user-lookup.ts";
import { findUserByEmail, listUsers } from "../accounts/index.ts";

export type DemoOptions = {
  /** Days back from today, today included. */
  days?: number;
  /** The account the usage belongs to; the oldest admin by default. */
  userEmail?: string;
  /** Calls on an average weekday at the start of the range (it grows about 40 % over 90 days). */
  perDay?: number;
  now?: Date;
};

export type DemoReport = { user: string; days: number; events: number; inserted: number; keys: string[]; from: string; to: string };

type Profile = {
  key: string;
  share: number;
  /** [model, provider, weight, endpoint] */
  models: [string, string, number, string][];
  streamShare: number;
  /** Hours (UTC) the key is busy, as weights per hour. */
  hours: number[];
  inputMedian: number;
  outputMedian: number;
};

const OFFICE = [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 10, 10, 10, 9, 8, 6, 4, 3, 2, 2, 1];
const NIGHTLY = [10, 12, 12, 10, 6, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 4, 8];

const PROFILES: Profile[] = [
  {
    key: "demo: web app",
    share: 0.5,
    models: [
      ["gpt-4o-mini", "openai", 45, "/v1/llm/generate"],
      ["gpt-4o", "openai", 20, "/v1/llm/generate"],
      ["gpt-4.1", "openai", 10, "/v1/chat/completions"],
      ["o3-mini", "openai", 7, "/v1/chat/completions"],
      ["claude-3-5-sonnet-20241022", "anthropic", 18, "/v1/llm/generate"],
    ],
    streamShare: 0.65,
    hours: OFFICE,
    inputMedian: 700,
    outputMedian: 260,
  },
  {
    key: "demo: batch jobs",
    share: 0.3,
    models: [
      ["text-embedding-3-small", "openai", 60, "/v1/llm/generate-embeddings"],
      ["text-embedding-3-large", "openai", 10, "/v1/embeddings"],
      ["gpt-4o-mini", "openai", 30, "/v1/llm/generate"],
    ],
    streamShare: 0,
    hours: NIGHTLY,
    inputMedian: 1200,
    outputMedian: 180,
  },
  {
    key: "demo: support bot",
    share: 0.2,
    models: [
      ["claude-3-5-haiku-20241022", "anthropic", 60, "/v1/llm/generate"],
      ["claude-3-5-sonnet-20241022", "anthropic", 40, "/v1/llm/generate"],
    ],
    streamShare: 0.8,
    hours: OFFICE,
    inputMedian: 1800,
    outputMedian: 220,
  },
];

/** Milliseconds per output token and time to first token (ms), per model. */
const SPEED: Record<string, { perToken: number; ttft: number }> = {
  "gpt-4o-mini": { perToken: 7, ttft: 350 },
  "gpt-4o": { perToken: 14, ttft: 450 },
  "gpt-4.1": { perToken: 13, ttft: 500 },
  "o3-mini": { perToken: 9, ttft: 2200 },
  "claude-3-5-sonnet-20241022": { perToken: 16, ttft: 600 },
  "claude-3-5-haiku-20241022": { perToken: 8, ttft: 400 },
};

/** A small seeded generator (mulberry32), so that a day's events are the same on every run. */
function rng(seedText: string): () => number {
  let h = 1779033703 ^ seedText.length;
  for (let i = 0; i < seedText.length; i++) h = Math.imul(h ^ seedText.charCodeAt(i), 3432918353);
  let a = (h << 13) | (h >>> 19);
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(random: () => number, items: T[], weight: (t: T) => number): T {
  const total = items.reduce((a, t) => a + weight(t), 0);
  let x = random() * total;
  for (const t of items) {
    x -= weight(t);
    if (x <= 0) return t;
  }
  return items[items.length - 1]!;
}

/** Log-normal around a median: most values near it, a long tail above. */
function logNormal(random: () => number, median: number, sigma: number): number {
  const u = Math.max(1e-9, random());
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return median * Math.exp(sigma * z);
}

/** The events of one UTC day for one user's keys (deterministic). */
export function demoDay(
  day: string,
  userId: string,
  keyIds: Record<string, string>,
  options: { perDay: number; dayIndex: number; days: number; until: number },
): UsageEventInput[] {
  const random = rng(`${userId}:${day}`);
  // Its own sequence, so that the cached answers leave the other events as they were.
  const cacheRandom = rng(`${userId}:${day}:response-cache`);
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  const weekFactor = weekday === 0 ? 0.28 : weekday === 6 ? 0.34 : weekday === 1 ? 1.08 : 1;
  const growth = 1 + (0.4 * options.dayIndex) / Math.max(1, options.days);
  const count = Math.round(options.perDay * weekFactor * growth * (0.85 + random() * 0.3));
  // One bad day, three weeks ago: an upstream incident at Anthropic.
  const incident = options.days - options.dayIndex === 22;
  const events: UsageEventInput[] = [];
  for (let n = 0; n < count; n++) {
    const profile = pick(random, PROFILES, (p) => p.share);
    const [modelId, provider, , endpoint] = pick(random, profile.models, (m) => m[2]);
    const hour = pick(random, [...profile.hours.keys()], (h) => profile.hours[h]!);
    const createdAt = new Date(Date.parse(`${day}T00:00:00Z`) + hour * 3_600_000 + Math.floor(random() * 3_600_000));
    if (createdAt.getTime() > options.until) continue;
    const embedding = endpoint.includes("embedding");
    const stream = !embedding && random() < profile.streamShare;
    const errorRate = incident && provider === "anthropic" ? 0.35 : 0.015;
    const failed = random() < errorRate;
    const inputTokens = Math.max(5, Math.round(logNormal(random, embedding ? 400 : profile.inputMedian, 0.7)));
    let outputTokens = embedding ? 0 : Math.max(1, Math.round(logNormal(random, profile.outputMedian, 0.6)));
    let reasoningTokens = modelId === "o3-mini" ? Math.round(outputTokens * (0.5 + random())) : 0;
    outputTokens += reasoningTokens;
    // Prompt caching: a long prompt seen recently comes back partly from the provider's cache.
    const cacheable = !embedding && inputTokens >= 1024 && modelId !== "o3-mini" && random() < 0.45;
    let cachedInputTokens = cacheable ? Math.floor((inputTokens * (0.4 + random() * 0.5)) / 128) * 128 : 0;
    const speed = SPEED[modelId] ?? { perToken: 0, ttft: 0 };
    let latencyMs = embedding
      ? logNormal(random, 120 + inputTokens / 40, 0.35)
      : logNormal(random, speed.ttft, 0.35) + outputTokens * speed.perToken * (0.8 + random() * 0.4);
    let ttftMs: number | null = stream ? Math.min(latencyMs, logNormal(random, speed.ttft, 0.3)) : null;
    let errorCode: string | null = null;
    let input = inputTokens;
    if (failed) {
      errorCode = pick(random, ["provider_error", "rate_limited", "timeout", "unavailable"], (c) =>
        c === "provider_error" ? 4 : c === "timeout" ? 1 : 2,
      );
      // Failed before any output: nothing was billed.
      input = 0;
      outputTokens = 0;
      reasoningTokens = 0;
      cachedInputTokens = 0;
      ttftMs = null;
      latencyMs = errorCode === "timeout" ? 30_000 + random() * 2_000 : logNormal(random, 250, 0.5);
    }
    const usage = { inputTokens: input, outputTokens, cachedInputTokens, reasoningTokens };
    // Some repeated temperature-0 requests and embeddings are answered from the response or
    // embedding cache: no tokens billed, the cost they would have had saved.
    const call = {
      id: `demo-${userId}-${day}-${n}`,
      createdAt,
      requestId: null,
      endpoint,
      kind: embedding ? ("embedding" as const) : ("llm" as const),
      modelId,
      provider,
      apiKeyId: keyIds[profile.key] ?? null,
      userId,
    };
    if (!failed && cacheRandom() < (embedding ? 0.2 : 0.06)) {
      const none = { ...ZERO_USAGE };
      events.push({
        ...call,
        status: "cached",
        errorCode: null,
        stream,
        ...none,
        inputCost: 0n,
        outputCost: 0n,
        totalCost: 0n,
        savedCost: costOf(pricingFor(modelId, createdAt), usage).totalCost,
        latencyMs: 1,
        ttftMs: stream ? 1 : null,
      });
      continue;
    }
    events.push({
      ...call,
      status: failed ? "error" : "success",
      errorCode,
      stream,
      ...usage,
      ...costOf(pricingFor(modelId, createdAt), usage),
      latencyMs: Math.round(latencyMs),
      ttftMs: ttftMs === null ? null : Math.round(ttftMs),
    });
  }
  return events;
}

async function demoUser(email: string | undefined): Promise<UserRecord> {
  if (email) {
    const user = await findUserByEmail(email);
    if (!user)
      throw new AppError(
        "not_found",
        `No user with the email ${email}; create one first: npm run cli -- users create --email ${email} --password …`,
      );
    return user;
  }
  const admin = (await listUsers()).find((u) => u.role === "admin" && u.email);
  if (!admin)
    throw new AppError(
      "not_found",
      "No admin account yet: create one (npm run cli -- users create --email E --password P --admin) or name one with --user",
    );
  return admin;
}

/** The user's demo keys by name, created when missing. */
async function demoKeys(user: UserRecord): Promise<Record<string, string>> {
  const existing = await listApiKeys(CLI_ACTOR, { userEmail: user.email! });
  const ids: Record<string, string> = {};
  for (const p of PROFILES) {
    const found = existing.find((k) => k.name === p.key);
    ids[p.key] = found ? found.id : (await createApiKey(CLI_ACTOR, { name: p.key, userEmail: user.email! })).apiKey.id;
  }
  return ids;
}

export async function seedDemoUsage(options: DemoOptions = {}): Promise<DemoReport> {
  const days = options.days ?? 90;
  const perDay = options.perDay ?? 300;
  const now = options.now ?? new Date();
  const user = await demoUser(options.userEmail);
  if (!user.email) throw new AppError("invalid_request", "The demo user needs an email (a dashboard account)");
  const keyIds = await demoKeys(user);
  await syncCatalogue({ watch: false });

  const db = await getDatabase();
  let inserted = 0;
  const writer = new UsageWriter({
    rawQuery: async () => async (sql, params) => {
      const rows = await db.rawQuery<{ inserted: number }>(sql, params);
      inserted += Number(rows[0]?.inserted ?? 0);
      return rows;
    },
    log: getLogger().child({ component: "seed-demo" }),
    flushIntervalMs: 60_000,
  });
  const today = now.toISOString().slice(0, 10);
  const first = addDays(today, -(days - 1));
  let events = 0;
  const lastUse = new Map<string, Date>();
  // Days already written (before today, which grows until midnight) are not generated again: a repeated run costs one query.
  const prefix = `demo-${user.id}-`;
  const written = new Set(
    (
      await db.rawQuery<{ day: string }>(
        `SELECT DISTINCT substring(id from $3) AS day FROM usage_events WHERE created_at >= $1::timestamptz AND id LIKE $2`,
        [
          `${addDays(first, -1)}T00:00:00Z`,
          `${prefix.replace(/[%_\\]/g, "\\$&")}%`,
          `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(\\d{4}-\\d{2}-\\d{2})-`,
        ],
      )
    ).map((r) => r.day),
  );
  for (let i = 0; i < days; i++) {
    const day = addDays(first, i);
    if (day !== today && written.has(day)) continue;
    for (const e of demoDay(day, user.id, keyIds, { perDay, dayIndex: i, days, until: now.getTime() })) {
      writer.record(e);
      events++;
      const last = e.apiKeyId ? lastUse.get(e.apiKeyId) : undefined;
      if (e.apiKeyId && (!last || e.createdAt > last)) lastUse.set(e.apiKeyId, e.createdAt);
    }
  }
  await writer.flush();
  // A batch refused during the run stays queued (and would be retried by a running server's writer).
  if (writer.pending().length > 0) throw new Error(`${writer.pending().length} demo events could not be written; see the log`);
  // The demo keys were "used" when their last demo call was made: the keys page's "last used" says so (a later real use wins).
  for (const [id, at] of lastUse)
    await db.rawQuery(
      `UPDATE api_keys SET last_used_at = GREATEST(coalesce(last_used_at, $2::timestamptz), $2::timestamptz) WHERE id = $1`,
      [id, at.toISOString()],
    );
  return { user: user.email, days, events, inserted, keys: Object.keys(keyIds), from: first, to: today };
}
