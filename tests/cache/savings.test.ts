// Savings from the roll-ups: the caches' saved cost over a range equals the exact sum of the
// events' saved_cost (for everyone, for one key, in UTC and in another zone), and each model's
// traffic is priced on the cheaper models of the same type and capabilities.
import { beforeAll, describe, expect, it } from "vitest";
import { getDatabase } from "@/server/db/index.ts";
import { CLI_ACTOR, type AuthenticatedIdentity } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { listModels, resolveModel } from "@/server/features/catalogue/models.ts";
import { costOf, formatUsd, parseUsd } from "@/server/features/catalogue/pricing.ts";
import { cheaperAlternatives, usageSavings } from "@/server/features/usage/savings.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "@/tests/openai-compat/harness.ts";

type Body = Record<string, unknown>;

describe.each(testDatabases())("savings on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  let adminKey = "";
  const admin: AuthenticatedIdentity = {
    kind: "apiKey",
    apiKeyId: "cli-admin",
    userId: null,
    role: "admin",
    tier: "premium",
    scopes: ["admin"],
  };

  async function post(path: string, body: Body) {
    const res = await fetch(`${server.url}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as Body;
  }

  async function savingsRest(key: string, query = "") {
    const res = await fetch(`${server.url}/v1/llm/savings${query}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Body & { cache_saved_cost: number; models: Body[] };
  }

  beforeAll(async () => {
    adminKey = (await createApiKey(CLI_ACTOR, { name: "savings-admin", isAdmin: true })).key;
    // Traffic: two models, cached answers at different prices, a partly cached embedding batch.
    for (const [model, words] of [
      ["gpt-4o", "one two three"],
      ["gpt-4o", "four five six seven"],
      ["gpt-4.1", "eight nine"],
    ] as const) {
      for (let i = 0; i < 3; i++)
        await post("/v1/llm/generate", { model, messages: [{ role: "user", content: words }], temperature: 0, cache: true });
    }
    await post("/v1/llm/generate-embeddings", { model: "text-embedding-3-small", texts: ["ten eleven"] });
    await post("/v1/llm/generate-embeddings", { model: "text-embedding-3-small", texts: ["ten eleven", "twelve"] });
    await usageWriter().flush();
  });

  async function eventSums() {
    const rows = await (
      await getDatabase()
    ).rawQuery<{ saved: string; cached: string }>(
      "select coalesce(sum(saved_cost), 0)::text as saved, count(*) filter (where status = 'cached')::text as cached from usage_events",
    );
    return { saved: parseUsd(rows[0]!.saved), cached: Number(rows[0]!.cached) };
  }

  it("sums the caches' savings from the roll-ups exactly as the events hold them", async () => {
    const events = await eventSums();
    expect(events.cached).toBe(6); // two hits for each of the three prompts
    // gpt-4o: 3 in + 5 out, 4 in + 6 out; gpt-4.1: 2 in + 4 out; each saved twice; the embedding 2 tokens once.
    const expected =
      2n * costOf(resolveModel("gpt-4o").price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost +
      2n * costOf(resolveModel("gpt-4.1").price, { inputTokens: 2, outputTokens: 4, cachedInputTokens: 0 }).totalCost +
      costOf(resolveModel("text-embedding-3-small").price, { inputTokens: 2, outputTokens: 0, cachedInputTokens: 0 }).totalCost;
    expect(events.saved).toBe(expected);

    const everyone = await usageSavings(admin, {}); // the per-dimension roll-ups
    expect(everyone.cache.savedCost).toBe(expected);
    expect(everyone.cache.cachedRequests).toBe(6);
    const own = await usageSavings({ ...admin, role: "user", scopes: ["usage:read"], apiKeyId: "nobody" }, {});
    expect(own.cache.savedCost).toBe(0n);
    const berlin = await usageSavings(admin, { tz: "Europe/Berlin" }); // hourly corrections
    expect(berlin.cache.savedCost).toBe(expected);
    const filtered = await usageSavings(admin, { model: "gpt-4o" }); // the full roll-up, filtered
    expect(filtered.cache.savedCost).toBe(
      2n * costOf(resolveModel("gpt-4o").price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost,
    );
    expect(filtered.cache.cachedRequests).toBe(4);

    const rest = await savingsRest(server.key); // the key's own usage: filtered roll-ups
    expect(rest.cache_saved_cost).toBe(Number(formatUsd(expected)));
    expect(rest.cached_requests).toBe(6);
    expect((await savingsRest(adminKey)).cache_saved_cost).toBe(Number(formatUsd(expected)));
  });

  it("prices each model's traffic on cheaper models of the same type and capabilities", async () => {
    const s = await usageSavings(admin, { alternatives: 50 });
    const gpt4o = s.models.find((m) => m.model === "gpt-4o")!;
    expect(gpt4o).toMatchObject({ requests: 6, inputTokens: 7, outputTokens: 11, type: "chat" });
    expect(gpt4o.cost).toBe(costOf(resolveModel("gpt-4o").price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost);
    const mini = gpt4o.alternatives.find((a) => a.model === "gpt-4o-mini")!;
    expect(mini.cost).toBe(costOf(resolveModel("gpt-4o-mini").price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost);
    expect(mini.saving).toBe(gpt4o.cost - mini.cost);
    expect(mini.available).toBe(true);
    const needs = resolveModel("gpt-4o").capabilities;
    for (const a of gpt4o.alternatives) {
      const m = resolveModel(a.model);
      expect(m.type).toBe("chat");
      expect(needs.every((c) => m.capabilities.includes(c))).toBe(true);
      expect(a.cost < gpt4o.cost).toBe(true);
    }
    const costs = gpt4o.alternatives.map((a) => a.cost);
    expect([...costs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(costs);
    // Dated snapshots at the same price are listed once, under the shortest id.
    expect(gpt4o.alternatives.some((a) => a.model === "gpt-4o-mini-2024-07-18")).toBe(false);
    // No model of the catalogue that qualifies is missing.
    const qualifying = listModels({ type: "chat", includeDisabled: false }).filter(
      (m) =>
        m.id !== "gpt-4o" &&
        needs.every((c) => m.capabilities.includes(c)) &&
        costOf(m.price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost < gpt4o.cost,
    );
    expect(new Set(qualifying.map((m) => costOf(m.price, { inputTokens: 7, outputTokens: 11, cachedInputTokens: 0 }).totalCost))).toEqual(
      new Set(gpt4o.alternatives.map((a) => a.cost)),
    );

    const emb = s.models.find((m) => m.model === "text-embedding-3-small")!;
    expect(emb).toMatchObject({ inputTokens: 3, type: "embedding" });
    expect(emb.alternatives.every((a) => resolveModel(a.model).type === "embedding")).toBe(true);
    expect(cheaperAlternatives(resolveModel("gpt-4o"), { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0 }, 0n)).toEqual([]);
  });

  it("answers the tRPC and REST shapes with exact decimals and refuses bad input", async () => {
    const rest = await savingsRest(adminKey, "?alternatives=2&kind=llm");
    const model = rest.models.find((m) => m.model === "gpt-4o")!;
    expect((model.alternatives as Body[]).length).toBeLessThanOrEqual(2);
    const bad = await fetch(`${server.url}/v1/llm/savings?alternatives=500`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain("alternatives");
  });
});
