// Rate limits per endpoint and per tier, in process and in Redis (TEST_REDIS_URL).
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parseEnv, resetEnvForTests } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import type { AuthenticatedIdentity, Tier } from "./identity.ts";
import { checkRateLimit, endpointLimit, rateLimitHeaders, resetRateLimitersForTests, tierLimit } from "./rate-limits.ts";

process.env.LOG_LEVEL = "silent";

let n = 0;
function caller(tier: Tier = "premium"): AuthenticatedIdentity {
  n++;
  return { kind: "apiKey", apiKeyId: `key-${n}-${randomBytes(4).toString("hex")}`, userId: null, role: "user", tier, scopes: [] };
}

function configure(env: Record<string, string | undefined>) {
  for (const k of ["RATE_LIMITS", "RATE_LIMIT_REQUESTS", "RATE_LIMIT_WINDOW", "REDIS_URL", "REDIS_KEY_PREFIX"]) delete process.env[k];
  Object.assign(process.env, env);
  resetEnvForTests();
  resetRateLimitersForTests();
  // server/kernel/redis.ts remembers "no Redis" for the process; these cases switch REDIS_URL.
  const g = globalThis as { __modelServiceRedis?: { disconnect(): void } | null };
  g.__modelServiceRedis?.disconnect();
  g.__modelServiceRedis = undefined;
}

async function outcome(who: AuthenticatedIdentity, endpoint: string) {
  try {
    const state = await checkRateLimit(who, endpoint);
    return { allowed: true as const, state };
  } catch (e) {
    if (!(e instanceof AppError)) throw e;
    return { allowed: false as const, error: e };
  }
}

describe("rate limit configuration", () => {
  it("has the original service's per-endpoint and per-tier defaults", () => {
    configure({});
    expect(endpointLimit("generate")).toEqual({ requests: 10, windowSeconds: 60 });
    expect(endpointLimit("generate-embeddings")).toEqual({ requests: 20, windowSeconds: 60 });
    expect(endpointLimit("vector-search")).toEqual({ requests: 100, windowSeconds: 60 });
    expect(endpointLimit("anything-else")).toEqual({ requests: 100, windowSeconds: 60 });
    expect(tierLimit("basic")).toEqual({ requests: 10, windowSeconds: 3600 });
    expect(tierLimit("standard")).toEqual({ requests: 100, windowSeconds: 3600 });
    expect(tierLimit("premium")).toEqual({ requests: 1000, windowSeconds: 3600 });
  });

  it("takes RATE_LIMIT_REQUESTS/RATE_LIMIT_WINDOW as the default and RATE_LIMITS as overrides", () => {
    configure({
      RATE_LIMIT_REQUESTS: "7",
      RATE_LIMIT_WINDOW: "30",
      RATE_LIMITS: '{"generate":"3/minute","tier:basic":"50/day","search":"5/10s","vector-search":"off"}',
    });
    expect(endpointLimit("whoami")).toEqual({ requests: 7, windowSeconds: 30 });
    expect(endpointLimit("generate")).toEqual({ requests: 3, windowSeconds: 60 });
    expect(endpointLimit("search")).toEqual({ requests: 5, windowSeconds: 10 });
    expect(endpointLimit("vector-search")).toBeNull();
    expect(tierLimit("basic")).toEqual({ requests: 50, windowSeconds: 86400 });
  });

  it.each([
    ["{not json", "not valid JSON"],
    ['["generate"]', "JSON object"],
    ['{"generate":"ten per minute"}', '"generate" is not one'],
    ['{"generate":10}', '"generate" is not one'],
    ['{"default":"5/minute"}', "RATE_LIMIT_REQUESTS"],
    ['{"Bad Name":"5/minute"}', "is not one"],
  ])("refuses RATE_LIMITS=%s with a message naming the variable", (value, expected) => {
    expect(() => parseEnv({ RATE_LIMITS: value })).toThrow(/RATE_LIMITS must be/);
    expect(() => parseEnv({ RATE_LIMITS: value })).toThrow(expected);
  });
});

function limitBehaviour(setup: () => Record<string, string | undefined>) {
  beforeEach(() => configure(setup()));

  it("lets exactly the endpoint's limit through, then answers 429 with Retry-After and X-RateLimit-*", async () => {
    const who = caller();
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await outcome(who, "generate"));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.slice(0, 10).every((r) => r.allowed)).toBe(true);
    const first = results[0]!;
    expect(first.allowed && first.state).toMatchObject({ limit: 10, remaining: 9, name: "generate" });
    const refused = results[10]!;
    expect(refused.allowed).toBe(false);
    const error = (refused as { error: AppError }).error;
    expect(error.code).toBe("rate_limited");
    expect(error.status).toBe(429);
    expect(error.message).toMatch(/generate endpoint is 10 requests per minute/);
    expect(error.headers).toMatchObject({ "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0" });
    expect(Number(error.headers!["Retry-After"])).toBeGreaterThan(0);
    expect(Number(error.headers!["Retry-After"])).toBeLessThanOrEqual(60);
    const reset = Number(error.headers!["X-RateLimit-Reset"]);
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
  });

  it("a dashboard session's generation counts against the playground's own limit (60 a minute), not generate's 10", async () => {
    const session: AuthenticatedIdentity = {
      kind: "session",
      userId: `user-${randomBytes(4).toString("hex")}`,
      email: null,
      apiKeyId: null,
      role: "user",
      tier: "standard",
      scopes: [],
    };
    const results = [];
    for (let i = 0; i < 61; i++) results.push(await outcome(session, "generate"));
    expect(results.filter((r) => r.allowed)).toHaveLength(60);
    const error = (results[60] as { error: AppError }).error;
    expect(error.message).toMatch(/playground endpoint is 60 requests per minute/);
  });

  it("counts each caller separately", async () => {
    const a = caller();
    const b = caller();
    for (let i = 0; i < 10; i++) expect((await outcome(a, "generate")).allowed).toBe(true);
    expect((await outcome(a, "generate")).allowed).toBe(false);
    expect((await outcome(b, "generate")).allowed).toBe(true);
  });

  it("the tier limit counts requests across endpoints (basic: 10 an hour)", async () => {
    const who = caller("basic");
    for (let i = 0; i < 10; i++) expect((await outcome(who, i % 2 ? "whoami" : "vector-search")).allowed).toBe(true);
    const refused = await outcome(who, "whoami");
    expect(refused.allowed).toBe(false);
    expect((refused as { error: AppError }).error.message).toMatch(/basic tier's limit is 10 requests per hour/);
    expect(Number((refused as { error: AppError }).error.headers!["Retry-After"])).toBeGreaterThan(60);
  });

  it("a request one limit refuses uses up none of the others: an endpoint's 429s leave the tier's hour alone", async () => {
    const who = caller("standard");
    const results = [];
    for (let i = 0; i < 15; i++) results.push(await outcome(who, "generate"));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    // 10 served so far: the tier (100 an hour) has 89 left after this one, not 84.
    const next = await outcome(who, "whoami");
    expect(next.allowed && next.state).toMatchObject({ name: "tier:standard", limit: 100, remaining: 89 });
  });

  it("a dashboard session counts against the endpoint limits only, not a tier's hourly quota", async () => {
    const key = caller("standard");
    const session: AuthenticatedIdentity = {
      kind: "session",
      apiKeyId: null,
      userId: `user-${randomBytes(4).toString("hex")}`,
      email: null,
      role: "user",
      tier: "standard",
      scopes: [],
    };
    // 120 calls over two endpoints (100 a minute each): past the standard tier's 100 an hour.
    const keyResults = [];
    const sessionResults = [];
    for (let i = 0; i < 120; i++) {
      keyResults.push(await outcome(key, i % 2 ? "usage.stats" : "auth.me"));
      sessionResults.push(await outcome(session, i % 2 ? "usage.stats" : "auth.me"));
    }
    expect(keyResults.filter((r) => r.allowed)).toHaveLength(100);
    expect(sessionResults.every((r) => r.allowed)).toBe(true);
    const last = sessionResults.at(-1)!;
    expect(last.allowed && last.state).toMatchObject({ name: "usage.stats", limit: 100, remaining: 40 });
  });

  it("reports the limit closest to running out", async () => {
    const who = caller("standard");
    const r = await outcome(who, "generate");
    expect(r.allowed && rateLimitHeaders(r.state!)).toEqual({
      "X-RateLimit-Limit": "10",
      "X-RateLimit-Remaining": "9",
      "X-RateLimit-Reset": expect.any(String),
    });
  });

  it("is exact under concurrency: 50 at once through a limit of 10 lets 10 through", async () => {
    const who = caller();
    const results = await Promise.all(Array.from({ length: 50 }, () => outcome(who, "generate")));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
  });
}

describe("in process", () => {
  limitBehaviour(() => ({}));

  it("a refusal from a limiter made by another copy of the library is a 429 too (the lean host's and Next's bundle share the limiters)", async () => {
    configure({ RATE_LIMITS: '{"generate":"1/minute"}' });
    // A second copy of rate-limiter-flexible, as Next's server bundle holds beside the host's.
    const require = createRequire(import.meta.url);
    const cached = Object.keys(require.cache).filter((k) => k.includes(`${path.sep}rate-limiter-flexible${path.sep}`));
    const saved = cached.map((k) => [k, require.cache[k]] as const);
    for (const k of cached) delete require.cache[k];
    let other: typeof import("rate-limiter-flexible");
    try {
      other = require("rate-limiter-flexible") as typeof import("rate-limiter-flexible");
    } finally {
      for (const [k, m] of saved) require.cache[k] = m;
    }
    expect(other.RateLimiterRes).not.toBe((await import("rate-limiter-flexible")).RateLimiterRes);
    const registry = (globalThis as unknown as { __modelServiceRateLimiters: { byConfig: Map<string, unknown> } })
      .__modelServiceRateLimiters;
    registry.byConfig.set("generate|1|60", { local: new other.RateLimiterMemory({ points: 1, duration: 60, keyPrefix: "other-copy" }) });
    const who = caller();
    expect((await outcome(who, "generate")).allowed).toBe(true);
    const refused = await outcome(who, "generate");
    expect(refused.allowed).toBe(false);
    expect((refused as { error: AppError }).error).toMatchObject({ code: "rate_limited", status: 429 });
  });
});

const redisUrl = process.env.TEST_REDIS_URL;
describe.runIf(redisUrl)("in Redis (TEST_REDIS_URL)", () => {
  const prefix = `mstest:${randomBytes(4).toString("hex")}:`;
  afterAll(async () => {
    const { Redis } = await import("ioredis");
    const r = new Redis(redisUrl!);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    configure({});
  });

  limitBehaviour(() => ({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix }));

  it("keeps the counters in Redis under REDIS_KEY_PREFIX", async () => {
    const who = caller();
    await checkRateLimit(who, "generate");
    const { Redis } = await import("ioredis");
    const r = new Redis(redisUrl!);
    try {
      const keys = await r.keys(`${prefix}rl:*${who.apiKeyId}`);
      expect(keys.sort()).toEqual([
        `${prefix}rl:generate:10:60:key:${who.apiKeyId}`,
        `${prefix}rl:tier:premium:1000:3600:key:${who.apiKeyId}`,
      ]);
    } finally {
      await r.quit();
    }
  });

  it("sends both counters of a check in one write: one round trip", async () => {
    const who = caller();
    await checkRateLimit(who, "generate"); // connects and loads the script
    const writes = vi.spyOn(net.Socket.prototype, "write");
    try {
      await checkRateLimit(who, "generate");
      expect(writes).toHaveBeenCalledTimes(1);
    } finally {
      writes.mockRestore();
    }
  });
});
