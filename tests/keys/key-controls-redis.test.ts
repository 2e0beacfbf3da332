// A key's own controls across two real server processes on one PostgreSQL and one Redis: its
// requests per minute and its cap on requests in flight are one budget over both instances (not
// one each), a slot a crashed instance never gave back stops counting at its lease, and 50
// concurrent calls spread over both on a key whose daily budget fits 10 spend no more than it.
// Needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both).
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabaseUrl } from "@/tests/support/db.ts";
import { createKey, emulatorEnv, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";
import { post, recordedSpend } from "../budgets/support.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();

describe.runIf(testDatabaseUrl() && redisUrl)("a key's own controls on two instances sharing Redis", () => {
  const prefix = `mstest-${randomBytes(4).toString("hex")}:`;
  let emulator: ProviderEmulator;
  let servers: Servers;
  let a: string;
  let b: string;
  let db: DatabaseHandle;
  let redis: Redis;

  beforeAll(async () => {
    emulator = await startProviderEmulator();
    servers = await startServer({
      env: {
        ...NO_RATE_LIMITS,
        REDIS_URL: redisUrl!,
        REDIS_KEY_PREFIX: prefix,
        // A busy shared machine can hold a command past the 50 ms default; then each instance would
        // count alone (the circuit's fallback) and the ledger refuse with 503s: not what is tested here.
        REDIS_COMMAND_TIMEOUT_MS: "2000",
        ...emulatorEnv(emulator, ["openai"]),
      },
      database: "postgres",
      instances: 2,
    });
    [a, b] = servers.urls as [string, string];
    db = await servers.openDatabase();
    redis = new Redis(redisUrl!);
  }, 180_000);

  afterAll(async () => {
    await servers?.stop();
    await db?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
    await servers?.dispose();
    await emulator?.close();
  }, 60_000);

  const keyed = async (name: string, data: Record<string, unknown>) => {
    const key = await createKey(db, { name });
    await db.prisma.apiKey.update({ where: { id: key.id }, data });
    return key;
  };
  const whoami = (base: string, key: string) => fetch(`${base}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });

  it("requests per minute are counted once over both instances", async () => {
    const { key } = await keyed("rpm-shared", { rpmLimit: 4 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await whoami(i % 2 ? a : b, key)).status);
    // Counted per instance, each would have let 4 through: 8 in all.
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    expect(statuses.slice(4)).toEqual([429, 429, 429, 429]);
  });

  it("the cap on requests in flight holds over both instances", async () => {
    const { key, id } = await keyed("parallel-shared", { maxParallel: 2 });
    const slow = (base: string) =>
      post(base, "/v1/llm/generate", key, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi [[emulator delay=600]]" }] });
    const results = await Promise.all([slow(a), slow(b), slow(a), slow(b), slow(a), slow(b)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 429, 429, 429, 429]);
    // The slots come back (each given back as its call ends, which may be just after its answer
    // reached the client): then the next two fit again.
    await expect.poll(() => redis.zcard(`${prefix}inflight:{${id}}`), { timeout: 5_000 }).toBe(0);
    expect((await Promise.all([slow(a), slow(b)])).map((r) => r.status)).toEqual([200, 200]);
  });

  it("a slot that is never given back (its instance crashed) stops counting at its lease", async () => {
    const { key, id } = await keyed("parallel-crashed", { maxParallel: 1 });
    // What a crashed instance leaves behind: a slot whose lease ended a moment ago, never released.
    await redis.zadd(`${prefix}inflight:{${id}}`, Date.now() - 1, "crashed-slot");
    const r = await post(a, "/v1/llm/generate", key, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(r.status).toBe(200);
    // A live one still counts.
    await redis.zadd(`${prefix}inflight:{${id}}`, Date.now() + 60_000, "live-slot");
    const refused = await post(b, "/v1/llm/generate", key, { model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] });
    expect(refused.status).toBe(429);
  });

  it("50 concurrent calls over both on a key whose daily budget fits 10 spend no more than it", async () => {
    const budget = parseUsd("0.0063"); // ten gpt-4 calls of 1 word in, 10 out ($0.00063 each)
    const { key, id } = await keyed("fits-ten-shared", { monthlyBudgetUsd: "0.0063", budgetPeriod: "day" });
    const body = (i: number) => ({
      model: "gpt-4",
      max_tokens: 10,
      stream: i % 3 === 0,
      messages: [{ role: "user", content: `go [[emulator words=10 delay=100 key=shared-ten-${i}]]` }],
    });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => post(i % 2 ? a : b, "/v1/llm/generate", key, body(i))));
    const answered = results.filter((r) => r.status === 200).length;
    const odd = results.filter((r) => r.status !== 200 && r.status !== 402);
    expect(odd.map((r) => `${r.status} ${r.text.slice(0, 300)}`)).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    expect(answered).toBeLessThanOrEqual(10);
    await expect.poll(async () => (await recordedSpend(db, id)).events, { timeout: 10_000 }).toBe(answered);
    const { cost } = await recordedSpend(db, id);
    expect(cost).toBe(parseUsd("0.00063") * BigInt(answered));
    expect(cost).toBeLessThanOrEqual(budget);
  }, 60_000);
});
