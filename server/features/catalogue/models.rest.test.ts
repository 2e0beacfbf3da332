// GET /v1/llm/models and /api/v1/models (the original service's shape, exact per-1K costs) and the
// tRPC models router (list, get, admin update), against the process-wide services on a fresh
// database. A price change shows in both at once; listing never reaches the database.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { getDatabase } from "../../db/index.ts";
import { resetEnvForTests } from "../../kernel/env.ts";
import { resetProvidersForTests } from "../../providers/registry.ts";
import { CLI_ACTOR } from "../../access/auth.ts";
import { shippedCatalogue } from "./catalogue-data.ts";
import { createApiKey } from "../accounts/keys.ts";
import { installModelCatalogue, ModelCatalogue, resetModelCatalogueForTests, syncCatalogue } from "./models.ts";
import { createContext } from "../../trpc/init.ts";
import { appRouter } from "../../api/trpc-root.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { leanRoutes } from "../../api/routes.ts";
import { models } from "./models.rest.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-models-"));

beforeAll(() => {
  process.env.DATA_DIR = dataDir;
  process.env.LOG_LEVEL = "silent";
  // Providers without keys: listed, and unavailable with the reason.
  delete process.env.OPENAI_API_KEY;
  delete process.env.ANTHROPIC_API_KEY;
  resetEnvForTests();
  resetProvidersForTests();
});
afterAll(() => {
  resetModelCatalogueForTests();
  rmSync(dataDir, { recursive: true, force: true });
});

type RestModel = Record<string, unknown> & { id: string; provider: string; type: string };

async function get(url: string, key?: string) {
  const res = await models.GET(new Request(`http://localhost${url}`, { headers: key ? { authorization: `Bearer ${key}` } : {} }));
  return { status: res.status, body: (await res.json()) as unknown };
}

type TrpcError = { message: string; data: { code: string; zodError: { field: string; message: string }[] | null } };

async function trpc(pathName: string, input: unknown, key?: string, method: "GET" | "POST" = "GET") {
  const url = new URL(`http://localhost/api/trpc/${pathName}`);
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  let init: RequestInit = { headers };
  if (method === "GET") url.searchParams.set("input", JSON.stringify({ json: input }));
  else init = { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ json: input }) };
  const res = await fetchRequestHandler({ endpoint: "/api/trpc", req: new Request(url, init), router: appRouter, createContext });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: TrpcError } };
  return {
    status: res.status,
    data: body.result?.data.json as Record<string, unknown> & Array<Record<string, unknown>>,
    error: body.error?.json,
  };
}

describe.each(testDatabases())("models endpoints on $kind", ({ kind }) => {
  const { queries } = useServiceDatabase(kind);
  let userKey = "";
  let adminKey = "";
  let adminKeyId = "";

  beforeAll(async () => {
    resetModelCatalogueForTests();
    await syncCatalogue({ watch: false });
    userKey = (await createApiKey(CLI_ACTOR, { name: "reader" })).key;
    const admin = await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true });
    adminKey = admin.key;
    adminKeyId = admin.apiKey.id;
  }, 120_000);

  it("are served by the lean host too, at both paths", () => {
    expect(leanRoutes.filter((r) => r.handlers === models).map((r) => r.pattern)).toEqual(["/v1/llm/models", "/api/v1/models"]);
  });

  it("refuses an anonymous caller with 401 in the error shape", async () => {
    const r = await get("/v1/llm/models");
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ error: { code: "unauthorized", message: expect.stringMatching(/API key/) } });
  });

  it("lists every model in the original service's shape, with exact per-1K costs", async () => {
    const r = await get("/v1/llm/models", userKey);
    expect(r.status).toBe(200);
    const list = r.body as RestModel[];
    expect(list).toHaveLength(shippedCatalogue().length);
    expect(list.find((m) => m.id === "gpt-4")).toEqual({
      id: "gpt-4",
      name: "GPT-4",
      provider: "openai",
      type: "chat",
      max_tokens: 8192,
      cost_per_1k_input: 0.03,
      cost_per_1k_output: 0.06,
      capabilities: ["text-generation", "code-generation", "analysis", "function-calling"],
      available: false,
      unavailable_reason: "OpenAI is unavailable: OPENAI_API_KEY is not set",
      aliases: [],
      context_window: 8192,
      max_output_tokens: 8192,
      cost_per_1k_cached_input: null,
      cost_per_1m_input: 30,
      cost_per_1m_output: 60,
      cost_per_1m_cached_input: null,
      cost_per_1m_cache_write: null,
      cost_per_1m_cache_write_1h: null,
      cost_per_1m_reasoning: null,
      cost_per_1m_audio_input: null,
      cost_per_1m_image_input: null,
      price_tiers: [],
      enabled: true,
    });
    // The tiers: Claude Sonnet 4.5 above 200K input tokens, GPT-5's priority and flex tiers.
    expect(list.find((m) => m.id === "claude-sonnet-4-5-20250929")).toMatchObject({
      cost_per_1m_cache_write_1h: 6,
      price_tiers: [
        {
          label: ">200K",
          service_tier: null,
          above_input_tokens: 200000,
          cost_per_1m_input: 6,
          cost_per_1m_output: 22.5,
          cost_per_1m_cached_input: 0.6,
          cost_per_1m_cache_write: 7.5,
          cost_per_1m_cache_write_1h: 12,
        },
      ],
    });
    const gpt5 = list.find((m) => m.id === "gpt-5") as { price_tiers: { label: string }[] } | undefined;
    expect(gpt5?.price_tiers.map((t) => t.label)).toEqual(["priority", "flex"]);
    expect(list.find((m) => m.id === "claude-3-sonnet-20240229")).toMatchObject({
      name: "Claude 3 Sonnet",
      provider: "anthropic",
      max_tokens: 200000,
      cost_per_1k_input: 0.003,
      cost_per_1k_output: 0.015,
      cost_per_1k_cached_input: 0.0003,
      cost_per_1m_cache_write: 3.75,
      aliases: ["claude-3-sonnet"],
      available: false,
      unavailable_reason: expect.stringMatching(/ANTHROPIC_API_KEY is not set/),
    });
    expect(list.find((m) => m.id === "text-embedding-3-small")).toMatchObject({
      type: "embedding",
      cost_per_1k_input: 0.00002,
      cost_per_1k_output: 0,
      dimensions: 1536,
    });
    for (const m of list) {
      expect(Object.keys(m), m.id).toEqual(
        expect.arrayContaining([
          "id",
          "name",
          "provider",
          "type",
          "max_tokens",
          "cost_per_1k_input",
          "cost_per_1k_output",
          "capabilities",
          "available",
        ]),
      );
      // The per-1K figure is the per-1M price divided by 1000, to the last digit.
      expect(m.cost_per_1k_input, m.id).toBe(Number(`${m.cost_per_1m_input}e-3`));
      expect(m.cost_per_1k_output, m.id).toBe(Number(`${m.cost_per_1m_output}e-3`));
      expect(m.available === false ? typeof m.unavailable_reason : "none", m.id).toBe(m.available === false ? "string" : "none");
    }
  });

  it("answers /api/v1/models with the same list", async () => {
    const a = await get("/v1/llm/models", userKey);
    const b = await models.GET(new Request("http://localhost/api/v1/models", { headers: { "x-api-key": userKey } }));
    expect(await b.json()).toEqual(a.body);
  });

  it("filters by provider and type, and names a bad query parameter", async () => {
    const anthropic = (await get("/v1/llm/models?provider=anthropic", userKey)).body as RestModel[];
    expect(anthropic.length).toBeGreaterThan(10);
    expect(new Set(anthropic.map((m) => m.provider))).toEqual(new Set(["anthropic"]));
    const embeddings = (await get("/api/v1/models?type=embedding&provider=openai", userKey)).body as RestModel[];
    expect(embeddings.map((m) => m.id).sort()).toEqual(["text-embedding-3-large", "text-embedding-3-small", "text-embedding-ada-002"]);
    expect((await get("/v1/llm/models?provider=nobody", userKey)).body).toEqual([]);
    const badType = await get("/v1/llm/models?type=image", userKey);
    expect(badType.status).toBe(400);
    expect(badType.body).toMatchObject({
      error: { code: "invalid_request", message: expect.stringMatching(/^Invalid query parameters: type: /) },
    });
    const badProvider = await get("/v1/llm/models?provider=Open%20AI", userKey);
    expect(badProvider.status).toBe(400);
    expect(badProvider.body).toMatchObject({ error: { message: expect.stringMatching(/^Invalid query parameters: provider: /) } });
  });

  it("answers 405 with Allow for other methods", async () => {
    const res = await models.POST(
      new Request("http://localhost/v1/llm/models", { method: "POST", headers: { authorization: `Bearer ${userKey}` } }),
    );
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
  });

  it("does not reach the database to list models (the catalogue is cached in process)", async () => {
    // A catalogue that counts every time it asks for the database.
    let asked = 0;
    installModelCatalogue(new ModelCatalogue({ database: () => (asked++, getDatabase()) }));
    try {
      expect((await get("/v1/llm/models", userKey)).status).toBe(200);
      expect(asked).toBe(1); // the first use loads it
      for (let i = 0; i < 5; i++) expect((await get("/v1/llm/models", userKey)).status).toBe(200);
      expect((await trpc("models.list", undefined, userKey)).status).toBe(200);
      expect((await trpc("models.get", { id: "claude-3-haiku" }, userKey)).status).toBe(200);
      expect(asked).toBe(1);
      // Nor through the database handle at all, apart from authentication.
      queries.reset();
      expect((await get("/api/v1/models", userKey)).status).toBe(200);
      expect([...queries.counts.keys()].filter((k) => !k.startsWith("apiKey.") && !k.startsWith("user."))).toEqual([]);
    } finally {
      installModelCatalogue(undefined);
    }
  });

  it("tRPC models.list and models.get need a signed-in caller, and give exact prices per 1M and per 1K", async () => {
    expect((await trpc("models.list", undefined)).error?.data.code).toBe("UNAUTHORIZED");
    const list = await trpc("models.list", { provider: "openai", search: "gpt-4o-mini" }, userKey);
    expect(list.data.map((m) => m.id)).toEqual(["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]);
    expect(list.data[0]).toMatchObject({
      pricePerMTok: { input: "0.15", output: "0.6", cachedInput: "0.075", cacheWrite: null },
      pricePer1K: { input: "0.00015", output: "0.0006", cachedInput: "0.000075", cacheWrite: null },
      available: false,
      unavailableReason: "OpenAI is unavailable: OPENAI_API_KEY is not set",
      source: "catalogue",
    });
    const one = await trpc("models.get", { id: "claude-3-opus" }, userKey);
    expect(one.data).toMatchObject({
      id: "claude-3-opus-20240229",
      aliases: ["claude-3-opus", "claude-3-opus-latest"],
      pricePer1K: { input: "0.015", output: "0.075" },
    });
    expect(one.data.priceHistory).toEqual([expect.objectContaining({ input: "15", output: "75", changedBy: "catalogue" })]);
    const missing = await trpc("models.get", { id: "claude-3-opuss" }, userKey);
    expect(missing.error?.data.code).toBe("NOT_FOUND");
    expect(missing.error?.message).toMatch(/^Unknown model "claude-3-opuss"\. Did you mean "claude-3-opus"/);
  });

  it("tRPC models.providers: every provider, whether it is configured (and why not), and which serve admin-added OpenAI-compatible models", async () => {
    const r = await trpc("models.providers", undefined, userKey);
    expect(r.error).toBeUndefined();
    const byId = new Map(
      (r.data as unknown as { id: string; openAICompatible: boolean; available: boolean; reason: string | null }[]).map((p) => [p.id, p]),
    );
    expect(byId.get("openai")).toMatchObject({ openAICompatible: true, available: false });
    expect(byId.get("openai")!.reason).toContain("OPENAI_API_KEY is not set");
    expect(byId.get("anthropic")).toMatchObject({ openAICompatible: false, available: false });
    expect(byId.get("local")).toMatchObject({ openAICompatible: false, available: true, reason: null });
  });

  it("tRPC models.update and models.create: admins only; a new price holds from now on and shows on the REST list", async () => {
    const refused = await trpc("models.update", { id: "gpt-4", patch: { price: { input: "20" } } }, userKey, "POST");
    expect(refused.error?.data.code).toBe("FORBIDDEN");

    const bad = await trpc("models.update", { id: "gpt-4", patch: { price: { input: "twenty" } } }, adminKey, "POST");
    expect(bad.error?.data.code).toBe("BAD_REQUEST");
    expect(bad.error?.data.zodError?.[0]?.field).toBe("patch.price.input");
    const empty = await trpc("models.update", { id: "gpt-4", patch: {} }, adminKey, "POST");
    expect(empty.error?.data.code).toBe("BAD_REQUEST");
    expect(empty.error?.message).toMatch(/at least one thing to change/);

    const before = new Date();
    const updated = await trpc(
      "models.update",
      { id: "gpt-4", patch: { price: { input: "20", output: 40 }, fallbacks: ["gpt-4o"] } },
      adminKey,
      "POST",
    );
    expect(updated.error).toBeUndefined();
    expect(updated.data).toMatchObject({
      id: "gpt-4",
      source: "admin",
      fallbacks: ["gpt-4o"],
      pricePer1K: { input: "0.02", output: "0.04" },
    });
    const history = updated.data.priceHistory as { input: string; changedBy: string; effectiveFrom: Date }[];
    expect(history.map((h) => [h.input, h.changedBy])).toEqual([
      ["30", "catalogue"],
      ["20", `api_key:${adminKeyId}`],
    ]);
    expect(new Date(history[1]!.effectiveFrom).getTime()).toBeGreaterThanOrEqual(before.getTime() - 5);

    const rest = (await get("/v1/llm/models", userKey)).body as RestModel[];
    expect(rest.find((m) => m.id === "gpt-4")).toMatchObject({ cost_per_1k_input: 0.02, cost_per_1k_output: 0.04 });

    const created = await trpc(
      "models.create",
      {
        model: {
          id: "qwen2.5:7b",
          name: "Qwen 2.5 7B",
          provider: "ollama",
          type: "chat",
          contextWindow: 32768,
          maxOutputTokens: 8192,
          price: { input: 0, output: 0 },
          capabilities: ["text-generation"],
        },
      },
      adminKey,
      "POST",
    );
    expect(created.data).toMatchObject({
      id: "qwen2.5:7b",
      source: "admin",
      available: false,
      unavailableReason: 'Provider "ollama" is not configured in this service',
    });
    expect(((await get("/v1/llm/models?provider=ollama", userKey)).body as RestModel[]).map((m) => m.id)).toEqual(["qwen2.5:7b"]);
    const again = await trpc("models.create", { model: { ...(created.data as object), id: "qwen2.5:7b" } }, adminKey, "POST");
    expect(again.error?.data.code).toBe("BAD_REQUEST"); // output fields are not input fields
    const taken = await trpc(
      "models.create",
      {
        model: {
          id: "claude-3-haiku",
          name: "Mine",
          provider: "ollama",
          type: "chat",
          contextWindow: 1000,
          maxOutputTokens: null,
          price: { input: 0, output: 0 },
          capabilities: ["text-generation"],
        },
      },
      adminKey,
      "POST",
    );
    expect(taken.error?.data.code).toBe("CONFLICT");
    const noDims = await trpc(
      "models.create",
      {
        model: {
          id: "embed-x",
          name: "E",
          provider: "ollama",
          type: "embedding",
          contextWindow: 512,
          maxOutputTokens: null,
          price: { input: 0, output: 0 },
          capabilities: ["embeddings"],
        },
      },
      adminKey,
      "POST",
    );
    expect(noDims.error?.data.zodError?.[0]).toEqual({
      field: "model.embeddingDimensions",
      message: "an embedding model needs its dimensions",
    });

    const disabled = await trpc("models.update", { id: "gpt-4", patch: { enabled: false } }, adminKey, "POST");
    expect(disabled.data).toMatchObject({ enabled: false, available: false, unavailableReason: "Model gpt-4 is disabled by an admin" });
    expect(((await get("/v1/llm/models", userKey)).body as RestModel[]).find((m) => m.id === "gpt-4")).toMatchObject({
      available: false,
      enabled: false,
      unavailable_reason: "Model gpt-4 is disabled by an admin",
    });
  });
});
