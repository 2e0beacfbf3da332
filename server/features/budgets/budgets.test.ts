// Monthly budgets: a key's and a user's. A paid call reserves its largest cost against every
// budget that applies before it runs and settles with what it cost; a call that does not fit
// answers 402 with what is left. The ledger (here the database's: no REDIS_URL) starts each budget
// from the usage events: the daily roll-up plus the events still in the writer's queue.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { authenticate, CLI_ACTOR, type AuthenticatedIdentity } from "../../access/auth.ts";
import { ledgerStore, setLedgerStoreForTests, settledForTests, type LedgerStore } from "./budget-ledger.ts";
import { budgetStates, clearSpendCacheForTests, ledgerAccountKey, monthStart, periodStart, reserveBudgets } from "./budgets.ts";
import { createApiKey } from "../accounts/keys.ts";
import { parseUsd } from "../catalogue/pricing.ts";
import { usageWriter } from "../usage/usage.ts";
import { createUser, updateUser } from "../accounts/users.ts";
import { recordTestCall } from "../../../tests/support/usage-events.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-budgets-"));
beforeAll(() => {
  Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
});
afterAll(async () => {
  await usageWriter().stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const asKey = async (key: string) => (await authenticate(new Headers({ "x-api-key": key }))) as AuthenticatedIdentity;
const usd = (text: string) => parseUsd(text);
const LEASE = { leaseMs: 60_000 };
const reserve = (who: AuthenticatedIdentity, cost: string) => reserveBudgets(who, () => usd(cost), LEASE);

/** Queues one call's usage costing `cost` USD, as generation does through recordCall. */
function spend(who: AuthenticatedIdentity, cost: string, at = new Date()) {
  recordTestCall({ identity: who, costUsd: cost, at });
}

describe("budget periods (UTC)", () => {
  it("start at the day, the ISO week's Monday and the month's first day", () => {
    const sunday = new Date("2026-11-29T23:59:59Z");
    expect(periodStart("day", sunday).day).toBe("2026-11-29");
    expect(periodStart("week", sunday).day).toBe("2026-11-23");
    expect(periodStart("week", new Date("2026-11-30T00:00:00Z")).day).toBe("2026-11-30");
    // A week that starts in the month before.
    expect(periodStart("week", new Date("2026-12-02T12:00:00Z")).day).toBe("2026-11-30");
    expect(periodStart("month", sunday).day).toBe("2026-11-01");
    expect(periodStart("week", new Date("2027-01-01T08:00:00Z")).day).toBe("2026-12-28");
  });

  it("give each budget period its own ledger account (a month's keeps its old name)", () => {
    const at = { scope: "api_key" as const, subjectId: "k1" };
    expect(ledgerAccountKey({ ...at, period: "month", periodStart: "2026-12-01" })).toBe("api_key:k1:month:2026-12");
    expect(ledgerAccountKey({ ...at, period: "week", periodStart: "2026-11-30" })).toBe("api_key:k1:week:2026-11-30");
    expect(ledgerAccountKey({ ...at, period: "day", periodStart: "2026-12-04" })).toBe("api_key:k1:day:2026-12-04");
  });
});

describe.each(testDatabases())("budgets on $kind", ({ kind }) => {
  const { queries } = useServiceDatabase(kind);

  it("reserves a call's largest cost, refuses one that does not fit with 402 and what is left, and settles with the real cost", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "budgeted", monthlyBudgetUsd: "0.01" })).key);
    spend(who, "0.006"); // still queued, not in the database: the ledger starts from it all the same
    const first = await reserve(who, "0.003");
    const err = await reserve(who, "0.002").catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "budget_exceeded",
      status: 402,
      details: {
        scope: "api_key",
        budget_usd: "0.01",
        spent_usd: "0.006",
        reserved_usd: "0.003",
        remaining_usd: "0.001",
        required_usd: "0.002",
        period_start: monthStart().day,
      },
    });
    expect((err as Error).message).toMatch(/monthly budget of \$0\.01 for this API key has \$0\.001 left/);
    expect((err as Error).message).toMatch(/may cost up to \$0\.002/);
    // The first call cost less than it reserved: what it did not spend is free again.
    first.settle(usd("0.001"));
    await settledForTests();
    const second = await reserve(who, "0.003");
    second.settle(usd("0.003"));
    await settledForTests();
    expect(await ledgerStore().balance(`api_key:${who.apiKeyId}:month:${monthStart().day.slice(0, 7)}`)).toEqual({
      spent: usd("0.01"),
      held: 0n,
    });
    await expect(reserve(who, "0.000000000001")).rejects.toMatchObject({ code: "budget_exceeded", details: { remaining_usd: "0" } });
  });

  it("starts a budget from the daily roll-up and the queue, not last month's spend", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "flushed", monthlyBudgetUsd: "1" })).key);
    const lastMonth = new Date(monthStart().date.getTime() - 24 * 3600 * 1000);
    spend(who, "5", lastMonth);
    spend(who, "0.5");
    await usageWriter().flush();
    spend(who, "0.25");
    clearSpendCacheForTests();
    expect(await budgetStates(who)).toEqual([{ scope: "api_key", period: "month", budgetUsd: "1", spentUsd: "0.75", exceeded: false }]);
    await expect(reserve(who, "0.26")).rejects.toMatchObject({ details: { spent_usd: "0.75", remaining_usd: "0.25" } });
    (await reserve(who, "0.25")).settle(0n);
  });

  it("a user's budget covers all of the user's keys, beside each key's own; raising it takes effect at once", async () => {
    const user = await createUser({ email: `budget-${kind}@example.com`, password: "budget-password", monthlyBudgetUsd: "2" });
    const k1 = await asKey((await createApiKey(CLI_ACTOR, { name: "k1", userEmail: user.email!, monthlyBudgetUsd: "1.5" })).key);
    const k2 = await asKey((await createApiKey(CLI_ACTOR, { name: "k2", userEmail: user.email! })).key);
    const a = await reserve(k1, "1.2");
    // k1's own budget refuses first; k2 has none but shares the user's.
    await expect(reserve(k1, "0.4")).rejects.toMatchObject({
      code: "budget_exceeded",
      details: { scope: "api_key", remaining_usd: "0.3" },
    });
    await expect(reserve(k2, "0.9")).rejects.toMatchObject({
      code: "budget_exceeded",
      details: { scope: "user", reserved_usd: "1.2", remaining_usd: "0.8" },
    });
    expect((await reserve(k2, "0.8")).amount).toBe(usd("0.8"));
    // A refusal held nothing on the other budget: k1's budget still has its 0.3 after a refusal by the user's.
    a.settle(usd("1.2"));
    await settledForTests();
    await expect(reserve(k1, "0.3")).rejects.toMatchObject({ details: { scope: "user", remaining_usd: "0" } });
    await updateUser(user.id, { monthlyBudgetUsd: "10" });
    expect((await reserve(k1, "0.3")).amount).toBe(usd("0.3"));
  });

  it("a free call, and a caller without a budget, reserve nothing and ask no database", async () => {
    const budgeted = await asKey((await createApiKey(CLI_ACTOR, { name: "free-calls", monthlyBudgetUsd: "0.000001" })).key);
    const unlimited = await asKey((await createApiKey(CLI_ACTOR, { name: "unlimited" })).key);
    // Warm the key cache, as any earlier request of the key does.
    await reserve(unlimited, "1");
    await reserveBudgets(budgeted, () => 0n, LEASE);
    spend(unlimited, "1000");
    let priced = 0;
    queries.reset();
    for (let i = 0; i < 20; i++) {
      expect((await reserveBudgets(unlimited, () => (priced++, usd("50")), LEASE)).amount).toBe(0n);
      expect((await reserveBudgets(budgeted, () => 0n, LEASE)).amount).toBe(0n);
    }
    expect(queries.total()).toBe(0);
    expect(priced).toBe(0); // a caller without a budget never has the call's cost worked out
    expect(await budgetStates(unlimited)).toEqual([]);
  });

  it("refuses a budgeted paid call with 503 when the ledger fails (a caller without a budget is not affected)", async () => {
    const budgeted = await asKey((await createApiKey(CLI_ACTOR, { name: "ledger-down", monthlyBudgetUsd: "1" })).key);
    const unlimited = await asKey((await createApiKey(CLI_ACTOR, { name: "ledger-down-free" })).key);
    const failing: LedgerStore = {
      name: "database",
      reserve: () => Promise.reject(new Error("connection refused")),
      settle: () => Promise.reject(new Error("connection refused")),
      balance: () => Promise.reject(new Error("connection refused")),
    };
    setLedgerStoreForTests(failing);
    try {
      await expect(reserve(budgeted, "0.01")).rejects.toMatchObject({
        code: "unavailable",
        status: 503,
        details: { reason: "budget_ledger_unavailable" },
      });
      expect((await reserve(unlimited, "0.01")).amount).toBe(0n);
    } finally {
      setLedgerStoreForTests(undefined);
    }
  });
});
