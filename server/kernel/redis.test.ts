// The Redis circuit against a real Redis (TEST_REDIS_URL) behind a fault proxy of the test's own:
// a hung Redis costs a command its deadline and no more than CIRCUIT_FAILURES of them before the
// circuit opens (then commands fail at once and callers fall back), a stopped one fails at once,
// and both come back by themselves once Redis answers. The rate limits (the hot path's Redis user)
// keep answering, from this process's own counters, within the deadline.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFaultProxy, targetOf, type FaultProxy } from "@/tests/support/fault-proxy.ts";
import { resetEnvForTests } from "./env.ts";
import { AppError } from "./errors.ts";
import { checkRedis, CIRCUIT_FAILURES, redisCommand, redisConnected, RedisUnavailable, redisUsable, resetRedisForTests } from "./redis.ts";
import type { AuthenticatedIdentity } from "../access/identity.ts";
import { hold, isRefusal, setLedgerStoreForTests } from "../features/budgets/budget-ledger.ts";
import { checkRateLimit, resetRateLimitersForTests } from "../access/rate-limits.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > timeoutMs) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - started;
}

async function timed<T>(p: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await p;
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe.runIf(redisUrl)("the Redis circuit (TEST_REDIS_URL behind a fault proxy)", () => {
  let proxy: FaultProxy;
  const prefix = `mstest-circuit-${randomBytes(4).toString("hex")}:`;

  beforeAll(async () => {
    proxy = await startFaultProxy(targetOf(redisUrl!, 6379));
    Object.assign(process.env, {
      REDIS_URL: proxy.urlFor(redisUrl!),
      REDIS_KEY_PREFIX: prefix,
      REDIS_COMMAND_TIMEOUT_MS: "50",
      LOG_LEVEL: "silent",
      RATE_LIMITS: "",
    });
    resetEnvForTests();
    resetRedisForTests();
    resetRateLimitersForTests();
    await redisConnected();
    expect(redisUsable()).toBe(true);
  });
  afterAll(async () => {
    resetRedisForTests();
    resetRateLimitersForTests();
    delete process.env.REDIS_URL;
    delete process.env.REDIS_COMMAND_TIMEOUT_MS;
    resetEnvForTests();
    await proxy?.close();
  });

  it("hung: each command gives up at its deadline, the circuit opens, then commands fail at once; it closes when Redis answers", async () => {
    expect(await redisCommand((r) => r.ping())).toBe("PONG");
    await proxy.set("hung");
    const tries = [];
    for (let i = 0; i < CIRCUIT_FAILURES; i++) tries.push(await timed(redisCommand((r) => r.ping())));
    for (const t of tries) {
      expect(t.error).toBeInstanceOf(RedisUnavailable);
      expect(t.ms).toBeGreaterThanOrEqual(45);
      expect(t.ms).toBeLessThan(250);
    }
    expect(redisUsable()).toBe(false);
    const fast = await timed(redisCommand((r) => r.ping()));
    expect(fast.error).toBeInstanceOf(RedisUnavailable);
    expect(fast.ms).toBeLessThan(5);
    const health = await timed(checkRedis());
    expect(health.value).toMatchObject({ ok: false, error: expect.stringMatching(/failures in a row/) });
    expect(health.ms).toBeLessThan(5);

    await proxy.set("up");
    await until(redisUsable, 5_000);
    expect(await redisCommand((r) => r.ping())).toBe("PONG");
    expect((await checkRedis()).ok).toBe(true);
  }, 20_000);

  it("down: commands fail at once while it is refused, and work again once it is back", async () => {
    await proxy.set("down");
    await until(() => !redisUsable(), 2_000);
    const t = await timed(redisCommand((r) => r.ping()));
    expect(t.error).toBeInstanceOf(RedisUnavailable);
    expect(t.ms).toBeLessThan(5);
    expect((await checkRedis()).error).toMatch(/not connected/);
    await proxy.set("up");
    await until(redisUsable, 10_000);
    expect(await redisCommand((r) => r.ping())).toBe("PONG");
  }, 20_000);

  it("rate limits answer within the deadline while Redis hangs, and this process's counters still hold the limit", async () => {
    const who: AuthenticatedIdentity = {
      kind: "apiKey",
      apiKeyId: `key-${randomBytes(4).toString("hex")}`,
      userId: null,
      role: "user",
      tier: "premium",
      scopes: [],
    };
    await checkRateLimit(who, "generate"); // one counted in Redis while it answers
    await proxy.set("hung");
    const outcomes = [];
    for (let i = 0; i < 12; i++) {
      outcomes.push(
        await timed(
          checkRateLimit(who, "generate").catch((e: unknown) => {
            if (e instanceof AppError && e.code === "rate_limited") return "refused";
            throw e;
          }),
        ),
      );
    }
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(250);
    expect(outcomes.every((o) => o.error === undefined)).toBe(true);
    // 10 a minute: in memory the process lets 10 through (the one counted in Redis is not known here).
    expect(outcomes.filter((o) => o.value === "refused")).toHaveLength(2);
    await proxy.set("up");
    await until(redisUsable, 5_000);
  }, 20_000);

  it("the budget ledger refuses a budgeted call within the command deadline while Redis hangs (503), and at once while the circuit is open", async () => {
    setLedgerStoreForTests(undefined); // the configured store: Redis, behind the circuit
    const account = { key: `acct-${randomBytes(4).toString("hex")}`, limit: 1_000n, seed: async () => 0n };
    const ok = await hold([account], 10n, 60_000);
    expect(isRefusal(ok)).toBe(false);
    if (!isRefusal(ok)) ok.settle(10n);
    await proxy.set("hung");
    const tries = [];
    for (let i = 0; i < CIRCUIT_FAILURES + 1; i++) tries.push(await timed(hold([account], 10n, 60_000)));
    for (const t of tries) {
      expect(t.error).toMatchObject({ code: "unavailable", details: { reason: "budget_ledger_unavailable" } });
      expect(t.ms).toBeLessThan(250);
    }
    // The last one came after the circuit opened: refused without waiting for Redis.
    expect(tries.at(-1)!.ms).toBeLessThan(5);
    await proxy.set("up");
    await until(redisUsable, 5_000);
    const again = await hold([account], 10n, 60_000);
    expect(isRefusal(again)).toBe(false);
    if (!isRefusal(again)) again.settle(0n);
  }, 20_000);
});
