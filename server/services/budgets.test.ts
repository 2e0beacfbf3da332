// Monthly budgets: a key's and a user's, counted from the daily roll-up plus the events still in
// the usage writer's queue; paid calls answer 402 once spent, free ones keep working.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../env.ts";
import { testDatabases } from "../../tests/support/db.ts";
import { useServiceDatabase } from "../../tests/support/service-db.ts";
import { authenticate, CLI_ACTOR, type AuthenticatedIdentity } from "./auth.ts";
import { assertWithinBudget, budgetStates, clearSpendCacheForTests, monthStart } from "./budgets.ts";
import { createApiKey } from "./keys.ts";
import { parseUsd } from "./pricing.ts";
import { usageWriter } from "./usage.ts";
import { createUser, updateUser } from "./users.ts";

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

/** Queues one call's usage costing `usd`, as generation does through recordCall. */
function spend(who: AuthenticatedIdentity, usd: string, at = new Date()) {
  const cost = parseUsd(usd);
  usageWriter().record({
    createdAt: at,
    endpoint: "/v1/llm/generate",
    kind: "llm",
    modelId: "gpt-4o-mini",
    provider: "openai",
    apiKeyId: who.apiKeyId,
    userId: who.userId,
    status: "success",
    stream: false,
    inputTokens: 10,
    outputTokens: 10,
    cachedInputTokens: 0,
    reasoningTokens: 0,
    inputCost: cost,
    outputCost: 0n,
    totalCost: cost,
    latencyMs: 5,
  });
}

describe.each(testDatabases())("budgets on $kind", ({ kind }) => {
  useServiceDatabase(kind);

  it("counts queued events, refuses paid calls once the key's budget is spent, and lets free ones through", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "budgeted", monthlyBudgetUsd: "0.01" })).key);
    await assertWithinBudget(who, { paid: true });
    spend(who, "0.006");
    await assertWithinBudget(who, { paid: true });
    spend(who, "0.004");
    // Still in the writer's queue, not yet in the database: it counts all the same.
    expect(usageWriter().pending().length).toBeGreaterThan(0);
    const err = await assertWithinBudget(who, { paid: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "budget_exceeded",
      status: 402,
      details: { scope: "api_key", budget_usd: "0.01", spent_usd: "0.01" },
    });
    expect((err as Error).message).toMatch(/monthly budget of \$0\.01 for this API key is spent/);
    expect((err as Error).message).toMatch(/free models keep working/);
    await expect(assertWithinBudget(who, { paid: false })).resolves.toBeUndefined();
  });

  it("counts spend written to the daily roll-up (after the flush) the same as queued spend", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "flushed", monthlyBudgetUsd: "1" })).key);
    spend(who, "0.75");
    await usageWriter().flush();
    expect(usageWriter().pending().filter((e) => e.apiKeyId === who.apiKeyId)).toHaveLength(0);
    expect(await budgetStates(who)).toEqual([{ scope: "api_key", budgetUsd: "1", spentUsd: "0.75", exceeded: false }]);
    spend(who, "0.25");
    expect(await budgetStates(who)).toEqual([{ scope: "api_key", budgetUsd: "1", spentUsd: "1", exceeded: true }]);
    await usageWriter().flush();
    clearSpendCacheForTests();
    expect((await budgetStates(who))[0]?.spentUsd).toBe("1");
  });

  it("ignores last month's spend", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "new-month", monthlyBudgetUsd: "1" })).key);
    const lastMonth = new Date(monthStart().date.getTime() - 24 * 3600 * 1000);
    spend(who, "5", lastMonth);
    await usageWriter().flush();
    spend(who, "3", lastMonth);
    await assertWithinBudget(who, { paid: true });
  });

  it("a user's budget covers all of the user's keys", async () => {
    const user = await createUser({ email: `budget-${kind}@example.com`, password: "budget-password", monthlyBudgetUsd: "2" });
    const k1 = await asKey((await createApiKey(CLI_ACTOR, { name: "k1", userEmail: user.email! })).key);
    const k2 = await asKey((await createApiKey(CLI_ACTOR, { name: "k2", userEmail: user.email! })).key);
    spend(k1, "1.5");
    await assertWithinBudget(k2, { paid: true });
    spend(k2, "0.5");
    await expect(assertWithinBudget(k2, { paid: true })).rejects.toMatchObject({ code: "budget_exceeded", details: { scope: "user" } });
    await expect(assertWithinBudget(k1, { paid: true })).rejects.toMatchObject({ code: "budget_exceeded" });
    // Raising the budget takes effect at once.
    await updateUser(user.id, { monthlyBudgetUsd: "10" });
    await assertWithinBudget(k1, { paid: true });
  });

  it("a caller without a budget is never refused", async () => {
    const who = await asKey((await createApiKey(CLI_ACTOR, { name: "unlimited" })).key);
    spend(who, "1000");
    await assertWithinBudget(who, { paid: true });
    expect(await budgetStates(who)).toEqual([]);
  });
});
