// The embedding cache end to end (on by default): identical (model, dimensions, text) embeddings
// are paid once; a batch with some cached texts sends only the misses to the emulator, each
// distinct text once, and answers in the request's order; usage records the tokens paid and the
// cost saved; `cache: false` and free models bypass it.
import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { getDatabase } from "@/server/db/index.ts";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { clearCacheMemoryForTests, flushCacheWrites } from "@/server/features/inference/cache-store.ts";
import { apportionTokens } from "@/server/features/inference/embedding-cache.ts";
import { pricingFor } from "@/server/features/catalogue/models.ts";
import { costOf, formatUsd } from "@/server/features/catalogue/pricing.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { emulatorEmbedding } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useCompatServer } from "@/tests/openai-compat/harness.ts";

type Body = Record<string, unknown>;
const MODEL = "text-embedding-3-small";

describe.each(testDatabases())("embedding cache on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  let seq = 0;
  const rid = () => `${kind}-ec-${++seq}`;

  beforeEach(() => clearCacheMemoryForTests());

  async function embed(body: Body, requestId = rid(), key = server.key) {
    const res = await fetch(`${server.url}/v1/llm/generate-embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Body & { embeddings: number[][] }, requestId };
  }

  async function event(requestId: string) {
    await usageWriter().flush();
    const rows = await (
      await getDatabase()
    ).rawQuery<{ status: string; input_tokens: number; total_cost: string; saved_cost: string }>(
      "select status, input_tokens, total_cost::text, saved_cost::text from usage_events where request_id = $1",
      [requestId],
    );
    expect(rows).toHaveLength(1);
    return rows[0]!;
  }

  const embeddingInputs = () =>
    server.emulator.requests.filter((r) => r.path.endsWith("/embeddings")).map((r) => (r.body as { input: string[] }).input);
  const usd = (tokens: number) =>
    formatUsd(costOf(pricingFor(MODEL), { inputTokens: tokens, outputTokens: 0, cachedInputTokens: 0 }).totalCost);
  const pad = (s: string) => Number(s).toFixed(12);

  it("sends only the misses of a batch, each distinct text once, and keeps the order", async () => {
    // Paid one by one, so each entry holds its own exact token count (the emulator counts words).
    await embed({ model: MODEL, texts: ["alpha one"] }); // 2 tokens
    await embed({ model: MODEL, texts: ["beta two three"] }); // 3 tokens
    await flushCacheWrites();
    clearCacheMemoryForTests(); // the hits below come from the shared store
    server.emulator.reset();

    const texts = ["beta two three", "gamma gamma", "alpha one", "delta", "gamma gamma"];
    const out = await embed({ model: MODEL, texts });
    expect(out.status).toBe(200);
    expect(embeddingInputs()).toEqual([["gamma gamma", "delta"]]);
    expect(out.json.embeddings).toEqual(texts.map((t) => emulatorEmbedding(t, MODEL)));
    // Paid: "gamma gamma" + "delta" = 3 tokens (split 2 + 1 by length). Saved: 3 + 2 from the cache, 2 for the repeat.
    expect(out.json.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(out.json.cached_texts).toBe(3);
    expect(out.json.saved_cost).toBe(Number(usd(7)));
    const e = await event(out.requestId);
    expect(e).toEqual({ status: "success", input_tokens: 3, total_cost: pad(usd(3)), saved_cost: pad(usd(7)) });
  });

  it("answers a batch entirely from the cache without the provider: status cached, cost 0", async () => {
    await embed({ model: MODEL, texts: ["epsilon five", "zeta six"] });
    server.emulator.reset();
    const out = await embed({ model: MODEL, texts: ["zeta six", "epsilon five", "zeta six"] });
    expect(embeddingInputs()).toEqual([]);
    expect(out.json.embeddings).toEqual(["zeta six", "epsilon five", "zeta six"].map((t) => emulatorEmbedding(t, MODEL)));
    expect(out.json.cost).toBe(0);
    const e = await event(out.requestId);
    expect(e.status).toBe("cached");
    expect(e.input_tokens).toBe(0);
    expect(e.total_cost).toBe("0.000000000000");
    // The first batch's 4 tokens were split by length over its two texts (2 + 2): saved 2 + 2 + 2.
    expect(e.saved_cost).toBe(pad(usd(6)));
  });

  it("keys on dimensions and model, and is bypassed with cache: false or the header", async () => {
    await embed({ model: MODEL, texts: ["eta seven"] });
    server.emulator.reset();
    const shorter = await embed({ model: MODEL, texts: ["eta seven"], dimensions: 256 });
    expect(shorter.json.embeddings[0]).toEqual(emulatorEmbedding("eta seven", MODEL, 256));
    await embed({ model: "text-embedding-3-large", texts: ["eta seven"] });
    await embed({ model: MODEL, texts: ["eta seven"], cache: false });
    const viaHeader = await fetch(`${server.url}/v1/embeddings`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json", "x-model-service-cache": "false" },
      body: JSON.stringify({ model: MODEL, input: "eta seven", encoding_format: "float" }),
    });
    expect(viaHeader.status).toBe(200);
    expect(embeddingInputs()).toHaveLength(4);
  });

  it("serves the OpenAI SDK's base64 embeddings from the cache with the same numbers", async () => {
    const client = new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
    const a = await client.embeddings.create({ model: MODEL, input: ["theta eight", "iota nine"] });
    const b = await client.embeddings.create({ model: MODEL, input: ["iota nine", "theta eight"] });
    expect(embeddingInputs()).toEqual([["theta eight", "iota nine"]]);
    expect(b.data[0]!.embedding).toEqual(a.data[1]!.embedding);
    expect(b.data[1]!.embedding).toEqual(a.data[0]!.embedding);
    expect(b.usage).toEqual({ prompt_tokens: 0, total_tokens: 0 });
  });

  it("keeps each owner's entries to themselves: no hit, no saved cost, the provider paid again", async () => {
    const ada = await createUser({ email: `ada-ec-${kind}@example.com`, password: "a-long-password-1" });
    const bob = await createUser({ email: `bob-ec-${kind}@example.com`, password: "a-long-password-1" });
    const adaKey = (await createApiKey(CLI_ACTOR, { name: "ada 1", userEmail: ada.email! })).key;
    const adaOtherKey = (await createApiKey(CLI_ACTOR, { name: "ada 2", userEmail: ada.email! })).key;
    const bobKey = (await createApiKey(CLI_ACTOR, { name: "bob", userEmail: bob.email! })).key;
    const text = `a private note of ${kind}`;
    const first = await embed({ model: MODEL, texts: [text] }, rid(), adaKey);
    expect(first.json.cached_texts).toBe(0);
    await flushCacheWrites();
    clearCacheMemoryForTests(); // what another instance would see: the shared store only
    server.emulator.reset();

    // Bob, and the service's own key (no user), are other owners: a miss each, paid in full.
    for (const key of [bobKey, server.key]) {
      const other = await embed({ model: MODEL, texts: [text] }, rid(), key);
      expect(other.json.cached_texts).toBe(0);
      expect(other.json.saved_cost).toBe(0);
      expect(other.json.usage).toEqual(first.json.usage);
      expect((await event(other.requestId)).status).toBe("success");
    }
    expect(embeddingInputs()).toEqual([[text], [text]]);

    // Ada's other key is the same owner: a hit, with what it saved.
    server.emulator.reset();
    const mine = await embed({ model: MODEL, texts: [text] }, rid(), adaOtherKey);
    expect(embeddingInputs()).toEqual([]);
    expect(mine.json.cached_texts).toBe(1);
    expect(mine.json.embeddings).toEqual(first.json.embeddings);
    const e = await event(mine.requestId);
    expect(e).toMatchObject({
      status: "cached",
      input_tokens: 0,
      saved_cost: pad(usd((first.json.usage as { prompt_tokens: number }).prompt_tokens)),
    });
  });

  it("shares entries between owners with EMBEDDING_CACHE_SCOPE=global", async () => {
    const carol = await createUser({ email: `carol-ec-${kind}@example.com`, password: "a-long-password-1" });
    const carolKey = (await createApiKey(CLI_ACTOR, { name: "carol", userEmail: carol.email! })).key;
    process.env.EMBEDDING_CACHE_SCOPE = "global";
    resetEnvForTests();
    try {
      await embed({ model: MODEL, texts: ["a public sentence"] }, rid(), carolKey);
      server.emulator.reset();
      const other = await embed({ model: MODEL, texts: ["a public sentence"] });
      expect(embeddingInputs()).toEqual([]);
      expect(other.json.cached_texts).toBe(1);
    } finally {
      delete process.env.EMBEDDING_CACHE_SCOPE;
      resetEnvForTests();
    }
  });

  it("does not cache the free local model", async () => {
    await embed({ model: "local-hash-384", texts: ["kappa ten"] });
    const out = await embed({ model: "local-hash-384", texts: ["kappa ten"] });
    expect((await event(out.requestId)).status).toBe("success");
  });
});

describe("apportionTokens", () => {
  it("splits a batch's count by text length and the parts add up exactly", () => {
    expect(apportionTokens(["gamma gamma", "delta"], 3)).toEqual([2, 1]);
    expect(apportionTokens(["a"], 7)).toEqual([7]);
    const parts = apportionTokens(["x", "yy", "zzz", "wwww"], 11);
    expect(parts.reduce((a, b) => a + b, 0)).toBe(11);
  });
});
