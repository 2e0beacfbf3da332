// /v1/llm/generate end to end: our REST host → generation service → provider adapters (official
// SDKs) → the wire-level emulator; usage events checked in the database.
import { beforeAll, describe, expect, it } from "vitest";
import { createKey, useHost } from "@/tests/support/host.ts";

// This file checks generation, not the limiter (tested on its own): no limits in the way.
const host = useHost({ env: { RATE_LIMITS: '{"generate":"off","tier:standard":"off"}' } });

const KEY = "ms_generation_test_key_0123456789abcdef";
let base: string;
const flush = () => host.flush();

beforeAll(async () => {
  base = host.url;
  await createKey(host.db(), { name: "gen", secret: KEY, scopes: ["generate"] });
});

type Body = Record<string, unknown>;
async function generate(body: Body, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/v1/llm/generate`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Body & { error?: { code: string; message: string } } };
}

async function events(requestId: string) {
  await flush();
  return host.db().rawQuery<{
    status: string;
    error_code: string | null;
    model_id: string;
    provider: string;
    input_tokens: number;
    output_tokens: number;
    total_cost: string;
    stream: boolean;
    ttft_ms: number | null;
  }>("select status, error_code, model_id, provider, input_tokens, output_tokens, total_cost::text, stream, ttft_ms from usage_events where request_id = $1", [requestId]);
}

function sseEvents(text: string): Body[] {
  return text
    .split("\n\n")
    .filter((f) => f.startsWith("data: "))
    .map((f) => f.slice(6))
    .filter((d) => d !== "[DONE]")
    .map((d) => JSON.parse(d) as Body);
}

describe("POST /v1/llm/generate", () => {
  it("answers in the original service's shape with exact usage and cost (gpt-4 at $0.03/$0.06 per 1K)", async () => {
    const r = await generate(
      { model: "gpt-4", messages: [{ role: "user", content: "hello there friend" }] },
      { "x-request-id": "gen-plain-1" },
    );
    expect(r.status).toBe(200);
    // The emulator counts words: 3 in; replies "You said: hello there friend" = 5 out.
    expect(r.json).toMatchObject({
      model: "gpt-4",
      provider: "openai",
      response: "You said: hello there friend",
      finish_reason: "stop",
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
      cost: { input_cost: 0.00009, output_cost: 0.0003, total_cost: 0.00039 },
    });
    expect(typeof r.json.latency_ms).toBe("number");
    expect(await events("gen-plain-1")).toEqual([
      expect.objectContaining({
        status: "success",
        model_id: "gpt-4",
        provider: "openai",
        input_tokens: 3,
        output_tokens: 5,
        total_cost: "0.000390000000",
        stream: false,
      }),
    ]);
  });

  it("routes an alias to Anthropic with the system prompt in its system field", async () => {
    const r = await generate({
      model: "claude-3-haiku",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "one two" },
      ],
      max_tokens: 50,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ model: "claude-3-haiku-20240307", provider: "anthropic", response: "You said: one two" });
    const sent = host.emulator.requests.find((q) => q.protocol === "anthropic")!.body as Body;
    expect(sent.system).toBe("be brief");
    expect(sent.max_tokens).toBe(50);
    expect(sent.messages).toEqual([{ role: "user", content: "one two" }]);
  });

  it("prices cached input tokens at the cached price", async () => {
    // gpt-4o: $2.5 in, $1.25 cached, $10 out per 1M. 6 words in (after the directive), 2 cached.
    const r = await generate({ model: "gpt-4o", messages: [{ role: "user", content: "a b c d e f [[emulator cached=2 words=4]]" }] });
    expect(r.status).toBe(200);
    expect(r.json.usage).toMatchObject({ prompt_tokens: 6, completion_tokens: 4, cached_tokens: 2 });
    // 4 × 2.5e-6 + 2 × 1.25e-6 = 0.0000125; 4 × 10e-6 = 0.00004
    expect(r.json.cost).toEqual({ input_cost: 0.0000125, output_cost: 0.00004, total_cost: 0.0000525 });
  });

  it("streams text deltas, then a final event with usage and cost, then [DONE]", async () => {
    const res = await fetch(`${base}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": "gen-stream-1" },
      body: JSON.stringify({ model: "gpt-4", stream: true, messages: [{ role: "user", content: "alpha beta gamma" }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const text = await res.text();
    expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
    const all = sseEvents(text);
    const deltas = all.filter((e) => e.type === "delta").map((e) => e.text);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join("")).toBe("You said: alpha beta gamma");
    const done = all.at(-1)!;
    expect(done).toMatchObject({
      type: "done",
      response: "You said: alpha beta gamma",
      usage: { prompt_tokens: 3, completion_tokens: 5 },
      cost: { total_cost: 0.00039 },
    });
    const [e] = await events("gen-stream-1");
    expect(e).toMatchObject({ status: "success", stream: true, input_tokens: 3, output_tokens: 5, total_cost: "0.000390000000" });
    expect(e!.ttft_ms).not.toBeNull();
  });

  it("retries a 500 with backoff and succeeds, recording one event", async () => {
    const r = await generate(
      { model: "gpt-4", messages: [{ role: "user", content: "retry me [[emulator fail_first=2 status=500]]" }] },
      { "x-request-id": "gen-retry-1" },
    );
    expect(r.status).toBe(200);
    expect(host.emulator.requests.filter((q) => q.path === "/v1/chat/completions")).toHaveLength(3);
    expect(await events("gen-retry-1")).toHaveLength(1);
  });

  it("does not retry Anthropic's spend-cap 429: one call, a 503 without Retry-After, one event", async () => {
    const before = host.emulator.requests.filter((q) => q.protocol === "anthropic").length;
    const r = await generate(
      { model: "claude-3-haiku", messages: [{ role: "user", content: "capped [[emulator fault=spend_limit]]" }] },
      { "x-request-id": "gen-spend-cap-1" },
    );
    expect(r.status).toBe(503);
    expect(r.json.error?.message).toContain("spend limit");
    expect(host.emulator.requests.filter((q) => q.protocol === "anthropic").length - before).toBe(1);
    expect(await events("gen-spend-cap-1")).toHaveLength(1);
  });

  it("a reasoning model (sampling: false) refuses a temperature or top_p but the default, before any call; as a fallback it gets the call without them", async () => {
    const chats = () => host.emulator.requests.filter((q) => q.path === "/v1/chat/completions");
    const before = chats().length;
    for (const extra of [{ temperature: 0.2 }, { top_p: 0.5 }, { temperature: 0, cache: true }]) {
      const r = await generate(
        { model: "gpt-5-mini", messages: [{ role: "user", content: "think" }], ...extra },
        { "x-request-id": "gen-sampling-refused" },
      );
      expect(r.status).toBe(400);
      const field = "top_p" in extra ? "top_p" : "temperature";
      expect(r.json.error?.message).toBe(`gpt-5-mini takes only the default ${field} (1); leave ${field} out or set it to 1`);
    }
    expect(chats().length).toBe(before);
    expect(await events("gen-sampling-refused")).toHaveLength(0);
    expect((await generate({ model: "gpt-5-mini", messages: [{ role: "user", content: "think" }], temperature: 1 })).status).toBe(200);

    const fellBack = await generate({
      model: "gpt-4o-mini",
      fallbacks: ["gpt-5-nano"],
      temperature: 0.3,
      messages: [{ role: "user", content: "fall over [[emulator fail_first=3 status=500 key=sampling-fallback]]" }],
    });
    expect(fellBack.status, JSON.stringify(fellBack.json)).toBe(200);
    expect(fellBack.json).toMatchObject({ model: "gpt-5-nano" });
    const sent = chats().at(-1)!.body as Record<string, unknown>;
    expect(sent.model).toBe("gpt-5-nano");
    expect(sent).not.toHaveProperty("temperature");
    expect((chats().at(-2)!.body as Record<string, unknown>).temperature).toBe(0.3);
  });

  it("prices Anthropic's prompt-cache writes at the cache-write rate, reads at the cached rate, exact to the picodollar", async () => {
    // claude-3-5-sonnet-20241022: $3 in, $0.30 cached, $3.75 cache write, $15 out per 1M tokens.
    // 8 input tokens (the emulator counts words): 2 plain, 4 read, 2 written; 10 out ("You said: a … h").
    const r = await generate(
      { model: "claude-3-5-sonnet-20241022", messages: [{ role: "user", content: "a b c d e f g h [[emulator cached=4 cache_write=2]]" }] },
      { "x-request-id": "gen-cache-write-1" },
    );
    expect(r.status).toBe(200);
    // 2 × 3 + 4 × 0.30 + 2 × 3.75 = 14.7 µUSD in; 10 × 15 = 150 µUSD out (plain input pricing of the writes gave 13.2 in).
    expect(r.json.cost).toMatchObject({ input_cost: 0.0000147, output_cost: 0.00015, total_cost: 0.0001647 });
    const [e] = await events("gen-cache-write-1");
    expect(e).toMatchObject({ input_tokens: 8, output_tokens: 10, total_cost: "0.000164700000" });
    const [row] = await host
      .db()
      .rawQuery<{ cache_write_tokens: number; cached_input_tokens: number }>(
        "select cache_write_tokens, cached_input_tokens from usage_events where request_id = 'gen-cache-write-1'",
      );
    expect(row).toEqual({ cache_write_tokens: 2, cached_input_tokens: 4 });
  });

  it("honours a provider's Retry-After before retrying a 429", async () => {
    const started = Date.now();
    const r = await generate({
      model: "gpt-4",
      messages: [{ role: "user", content: "slow down [[emulator fail_first=1 status=429 retry_after_ms=400]]" }],
    });
    expect(r.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it("falls back to the next model when the first keeps failing", async () => {
    const r = await generate(
      {
        model: "gpt-4",
        fallbacks: ["claude-3-haiku"],
        messages: [{ role: "user", content: "fall back [[emulator fail_first=3 key=fb1 status=500]]" }],
      },
      { "x-request-id": "gen-fallback-1" },
    );
    expect(r.status).toBe(200);
    expect(r.json.provider).toBe("anthropic");
    expect(await events("gen-fallback-1")).toEqual([expect.objectContaining({ status: "success", provider: "anthropic" })]);
  });

  it("maps a failure that retries cannot fix to 502, records it, and leaks no key", async () => {
    const r = await generate(
      { model: "gpt-4", messages: [{ role: "user", content: "boom [[emulator fault=server_error]]" }] },
      { "x-request-id": "gen-fail-1" },
    );
    expect(r.status).toBe(502);
    expect(r.json.error?.code).toBe("provider_error");
    expect(JSON.stringify(r.json)).not.toContain(host.emulator.openaiKey!);
    expect(await events("gen-fail-1")).toEqual([
      expect.objectContaining({ status: "error", error_code: "provider_error", total_cost: "0.000000000000" }),
    ]);
  });

  it("answers 504 when the provider is slower than the request's deadline, and aborts the upstream call", async () => {
    const r = await generate({ model: "gpt-4", timeout_ms: 300, messages: [{ role: "user", content: "wait [[emulator delay=3000]]" }] });
    expect(r.status).toBe(504);
    expect(r.json.error?.code).toBe("timeout");
    const upstream = await host.emulator.waitFor((q) => q.path === "/v1/chat/completions");
    await expect.poll(() => upstream.aborted).toBe(true);
  });

  it("records a stream cut short by the provider with the tokens counted up to the cut", async () => {
    const res = await fetch(`${base}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": "gen-cut-1" },
      body: JSON.stringify({
        model: "gpt-4",
        stream: true,
        messages: [{ role: "user", content: "one two three four five six [[emulator fault=cut after=3]]" }],
      }),
    });
    expect(res.status).toBe(200);
    const all = sseEvents(await res.text());
    const deltas = all.filter((e) => e.type === "delta");
    expect(deltas).toHaveLength(3);
    expect(all.at(-1)).toMatchObject({ type: "error", error: { code: "provider_error" } });
    const [e] = await events("gen-cut-1");
    expect(e).toMatchObject({ status: "error", stream: true });
    expect(e!.output_tokens).toBeGreaterThan(0); // counted by our tokenizer: the provider never sent usage
    expect(e!.input_tokens).toBeGreaterThan(0);
    expect(Number(e!.total_cost)).toBeGreaterThan(0);
  });

  it("aborts the upstream stream when the client disconnects, and records what was streamed", async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/llm/generate`, {
      method: "POST",
      signal: controller.signal,
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": "gen-leave-1" },
      body: JSON.stringify({
        model: "gpt-4",
        stream: true,
        messages: [{ role: "user", content: "long [[emulator words=200 chunk_delay=30]]" }],
      }),
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first delta arrived
    controller.abort();
    const upstream = await host.emulator.waitFor((q) => q.path === "/v1/chat/completions");
    await expect.poll(() => upstream.aborted, { timeout: 5000 }).toBe(true);
    await expect.poll(async () => (await events("gen-leave-1")).length, { timeout: 5000 }).toBe(1);
    const [e] = await events("gen-leave-1");
    expect(e).toMatchObject({ status: "error", error_code: "client_closed", stream: true });
    expect(e!.output_tokens).toBeGreaterThan(0);
    expect(e!.output_tokens).toBeLessThan(200);
  });

  it("answers 400 naming the field, and 404 with a suggestion for an unknown model", async () => {
    const bad = await generate({ model: "gpt-4", messages: [{ role: "robot", content: "x" }] });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.message).toContain("messages[0].role");
    const unknown = await generate({ model: "gpt-4-turbo-previewz", messages: [{ role: "user", content: "x" }] });
    expect(unknown.status).toBe(404);
    expect(unknown.json.error?.message).toContain("gpt-4-turbo-preview");
  });

  it("refuses an embedding model for generation with 400", async () => {
    const r = await generate({ model: "text-embedding-3-small", messages: [{ role: "user", content: "x" }] });
    expect(r.status).toBe(400);
  });

  it("reserves each call's largest cost against the key's budget: 402 when it may not fit, counting calls not yet written", async () => {
    const budgetKey = "ms_generation_budget_key_0123456789abcd";
    await createKey(host.db(), { name: "budget", secret: budgetKey, scopes: ["generate"], monthlyBudgetUsd: "0.002" });
    const call = (maxTokens?: number) =>
      generate(
        { model: "gpt-4", ...(maxTokens ? { max_tokens: maxTokens } : {}), messages: [{ role: "user", content: "hello there friend" }] },
        { authorization: `Bearer ${budgetKey}` },
      );
    // gpt-4 at $30/$60 per 1M: 3 words in and 5 out cost $0.00039; with max_tokens 5 a call may cost
    // about $0.00117 (its prompt counted high), which fits. Without it the reply could be 8,192 tokens.
    expect((await call(5)).status).toBe(200);
    const unbounded = await call();
    expect(unbounded.status).toBe(402);
    expect(unbounded.json.error).toMatchObject({
      code: "budget_exceeded",
      details: { scope: "api_key", budget_usd: "0.002", spent_usd: "0.00039", remaining_usd: "0.00161" },
    });
    expect(unbounded.json.error?.message).toMatch(/this call may cost up to \$0\.49/);
    expect((await call(5)).status).toBe(200);
    expect((await call(5)).status).toBe(200);
    // $0.00117 spent (none of it written yet, perhaps): the next may cost more than the $0.00083 left.
    const refused = await call(5);
    expect(refused.status).toBe(402);
    expect(refused.json.error).toMatchObject({ code: "budget_exceeded", details: { spent_usd: "0.00117", remaining_usd: "0.00083" } });
    expect(host.emulator.requests.filter((q) => q.path === "/v1/chat/completions")).toHaveLength(3);
  });

  it("needs an API key", async () => {
    const res = await fetch(`${base}/v1/llm/generate`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(401);
  });
});
