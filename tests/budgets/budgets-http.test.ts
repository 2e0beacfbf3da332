// Budgets through the real server (server/host/main.ts --api-only, as `npm start` runs it) on the
// embedded PGlite and on PostgreSQL (TEST_DATABASE_URL), the official SDKs against the wire-level
// emulator (vectors in pgvector on PGlite, in the Qdrant emulator on PostgreSQL, whose Debian build
// has no pgvector): every paid embedding endpoint answers 402 once the key's budget is spent; a free
// first model that fails does not fall back to a paid one past a spent budget; and 40 concurrent
// calls on a key whose budget fits a few of them spend no more than the budget; and what a call
// reserved is settled with what it cost when it fails, when its stream is cut short (by the
// provider or by the caller) and when the server shuts down in the middle of it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import type { DatabaseHandle } from "@/server/db/index.ts";
import { createSqlLedgerStore } from "@/server/features/budgets/budget-ledger-sql.ts";
import { monthStart } from "@/server/features/budgets/budgets.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { startQdrantEmulator, type QdrantEmulator } from "@/tests/emulators/qdrant-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { createKey, emulatorEnv, NO_RATE_LIMITS, startServer, type Servers } from "@/tests/support/host.ts";
import { post, recordedSpend, recordSpend, streamedToTheEnd, usd } from "./support.ts";

process.env.LOG_LEVEL = "silent"; // this process's own database handles (the servers log to their output)

let emulator: ProviderEmulator;
beforeAll(async () => {
  emulator = await startProviderEmulator();
});
afterAll(() => emulator?.close());

describe.each(testDatabases())("budgets over HTTP on $kind", ({ kind }) => {
  let server: Servers;
  let db: DatabaseHandle;
  let qdrant: QdrantEmulator | undefined;
  let admin = "";
  /** The key's account in the database's ledger (no REDIS_URL here). */
  const balance = (apiKeyId: string) =>
    createSqlLedgerStore(async () => db.rawQuery).balance(`api_key:${apiKeyId}:month:${monthStart().day.slice(0, 7)}`);

  beforeAll(async () => {
    qdrant = kind === "postgres" ? await startQdrantEmulator() : undefined;
    server = await startServer({
      env: { QDRANT_URL: qdrant?.url ?? "", ...NO_RATE_LIMITS, ...emulatorEnv(emulator) },
      database: kind,
    });
    // As the CLI would: PostgreSQL directly, PGlite through the server that owns it.
    db = await server.openDatabase();
    admin = (await createKey(db, { name: "admin", isAdmin: true })).key;
  }, 180_000);

  afterAll(async () => {
    await db?.close();
    await server?.dispose();
    await qdrant?.close();
  }, 60_000);

  it("answers 402 on every paid embedding endpoint once the budget is spent, and calls no provider", async () => {
    const spent = await createKey(db, { name: "emb-spent", monthlyBudgetUsd: "0.01" });
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
      expect(r.json).toMatchObject({
        error: { code: "budget_exceeded", details: { scope: "api_key", budget_usd: "0.01", spent_usd: "0.01", remaining_usd: "0" } },
      });
    }
    // OpenAI's protocol: its own error shape for the same refusal.
    expect(refused[1]!.json).toMatchObject({ error: { type: "insufficient_quota", code: "insufficient_quota" } });
    const trpc = createModelServiceClient(server.url, { apiKey: key });
    const trpcCalls = [
      () => trpc.embeddings.generate.mutate({ model, texts: ["nine ten"] }),
      () => trpc.vectors.upsertDocuments.mutate({ name: collection, model, documents: [{ id: 2, text: "eleven" }] }),
      () => trpc.vectors.searchText.mutate({ name: collection, model, text: "twelve" }),
    ];
    for (const call of trpcCalls) await expect(call()).rejects.toMatchObject({ data: { appCode: "budget_exceeded", httpStatus: 402 } });
    expect(emulator.requests.filter((r) => r.path === "/v1/embeddings")).toEqual([]);
    // Free models keep working.
    expect(
      (await post(server.url, "/v1/vector/documents", key, { collection_name: collection, documents: [{ id: 3, text: "free words" }] }))
        .status,
    ).toBe(200);
    expect(await recordedSpend(db, spent.id)).toMatchObject({ cost: parseUsd("0.01") });
  });

  it("does not fall back from a free model that fails to a paid one past the spent budget (plain and streamed)", async () => {
    const freeModel = `free-echo-${kind}`;
    await createModelServiceClient(server.url, { apiKey: admin }).models.create.mutate({
      model: {
        id: freeModel,
        name: "Free echo",
        provider: "openai",
        type: "chat",
        contextWindow: 8192,
        maxOutputTokens: 1024,
        price: { input: 0, output: 0 },
        capabilities: ["text-generation"],
      },
    });
    const spent = await createKey(db, { name: "chain-spent", monthlyBudgetUsd: "0.001" });
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
    expect(
      (await post(server.url, "/v1/llm/generate", spent.key, { model: freeModel, messages: [{ role: "user", content: "hi" }] })).status,
    ).toBe(200);
    // Nothing was charged: the two refused calls are recorded as errors costing nothing.
    await expect.poll(async () => (await recordedSpend(db, spent.id)).events, { timeout: 10_000 }).toBe(4);
    expect((await recordedSpend(db, spent.id)).cost).toBe(parseUsd("0.001"));
  });

  it("spends no more than the budget under 40 concurrent calls (plain and streamed)", async () => {
    const budget = parseUsd("0.01");
    const burst = await createKey(db, { name: "burst", monthlyBudgetUsd: "0.01" });
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
    for (const r of results.filter((x) => x.status === 402))
      expect(r.json).toMatchObject({ error: { code: "budget_exceeded", details: { scope: "api_key" } } });
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

  it("settles a failed call with nothing, and a stream cut short (by the provider or the caller) with what it streamed", async () => {
    const k = await createKey(db, { name: "settles", monthlyBudgetUsd: "1" });
    const failed = await post(server.url, "/v1/llm/generate", k.key, {
      model: "gpt-4",
      max_tokens: 50,
      messages: [{ role: "user", content: "no [[emulator fault=unauthorized]]" }],
    });
    expect(failed.status).toBe(502);
    const cut = await post(server.url, "/v1/llm/generate", k.key, {
      model: "gpt-4",
      stream: true,
      max_tokens: 100,
      messages: [{ role: "user", content: "cut [[emulator words=50 fault=cut after=5]]" }],
    });
    expect(cut.text).toContain('"type":"delta"');
    expect(cut.text).not.toContain('"type":"done"');
    // The caller leaves after the first delta.
    const leaving = new AbortController();
    const res = await fetch(`${server.url}/v1/llm/generate`, {
      method: "POST",
      signal: leaving.signal,
      headers: { authorization: `Bearer ${k.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4",
        stream: true,
        max_tokens: 500,
        messages: [{ role: "user", content: "leave [[emulator words=400 chunk_delay=20]]" }],
      }),
    });
    await res.body!.getReader().read();
    leaving.abort();
    await expect.poll(async () => (await recordedSpend(db, k.id)).events, { timeout: 10_000 }).toBe(3);
    const rows = await db.rawQuery<{ status: string; error_code: string | null; output_tokens: number }>(
      "SELECT status, error_code, output_tokens FROM usage_events WHERE api_key_id = $1 ORDER BY created_at",
      [k.id],
    );
    expect(rows.map((r) => r.error_code)).toEqual(["provider_error", "provider_error", "client_closed"]);
    expect(rows[1]!.output_tokens).toBeGreaterThan(0);
    expect(rows[2]!.output_tokens).toBeGreaterThan(0);
    expect(rows[2]!.output_tokens).toBeLessThan(400);
    // The ledger holds nothing more, and counts exactly what the cut streams cost.
    const { cost } = await recordedSpend(db, k.id);
    expect(cost).toBeGreaterThan(0n);
    await expect.poll(() => balance(k.id), { timeout: 5_000 }).toEqual({ spent: cost, held: 0n });
  });

  // Last: it stops the server.
  it("settles a call in progress when the server shuts down, before the database closes", async () => {
    const k = await createKey(db, { name: "shutdown", monthlyBudgetUsd: "1" });
    const streaming = fetch(`${server.url}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${k.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4",
        stream: true,
        max_tokens: 100,
        messages: [{ role: "user", content: "long [[emulator words=60 chunk_delay=50]]" }],
      }),
    });
    const reader = (await streaming).body!.getReader();
    await reader.read(); // under way, its cost reserved
    // The held reservation: up to 100 tokens at $60 per 1M, and the prompt counted high.
    expect((await balance(k.id))?.held).toBeGreaterThan(parseUsd("0.006"));
    server.child.kill("SIGTERM");
    let text = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
    expect(await server.exited).toBe(0);
    await db.close();
    db = await server.openDatabase(); // the server owned the embedded database: now this process does
    const { cost, events } = await recordedSpend(db, k.id);
    expect(events).toBe(1);
    expect(cost).toBe(parseUsd("0.00363")); // 1 word in, 60 out: the whole answer, sent before it stopped
    expect(text).toContain('"type":"done"');
    expect(await balance(k.id)).toEqual({ spent: cost, held: 0n });
    // The shutdown is bounded by the grace period plus the backstop (40 s with the defaults); the
    // timeout leaves room for that and for a loaded 2-core CI machine (it once passed 60 s there).
  }, 120_000);
});
