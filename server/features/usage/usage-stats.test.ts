// Usage statistics from the roll-ups: exact to the last decimal against hand-computed cases
// (plain, streamed, failed, cached tokens, embeddings), day boundaries in other time zones, who may
// see what, the recent-requests pages and the CSV export.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { authenticate, CLI_ACTOR, type AuthenticatedIdentity } from "../../access/auth.ts";
import { createApiKey } from "../accounts/keys.ts";
import { resetModelCatalogueForTests, syncCatalogue } from "../catalogue/models.ts";
import { LATENCY_BUCKET_BOUNDS, MAX_RELATIVE_ERROR } from "./latency-histogram.ts";
import { formatUsd, parseUsd, type Price } from "../catalogue/pricing.ts";
import { calculateCost } from "../catalogue/cost.ts";
import { usageCsv, CSV_COLUMNS } from "./usage-csv.ts";
import { recentRequests } from "./usage-recent.ts";
import { usageStats, type UsageStats } from "./usage-stats.ts";
import { recordCall, usageWriter } from "./usage.ts";
import { createUser } from "../accounts/users.ts";
import { getDb } from "../../db/index.ts";
import { getLogger } from "../../kernel/logger.ts";
import { createCaller } from "../../api/trpc-root.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-usage-stats-"));
beforeAll(() => {
  Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
});
afterAll(async () => {
  resetModelCatalogueForTests();
  await usageWriter().stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const GPT4: Price = { inputPerMTok: "30", outputPerMTok: "60" };
const GPT4O: Price = { inputPerMTok: "2.5", outputPerMTok: "10", cachedInputPerMTok: "1.25" };
const HAIKU: Price = { inputPerMTok: "0.25", outputPerMTok: "1.25" };
const EMBED: Price = { inputPerMTok: "0.02", outputPerMTok: "0" };

const usd = (pico: bigint) => formatUsd(pico);
const asKey = async (key: string) => (await authenticate(new Headers({ "x-api-key": key }))) as AuthenticatedIdentity;

describe.each(testDatabases())("usage statistics on $kind", ({ kind }) => {
  useServiceDatabase(kind);
  let admin: AuthenticatedIdentity;
  let alice: AuthenticatedIdentity;
  let bob: AuthenticatedIdentity;
  let loner: AuthenticatedIdentity;

  beforeAll(async () => {
    resetModelCatalogueForTests();
    await syncCatalogue({ watch: false });
    const tag = Math.random().toString(36).slice(2, 8);
    await createUser({ email: `alice-${tag}@example.com`, password: "alice-password" });
    await createUser({ email: `bob-${tag}@example.com`, password: "bob-password" });
    admin = await asKey((await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true })).key);
    alice = await asKey((await createApiKey(CLI_ACTOR, { name: "alice app", userEmail: `alice-${tag}@example.com` })).key);
    bob = await asKey((await createApiKey(CLI_ACTOR, { name: "bob app", userEmail: `bob-${tag}@example.com` })).key);
    loner = await asKey((await createApiKey(CLI_ACTOR, { name: "no user" })).key);

    const call = (
      identity: AuthenticatedIdentity,
      at: string,
      modelId: string,
      provider: string,
      price: Price,
      extra: Partial<Parameters<typeof recordCall>[0]>,
    ) =>
      recordCall({
        identity,
        endpoint: "/v1/llm/generate",
        kind: "llm",
        modelId,
        provider,
        price,
        usage: undefined,
        status: "success",
        stream: false,
        latencyMs: 0,
        at: new Date(at),
        ...extra,
      });
    const u = (inputTokens: number, outputTokens: number, cachedInputTokens = 0) => ({
      inputTokens,
      outputTokens,
      cachedInputTokens,
      reasoningTokens: 0,
    });
    // 1. plain: 100 × $30/M + 50 × $60/M = 0.003 + 0.003 = 0.006
    call(alice, "2026-11-10T12:00:00Z", "gpt-4", "openai", GPT4, { usage: u(100, 50), latencyMs: 120 });
    // 2. streamed with cached input: 600 × 2.5e-6 + 400 × 1.25e-6 = 0.002; 200 × 10e-6 = 0.002 → 0.004
    call(alice, "2026-11-10T23:30:00Z", "gpt-4o", "openai", GPT4O, { usage: u(1000, 200, 400), stream: true, latencyMs: 850, ttftMs: 150 });
    // 3. failed before any token: no cost
    call(alice, "2026-11-11T00:30:00Z", "gpt-4", "openai", GPT4, { status: "error", errorCode: "provider_error", latencyMs: 30 });
    // 4. Bob: 2000 × 0.25e-6 + 1000 × 1.25e-6 = 0.0005 + 0.00125 = 0.00175
    call(bob, "2026-11-11T10:00:00Z", "claude-3-haiku-20240307", "anthropic", HAIKU, { usage: u(2000, 1000), latencyMs: 400 });
    // 5. a key without a user, at New York's midnight: 10 × 30e-6 + 10 × 60e-6 = 0.0009
    call(loner, "2026-11-11T05:00:00Z", "gpt-4", "openai", GPT4, { usage: u(10, 10), latencyMs: 200 });
    // 6. embeddings: 5000 × 0.02e-6 = 0.0001
    call(alice, "2026-11-11T09:00:00Z", "text-embedding-3-small", "openai", EMBED, {
      endpoint: "/v1/llm/generate-embeddings",
      kind: "embedding",
      usage: u(5000, 0),
      latencyMs: 50,
    });
    await usageWriter().flush();
  });

  const range = { start: "2026-11-10", end: "2026-11-11" };
  const day = (s: UsageStats, date: string) => s.daily.find((d) => d.date === date)!;

  it("adds up everyone's usage exactly for an admin: totals, days, models, keys, statuses", async () => {
    const s = await usageStats(admin, range);
    expect(s.source).toBe("daily_dims");
    expect(s.totals).toMatchObject({
      requests: 6,
      errors: 1,
      inputTokens: 8110,
      outputTokens: 1260,
      cachedInputTokens: 400,
      totalTokens: 9370,
    });
    expect(usd(s.totals.cost)).toBe("0.01275");
    expect(s.totals.errorRate).toBeCloseTo(1 / 6, 12);
    expect(s.daily.map((d) => [d.date, d.requests, d.totalTokens, usd(d.cost)])).toEqual([
      ["2026-11-10", 2, 1350, "0.01"],
      ["2026-11-11", 4, 8020, "0.00275"],
    ]);
    expect(s.breakdowns.model.map((m) => [m.value, m.requests, usd(m.cost)])).toEqual([
      ["gpt-4", 3, "0.0069"],
      ["gpt-4o", 1, "0.004"],
      ["claude-3-haiku-20240307", 1, "0.00175"],
      ["text-embedding-3-small", 1, "0.0001"],
    ]);
    expect(s.breakdowns.provider.map((m) => [m.value, m.requests, usd(m.cost)])).toEqual([
      ["openai", 5, "0.011"],
      ["anthropic", 1, "0.00175"],
    ]);
    expect(s.breakdowns.status.map((m) => [m.value, m.requests])).toEqual([
      ["success", 5],
      ["error", 1],
    ]);
    expect(s.breakdowns.apiKey.find((k) => k.value === alice.apiKeyId)).toMatchObject({
      requests: 4,
      label: expect.stringMatching(/^alice app \(ms_/),
    });
    expect(s.breakdowns.user.find((k) => k.value === "")).toMatchObject({ requests: 1, label: "no user" });
    expect(s.breakdowns.endpoint.map((e) => [e.value, e.requests])).toEqual([
      ["/v1/llm/generate", 5],
      ["/v1/llm/generate-embeddings", 1],
    ]);
    // The per-day-and-model rows (the CSV) add up to the same totals.
    expect(usd(s.dailyByModel.reduce((a, r) => a + r.cost, 0n))).toBe("0.01275");
    expect(s.dailyByModel.find((r) => r.date === "2026-11-10" && r.model === "gpt-4o")).toMatchObject({
      requests: 1,
      cachedInputTokens: 400,
    });
  });

  it("gives the same numbers from the full roll-up as from the per-dimension one", async () => {
    const dims = await usageStats(admin, range);
    // A filter reads usage_daily instead of usage_daily_dims; two filters that split everything add up.
    const openai = await usageStats(admin, { ...range, provider: "openai" });
    const anthropic = await usageStats(admin, { ...range, provider: "anthropic" });
    expect(dims.source).toBe("daily_dims");
    expect(openai.source).toBe("daily");
    expect(usd(openai.totals.cost + anthropic.totals.cost)).toBe(usd(dims.totals.cost));
    expect(openai.totals.requests + anthropic.totals.requests).toBe(dims.totals.requests);
    expect(openai.daily.map((d) => usd(d.cost))).toEqual(["0.01", "0.001"]);
    expect(openai.breakdowns.model.map((m) => m.value)).toEqual(["gpt-4", "gpt-4o", "text-embedding-3-small"]);
  });

  it("splits text generation from embeddings (REST /usage and /embedding-usage)", async () => {
    const llm = await usageStats(admin, { ...range, kind: "llm" });
    const emb = await usageStats(admin, { ...range, kind: "embedding" });
    expect([llm.totals.requests, usd(llm.totals.cost)]).toEqual([5, "0.01265"]);
    expect([emb.totals.requests, usd(emb.totals.cost), emb.totals.inputTokens]).toEqual([1, "0.0001", 5000]);
    const aliceEmb = await usageStats(alice, { ...range, kind: "embedding" });
    expect(aliceEmb.source).toBe("daily_scoped");
    expect(usd(aliceEmb.totals.cost)).toBe("0.0001");
  });

  it("puts 23:30 UTC on the next day in Europe/Berlin and on the same day in America/New_York", async () => {
    const berlin = await usageStats(admin, { ...range, tz: "Europe/Berlin" });
    expect(berlin.source).toBe("hourly_dims");
    expect(berlin.daily.map((d) => [d.date, d.requests, usd(d.cost)])).toEqual([
      ["2026-11-10", 1, "0.006"],
      ["2026-11-11", 5, "0.00675"],
    ]);
    const ny = await usageStats(admin, { ...range, tz: "America/New_York" });
    // 23:30Z and 00:30Z are 18:30 and 19:30 on the 10th; 05:00Z is midnight, the first moment of the 11th.
    expect(ny.daily.map((d) => [d.date, d.requests, d.errors, usd(d.cost)])).toEqual([
      ["2026-11-10", 3, 1, "0.01"],
      ["2026-11-11", 3, 0, "0.00275"],
    ]);
    // The same through the scoped hourly roll-up, for one user.
    const aliceNy = await usageStats(admin, { ...range, tz: "America/New_York", userId: alice.userId! });
    expect(aliceNy.source).toBe("hourly_scoped");
    expect(aliceNy.daily.map((d) => [d.date, d.requests, usd(d.cost)])).toEqual([
      ["2026-11-10", 3, "0.01"],
      ["2026-11-11", 1, "0.0001"],
    ]);
    const aliceBerlin = await usageStats(alice, { ...range, tz: "europe/berlin" });
    expect(aliceBerlin.range.tz).toBe("Europe/Berlin");
    expect(aliceBerlin.daily.map((d) => d.requests)).toEqual([1, 3]);
  });

  it("sums local days exactly across daylight-saving changes, in zones east and west, filtered or not", async () => {
    // 400 calls between Oct 22 and Nov 4, 2026 (Berlin leaves summer time on Oct 25, New York on Nov 1).
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const from = Date.UTC(2026, 9, 22);
    const span = Date.UTC(2026, 10, 4) - from;
    const events: { at: Date; cost: bigint }[] = [];
    for (let i = 0; i < 400; i++) {
      const at = new Date(from + Math.floor(random() * span));
      const usage = {
        inputTokens: 1 + Math.floor(random() * 5000),
        outputTokens: Math.floor(random() * 900),
        cachedInputTokens: 0,
        reasoningTokens: 0,
      };
      const who = i % 3 === 0 ? bob : alice;
      const cost = recordCall({
        identity: who,
        endpoint: "/v1/llm/generate",
        kind: "llm",
        modelId: "gpt-4o",
        provider: "openai",
        price: GPT4O,
        usage,
        status: "success",
        stream: false,
        latencyMs: 10 + (i % 700),
        at,
      });
      if (who === alice) events.push({ at, cost: cost.totalCost });
      else events.push({ at, cost: -cost.totalCost - 1n }); // marks Bob's; see below
    }
    await usageWriter().flush();
    const localDay = (tz: string, at: Date) =>
      new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(at);
    const q = { start: "2026-10-23", end: "2026-11-03" };
    for (const tz of ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Pacific/Auckland", "America/Los_Angeles"]) {
      const expected = new Map<string, { all: number; allCost: bigint; alice: number; aliceCost: bigint }>();
      for (const e of events) {
        const d = localDay(tz, e.at);
        const x = expected.get(d) ?? { all: 0, allCost: 0n, alice: 0, aliceCost: 0n };
        const bobs = e.cost < 0n;
        const cost = bobs ? -e.cost - 1n : e.cost;
        x.all++;
        x.allCost += cost;
        if (!bobs) {
          x.alice++;
          x.aliceCost += cost;
        }
        expected.set(d, x);
      }
      const everyone = await usageStats(admin, { ...q, tz, model: undefined });
      const onlyAlice = await usageStats(admin, { ...q, tz, userId: alice.userId! });
      // One user's: the scoped roll-up; the same with a model filter: the full one. Both exact.
      const aliceFull = await usageStats(admin, { ...q, tz, userId: alice.userId!, model: "gpt-4o" });
      expect([everyone.source, onlyAlice.source, aliceFull.source]).toEqual(["hourly_dims", "hourly_scoped", "hourly"]);
      expect(aliceFull.daily).toEqual(onlyAlice.daily);
      for (const d of everyone.daily) {
        const x = expected.get(d.date) ?? { all: 0, allCost: 0n, alice: 0, aliceCost: 0n };
        expect([tz, d.date, d.requests, usd(d.cost)]).toEqual([tz, d.date, x.all, usd(x.allCost)]);
      }
      for (const d of onlyAlice.daily) {
        const x = expected.get(d.date) ?? { all: 0, allCost: 0n, alice: 0, aliceCost: 0n };
        expect([tz, d.date, d.requests, usd(d.cost)]).toEqual([tz, d.date, x.alice, usd(x.aliceCost)]);
      }
      // The per-model rows and the breakdowns add up to the same totals as the days.
      expect(usd(everyone.dailyByModel.reduce((a, r) => a + r.cost, 0n))).toBe(usd(everyone.totals.cost));
      expect(everyone.breakdowns.user.reduce((a, r) => a + r.requests, 0)).toBe(everyone.totals.requests);
      // Each user's share of the range, from the per-dimension roll-up, matches the events.
      const inRange = [...expected.entries()].filter(([d]) => d >= q.start && d <= q.end).map(([, x]) => x);
      const aliceTotal = { requests: inRange.reduce((a, x) => a + x.alice, 0), cost: inRange.reduce((a, x) => a + x.aliceCost, 0n) };
      const allTotal = { requests: inRange.reduce((a, x) => a + x.all, 0), cost: inRange.reduce((a, x) => a + x.allCost, 0n) };
      const byUser = new Map(everyone.breakdowns.user.map((r) => [r.value, [r.requests, usd(r.cost)]]));
      expect([tz, byUser.get(alice.userId!)]).toEqual([tz, [aliceTotal.requests, usd(aliceTotal.cost)]]);
      expect([tz, byUser.get(bob.userId!)]).toEqual([tz, [allTotal.requests - aliceTotal.requests, usd(allTotal.cost - aliceTotal.cost)]]);
      expect([tz, onlyAlice.totals.requests, usd(onlyAlice.totals.cost)]).toEqual([tz, aliceTotal.requests, usd(aliceTotal.cost)]);
      expect(everyone.breakdowns.status.reduce((a, r) => a + r.requests, 0)).toBe(allTotal.requests);
    }
  });

  it("refuses time zones it cannot sum exactly and names that aren't zones", async () => {
    await expect(usageStats(admin, { ...range, tz: "Asia/Kolkata" })).rejects.toMatchObject({
      code: "invalid_request",
      message: expect.stringMatching(/UTC\+05:30.*whole number of hours/),
    });
    await expect(usageStats(admin, { ...range, tz: "Mars/Olympus" })).rejects.toMatchObject({
      code: "invalid_request",
      message: expect.stringMatching(/^tz: unknown time zone/),
    });
    await expect(usageStats(admin, { start: "2026-11-12", end: "2026-11-11" })).rejects.toMatchObject({
      code: "invalid_request",
      details: { field: "end" },
    });
    await expect(usageStats(admin, { start: "2024-01-01", end: "2026-11-11" })).rejects.toMatchObject({
      code: "invalid_request",
      message: expect.stringMatching(/at most 731 days/),
    });
  });

  it("shows a user only their own usage, a key without a user only its own, and refuses others'", async () => {
    const a = await usageStats(alice, range);
    expect(a.source).toBe("daily_scoped");
    expect([a.totals.requests, usd(a.totals.cost)]).toEqual([4, "0.0101"]);
    expect(a.breakdowns.user.map((u) => u.value)).toEqual([alice.userId]);
    const l = await usageStats(loner, range);
    expect([l.totals.requests, usd(l.totals.cost)]).toEqual([1, "0.0009"]);
    await expect(usageStats(alice, { ...range, userId: bob.userId! })).rejects.toMatchObject({ code: "forbidden", status: 403 });
    await expect(usageStats(bob, { ...range, apiKeyId: alice.apiKeyId! })).rejects.toMatchObject({ code: "forbidden" });
    await expect(usageStats(loner, { ...range, userId: alice.userId! })).rejects.toMatchObject({ code: "forbidden" });
    // Naming oneself is fine.
    expect((await usageStats(alice, { ...range, userId: alice.userId!, apiKeyId: alice.apiKeyId! })).totals.requests).toBe(4);
    // An admin reads anyone's.
    const b = await usageStats(admin, { ...range, userId: bob.userId! });
    expect([b.totals.requests, usd(b.totals.cost)]).toEqual([1, "0.00175"]);
    // Model filters take aliases.
    const haiku = await usageStats(admin, { ...range, model: "claude-3-haiku" });
    expect(haiku.totals.requests).toBe(1);
  });

  it("estimates latency percentiles from the histograms within the documented error", async () => {
    const s = await usageStats(admin, range);
    // Latencies 30, 50, 120, 200, 400, 850: nearest-rank p50 is 120, p95 is 850.
    const within = (estimate: number | null, truth: number) => Math.abs(estimate! - truth) / truth <= MAX_RELATIVE_ERROR;
    expect(within(s.totals.latency.p50, 120)).toBe(true);
    expect(within(s.totals.latency.p95, 850)).toBe(true);
    // 120 lies in [108, 128): the estimate is the bucket's geometric middle.
    expect(LATENCY_BUCKET_BOUNDS).toContain(108);
    expect(s.totals.latency.p50).toBe(Math.round(Math.sqrt(108 * 127) * 10) / 10);
    expect(s.totals.avgLatencyMs).toBe(Math.round((1650 / 6) * 10) / 10);
    expect(day(s, "2026-11-10").latency).toEqual({ p50: expect.any(Number), p95: expect.any(Number) });
  });

  it("compares with the range before", async () => {
    const s = await usageStats(admin, { start: "2026-11-11", end: "2026-11-11", compare: true });
    expect(s.previous?.range).toEqual({ start: "2026-11-10", end: "2026-11-10" });
    expect([s.previous?.totals.requests, usd(s.previous!.totals.cost)]).toEqual([2, "0.01"]);
    const none = await usageStats(admin, { start: "2026-12-01", end: "2026-12-05", compare: true });
    expect(none.previous?.totals.requests).toBe(0);
    expect(none.totals.latency).toEqual({ p50: null, p95: null });
    expect(none.daily).toHaveLength(5);
  });

  it("exports per day and model with the same totals", async () => {
    const s = await usageStats(admin, range);
    const csv = usageCsv(s).trimEnd().split("\r\n");
    expect(csv[0]).toBe(CSV_COLUMNS.join(","));
    const rows = csv.slice(1).map((l) => l.split(","));
    expect(rows).toHaveLength(5);
    expect(rows).toContainEqual(["2026-11-10", "gpt-4o", "1", "0", "1000", "200", "400", "0", "1200", "0.004"]);
    const sum = rows.reduce((a, r) => a + parseUsd(r[9]!), 0n);
    expect(formatUsd(sum)).toBe(usd(s.totals.cost));
    expect(rows.reduce((a, r) => a + Number(r[2]), 0)).toBe(s.totals.requests);
  });

  it("pages recent requests newest first by cursor, within the caller's scope", async () => {
    const first = await recentRequests(admin, { ...range, limit: 4 });
    expect(first.items.map((i) => i.createdAt.toISOString())).toEqual([
      "2026-11-11T10:00:00.000Z",
      "2026-11-11T09:00:00.000Z",
      "2026-11-11T05:00:00.000Z",
      "2026-11-11T00:30:00.000Z",
    ]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await recentRequests(admin, { ...range, limit: 4, cursor: first.nextCursor! });
    expect(second.items.map((i) => i.createdAt.toISOString())).toEqual(["2026-11-10T23:30:00.000Z", "2026-11-10T12:00:00.000Z"]);
    expect(second.nextCursor).toBeNull();
    expect(second.items[0]).toMatchObject({
      model: "gpt-4o",
      stream: true,
      ttftMs: 150,
      cachedInputTokens: 400,
      apiKey: expect.stringMatching(/^alice app/),
    });
    expect(formatUsd(second.items[0]!.cost)).toBe("0.004");
    const mine = await recentRequests(bob, range);
    expect(mine.items.map((i) => i.model)).toEqual(["claude-3-haiku-20240307"]);
    const errors = await recentRequests(admin, { ...range, status: "error" });
    expect(errors.items.map((i) => i.errorCode)).toEqual(["provider_error"]);
    await expect(recentRequests(admin, { cursor: "bm9wZQ" })).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("answers through tRPC usage.* with exact decimal strings, and only with the usage:read scope", async () => {
    const as = (identity: AuthenticatedIdentity) => createCaller({ identity, requestId: "usage-trpc", log: getLogger(), db: getDb });
    const s = await as(admin).usage.stats({ ...range, compare: true });
    expect(s.totals).toMatchObject({ requests: 6, cost: "0.01275", inputTokens: 8110 });
    expect(s.daily.map((d) => d.cost)).toEqual(["0.01", "0.00275"]);
    expect(s.previous?.range).toEqual({ start: "2026-11-08", end: "2026-11-09" });
    const csv = await as(alice).usage.exportCsv(range);
    expect(csv.filename).toBe("usage-2026-11-10-to-2026-11-11.csv");
    expect(csv.csv.split("\r\n").filter(Boolean)).toHaveLength(1 + 4);
    const page = await as(alice).usage.recent({ ...range, limit: 2 });
    expect(page.items.map((i) => i.cost)).toEqual(["0.0001", "0"]);
    expect(await as(alice).usage.calculateCost({ model: "gpt-4o", inputTokens: 1000, outputTokens: 200, cachedTokens: 400 })).toMatchObject(
      {
        model: "gpt-4o",
        inputCost: "0.002",
        outputCost: "0.002",
        totalCost: "0.004",
        per1K: { input: "0.0025", output: "0.01", cachedInput: "0.00125" },
      },
    );
    const narrow = await asKey((await createApiKey(CLI_ACTOR, { name: "generate only", scopes: ["generate"] })).key);
    await expect(as(narrow).usage.stats(range)).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(as(alice).usage.stats({ ...range, userId: bob.userId! })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(as(admin).usage.stats({ start: "2026-13-01" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });

  it("calculates a call's cost exactly, with cached tokens at the cached price", async () => {
    const gpt4 = await calculateCost({ model: "gpt-4", inputTokens: 100, outputTokens: 50 });
    expect([usd(gpt4.inputCost), usd(gpt4.outputCost), usd(gpt4.totalCost)]).toEqual(["0.003", "0.003", "0.006"]);
    expect(gpt4.per1K).toEqual({ input: "0.03", output: "0.06", cachedInput: "0.03" });
    const cached = await calculateCost({ model: "gpt-4o", inputTokens: 1000, outputTokens: 200, cachedTokens: 400 });
    expect([usd(cached.inputCost), usd(cached.totalCost)]).toEqual(["0.002", "0.004"]);
    await expect(calculateCost({ model: "gpt-4", inputTokens: 1, outputTokens: 0, cachedTokens: 2 })).rejects.toMatchObject({
      code: "invalid_request",
    });
    await expect(calculateCost({ model: "no-such-model", inputTokens: 1, outputTokens: 0 })).rejects.toMatchObject({ code: "not_found" });
  });
});
