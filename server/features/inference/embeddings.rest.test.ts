// Embeddings end to end: POST /v1/llm/generate-embeddings with the built-in local model and with
// OpenAI (the official SDK against the provider emulator), batching in order, usage and cost
// recorded; then text in the vector store: POST /v1/vector/documents and search by query_text,
// which work with no provider key at all.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../../tests/emulators/provider-emulator.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { resetEnvForTests } from "../../kernel/env.ts";
import { embedText, LocalEmbeddingProvider } from "../../providers/local.ts";
import { createOpenAIProvider } from "../../providers/openai.ts";
import { resetProvidersForTests } from "../../providers/registry.ts";
import { CLI_ACTOR } from "../../access/auth.ts";
import { createApiKey } from "../accounts/keys.ts";
import { resetModelCatalogueForTests } from "../catalogue/models.ts";
import { resetRateLimitersForTests } from "../../access/rate-limits.ts";
import { usageWriter } from "../usage/usage.ts";
import { resetVectorStoreForTests } from "../../vectors/index.ts";
import { llmGenerateEmbeddings } from "./embeddings.rest.ts";
import { vectorCollections, vectorDocuments, vectorSearch } from "../vectors/vectors.rest.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-embeddings-"));
Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent", RATE_LIMIT_REQUESTS: "1000" });
for (const v of ["QDRANT_URL", "QDRANT_HOST", "DATABASE_URL", "REDIS_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"]) delete process.env[v];
resetEnvForTests();
resetVectorStoreForTests();

/** The local provider with a small per-call limit, recording the batches it is given and how many ran at once. */
class SmallBatchLocal extends LocalEmbeddingProvider {
  override readonly maxEmbeddingsPerCall = 3;
  batches: number[] = [];
  inFlight = 0;
  mostInFlight = 0;
  override async generateEmbeddings(request: Parameters<LocalEmbeddingProvider["generateEmbeddings"]>[0]) {
    this.batches.push(request.texts.length);
    this.mostInFlight = Math.max(this.mostInFlight, ++this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 20)); // a call takes a while, as a remote one would
      return await super.generateEmbeddings(request);
    } finally {
      this.inFlight--;
    }
  }
}

async function post(handlers: { POST: (req: Request) => Promise<Response> }, key: string, body: unknown) {
  const res = await handlers.POST(
    new Request("http://localhost/v1/x", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    }),
  );
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe("embeddings and text in the vector store", () => {
  const { db } = useServiceDatabase("pglite");
  let emu: ProviderEmulator;
  let key: string;
  const local = new SmallBatchLocal();

  beforeAll(async () => {
    emu = await startProviderEmulator();
    resetModelCatalogueForTests();
    resetRateLimitersForTests();
    resetProvidersForTests([createOpenAIProvider({ apiKey: emu.openaiKey!, baseURL: emu.openaiBaseUrl }), local]);
    key = (await createApiKey(CLI_ACTOR, { name: "emb", tier: "premium" })).key;
  });
  afterAll(async () => {
    resetProvidersForTests();
    await emu?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const usageRows = async () => {
    await usageWriter().flush();
    return db().rawQuery<{
      endpoint: string;
      model_id: string;
      provider: string;
      status: string;
      input_tokens: number;
      total_cost: string;
      error_code: string | null;
    }>(`SELECT endpoint, model_id, provider, status, input_tokens, total_cost::text, error_code FROM usage_events ORDER BY created_at, id`);
  };

  it("embeds with the local model, in order, in batches of the provider's limit sent in parallel, at zero cost", async () => {
    const texts = ["one", "two words", "three little words", "four", "five", "six", "seven"];
    const r = await post(llmGenerateEmbeddings, key, { model: "local-hash-384", texts });
    expect(r.status).toBe(200);
    expect(r.body.model).toBe("local-hash-384");
    expect(r.body.embeddings).toEqual(texts.map((t) => embedText(t)));
    expect(r.body.usage).toEqual({ prompt_tokens: 10, total_tokens: 10 });
    expect(r.body.cost).toBe(0);
    expect(local.batches).toEqual([3, 3, 1]);
    expect(local.mostInFlight).toBe(3);
    expect((await usageRows()).at(-1)).toMatchObject({
      endpoint: "/v1/llm/generate-embeddings",
      model_id: "local-hash-384",
      provider: "local",
      status: "success",
      input_tokens: 10,
    });
  });

  it("embeds with OpenAI through its SDK, with `dimensions`, and records the exact cost", async () => {
    const r = await post(llmGenerateEmbeddings, key, {
      model: "text-embedding-3-small",
      texts: ["hello world", "vector search"],
      dimensions: 256,
    });
    expect(r.status).toBe(200);
    expect(r.body.embeddings).toHaveLength(2);
    expect(r.body.embeddings[0]).toHaveLength(256);
    expect(r.body.embeddings[1]).toEqual(emulatorEmbedding("vector search", "text-embedding-3-small", 256));
    // The emulator counts 4 words; text-embedding-3-small costs $0.02 per 1M tokens: 4 × 0.00000002.
    expect(r.body.usage).toEqual({ prompt_tokens: 4, total_tokens: 4 });
    expect(r.body.cost).toBe(0.00000008);
    const row = (await usageRows()).at(-1);
    expect(row).toMatchObject({ model_id: "text-embedding-3-small", provider: "openai", input_tokens: 4 });
    expect(Number(row!.total_cost)).toBe(0.00000008);
  });

  it("refuses a text over OpenAI's 8,192 tokens with a 400 naming it, before any call, and records nothing", async () => {
    const before = emu.requests.length;
    const rows = (await usageRows()).length;
    const long = " token".repeat(8_193);
    const r = await post(llmGenerateEmbeddings, key, { model: "text-embedding-3-small", texts: ["short", long] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe(
      "Text 1 has 8193 tokens; text-embedding-3-small takes at most 8191 tokens per text: split it into smaller pieces",
    );
    expect(emu.requests.length).toBe(before);
    expect((await usageRows()).length).toBe(rows);
  });

  it("keeps each call within OpenAI's 300,000 tokens per request: 40 texts of 8,000 tokens go in two calls, in order", async () => {
    const before = emu.requests.length;
    const texts = Array.from({ length: 40 }, (_, i) => `text${i}` + " token".repeat(7_999));
    const r = await post(llmGenerateEmbeddings, key, { model: "text-embedding-3-small", texts, cache: false });
    expect(r.status, JSON.stringify(r.body.error)).toBe(200);
    const calls = emu.requests.slice(before).filter((q) => q.path === "/v1/embeddings");
    expect(calls).toHaveLength(2);
    // Sent in parallel: in either order, the first 37 texts (296,037 tokens) and the last 3.
    expect(calls.map((q) => (q.body as { input: string[] }).input.length).sort((a, b) => a - b)).toEqual([3, 37]);
    expect(r.body.embeddings[39]).toEqual(emulatorEmbedding(texts[39]!, "text-embedding-3-small"));
    expect(r.body.embeddings[0]).toEqual(emulatorEmbedding(texts[0]!, "text-embedding-3-small"));
  });

  it("answers 400 for a chat model, 404 for an unknown one, 413 for too many texts", async () => {
    const chat = await post(llmGenerateEmbeddings, key, { model: "gpt-4o", texts: ["x"] });
    expect(chat.status).toBe(400);
    expect(chat.body.error.message).toMatch(/gpt-4o is a chat model/);
    expect((await post(llmGenerateEmbeddings, key, { model: "no-such-model", texts: ["x"] })).status).toBe(404);
    const many = await post(llmGenerateEmbeddings, key, { model: "local-hash-384", texts: Array.from({ length: 2049 }, () => "x") });
    expect(many.status).toBe(413);
    expect((await post(llmGenerateEmbeddings, key, { model: "local-hash-384", texts: [] })).status).toBe(400);
  });

  it("answers 503 with the reason when the provider has no key, and records the failure", async () => {
    resetProvidersForTests([createOpenAIProvider({ baseURL: emu.openaiBaseUrl }), local]);
    try {
      const r = await post(llmGenerateEmbeddings, key, { model: "text-embedding-3-small", texts: ["x"] });
      expect(r.status).toBe(503);
      expect(r.body.error.message).toMatch(/OPENAI_API_KEY is not set/);
    } finally {
      resetProvidersForTests([createOpenAIProvider({ apiKey: emu.openaiKey!, baseURL: emu.openaiBaseUrl }), local]);
    }
  });

  it("maps a provider failure to 502 and records it as an error", async () => {
    const r = await post(llmGenerateEmbeddings, key, { model: "text-embedding-3-small", texts: ["x [[emulator fault=quota]]"] });
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect((await usageRows()).at(-1)).toMatchObject({ model_id: "text-embedding-3-small", status: "error" });
  });

  it("upserts documents by text with the local model (no key needed), keeping the text in the payload", async () => {
    expect((await post(vectorCollections, key, { collection_name: "kb", vector_size: 384, distance: "Cosine" })).status).toBe(200);
    const r = await post(vectorDocuments, key, {
      collection_name: "kb",
      documents: [
        { id: "doc_reset", text: "How to reset your password from the account settings page", payload: { section: "account" } },
        { id: "doc_billing", text: "Invoices and billing history are under the billing tab" },
        { id: 3, text: "The weather in Lisbon is sunny and warm today" },
      ],
    });
    expect(r).toEqual({
      status: 200,
      body: {
        collection_name: "kb",
        status: "ok",
        upserted: 3,
        model: "local-hash-384",
        usage: { prompt_tokens: 28, total_tokens: 28 },
        cost: 0,
      },
    });
  });

  it("searches by query text, nearest first, with the document text in the payload", async () => {
    const r = await post(vectorSearch, key, { collection_name: "kb", query_text: "I forgot my password, how do I reset it?", limit: 2 });
    expect(r.status).toBe(200);
    expect(r.body.model).toBe("local-hash-384");
    expect(r.body.results[0]).toMatchObject({
      id: "doc_reset",
      payload: { section: "account", text: "How to reset your password from the account settings page" },
    });
    expect(r.body.results).toHaveLength(2);
    expect(r.body.results[0].score).toBeGreaterThan(r.body.results[1].score);
    const rows = await usageRows();
    expect(rows.map((row) => row.endpoint)).toEqual(expect.arrayContaining(["/v1/vector/documents", "/v1/vector/search"]));
  });

  it("embeds documents with OpenAI shortened to the collection's size", async () => {
    await post(vectorCollections, key, { collection_name: "kb_openai", vector_size: 64, distance: "Dot" });
    const up = await post(vectorDocuments, key, {
      collection_name: "kb_openai",
      model: "text-embedding-3-small",
      documents: [{ id: 1, text: "alpha beta" }],
    });
    expect(up.status).toBe(200);
    const s = await post(vectorSearch, key, {
      collection_name: "kb_openai",
      model: "text-embedding-3-small",
      query_text: "alpha beta",
      limit: 1,
    });
    expect(s.body.results[0]).toMatchObject({ id: 1, score: expect.closeTo(1, 5) });
  });

  it("refuses a search with both or neither of query_vector and query_text, and text with no words for Cosine", async () => {
    const both = await post(vectorSearch, key, { collection_name: "kb", query_text: "x", query_vector: [1] });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toMatch(/either query_vector, or query_text/);
    expect((await post(vectorSearch, key, { collection_name: "kb" })).status).toBe(400);
    const empty = await post(vectorSearch, key, { collection_name: "kb", query_text: "?!" });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toMatch(/query_text has nothing the model can embed/);
  });

  it("answers 404 for documents to an unknown collection before paying for embeddings", async () => {
    emu.reset();
    const r = await post(vectorDocuments, key, {
      collection_name: "nope",
      model: "text-embedding-3-small",
      documents: [{ id: 1, text: "x" }],
    });
    expect(r.status).toBe(404);
    expect(emu.requests).toHaveLength(0);
  });
});
