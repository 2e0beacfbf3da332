// The response cache end to end: our host → generation service → the emulator, with REST, the
// OpenAI SDK and the Anthropic SDK. A repeated request is answered without a provider call, for
// free, recorded as a `cached` usage event with the cost it saved; temperature above 0 is cached
// only when forced; callers never see each other's entries; entries expire; streams replay.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { beforeEach, describe, expect, it } from "vitest";
import { getDatabase } from "@/server/db/index.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { clearCacheMemoryForTests, flushCacheWrites } from "@/server/features/inference/cache-store.ts";
import { createApiKey, setApiKeyResponseCache } from "@/server/features/accounts/keys.ts";
import { pricingFor, updateModel } from "@/server/features/catalogue/models.ts";
import { costOf, formatUsd } from "@/server/features/catalogue/pricing.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { sseFrames, useCompatServer } from "@/tests/openai-compat/harness.ts";

type Body = Record<string, unknown>;
type EventRow = {
  status: string;
  input_tokens: number;
  output_tokens: number;
  total_cost: string;
  saved_cost: string;
  stream: boolean;
  model_id: string;
};

describe.each(testDatabases())("response cache on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  let seq = 0;
  const rid = (name: string) => `${kind}-rc-${name}-${++seq}`;

  beforeEach(() => clearCacheMemoryForTests());

  async function generate(body: Body, opts: { key?: string; headers?: Record<string, string>; requestId?: string } = {}) {
    const res = await fetch(`${server.url}/v1/llm/generate`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${opts.key ?? server.key}`,
        "content-type": "application/json",
        ...(opts.requestId ? { "x-request-id": opts.requestId } : {}),
        ...opts.headers,
      },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      cache: res.headers.get("x-model-service-cache"),
      text,
      json: (text.startsWith("{") ? JSON.parse(text) : {}) as Body,
    };
  }

  async function events(requestId: string): Promise<EventRow[]> {
    await usageWriter().flush();
    return (await getDatabase()).rawQuery<EventRow>(
      "select status, input_tokens, output_tokens, total_cost::text, saved_cost::text, stream, model_id from usage_events where request_id = $1",
      [requestId],
    );
  }

  const chatCalls = () =>
    server.emulator.requests.filter((r) => r.path.endsWith("/chat/completions") || r.path.endsWith("/messages")).length;
  const prompt = (words: string) => ({ model: "gpt-4o", messages: [{ role: "user", content: words }] });

  it("answers a repeated request from the cache: one provider call, the hit free and recorded as `cached` with the cost it saved", async () => {
    const body = { ...prompt("what is the capital of france"), temperature: 0, cache: true };
    const firstId = rid("a");
    const first = await generate(body, { requestId: firstId });
    expect(first.status).toBe(200);
    expect(first.cache).toBe("miss");
    const secondId = rid("a");
    const second = await generate(body, { requestId: secondId });
    expect(second.status).toBe(200);
    expect(second.cache).toBe("hit");
    expect(chatCalls()).toBe(1);

    expect(second.json.response).toBe(first.json.response);
    expect(second.json.usage).toEqual(first.json.usage);
    expect(second.json.cost).toEqual({ input_cost: 0, output_cost: 0, total_cost: 0 });
    expect(second.json.id).not.toBe(first.json.id);
    // gpt-4o: $2.5 in, $10 out per 1M; the emulator counts words: 6 in, "You said: ..." 8 out.
    const paid = costOf(pricingFor("gpt-4o"), { inputTokens: 6, outputTokens: 8, cachedInputTokens: 0 }).totalCost;
    expect((first.json.cost as Body).total_cost).toBe(Number(formatUsd(paid)));
    expect(second.json.saved_cost).toBe(Number(formatUsd(paid)));

    expect(await events(firstId)).toEqual([
      expect.objectContaining({ status: "success", total_cost: "0.000095000000", saved_cost: "0.000000000000" }),
    ]);
    expect(await events(secondId)).toEqual([
      expect.objectContaining({
        status: "cached",
        input_tokens: 0,
        output_tokens: 0,
        total_cost: "0.000000000000",
        saved_cost: "0.000095000000",
        model_id: "gpt-4o",
      }),
    ]);
  });

  it("does not cache a request with temperature above 0 (or none) unless forced", async () => {
    const warm = { ...prompt("tell me a story about a cat"), temperature: 0.7, cache: true };
    expect((await generate(warm)).cache).toBe("bypass");
    expect((await generate(warm)).cache).toBe("bypass");
    const noTemperature = { ...prompt("tell me a story about a dog"), cache: true };
    expect((await generate(noTemperature)).cache).toBe("bypass");
    expect((await generate(noTemperature)).cache).toBe("bypass");
    expect(chatCalls()).toBe(4);

    const forced = { ...prompt("tell me a story about a cow"), temperature: 0.7, cache: "force" };
    expect((await generate(forced)).cache).toBe("miss");
    expect((await generate(forced)).cache).toBe("hit");
    expect(chatCalls()).toBe(5);
  });

  it("without `cache` nothing is cached and no header is sent", async () => {
    const body = { ...prompt("no cache asked here"), temperature: 0 };
    const a = await generate(body);
    const b = await generate(body);
    expect([a.cache, b.cache]).toEqual([null, null]);
    expect(chatCalls()).toBe(2);
  });

  it("keeps callers apart: another user's identical request is a miss; the same user's other key shares the entry", async () => {
    const alice = await createUser({ email: `alice-${kind}@example.com`, password: "correct horse battery" });
    const bob = await createUser({ email: `bob-${kind}@example.com`, password: "correct horse battery" });
    const alice1 = (await createApiKey(CLI_ACTOR, { name: "a1", userEmail: alice.email! })).key;
    const alice2 = (await createApiKey(CLI_ACTOR, { name: "a2", userEmail: alice.email! })).key;
    const bobKey = (await createApiKey(CLI_ACTOR, { name: "b", userEmail: bob.email! })).key;
    const body = { ...prompt("a private question"), temperature: 0, cache: true };
    expect((await generate(body, { key: alice1 })).cache).toBe("miss");
    expect((await generate(body, { key: bobKey })).cache).toBe("miss");
    expect((await generate(body, { key: alice2 })).cache).toBe("hit");
    expect((await generate(body, { key: bobKey })).cache).toBe("hit");
    expect(chatCalls()).toBe(2);
  });

  it("keys on what changes the answer: another model, message or max_tokens is a miss", async () => {
    const body = { ...prompt("keyed on parameters"), temperature: 0, cache: true };
    await generate(body);
    expect((await generate({ ...body, model: "gpt-4o-mini" })).cache).toBe("miss");
    expect((await generate({ ...body, max_tokens: 3 })).cache).toBe("miss");
    expect((await generate({ ...body, messages: [{ role: "user", content: "keyed on parameters!" }] })).cache).toBe("miss");
    expect((await generate(body)).cache).toBe("hit");
    expect(chatCalls()).toBe(4);
  });

  it("expires an entry after its TTL, also in the shared store", async () => {
    const body = { ...prompt("short lived answer"), temperature: 0, cache: true, cache_ttl: 1 };
    expect((await generate(body)).cache).toBe("miss");
    await flushCacheWrites();
    clearCacheMemoryForTests(); // the next read comes from the database, as on another instance
    expect((await generate(body)).cache).toBe("hit");
    await new Promise((r) => setTimeout(r, 1100));
    expect((await generate(body)).cache).toBe("miss");
    await flushCacheWrites();
    clearCacheMemoryForTests();
    await new Promise((r) => setTimeout(r, 1100));
    expect((await generate(body)).cache).toBe("miss");
    expect(chatCalls()).toBe(3);
  });

  it("answers a streamed request from the cache as a stream with the same frames", async () => {
    const body = { ...prompt("stream this answer please"), temperature: 0, cache: true, stream: true };
    const first = await generate(body);
    const secondId = rid("stream");
    const second = await generate(body, { requestId: secondId });
    expect([first.cache, second.cache]).toEqual(["miss", "hit"]);
    expect(chatCalls()).toBe(1);
    const deltas = (text: string) =>
      sseFrames(text)
        .filter((f) => f.data !== "[DONE]")
        .map((f) => JSON.parse(f.data) as Body)
        .filter((f) => f.type === "delta")
        .map((f) => f.text)
        .join("");
    expect(deltas(second.text)).toBe(deltas(first.text));
    expect(deltas(second.text)).toBe("You said: stream this answer please");
    const frames = sseFrames(second.text);
    expect(frames.at(-1)!.data).toBe("[DONE]");
    const done = JSON.parse(frames.at(-2)!.data) as Body;
    expect(done).toMatchObject({ type: "done", response: "You said: stream this answer please", cost: { total_cost: 0 }, cache: "hit" });
    // A plain request shares the entry a stream made, and the other way round.
    expect((await generate({ ...body, stream: false })).cache).toBe("hit");
    expect(await events(secondId)).toEqual([expect.objectContaining({ status: "cached", stream: true, total_cost: "0.000000000000" })]);
  });

  it("serves the OpenAI SDK (plain and streamed) and the Anthropic SDK through the header", async () => {
    const openai = new OpenAI({
      apiKey: server.key,
      baseURL: `${server.url}/v1`,
      maxRetries: 0,
      defaultHeaders: { "x-model-service-cache": "true" },
    });
    const req = { model: "gpt-4o-mini", temperature: 0, messages: [{ role: "user" as const, content: "hello from the sdk" }] };
    const a = await openai.chat.completions.create(req).withResponse();
    const b = await openai.chat.completions.create(req).withResponse();
    expect([a.response.headers.get("x-model-service-cache"), b.response.headers.get("x-model-service-cache")]).toEqual(["miss", "hit"]);
    expect(b.data.choices[0]!.message.content).toBe(a.data.choices[0]!.message.content);
    const stream = await openai.chat.completions.create({ ...req, stream: true }).withResponse();
    expect(stream.response.headers.get("x-model-service-cache")).toBe("hit");
    let text = "";
    for await (const chunk of stream.data) text += chunk.choices[0]?.delta.content ?? "";
    expect(text).toBe("You said: hello from the sdk");
    expect(chatCalls()).toBe(1);

    const anthropic = new Anthropic({
      apiKey: server.key,
      baseURL: server.url,
      maxRetries: 0,
      defaultHeaders: { "x-model-service-cache": "force" },
    });
    const msg = { model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user" as const, content: "hello claude" }] };
    const c = await anthropic.messages.create(msg).withResponse();
    const d = await anthropic.messages.create(msg).withResponse();
    expect([c.response.headers.get("x-model-service-cache"), d.response.headers.get("x-model-service-cache")]).toEqual(["miss", "hit"]);
    expect(d.data.content).toEqual(c.data.content);
    expect(chatCalls()).toBe(2);
  });

  it("caches every request of a key with the setting on, unless a request says cache: false", async () => {
    const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "cached-key", cacheResponses: true });
    const body = { ...prompt("the key decides"), temperature: 0 };
    expect((await generate(body, { key })).cache).toBe("miss");
    expect((await generate(body, { key })).cache).toBe("hit");
    expect((await generate({ ...body, cache: false }, { key })).cache).toBe(null);
    await setApiKeyResponseCache(CLI_ACTOR, apiKey.id, false);
    await new Promise((r) => setTimeout(r, 1100)); // key settings are cached for up to 1 s
    expect((await generate(body, { key })).cache).toBe(null);
    expect(chatCalls()).toBe(3);
  });

  it("does not answer from the cache for a model disabled since", async () => {
    const body = { model: "gpt-4.1-nano", messages: [{ role: "user", content: "soon disabled" }], temperature: 0, cache: true };
    expect((await generate(body)).cache).toBe("miss");
    await updateModel("gpt-4.1-nano", { enabled: false }, "test-admin");
    try {
      const res = await generate(body);
      expect(res.status).toBe(403);
    } finally {
      await updateModel("gpt-4.1-nano", { enabled: true }, "test-admin");
    }
    expect((await generate(body)).cache).toBe("hit");
    expect(chatCalls()).toBe(1);
  });

  it("refuses a bad cache value or TTL with 400 naming the field", async () => {
    const body = { ...prompt("bad values"), temperature: 0 };
    const bad = await generate({ ...body, cache: "yes" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain("cache");
    const header = await generate(body, { headers: { "x-model-service-cache": "maybe" } });
    expect(header.status).toBe(400);
    expect(JSON.stringify(header.json)).toContain("x-model-service-cache");
    const ttl = await generate({ ...body, cache: true, cache_ttl: 10 ** 9 });
    expect(ttl.status).toBe(400);
    expect(JSON.stringify(ttl.json)).toContain("cache_ttl");
    expect(chatCalls()).toBe(0);
  });
});
