// Usage over HTTP, end to end: calls through POST /v1/llm/generate (the official SDKs against the
// wire-level emulator) are recorded, then GET /v1/llm/usage and /v1/llm/embedding-usage answer
// with exact sums in the original service's shape, POST /v1/llm/cost prices a call, and /metrics
// shows the calls, the rate-limit refusals and the usage writer.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-usage-http-"));
process.env.DATA_DIR = dataDir;
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
process.env.LOG_LEVEL = "silent";
const METRICS_TOKEN = "metrics-token-for-tests-0123456789";
process.env.METRICS_TOKEN = METRICS_TOKEN;

let emulator: ProviderEmulator;
let base: string;
let shutdown: () => Promise<void>;
let flush: () => Promise<void>;
const keys = { admin: "", alice: "", bob: "", basic: "" };
let bobUserId = "";
let aliceUserId = "";

beforeAll(async () => {
  emulator = await startProviderEmulator();
  Object.assign(process.env, {
    OPENAI_API_KEY: emulator.openaiKey!,
    OPENAI_BASE_URL: emulator.openaiBaseUrl,
    ANTHROPIC_API_KEY: emulator.anthropicKey!,
    ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
  });
  const { resetEnvForTests } = await import("@/server/kernel/env.ts");
  resetEnvForTests();
  const { startHost } = await import("@/server/host/server.ts");
  const { CLI_ACTOR } = await import("@/server/access/auth.ts");
  const { createApiKey } = await import("@/server/features/accounts/keys.ts");
  const { createUser } = await import("@/server/features/accounts/users.ts");
  const { usageWriter } = await import("@/server/features/usage/usage.ts");
  const { setRetryPolicyForTests } = await import("@/server/features/inference/generation.ts");
  setRetryPolicyForTests({ baseDelayMs: 5, maxDelayMs: 20 });
  const host = await startHost({ port: 0, host: "127.0.0.1", log: pino({ level: "silent" }) });
  base = host.url;
  shutdown = () => host.shutdown("test end");
  aliceUserId = (await createUser({ email: "alice@usage.test", password: "alice-password" })).id;
  bobUserId = (await createUser({ email: "bob@usage.test", password: "bob-password" })).id;
  keys.admin = (await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true, tier: "premium" })).key;
  keys.alice = (await createApiKey(CLI_ACTOR, { name: "alice", userEmail: "alice@usage.test", tier: "premium" })).key;
  keys.bob = (await createApiKey(CLI_ACTOR, { name: "bob", userEmail: "bob@usage.test", tier: "premium" })).key;
  keys.basic = (await createApiKey(CLI_ACTOR, { name: "basic", tier: "basic" })).key;
  flush = () => usageWriter().flush();
}, 120_000);

afterAll(async () => {
  await shutdown?.();
  await emulator?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function call(method: string, url: string, key: string | null, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body ? { "content-type": "application/json" } : {}), ...headers },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, text, json: (text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : {}) as Json };
}

const today = new Date().toISOString().slice(0, 10);

describe("usage over REST", () => {
  beforeAll(async () => {
    const gen = (key: string, body: Record<string, unknown>) => call("POST", "/v1/llm/generate", key, body);
    // Alice: plain gpt-4 (3 in, 5 out: 0.00009 + 0.0003), streamed gpt-4 (the same), gpt-4o with
    // 2 of 6 input tokens cached (4 × 2.5e-6 + 2 × 1.25e-6 + 4 × 10e-6 = 0.0000525), and a failure.
    expect((await gen(keys.alice, { model: "gpt-4", messages: [{ role: "user", content: "hello there friend" }] })).status).toBe(200);
    const streamed = await gen(keys.alice, { model: "gpt-4", stream: true, messages: [{ role: "user", content: "alpha beta gamma" }] });
    expect(streamed.status).toBe(200);
    expect(streamed.text).toContain("[DONE]");
    expect(
      (await gen(keys.alice, { model: "gpt-4o", messages: [{ role: "user", content: "a b c d e f [[emulator cached=2 words=4]]" }] }))
        .status,
    ).toBe(200);
    expect(
      (await gen(keys.alice, { model: "gpt-4", messages: [{ role: "user", content: "no [[emulator fault=quota]]" }] })).status,
    ).toBeGreaterThanOrEqual(400);
    // Bob: claude-3-haiku, 2 in, 4 out: 2 × 0.25e-6 + 4 × 1.25e-6 = 0.0000055
    expect((await gen(keys.bob, { model: "claude-3-haiku", messages: [{ role: "user", content: "hi bob" }] })).status).toBe(200);
    await flush();
  }, 60_000);

  it("answers GET /v1/llm/usage with the caller's exact totals in the original shape", async () => {
    const r = await call("GET", `/v1/llm/usage?start_date=${today}&end_date=${today}`, keys.alice);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      total_requests: 4,
      total_tokens: 8 + 8 + 10,
      total_cost: 0.0008325,
      requests_by_model: { "gpt-4": 3, "gpt-4o": 1 },
      cost_by_model: { "gpt-4": 0.00078, "gpt-4o": 0.0000525 },
      daily_usage: [{ date: today, requests: 4, tokens: 26, cost: 0.0008325 }],
      total_errors: 1,
      error_rate: 0.25,
      total_cached_tokens: 2,
      tz: "UTC",
    });
    const admin = await call("GET", `/v1/llm/usage?start_date=${today}&end_date=${today}`, keys.admin);
    expect(admin.json).toMatchObject({ total_requests: 5, total_cost: 0.000838 });
    const bobOnly = await call("GET", `/v1/llm/usage?start_date=${today}&end_date=${today}&user_id=${bobUserId}`, keys.admin);
    expect(bobOnly.json).toMatchObject({ total_requests: 1, total_cost: 0.0000055, requests_by_model: { "claude-3-haiku-20240307": 1 } });
  });

  it("refuses another user's usage (403), bad dates and zones (400), and anonymous callers (401)", async () => {
    const other = await call("GET", `/v1/llm/usage?user_id=${bobUserId}`, keys.alice);
    expect(other.status).toBe(403);
    expect(other.json.error?.code).toBe("forbidden");
    expect((await call("GET", `/v1/llm/usage?user_id=${aliceUserId}`, keys.alice)).status).toBe(200);
    const badDate = await call("GET", "/v1/llm/usage?start_date=2026-02-30", keys.alice);
    expect(badDate.status).toBe(400);
    expect(badDate.json.error?.message).toMatch(/start_date/);
    const badTz = await call("GET", "/v1/llm/usage?tz=Nowhere/Land", keys.alice);
    expect(badTz.status).toBe(400);
    expect(badTz.json.error?.message).toMatch(/tz/);
    expect((await call("GET", "/v1/llm/usage", null)).status).toBe(401);
  });

  it("answers GET /v1/llm/embedding-usage for embedding endpoints only", async () => {
    const e = await call("GET", `/v1/llm/embedding-usage?start_date=${today}&end_date=${today}`, keys.alice);
    expect(e.status).toBe(200);
    expect(e.json).toMatchObject({ total_requests: 0, total_cost: 0, requests_by_model: {} });
  });

  it("prices a call with POST /v1/llm/cost, exactly, and names a bad field", async () => {
    const r = await call("POST", "/v1/llm/cost", keys.alice, { model: "gpt-4", input_tokens: 100, output_tokens: 50 });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      model: "gpt-4",
      provider: "openai",
      input_cost: 0.003,
      output_cost: 0.003,
      total_cost: 0.006,
      cost_per_1k_input: 0.03,
      cost_per_1k_output: 0.06,
      cost_per_1k_cached_input: 0.03,
    });
    const cached = await call("POST", "/v1/llm/cost", keys.alice, {
      model: "gpt-4o",
      input_tokens: 1000,
      output_tokens: 200,
      cached_tokens: 400,
    });
    expect(cached.json).toMatchObject({ input_cost: 0.002, output_cost: 0.002, total_cost: 0.004, cost_per_1k_cached_input: 0.00125 });
    const bad = await call("POST", "/v1/llm/cost", keys.alice, { model: "gpt-4", input_tokens: -1, output_tokens: 0 });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.message).toMatch(/input_tokens/);
    const tooCached = await call("POST", "/v1/llm/cost", keys.alice, {
      model: "gpt-4",
      input_tokens: 1,
      output_tokens: 0,
      cached_tokens: 5,
    });
    expect(tooCached.status).toBe(400);
    expect(tooCached.json.error?.message).toMatch(/cached_tokens/);
    expect((await call("POST", "/v1/llm/cost", keys.alice, { model: "gpt-nothing", input_tokens: 1, output_tokens: 1 })).status).toBe(404);
  });
});

describe("GET /metrics", () => {
  it("is for admins and the METRICS_TOKEN only", async () => {
    expect((await call("GET", "/metrics", null)).status).toBe(401);
    expect((await call("GET", "/metrics", keys.alice)).status).toBe(403);
    expect((await call("GET", "/metrics", METRICS_TOKEN)).status).toBe(200);
    expect((await call("GET", "/metrics", keys.admin)).status).toBe(200);
  });

  it("counts requests, tokens and cost by model, provider and status, with latency histograms", async () => {
    // Eleven calls on a basic-tier key (10 per hour): the last is refused.
    for (let i = 0; i < 11; i++) await call("POST", "/v1/llm/cost", keys.basic, { model: "gpt-4", input_tokens: 1, output_tokens: 1 });
    const r = await call("GET", "/metrics", METRICS_TOKEN);
    expect(r.status).toBe(200);
    const text = r.text;
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };
    expect(value('model_service_requests_total{model="gpt-4",provider="openai",status="success"}')).toBe(2);
    expect(value('model_service_requests_total{model="gpt-4",provider="openai",status="error"}')).toBe(1);
    expect(value('model_service_requests_total{model="claude-3-haiku-20240307",provider="anthropic",status="success"}')).toBe(1);
    expect(value('model_service_tokens_total{model="gpt-4",provider="openai",type="input"}')).toBe(6);
    expect(value('model_service_tokens_total{model="gpt-4",provider="openai",type="output"}')).toBe(10);
    expect(value('model_service_tokens_total{model="gpt-4o",provider="openai",type="cached_input"}')).toBe(2);
    expect(value('model_service_cost_usd_total{model="gpt-4",provider="openai",status="success"}')).toBeCloseTo(0.00078, 12);
    expect(value('model_service_request_duration_seconds_count{model="gpt-4",provider="openai",status="success"}')).toBe(2);
    expect(value('model_service_time_to_first_token_seconds_count{model="gpt-4",provider="openai"}')).toBe(1);
    expect(value('model_service_gateway_overhead_seconds_count{provider="openai"}')).toBe(3);
    expect(value('model_service_rate_limit_rejections_total{limit="tier:basic"}')).toBe(1);
    expect(value("model_service_usage_writer_queue_depth")).toBe(0);
    expect(value("model_service_usage_writer_failed_flushes_total")).toBe(0);
    expect(value("model_service_usage_events_written_total")).toBeGreaterThanOrEqual(5);
    // Default process metrics.
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m);
    expect(text).toContain("# TYPE model_service_cost_usd_total counter");
  });
});
