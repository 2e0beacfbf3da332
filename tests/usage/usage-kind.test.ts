// What a call was (llm or embedding) is recorded by the service that made it, not guessed from the
// endpoint's name: the embeddings that /v1/vector/documents, a query_text search and the tRPC vector
// procedures pay for count in GET /v1/llm/embedding-usage and not in GET /v1/llm/usage, for the
// caller (the full roll-up, filtered by user) and for an admin (the per-dimension roll-up), and
// the recent requests filter by the same kind. Through the real REST and tRPC endpoints, the
// official SDKs and the wire-level emulator.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient, type ModelServiceClient } from "@/client/index.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-usage-kind-"));
process.env.DATA_DIR = dataDir;
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
process.env.LOG_LEVEL = "silent";
process.env.RATE_LIMITS = '{"generate":"off","generate-embeddings":"off","vector-search":"off","tier:standard":"off","tier:premium":"off"}';

let emulator: ProviderEmulator;
let base: string;
let shutdown: () => Promise<void>;
let flush: () => Promise<void>;
let carolKey = "";
let adminKey = "";
let carolId = "";
let trpc: ModelServiceClient;

beforeAll(async () => {
  emulator = await startProviderEmulator();
  Object.assign(process.env, { OPENAI_API_KEY: emulator.openaiKey!, OPENAI_BASE_URL: emulator.openaiBaseUrl });
  (await import("@/server/kernel/env.ts")).resetEnvForTests();
  const { startHost } = await import("@/server/host/server.ts");
  const { CLI_ACTOR } = await import("@/server/access/auth.ts");
  const { createApiKey } = await import("@/server/features/accounts/keys.ts");
  const { createUser } = await import("@/server/features/accounts/users.ts");
  const { usageWriter } = await import("@/server/features/usage/usage.ts");
  const host = await startHost({ port: 0, host: "127.0.0.1", log: pino({ level: "silent" }) });
  base = host.url;
  shutdown = () => host.shutdown("test end");
  carolId = (await createUser({ email: "carol@kind.test", password: "carol-password" })).id;
  carolKey = (await createApiKey(CLI_ACTOR, { name: "carol", userEmail: "carol@kind.test", tier: "premium" })).key;
  adminKey = (await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true, tier: "premium" })).key;
  trpc = createModelServiceClient(base, { apiKey: carolKey });
  flush = () => usageWriter().flush();
}, 120_000);

afterAll(async () => {
  await shutdown?.();
  await emulator?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function call(method: string, url: string, key: string, body?: unknown) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: (await res.json()) as Json };
}

const today = new Date().toISOString().slice(0, 10);
const MODEL = "text-embedding-3-small"; // $0.02 per 1M tokens; the emulator counts words

describe("usage kinds", () => {
  beforeAll(async () => {
    expect(
      (await call("POST", "/v1/vector/collections", carolKey, { collection_name: "kind-docs", vector_size: 8, distance: "Cosine" })).status,
    ).toBe(200);
    // One text generation: gpt-4, 3 in and 5 out = 0.00009 + 0.0003.
    expect(
      (await call("POST", "/v1/llm/generate", carolKey, { model: "gpt-4", messages: [{ role: "user", content: "hello there friend" }] }))
        .status,
    ).toBe(200);
    // Seven embedding calls of 2 + 3 + 3 + 2 + 2 + 1 + 2 = 15 words (distinct texts: no cache hits).
    const paid = [
      await call("POST", "/v1/llm/generate-embeddings", carolKey, { model: MODEL, texts: ["one two"] }),
      await call("POST", "/v1/embeddings", carolKey, { model: MODEL, input: "three four five" }),
      await call("POST", "/v1/vector/documents", carolKey, {
        collection_name: "kind-docs",
        model: MODEL,
        documents: [
          { id: 1, text: "six seven" },
          { id: 2, text: "eight" },
        ],
      }),
      await call("POST", "/v1/vector/search", carolKey, { collection_name: "kind-docs", model: MODEL, query_text: "nine ten", limit: 2 }),
    ];
    for (const r of paid) expect(r.status, JSON.stringify(r.json)).toBe(200);
    await trpc.embeddings.generate.mutate({ model: MODEL, texts: ["eleven twelve"] });
    await trpc.vectors.upsertDocuments.mutate({ name: "kind-docs", model: MODEL, documents: [{ id: 3, text: "thirteen" }] });
    await trpc.vectors.searchText.mutate({ name: "kind-docs", model: MODEL, text: "fourteen fifteen" });
    await flush();
  }, 60_000);

  it("counts every paid embedding in /v1/llm/embedding-usage, whichever endpoint paid for it", async () => {
    const mine = await call("GET", `/v1/llm/embedding-usage?start_date=${today}&end_date=${today}`, carolKey);
    expect(mine.status).toBe(200);
    expect(mine.json).toMatchObject({ total_requests: 7, total_tokens: 15, total_cost: 0.0000003, requests_by_model: { [MODEL]: 7 } });
    const endpoints = (mine.json.breakdowns as { endpoint: { value: string; requests: number }[] }).endpoint;
    expect(Object.fromEntries(endpoints.map((e) => [e.value, e.requests]))).toEqual({
      "/v1/llm/generate-embeddings": 1,
      "/v1/embeddings": 1,
      "/v1/vector/documents": 1,
      "/v1/vector/search": 1,
      "trpc:embeddings.generate": 1,
      "trpc:vectors.upsertDocuments": 1,
      "trpc:vectors.searchText": 1,
    });
    // An admin's unfiltered view reads the per-dimension roll-up; filtered by user, the full one.
    const all = await call("GET", `/v1/llm/embedding-usage?start_date=${today}&end_date=${today}`, adminKey);
    expect(all.json).toMatchObject({ total_requests: 7, total_cost: 0.0000003 });
    const carols = await call("GET", `/v1/llm/embedding-usage?start_date=${today}&end_date=${today}&user_id=${carolId}`, adminKey);
    expect(carols.json).toMatchObject({ total_requests: 7, total_cost: 0.0000003 });
  });

  it("counts only text generation in /v1/llm/usage", async () => {
    const mine = await call("GET", `/v1/llm/usage?start_date=${today}&end_date=${today}`, carolKey);
    expect(mine.json).toMatchObject({ total_requests: 1, total_tokens: 8, total_cost: 0.00039, requests_by_model: { "gpt-4": 1 } });
    const all = await call("GET", `/v1/llm/usage?start_date=${today}&end_date=${today}`, adminKey);
    expect(all.json).toMatchObject({ total_requests: 1, total_cost: 0.00039 });
  });

  it("filters the recent requests and the dashboard's statistics by the same kind", async () => {
    const embeddings = await trpc.usage.recent.query({ kind: "embedding", limit: 50 });
    expect(embeddings.items.map((i) => i.endpoint).sort()).toEqual([
      "/v1/embeddings",
      "/v1/llm/generate-embeddings",
      "/v1/vector/documents",
      "/v1/vector/search",
      "trpc:embeddings.generate",
      "trpc:vectors.searchText",
      "trpc:vectors.upsertDocuments",
    ]);
    expect((await trpc.usage.recent.query({ kind: "llm", limit: 50 })).items.map((i) => i.model)).toEqual(["gpt-4"]);
    // The dashboard shows everything: both kinds add up to it.
    const stats = await trpc.usage.stats.query({ start: today, end: today });
    expect(stats.totals.requests).toBe(8);
    expect(stats.totals.cost).toBe("0.0003903");
  });
});
