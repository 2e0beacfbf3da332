// A team's budget across two real server processes on one PostgreSQL database and one Redis: 50
// concurrent paid calls spread over both instances and over two of the team's keys (neither with a
// budget of its own), on a team whose budget fits 10 of them, spend no more than the team's budget;
// the shared ledger agrees with the usage events to the picodollar, and the next call answers 402
// naming the team's budget and what is left. Needs TEST_DATABASE_URL and TEST_REDIS_URL.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { createRedisLedgerStore } from "@/server/features/budgets/budget-ledger-redis.ts";
import { monthStart } from "@/server/features/budgets/budgets.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabaseUrl } from "@/tests/support/db.ts";
import { createKey, emulatorEnv, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";
import { post, streamedToTheEnd, usd } from "../budgets/support.ts";

const redisUrl = process.env.TEST_REDIS_URL?.trim();

describe.runIf(testDatabaseUrl() && redisUrl)("a team's budget on two instances (one PostgreSQL, one Redis)", () => {
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
      env: { ...NO_RATE_LIMITS, REDIS_URL: redisUrl!, REDIS_KEY_PREFIX: prefix, ...emulatorEnv(emulator, ["openai"]) },
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

  /** The team's recorded spend: its events' total cost and count. */
  const teamSpend = async (teamId: string) => {
    const [row] = await db.rawQuery<{ cost: string | null; n: number }>(
      "SELECT sum(total_cost)::text AS cost, count(*)::int AS n FROM usage_events WHERE team_id = $1",
      [teamId],
    );
    return { cost: parseUsd(row?.cost ?? "0"), events: row?.n ?? 0 };
  };

  it("spend no more than the team's budget under 50 concurrent calls over two of its keys", async () => {
    // gpt-4: 1 word in and 10 out cost $0.00063; the team's budget pays for 10 such calls.
    const perCall = parseUsd("0.00063");
    const budget = perCall * 10n;
    const team = await db.prisma.team.create({ data: { name: `budget-${randomBytes(3).toString("hex")}`, monthlyBudgetUsd: usd(budget) } });
    const k1 = await createKey(db, { name: "team-key-1", teamId: team.id });
    const k2 = await createKey(db, { name: "team-key-2", teamId: team.id });
    const body = (i: number) => ({
      model: "gpt-4",
      stream: i % 3 === 0,
      max_tokens: 10,
      messages: [{ role: "user", content: `go [[emulator words=10 delay=150 chunk_delay=5 key=team-${i}]]` }],
    });
    // Instance and key cross: a on k1 and k2, b on k1 and k2.
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => post(i % 2 ? a : b, "/v1/llm/generate", (i >> 1) % 2 ? k1.key : k2.key, body(i))),
    );
    const answered = results.filter((r) => (r.status === 200 && !r.text.startsWith("data:")) || streamedToTheEnd(r)).length;
    const refused = results.filter((r) => r.status === 402);
    expect(answered + refused.length).toBe(50);
    expect(answered).toBeGreaterThan(0);
    expect(refused[0]?.json).toMatchObject({ error: { code: "budget_exceeded", details: { scope: "team", period: "month" } } });
    // Then one after the other, alternating instances and keys, until the budget refuses.
    let more = 0;
    for (let i = 0; i < 40; i++) {
      const r = await post(i % 2 ? a : b, "/v1/llm/generate", i % 3 ? k1.key : k2.key, body(100 + i));
      if (r.status === 402) break;
      expect(r.status === 200 || streamedToTheEnd(r), r.text.slice(0, 300)).toBe(true);
      more++;
      await new Promise((resolve) => setTimeout(resolve, 50)); // its settle reaches the ledger
    }
    await expect.poll(async () => (await teamSpend(team.id)).events, { timeout: 10_000 }).toBe(answered + more);
    const { cost } = await teamSpend(team.id);
    expect(cost).toBe(perCall * BigInt(answered + more));
    expect(cost).toBeLessThanOrEqual(budget);
    // Both keys paid from it.
    const perKey = await db.rawQuery<{ api_key_id: string }>("SELECT DISTINCT api_key_id FROM usage_events WHERE team_id = $1", [team.id]);
    expect(perKey.map((r) => r.api_key_id).sort()).toEqual([k1.id, k2.id].sort());
    // The shared ledger holds exactly what the usage events say, and nothing is left reserved.
    const ledger = createRedisLedgerStore(redis, `${prefix}budget:`);
    expect(await ledger.balance(`team:${team.id}:month:${monthStart().day.slice(0, 7)}`)).toEqual({ spent: cost, held: 0n });
    // The roll-up a team's budget starts from agrees too (usage_daily_attr, dim 'team').
    const [attr] = await db.rawQuery<{ cost: string }>(
      "SELECT sum(cost)::text AS cost FROM usage_daily_attr WHERE dim = 'team' AND value = $1",
      [team.id],
    );
    expect(parseUsd(attr?.cost ?? "0")).toBe(cost);
    const last = await post(a, "/v1/llm/generate", k1.key, body(200));
    expect(last.status).toBe(402);
    expect(last.json).toMatchObject({
      error: {
        code: "budget_exceeded",
        message: expect.stringContaining("this key's team"),
        details: { scope: "team", spent_usd: usd(cost), remaining_usd: usd(budget - cost) },
      },
    });
  }, 120_000);
});
