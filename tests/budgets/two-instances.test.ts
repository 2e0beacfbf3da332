// Two real server processes on one PostgreSQL database and one Redis share one budget ledger:
// 50 concurrent paid calls spread across both, on a key whose budget fits a few of them, spend
// no more than the budget, and the ledger in Redis agrees with the usage events to the
// picodollar. Needs TEST_DATABASE_URL and TEST_REDIS_URL (CI sets both).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type DatabaseHandle } from "@/server/db/index.ts";
import { createRedisLedgerStore } from "@/server/features/budgets/budget-ledger-redis.ts";
import { monthStart } from "@/server/features/budgets/budgets.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createScratchPostgres, testDatabaseUrl } from "@/tests/support/db.ts";
import type { ScratchPostgres } from "@/tests/support/scratch-postgres.ts";
import { startServerProcess, type ServerProcess } from "@/tests/support/server-process.ts";
import { createKey, NO_RATE_LIMITS, post, recordedSpend, streamedToTheEnd, usd } from "./support.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();

describe.runIf(testDatabaseUrl() && redisUrl)("two instances on one PostgreSQL and one Redis", () => {
  const prefix = `mstest-${randomBytes(4).toString("hex")}:`;
  const dataDirs: string[] = [];
  let emulator: ProviderEmulator;
  let scratch: ScratchPostgres;
  let a: ServerProcess;
  let b: ServerProcess;
  let db: DatabaseHandle;
  let redis: Redis;

  beforeAll(async () => {
    emulator = await startProviderEmulator();
    scratch = await createScratchPostgres();
    // Migrated by the first instance before the second starts (either would do it under a lock).
    const env = () => {
      const dir = mkdtempSync(path.join(tmpdir(), "model-service-budget-multi-"));
      dataDirs.push(dir);
      return {
        ...NO_RATE_LIMITS,
        DATA_DIR: dir,
        DATABASE_URL: scratch.url,
        REDIS_URL: redisUrl!,
        REDIS_KEY_PREFIX: prefix,
        OPENAI_API_KEY: emulator.openaiKey!,
        OPENAI_BASE_URL: emulator.openaiBaseUrl,
      };
    };
    a = await startServerProcess(env());
    b = await startServerProcess(env());
    db = await openDatabase({ databaseUrl: scratch.url, dataDir: "" });
    redis = new Redis(redisUrl!);
  }, 180_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.close();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    }
    await scratch?.drop();
    await emulator?.close();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it("spend no more than a key's budget under 50 concurrent calls spread across both", async () => {
    const budget = parseUsd("0.01");
    const key = await createKey(db, "shared-budget", { budgetUsd: "0.01" });
    // gpt-4: 1 word in and 10 out cost $0.00063; each call reserves about $0.0022 (its prompt
    // estimated high, and max_tokens), so about four fit at once, on whichever instance.
    const body = (i: number) => ({
      model: "gpt-4",
      stream: i % 3 === 0,
      max_tokens: 10,
      messages: [{ role: "user", content: `go [[emulator words=10 delay=150 chunk_delay=5 key=multi-${i}]]` }],
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => post(i % 2 ? a.url : b.url, "/v1/llm/generate", key.key, body(i))),
    );
    const answered = results.filter((r) => (r.status === 200 && !r.text.startsWith("data:")) || streamedToTheEnd(r)).length;
    const refused = results.filter((r) => r.status === 402).length;
    expect(answered + refused).toBe(50);
    expect(answered).toBeGreaterThan(0);
    // Then one after the other, alternating instances, until the budget refuses.
    let more = 0;
    for (let i = 0; i < 40; i++) {
      const r = await post(i % 2 ? a.url : b.url, "/v1/llm/generate", key.key, body(100 + i));
      if (r.status === 402) break;
      expect(r.status === 200 || streamedToTheEnd(r), r.text.slice(0, 300)).toBe(true);
      more++;
      await new Promise((resolve) => setTimeout(resolve, 50)); // its settle reaches the ledger
    }
    await expect.poll(async () => (await recordedSpend(db, key.id)).events, { timeout: 10_000 }).toBe(answered + more);
    const { cost } = await recordedSpend(db, key.id);
    expect(cost).toBe(parseUsd("0.00063") * BigInt(answered + more));
    expect(cost).toBeLessThanOrEqual(budget);
    // The shared ledger holds exactly what the usage events say, and nothing is left reserved.
    const ledger = createRedisLedgerStore(redis, `${prefix}budget:`);
    expect(await ledger.balance(`api_key:${key.id}:month:${monthStart().day.slice(0, 7)}`)).toEqual({ spent: cost, held: 0n });
    const last = await post(a.url, "/v1/llm/generate", key.key, body(200));
    expect(last.status).toBe(402);
    expect(last.json).toMatchObject({
      error: { code: "budget_exceeded", details: { spent_usd: usd(cost), remaining_usd: usd(budget - cost) } },
    });
  }, 120_000);
});
