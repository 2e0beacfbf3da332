// Budgets through the real server (server/main.ts --api-only, as `npm start` runs it) on the
// embedded PGlite and on PostgreSQL (TEST_DATABASE_URL), the official SDKs against the wire-level
// emulator (vectors in pgvector on PGlite, in the Qdrant emulator on PostgreSQL, whose Debian build
// has no pgvector): every paid embedding endpoint answers 402 once the key's budget is spent; a free
// first model that fails does not fall back to a paid one past a spent budget; and 40 concurrent
// calls on a key whose budget fits a few of them spend no more than the budget.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { openDatabase, type DatabaseHandle } from "@/server/db/index.ts";
import { parseUsd } from "@/server/services/pricing.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startQdrantEmulator, type QdrantEmulator } from "@/tests/emulators/qdrant-emulator.ts";
import { createScratchPostgres, testDatabases } from "@/tests/support/db.ts";
import type { ScratchPostgres } from "@/tests/support/scratch-postgres.ts";
import { startServerProcess, type ServerProcess } from "@/tests/support/server-process.ts";
import { createKey, NO_RATE_LIMITS, post, recordedSpend, recordSpend, streamedToTheEnd, usd } from "./support.ts";

let emulator: ProviderEmulator;
beforeAll(async () => {
  emulator = await startProviderEmulator();
});
afterAll(() => emulator?.close());

describe.each(testDatabases())("budgets over HTTP on $kind", ({ kind }) => {
  let server: ServerProcess;
  let db: DatabaseHandle;
  let scratch: ScratchPostgres | undefined;
  let qdrant: QdrantEmulator | undefined;
  let admin = "";
  const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-budgets-http-"));

  beforeAll(async () => {
    scratch = kind === "postgres" ? await createScratchPostgres() : undefined;
    qdrant = kind === "postgres" ? await startQdrantEmulator() : undefined;
    server = await startServerProcess({
      QDRANT_URL: qdrant?.url ?? "",
      ...NO_RATE_LIMITS,
      DATA_DIR: dataDir,
      DATABASE_URL: scratch?.url ?? "",
      REDIS_URL: "",
      OPENAI_API_KEY: emulator.openaiKey!,
      OPENAI_BASE_URL: emulator.openaiBaseUrl,
      ANTHROPIC_API_KEY: emulator.anthropicKey!,
      ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
    });
    // As the CLI would: PostgreSQL directly, PGlite through the server that owns it.
    db = await openDatabase(scratch ? { databaseUrl: scratch.url, dataDir: "" } : { dataDir });
    admin = (await createKey(db, "admin", { admin: true })).key;
  }, 180_000);

  afterAll(async () => {
    await db?.close();
    await server?.stop();
    await scratch?.drop();
    await qdrant?.close();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("answers 402 on every paid embedding endpoint once the budget is spent, and calls no provider", async () => {
    const spent = await createKey(db, "emb-spent", { budgetUsd: "0.01" });
    await recordSpend(db, spent.id, "0.01");
    const { key } = spent;
    const model = "text-embedding-3-small";
    const collection = `budget-docs-${kind}`;
    // A collection of the local model's size, so the free model can still fill it.
    expect((await post(server.url, "/v1/vector/collections", key, { collection_name: collection, vector_size: 384 })).status).toBe(200);
    emulator.reset();
    const refused = [
      await post(server.url, "/v1/llm/generate-embeddings", key, { model, texts: ["one two"] }),
      await post(server.url, "/v1/embeddings", key, { model, input: "three four" }),
      await post(server.url, "/v1/vector/documents", key, { collection_name: collection, model, documents: [{ id: 1, text: "five six" }] }),
      await post(server.url, "/v1/vector/search", key, { collection_name: collection, model, query_text: "seven eight" }),
    ];
    for (const r of refused) {
      expect(r.status, r.text.slice(0, 300)).toBe(402);
    }
    for (const r of [refused[0]!, refused[2]!, refused[3]!]) {
      expect(r.json).toMatchObject({ error: { code: "budget_exceeded", details: { scope: "api_key", budget_usd: "0.01", spent_usd: "0.01", remaining_usd: "0" } } });
    }
    // OpenAI's protocol: its own error shape for the same refusal.
    expect(refused[1]!.json).toMatchObject({ error: { type: "insufficient_quota", code: "insufficient_quota" } });
    const trpc = createModelServiceClient(server.url, { apiKey: key });
    const trpcCalls = [
      trpc.embeddings.generate.mutate({ model, texts: ["nine ten"] }),
      trpc.vectors.upsertDocuments.mutate({ name: collection, model, documents: [{ id: 2, text: "eleven" }] }),
      trpc.vectors.searchText.mutate({ name: collection, model, text: "twelve" }),
    ];
    for (const call of trpcCalls) await expect(call).rejects.toMatchObject({ data: { appCode: "budget_exceeded", httpStatus: 402 } });
    expect(emulator.requests.filter((r) => r.path === "/v1/embeddings")).toEqual([]);
    // Free models keep working.
    expect((await post(server.url, "/v1/vector/documents", key, { collection_name: collection, documents: [{ id: 3, text: "free words" }] })).status).toBe(200);
    expect(await recordedSpend(db, spent.id)).toMatchObject({ cost: parseUsd("0.01") });
  });

  it("does not fall back from a free model that fails to a paid one past the spent budget (plain and streamed)", async () => {
    const freeModel = `free-echo-${kind}`;
    await createModelServiceClient(server.url, { apiKey: admin }).models.create.mutate({
      model: { id: freeModel, name: "Free echo", provider: "openai", type: "chat", contextWindow: 8192, maxOutputTokens: 1024, price: { input: 0, output: 0 }, capabilities: ["text-generation"] },
    });
    const spent = await createKey(db, "chain-spent", { budgetUsd: "0.001" });
    await recordSpend(db, spent.id, "0.001");
    emulator.reset();
    for (const stream of [false, true]) {
      // The free model fails all three attempts; the paid fallback would answer the fourth.
      const r = await post(server.url, "/v1/llm/generate", spent.key, {
        model: freeModel,
        fallbacks: ["gpt-4"],
        stream,
        max_tokens: 5,
        messages: [{ role: "user", content: `hello [[emulator fail_first=3 key=chain-${kind}-${stream} status=500]]` }],
      });
      expect(r.status, r.text.slice(0, 300)).toBe(402);
      expect(r.json).toMatchObject({ error: { code: "budget_exceeded", details: { scope: "api_key", remaining_usd: "0" } } });
    }
    const models = emulator.requests.filter((q) => q.path === "/v1/chat/completions").map((q) => (q.body as { model: string }).model);
    expect(models).toEqual(Array(6).fill(freeModel));
    // The free model alone still answers.
    expect((await post(server.url, "/v1/llm/generate", spent.key, { model: freeModel, messages: [{ role: "user", content: "hi" }] })).status).toBe(200);
    // Nothing was charged: the two refused calls are recorded as errors costing nothing.
    await expect.poll(async () => (await recordedSpend(db, spent.id)).events, { timeout: 10_000 }).toBe(4);
    expect((await recordedSpend(db, spent.id)).cost).toBe(parseUsd("0.001"));
  });

  it("spends no more than the budget under 40 concurrent calls (plain and streamed)", async () => {
    const budget = parseUsd("0.01");
    const burst = await createKey(db, "burst", { budgetUsd: "0.01" });
    // gpt-4 at $30/$60 per 1M: 1 word in, 10 out = $0.00063 each; each reserves about $0.0018
    // (its prompt estimated high, and max_tokens), so about five fit at once.
    const body = (i: number) => ({
      model: "gpt-4",
      stream: i % 2 === 1,
      max_tokens: 10,
      messages: [{ role: "user", content: `go [[emulator words=10 delay=150 chunk_delay=5 key=burst-${kind}-${i}]]` }],
    });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => post(server.url, "/v1/llm/generate", burst.key, body(i))));
    const answered = results.filter((r) => (r.status === 200 && !r.text.startsWith("data:")) || streamedToTheEnd(r)).length;
    const refused = results.filter((r) => r.status === 402).length;
    expect(answered + refused).toBe(40);
    expect(answered).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
    for (const r of results.filter((x) => x.status === 402)) expect(r.json).toMatchObject({ error: { code: "budget_exceeded", details: { scope: "api_key" } } });
    // Then one after the other until the budget refuses: it fills up, and never overflows.
    let more = 0;
    for (let i = 0; i < 40; i++) {
      const r = await post(server.url, "/v1/llm/generate", burst.key, body(100 + i));
      if (r.status === 402) break;
      expect(r.status === 200 || streamedToTheEnd(r), r.text.slice(0, 300)).toBe(true);
      more++;
      await new Promise((resolve) => setTimeout(resolve, 50)); // its settle reaches the ledger
    }
    await expect.poll(async () => (await recordedSpend(db, burst.id)).events, { timeout: 10_000 }).toBe(answered + more);
    const { cost } = await recordedSpend(db, burst.id);
    expect(cost).toBe(parseUsd("0.00063") * BigInt(answered + more));
    expect(cost).toBeLessThanOrEqual(budget);
    // The ledger agrees with the usage events to the picodollar, and what is left is less than a call may cost.
    const last = await post(server.url, "/v1/llm/generate", burst.key, body(200));
    expect(last.status).toBe(402);
    const details = (last.json.error as { details: Record<string, string> }).details;
    expect(details).toMatchObject({ spent_usd: usd(cost), reserved_usd: "0", remaining_usd: usd(budget - cost) });
    expect(parseUsd(details.required_usd!)).toBeGreaterThan(budget - cost);
  }, 120_000);
});
