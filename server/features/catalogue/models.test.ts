// The catalogue service on a real database (PGlite, and PostgreSQL with TEST_DATABASE_URL): sync is
// idempotent and keeps admin edits, names resolve from memory, prices keep their history, and
// another instance sees a change through the version check.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { testDatabases, useTestDatabase } from "@/tests/support/db.ts";
import { AppError } from "../../kernel/errors.ts";
import type { Provider, ProviderStatus } from "../../providers/types.ts";
import { shippedCatalogue, type CatalogueEntry } from "./catalogue-data.ts";
import { ModelCatalogue, perThousandTokens, suggestNames, type ModelCatalogueOptions } from "./models.ts";
import { costOf } from "./pricing.ts";

const log = pino({ level: "silent" });

function fakeProvider(id: string, name: string, status: ProviderStatus): Provider {
  return { id, name, status: () => status } as Provider;
}

const providers = new Map<string, Provider>([
  ["openai", fakeProvider("openai", "OpenAI", { available: false, reason: "OPENAI_API_KEY is not set" })],
  ["anthropic", fakeProvider("anthropic", "Anthropic", { available: true })],
]);

function errorOf(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected an AppError");
}

async function rejectionOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected an AppError");
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("model names and prices without a database", () => {
  // Before any load, the catalogue answers from the shipped file.
  const catalogue = new ModelCatalogue({
    database: () => Promise.reject(new Error("no database here")),
    providers: (id) => providers.get(id),
    log,
  });

  it("resolves ids, aliases and names in another case", () => {
    expect(catalogue.resolve("gpt-4").id).toBe("gpt-4");
    expect(catalogue.resolve("claude-3-sonnet").id).toBe("claude-3-sonnet-20240229");
    expect(catalogue.resolve("claude-3-opus").id).toBe("claude-3-opus-20240229");
    expect(catalogue.resolve("CLAUDE-3-HAIKU").id).toBe("claude-3-haiku-20240307");
    expect(catalogue.resolve("GPT-4o-Mini").id).toBe("gpt-4o-mini");
    expect(catalogue.loadedFrom()).toBe("file");
  });

  it("answers an unknown model with not_found, naming it and suggesting close ids", () => {
    const e = errorOf(() => catalogue.resolve("gpt-4o-mimi"));
    expect(e.code).toBe("not_found");
    expect(e.status).toBe(404);
    expect(e.message).toMatch(/^Unknown model "gpt-4o-mimi"\. Did you mean "gpt-4o-mini"/);
    expect(e.details).toMatchObject({ model: "gpt-4o-mimi", suggestions: expect.arrayContaining(["gpt-4o-mini"]) });
    expect((errorOf(() => catalogue.resolve("claude-3-sonet")).details as { suggestions: string[] }).suggestions[0]).toBe(
      "claude-3-sonnet",
    );
    const none = errorOf(() => catalogue.resolve("zzzzzzzzzzzz"));
    expect(none.message).toBe('Unknown model "zzzzzzzzzzzz". GET /v1/llm/models lists the models.');
    expect(none.details).toEqual({ model: "zzzzzzzzzzzz", suggestions: [] });
    const long = errorOf(() => catalogue.resolve("x".repeat(10_000)));
    expect(long.message).toBe(`Unknown model "${"x".repeat(128)}…". GET /v1/llm/models lists the models.`);
  });

  it("prices from the file, exactly, also per 1K tokens", () => {
    expect(catalogue.pricingFor("gpt-4")).toEqual({
      inputPerMTok: "30",
      outputPerMTok: "60",
      cachedInputPerMTok: null,
      cacheWritePerMTok: null,
    });
    expect(catalogue.pricingFor("claude-3-sonnet")).toEqual({
      inputPerMTok: "3",
      outputPerMTok: "15",
      cachedInputPerMTok: "0.3",
      cacheWritePerMTok: "3.75",
      cacheWrite1hPerMTok: "6",
    });
    // The tiers: Gemini 2.5 Pro above 200K input tokens, GPT-5's priority and flex service tiers.
    expect(catalogue.pricingFor("gemini-2.5-pro").tiers).toEqual([
      { aboveInputTokens: 200_000, inputPerMTok: "2.5", outputPerMTok: "15", cachedInputPerMTok: "0.25" },
    ]);
    expect(catalogue.pricingFor("gpt-5").tiers).toEqual([
      { serviceTier: "priority", inputPerMTok: "2.5", outputPerMTok: "20", cachedInputPerMTok: "0.25" },
      { serviceTier: "flex", inputPerMTok: "0.625", outputPerMTok: "5", cachedInputPerMTok: "0.0625" },
    ]);
    expect(perThousandTokens("30")).toBe("0.03");
    expect(perThousandTokens("60")).toBe("0.06");
    expect(perThousandTokens("0.075")).toBe("0.000075");
    expect(perThousandTokens("0")).toBe("0");
    // DESIGN.md's example: 100 input and 50 output tokens of gpt-4 cost exactly $0.006.
    expect(costOf(catalogue.pricingFor("gpt-4"), { inputTokens: 100, outputTokens: 50, cachedInputTokens: 0 }).totalCost).toBe(
      6_000_000_000n,
    );
  });

  it("filters and orders the list: OpenAI, then Anthropic, then others; chat before embedding", () => {
    const all = catalogue.list();
    expect(all[0]!.provider).toBe("openai");
    const providersInOrder = [...new Set(all.map((m) => m.provider))];
    expect(providersInOrder.slice(0, 2)).toEqual(["openai", "anthropic"]);
    expect(new Set(providersInOrder)).toEqual(new Set(["openai", "anthropic", "local", "azure-openai", "bedrock", "gemini", "vertex"]));
    const openai = catalogue.list({ provider: "openai" });
    expect(openai.findIndex((m) => m.type === "embedding")).toBeGreaterThan(openai.findLastIndex((m) => m.type === "chat"));
    const firstParty = (m: { provider: string }) => ["openai", "anthropic", "local"].includes(m.provider);
    expect(
      catalogue
        .list({ type: "embedding" })
        .filter(firstParty)
        .map((m) => m.id)
        .sort(),
    ).toEqual(["local-hash-384", "text-embedding-3-large", "text-embedding-3-small", "text-embedding-ada-002"]);
    expect(
      catalogue
        .list({ search: "SONNET 4" })
        .filter(firstParty)
        .map((m) => m.id),
    ).toEqual(["claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929", "claude-sonnet-4-6"]);
    expect(
      catalogue
        .list({ search: "sonnet 4." })
        .filter(firstParty)
        .map((m) => m.id),
    ).toEqual(["claude-sonnet-4-5-20250929", "claude-sonnet-4-6"]);
    expect(catalogue.list({ search: "claude-3-sonnet" }).map((m) => m.id)).toEqual(["claude-3-sonnet-20240229"]);
    expect(catalogue.list({ provider: "nobody" })).toEqual([]);
  });

  it("tells why a model is unavailable", () => {
    expect(catalogue.availability("gpt-4")).toEqual({ available: false, reason: "OpenAI is unavailable: OPENAI_API_KEY is not set" });
    expect(catalogue.availability("claude-3-haiku")).toEqual({ available: true });
    expect(catalogue.availability("local-hash-384")).toEqual({
      available: false,
      reason: 'Provider "local" is not configured in this service',
    });
  });

  it("suggests by edit distance and by containment, one name per model", () => {
    const names = ["gpt-4", "gpt-4o", "gpt-4o-mini", "claude-3-haiku", "claude-3-haiku-20240307"];
    const canonical = new Map(names.map((n) => [n, n.startsWith("claude") ? "claude-3-haiku-20240307" : n]));
    expect(suggestNames("gpt4o", names, canonical)[0]).toBe("gpt-4o");
    expect(suggestNames("haiku", names, canonical)).toEqual(["claude-3-haiku"]);
  });
});

describe.each(testDatabases())("model catalogue on $kind", ({ kind }) => {
  const db = useTestDatabase(kind);
  const make = (options: Partial<ModelCatalogueOptions> = {}) =>
    new ModelCatalogue({ database: async () => db, providers: (id) => providers.get(id), log, ...options });
  const count = async (table: string) => (await db.rawQuery<{ n: number }>(`select count(*)::int as n from ${table}`))[0]!.n;

  it("loads the shipped catalogue into an empty database, with one price row per model", async () => {
    const catalogue = make();
    const started = performance.now();
    const report = await catalogue.sync();
    const firstMs = performance.now() - started;
    const n = shippedCatalogue().length;
    expect(report.inserted).toHaveLength(n);
    expect(report.priceRows).toBe(n);
    expect(await count("models")).toBe(n);
    expect(await count("model_prices")).toBe(n);
    expect(catalogue.loadedFrom()).toBe("database");
    const [row] = await db.rawQuery<Record<string, unknown>>(
      "select input_price_per_mtok::text as i, output_price_per_mtok::text as o, aliases, source, enabled from models where id = 'claude-3-sonnet-20240229'",
    );
    expect(row).toEqual({ i: "3.000000", o: "15.000000", aliases: ["claude-3-sonnet"], source: "catalogue", enabled: true });
    expect(catalogue.resolve("claude-3-sonnet").price).toEqual({
      inputPerMTok: "3",
      outputPerMTok: "15",
      cachedInputPerMTok: "0.3",
      cacheWritePerMTok: "3.75",
      cacheWrite1hPerMTok: "6",
    });
    console.info(`[${kind}] first sync of ${n} models: ${firstMs.toFixed(0)} ms`);
  });

  it("is idempotent: a second sync writes nothing and is fast", async () => {
    const before = await db.rawQuery<{ v: string }>("select string_agg(id || updated_at::text, ',' order by id) as v from models");
    const catalogue = make();
    const started = performance.now();
    const report = await catalogue.sync();
    const againMs = performance.now() - started;
    expect(report).toEqual({ inserted: [], updated: [], keptAdminEdits: [], priceRows: 0, notInCatalogue: [] });
    expect(await db.rawQuery("select string_agg(id || updated_at::text, ',' order by id) as v from models")).toEqual(before);
    expect(await count("model_prices")).toBe(shippedCatalogue().length);
    console.info(`[${kind}] sync with nothing to change: ${againMs.toFixed(1)} ms`);
    expect(againMs).toBeLessThan(1_000);
  });

  it("updates a catalogue row whose data changed, adding a price row effective from then", async () => {
    const catalogue = make();
    await catalogue.sync();
    const before = new Date();
    await tick();
    const entries: CatalogueEntry[] = shippedCatalogue().map((e) =>
      e.id === "gpt-4o-mini" ? { ...e, name: "GPT-4o mini (renamed)", price: { ...e.price, input: "0.2" } } : e,
    );
    const report = await catalogue.sync(entries);
    expect(report).toMatchObject({ inserted: [], updated: ["gpt-4o-mini"], priceRows: 1 });
    expect(catalogue.resolve("gpt-4o-mini").name).toBe("GPT-4o mini (renamed)");
    expect(catalogue.pricingFor("gpt-4o-mini").inputPerMTok).toBe("0.2");
    expect(catalogue.pricingFor("gpt-4o-mini", before).inputPerMTok).toBe("0.15");
    expect(catalogue.priceHistory("gpt-4o-mini").map((h) => [h.price.inputPerMTok, h.changedBy])).toEqual([
      ["0.15", "catalogue"],
      ["0.2", "catalogue"],
    ]);
    // And back to the shipped file: one more row, the history kept.
    await catalogue.sync();
    expect(catalogue.priceHistory("gpt-4o-mini").map((h) => h.price.inputPerMTok)).toEqual(["0.15", "0.2", "0.15"]);
  });

  it("changes a price as an admin from now on, keeps the history, and never lets the catalogue overwrite it", async () => {
    const catalogue = make();
    await catalogue.sync();
    const beforeChange = new Date();
    await tick();
    const updated = await catalogue.update("gpt-4", { price: { input: "25", output: 50 } }, "user:admin-1");
    await tick();
    const afterChange = new Date();
    expect(updated).toMatchObject({ id: "gpt-4", source: "admin", price: { inputPerMTok: "25", outputPerMTok: "50" } });
    expect(catalogue.pricingFor("gpt-4")).toMatchObject({ inputPerMTok: "25", outputPerMTok: "50" });
    expect(catalogue.pricingFor("gpt-4", afterChange)).toMatchObject({ inputPerMTok: "25", outputPerMTok: "50" });
    expect(catalogue.pricingFor("gpt-4", beforeChange)).toMatchObject({ inputPerMTok: "30", outputPerMTok: "60" });
    // A moment before any price row: the first price.
    expect(catalogue.pricingFor("gpt-4", new Date(0))).toMatchObject({ inputPerMTok: "30" });
    const history = catalogue.priceHistory("gpt-4");
    expect(history.map((h) => [h.price.inputPerMTok, h.price.outputPerMTok, h.changedBy])).toEqual([
      ["30", "60", "catalogue"],
      ["25", "50", "user:admin-1"],
    ]);
    // The cost of a call at each moment.
    const usage = { inputTokens: 1000, outputTokens: 1000, cachedInputTokens: 0 };
    expect(costOf(catalogue.pricingFor("gpt-4", beforeChange), usage).totalCost).toBe(90_000_000_000n);
    expect(costOf(catalogue.pricingFor("gpt-4", afterChange), usage).totalCost).toBe(75_000_000_000n);

    const report = await make().sync();
    expect(report.keptAdminEdits).toEqual(["gpt-4"]);
    expect(report.updated).toEqual([]);
    const fresh = make();
    await fresh.load();
    expect(fresh.pricingFor("gpt-4")).toMatchObject({ inputPerMTok: "25", outputPerMTok: "50" });
    expect(fresh.priceHistory("gpt-4")).toHaveLength(2);
  });

  it("edits every kind of rate and the tiers as an admin, with the price history, stored and read back exactly", async () => {
    const catalogue = make();
    await catalogue.sync();
    const before = new Date();
    await tick();
    const tiers = [
      { aboveInputTokens: 128_000, input: "5", output: "20" },
      { serviceTier: "priority", input: "4", cachedInput: "2" },
    ];
    await catalogue.update(
      "gpt-4o",
      { price: { reasoning: "12", audioInput: "40", imageInput: "3", cacheWrite1h: "5", tiers } },
      "user:admin-1",
    );
    const fresh = make();
    await fresh.load();
    const now = fresh.pricingFor("gpt-4o");
    expect(now).toMatchObject({
      inputPerMTok: "2.5",
      reasoningPerMTok: "12",
      audioInputPerMTok: "40",
      imageInputPerMTok: "3",
      cacheWrite1hPerMTok: "5",
    });
    expect(now.tiers).toEqual([
      { aboveInputTokens: 128_000, inputPerMTok: "5", outputPerMTok: "20" },
      { serviceTier: "priority", inputPerMTok: "4", cachedInputPerMTok: "2" },
    ]);
    // The price before the edit kept its own (catalogue) tiers; the call is costed at the one that held.
    const big = { inputTokens: 200_000, outputTokens: 1_000, cachedInputTokens: 0 };
    expect(fresh.pricingFor("gpt-4o", before).reasoningPerMTok).toBeUndefined();
    expect(costOf(fresh.pricingFor("gpt-4o", before), big).totalCost).toBe(200_000n * 2_500_000n + 1_000n * 10_000_000n);
    expect(costOf(now, big)).toMatchObject({ tier: ">128K", totalCost: 200_000n * 5_000_000n + 1_000n * 20_000_000n });
    expect(fresh.priceHistory("gpt-4o").map((h) => [h.changedBy, h.price.tiers?.length ?? 0])).toEqual([
      ["catalogue", 1],
      ["user:admin-1", 2],
    ]);
    // Removing the tiers and a rate: [] and null.
    await catalogue.update("gpt-4o", { price: { tiers: [], reasoning: null } }, "user:admin-1");
    expect(catalogue.pricingFor("gpt-4o").tiers).toBeUndefined();
    expect(catalogue.pricingFor("gpt-4o").reasoningPerMTok).toBeUndefined();
    expect(catalogue.pricingFor("gpt-4o").audioInputPerMTok).toBe("40");
  });
  it("does not add a price row, nor mark the model, when a patch changes nothing", async () => {
    const catalogue = make();
    await catalogue.sync();
    const rows = await count("model_prices");
    const same = await catalogue.update("claude-3-haiku", { price: { input: "0.25" }, enabled: true }, "user:admin-1");
    expect(same.source).toBe("catalogue");
    expect(await count("model_prices")).toBe(rows);
  });

  it("disables and enables a model; availability says why", async () => {
    const catalogue = make();
    await catalogue.sync();
    await catalogue.update("claude-3-haiku", { enabled: false }, "key:k1");
    expect(catalogue.availability("claude-3-haiku")).toEqual({
      available: false,
      reason: "Model claude-3-haiku-20240307 is disabled by an admin",
    });
    expect(catalogue.list({ includeDisabled: false }).some((m) => m.id === "claude-3-haiku-20240307")).toBe(false);
    await catalogue.update("claude-3-haiku-20240307", { enabled: true }, "key:k1");
    expect(catalogue.availability("claude-3-haiku")).toEqual({ available: true });
    expect(catalogue.availability("gpt-4o")).toEqual({ available: false, reason: "OpenAI is unavailable: OPENAI_API_KEY is not set" });
  });

  it("sets fallbacks by id or alias, storing canonical ids, and refuses bad ones", async () => {
    const catalogue = make();
    await catalogue.sync();
    const m = await catalogue.update(
      "gpt-4o",
      { fallbacks: ["claude-3-5-sonnet-latest", "gpt-4o-mini", "claude-3-5-sonnet-20241022"] },
      "user:a",
    );
    expect(m.fallbacks).toEqual(["claude-3-5-sonnet-20241022", "gpt-4o-mini"]);
    const unknown = await rejectionOf(catalogue.update("gpt-4o", { fallbacks: ["gpt-4oo"] }, "user:a"));
    expect(unknown.code).toBe("invalid_request");
    expect(unknown.message).toMatch(/^Invalid fallback: Unknown model "gpt-4oo"\. Did you mean "gpt-4o"/);
    expect((await rejectionOf(catalogue.update("gpt-4o", { fallbacks: ["gpt-4o"] }, "user:a"))).message).toBe(
      "Model gpt-4o cannot be its own fallback",
    );
    expect((await rejectionOf(catalogue.update("gpt-4o", { fallbacks: ["text-embedding-3-small"] }, "user:a"))).message).toMatch(
      /is an embedding model/,
    );
    const alias = await rejectionOf(catalogue.update("gpt-4o", { aliases: ["claude-3-opus"] }, "user:a"));
    expect(alias.code).toBe("conflict");
    expect(alias.message).toBe('"claude-3-opus" already names model claude-3-opus-20240229');
    const size = await rejectionOf(catalogue.update("gpt-4o", { maxOutputTokens: 200_000 }, "user:a"));
    expect(size.message).toBe("maxOutputTokens (200000) cannot exceed the context window (128000)");
    const price = await rejectionOf(catalogue.update("gpt-4o", { price: { input: "1.0000001" } }, "user:a"));
    expect(price.message).toMatch(/^Invalid price\.input/);
    expect(catalogue.resolve("gpt-4o").fallbacks).toEqual(["claude-3-5-sonnet-20241022", "gpt-4o-mini"]);
  });

  it("lets another instance see an admin's change at its next version check, and not reload otherwise", async () => {
    const a = make();
    const b = make();
    await a.sync();
    await b.load();
    expect(await b.refreshIfChanged()).toBe(false);
    await a.update("o3", { price: { output: "7" }, name: "o3 (cheaper)" }, "user:admin-2");
    expect(b.pricingFor("o3").outputPerMTok).toBe("8");
    expect(await b.refreshIfChanged()).toBe(true);
    expect(b.pricingFor("o3").outputPerMTok).toBe("7");
    expect(b.resolve("o3").name).toBe("o3 (cheaper)");
    expect(await b.refreshIfChanged()).toBe(false);
  });

  it("polls for changes with watch(), until stop()", async () => {
    const a = make();
    const b = make({ refreshIntervalMs: 20 });
    await a.sync();
    await b.load();
    b.watch();
    try {
      await a.update("o4-mini", { price: { input: "1" } }, "user:admin-3");
      const deadline = Date.now() + 5_000;
      while (b.pricingFor("o4-mini").inputPerMTok !== "1" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(b.pricingFor("o4-mini").inputPerMTok).toBe("1");
    } finally {
      b.stop();
    }
  });

  it("adds a model the file does not list, as an admin's row, and refuses a name already taken", async () => {
    const catalogue = make();
    await catalogue.sync();
    const added = await catalogue.create(
      {
        id: "llama3.1:8b",
        name: "Llama 3.1 8B",
        provider: "ollama",
        type: "chat",
        contextWindow: 131072,
        maxOutputTokens: 8192,
        price: { input: "0", output: "0" },
        capabilities: ["text-generation"],
        aliases: ["llama3.1"],
        fallbacks: ["claude-3-haiku"],
      },
      "user:admin-4",
    );
    expect(added).toMatchObject({
      id: "llama3.1:8b",
      source: "admin",
      fallbacks: ["claude-3-haiku-20240307"],
      price: { inputPerMTok: "0" },
    });
    expect(catalogue.resolve("llama3.1").id).toBe("llama3.1:8b");
    expect(catalogue.availability("llama3.1")).toEqual({ available: false, reason: 'Provider "ollama" is not configured in this service' });
    expect(catalogue.priceHistory("llama3.1:8b").map((h) => h.changedBy)).toEqual(["user:admin-4"]);
    // The next sync leaves it alone (not in the file, an admin's row).
    expect((await make().sync()).notInCatalogue).toContain("llama3.1:8b");
    const base = {
      name: "X",
      provider: "ollama",
      type: "chat" as const,
      contextWindow: 1000,
      maxOutputTokens: null,
      price: { input: "0", output: "0" },
      capabilities: ["text-generation" as const],
    };
    const taken = await rejectionOf(catalogue.create({ ...base, id: "GPT-4" }, "user:a"));
    expect(taken.code).toBe("conflict");
    expect(taken.message).toBe('"GPT-4" already names model gpt-4');
    expect((await rejectionOf(catalogue.create({ ...base, id: "x-1", aliases: ["llama3.1"] }, "user:a"))).message).toBe(
      '"llama3.1" already names model llama3.1:8b',
    );
    // Another instance that has not seen it yet: the database refuses the duplicate.
    const stale = make();
    await stale.load();
    const other = make();
    await other.sync();
    await other.create({ ...base, id: "late-model" }, "user:a");
    const duplicate = await rejectionOf(stale.create({ ...base, id: "late-model" }, "user:b"));
    expect(duplicate.code).toBe("conflict");
    expect(duplicate.message).toBe("Model late-model already exists");
  });

  it("gives a price row to a model that had none (rows from before price history), from its creation", async () => {
    const created = new Date("2026-01-02T03:04:05.000Z");
    await db.rawQuery(
      `insert into models (id, name, provider, type, context_window, input_price_per_mtok, output_price_per_mtok, source, created_at, updated_at)
       values ('my-local-chat', 'Mine', 'anthropic', 'chat', 1000, 1, 2, 'admin', $1, $1)`,
      [created],
    );
    const catalogue = make();
    const report = await catalogue.sync();
    expect(report.priceRows).toBe(1);
    expect(report.notInCatalogue).toContain("my-local-chat");
    expect(catalogue.priceHistory("my-local-chat")).toEqual([
      {
        effectiveFrom: created,
        changedBy: "catalogue",
        price: { inputPerMTok: "1", outputPerMTok: "2", cachedInputPerMTok: null, cacheWritePerMTok: null },
      },
    ]);
    expect((await make().sync()).priceRows).toBe(0);
  });

  it("survives two instances syncing at once: one row per model, no duplicate price rows", async () => {
    await db.rawQuery("delete from model_prices");
    await db.rawQuery("delete from models");
    const results = await Promise.all([make().sync(), make().sync(), make().sync()]);
    const n = shippedCatalogue().length;
    expect(results.map((r) => r.inserted.length).sort()).toEqual([0, 0, n]);
    expect(await count("models")).toBe(n);
    expect(await count("model_prices")).toBe(n);
  });

  it("keeps serving the last catalogue when the database is gone", async () => {
    const catalogue = make();
    await catalogue.sync();
    const broken = new ModelCatalogue({
      database: async () => ({ prisma: db.prisma, rawQuery: () => Promise.reject(new Error("connection lost")) }),
      providers: (id) => providers.get(id),
      log,
    });
    await expect(broken.refreshIfChanged()).rejects.toThrow("connection lost");
    // It never loaded: it answers from the file rather than failing.
    expect(broken.resolve("gpt-4").id).toBe("gpt-4");
  });
});
