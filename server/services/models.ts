import "server-only";
// The model catalogue at run time. `syncCatalogue()` loads the shipped data file into the `models`
// table (and first prices into `model_prices`) without touching rows an admin edited; the table
// and the price history are then held in memory, so resolving a model, checking its availability
// and pricing a call never wait for the database.
//
// Other instances learn of an admin's change by polling a cheap fingerprint of the two tables
// (every 5 s by default) and reloading when it moved. LISTEN/NOTIFY was not used: it needs a
// dedicated connection held open outside the pool on PostgreSQL, and its delivery through the
// embedded database's socket server (pglite-socket multiplexes clients onto one PGlite) is not
// something to rely on; one small query every few seconds works the same on both. Until a change
// arrives, an instance prices calls at the price it last saw.
import type { Logger } from "pino";
import { getDatabase, type DatabaseHandle } from "../db/index.ts";
import { AppError } from "../errors.ts";
import { onShutdown } from "../lifecycle.ts";
import { getLogger } from "../logger.ts";
import { BUILT_IN_PROVIDER_IDS, configuredCatalogue, getProvider, listProviders } from "../providers/registry.ts";
import type { Provider } from "../providers/types.ts";
import { normalizePrice, type CatalogueEntry, type ModelType } from "./catalogue-data.ts";
import { formatUsd, parsePriceMicros, type Price } from "./pricing.ts";

export type ModelSource = "catalogue" | "admin";

/** USD per 1M tokens, as exact decimal strings ("2.5"). */
export type ModelPrice = Price & {
  cachedInputPerMTok: string | null;
  /** Anthropic's price for writing the prompt cache. */
  cacheWritePerMTok: string | null;
};

export type CatalogueModel = {
  id: string;
  name: string;
  provider: string;
  type: ModelType;
  contextWindow: number;
  maxOutputTokens: number | null;
  /** The price that holds now. */
  price: ModelPrice;
  capabilities: string[];
  aliases: string[];
  /** Models to try, in order, when this one fails or is unavailable. */
  fallbacks: string[];
  embeddingDimensions: number | null;
  enabled: boolean;
  source: ModelSource;
  updatedAt: Date;
};

export type PriceHistoryEntry = { effectiveFrom: Date; price: ModelPrice; changedBy: string };

export type Availability = { available: boolean; reason?: string };

export type ModelFilter = { provider?: string; type?: ModelType; search?: string; includeDisabled?: boolean };

/** What an admin may change. A price patch may name only the parts that change. */
export type ModelPatch = {
  name?: string;
  enabled?: boolean;
  fallbacks?: string[];
  aliases?: string[];
  capabilities?: string[];
  contextWindow?: number;
  maxOutputTokens?: number | null;
  price?: {
    input?: string | number;
    output?: string | number;
    cachedInput?: string | number | null;
    cacheWrite?: string | number | null;
  };
};

export type SyncReport = {
  inserted: string[];
  updated: string[];
  /** Catalogue models left alone because an admin edited them. */
  keptAdminEdits: string[];
  /** Rows added to model_prices. */
  priceRows: number;
  /** Models in the table that the data file no longer lists (left as they are). */
  notInCatalogue: string[];
};

export type CatalogueDatabase = Pick<DatabaseHandle, "prisma" | "rawQuery">;

/**
 * What a catalogue holds between calls. Plain data only, so that one state can be shared on
 * globalThis by the copies of this module that Next's bundles and the node:http host each load:
 * a class instance shared that way would throw the other copy's AppError, which the receiving
 * copy's `instanceof AppError` does not recognise.
 */
export type CatalogueState = { snapshot?: Snapshot; loading?: Promise<void>; timer?: NodeJS.Timeout };

export type ModelCatalogueOptions = {
  database: () => Promise<CatalogueDatabase>;
  /** Shared state; a fresh one by default. */
  state?: CatalogueState;
  /** Provider lookup for availability; the registry by default. */
  providers?: (id: string) => Provider | undefined;
  /** The data file's models; the shipped catalogue by default. */
  entries?: () => CatalogueEntry[];
  log?: Logger;
  /** How often `watch()` checks the database for changes made elsewhere. */
  refreshIntervalMs?: number;
};

export type Snapshot = {
  /** "file": the shipped data, before the database was read (no admin edits, no history). */
  from: "database" | "file";
  version: string;
  byId: Map<string, CatalogueModel>;
  /** Every id and alias, exact and lower-cased, to the canonical id. */
  names: Map<string, string>;
  /** Every id and alias as written, for suggestions. */
  displayNames: string[];
  /** Ascending by effectiveFrom. */
  prices: Map<string, PriceHistoryEntry[]>;
};

type ModelRow = {
  id: string;
  name: string;
  provider: string;
  type: string;
  context_window: number;
  max_output_tokens: number | null;
  input: string;
  output: string;
  cached_input: string | null;
  cache_write: string | null;
  capabilities: string[] | null;
  aliases: string[] | null;
  fallbacks: string[] | null;
  embedding_dimensions: number | null;
  enabled: boolean;
  source: string;
  created_at: Date;
  updated_at: Date;
};

type PriceRow = {
  model_id: string;
  effective_from: Date;
  input: string;
  output: string;
  cached_input: string | null;
  cache_write: string | null;
  changed_by: string;
};

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

const MODELS_SQL = `
select id, name, provider, type, context_window, max_output_tokens,
  input_price_per_mtok::text as input, output_price_per_mtok::text as output,
  cached_input_price_per_mtok::text as cached_input, cache_write_price_per_mtok::text as cache_write,
  capabilities, aliases, fallbacks, embedding_dimensions, enabled, source, created_at, updated_at
from models`;

const PRICES_SQL = `
select model_id, effective_from, input_price_per_mtok::text as input, output_price_per_mtok::text as output,
  cached_input_price_per_mtok::text as cached_input, cache_write_price_per_mtok::text as cache_write, changed_by
from model_prices order by model_id, effective_from, id`;

// Changes whenever a model row is added or updated (Prisma sets updated_at) or a price row is added.
const VERSION_SQL = `
select (select count(*) from models)::text || ':' ||
  coalesce((select md5(string_agg(id || '@' || updated_at::text, ',' order by id)) from models), '') || ':' ||
  (select count(*) from model_prices)::text || ':' || coalesce((select max(id) from model_prices)::text, '') as version`;

// Serialises catalogue writers (sync on several instances starting together, admin edits).
const WRITE_LOCK_KEY = 827_364_119;

export const CATALOGUE_ACTOR = "catalogue";

export class ModelCatalogue {
  private readonly state: CatalogueState;
  private readonly providers: (id: string) => Provider | undefined;
  private readonly entries: () => CatalogueEntry[];
  private readonly log: Logger;
  /** Position of each shipped model in the data file, for ordering lists. */
  private order: Map<string, number> | undefined;

  constructor(private readonly options: ModelCatalogueOptions) {
    this.state = options.state ?? {};
    this.providers = options.providers ?? getProvider;
    this.entries = options.entries ?? configuredCatalogue;
    this.log = options.log ?? getLogger();
  }

  // -------------------------------------------------------------------------------------------
  // Loading

  /**
   * Brings the `models` table up to date with the data file: inserts new models, updates
   * catalogue-sourced rows that differ, never touches a row an admin edited, and adds a price
   * row (effective now) for each new or changed price. Then loads the cache. Writes nothing, and
   * costs three small reads, when nothing changed.
   */
  async sync(entries: CatalogueEntry[] = this.entries()): Promise<SyncReport> {
    const db = await this.options.database();
    const { version, models, prices } = await readAll(db);
    let report = planSync(entries, models, prices);
    if (!hasWrites(report.plan)) {
      // Nothing to write: what was just read is the cache.
      this.state.snapshot = buildSnapshot("database", version, models.map(rowToModel), prices, this.log);
    } else {
      report = await db.prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`select pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
          // Planned again under the lock: another instance may have synced in the meantime.
          const q: Query = (sql, params) => tx.$queryRawUnsafe(sql, ...(params ?? []));
          const fresh = planSync(entries, await q<ModelRow>(MODELS_SQL), await q<PriceRow>(PRICES_SQL));
          await applyPlan(tx, fresh.plan);
          return fresh;
        },
        { timeout: 60_000, maxWait: 30_000 },
      );
      await this.load();
    }
    const { plan, ...summary } = report;
    if (hasWrites(plan)) {
      this.log.info(
        { inserted: summary.inserted.length, updated: summary.updated, priceRows: summary.priceRows },
        "model catalogue loaded into the database",
      );
    }
    if (summary.notInCatalogue.length > 0) {
      this.log.info({ models: summary.notInCatalogue }, "models in the database that the catalogue file no longer lists were left as they are");
    }
    return summary;
  }

  /** Reads the table and the price history into the cache. */
  async load(): Promise<void> {
    const { version, models, prices } = await readAll(await this.options.database());
    this.state.snapshot = buildSnapshot("database", version, models.map(rowToModel), prices, this.log);
  }

  /** Loads from the database once, unless that has happened; cheap afterwards. */
  ready(): Promise<void> {
    if (this.state.snapshot?.from === "database") return Promise.resolve();
    this.state.loading ??= this.load().finally(() => {
      this.state.loading = undefined;
    });
    return this.state.loading;
  }

  /** Reloads when the database's catalogue changed since the last load; true when it did. */
  async refreshIfChanged(): Promise<boolean> {
    const db = await this.options.database();
    const [v] = await db.rawQuery<{ version: string }>(VERSION_SQL);
    if (this.state.snapshot?.from === "database" && v?.version === this.state.snapshot.version) return false;
    await this.load();
    return true;
  }

  /** Polls for changes made by other instances until `stop()`. The timer never keeps the process alive. */
  watch(): void {
    if (this.state.timer) return;
    this.state.timer = setInterval(() => {
      this.refreshIfChanged().catch((err: unknown) => this.log.warn({ err }, "could not refresh the model catalogue; keeping the cached one"));
    }, this.options.refreshIntervalMs ?? 5_000);
    this.state.timer.unref();
  }

  stop(): void {
    clearInterval(this.state.timer);
    this.state.timer = undefined;
  }

  /** "database" once loaded from it; "file" while only the shipped data is known. */
  loadedFrom(): "database" | "file" {
    return this.current().from;
  }

  // -------------------------------------------------------------------------------------------
  // Reading (from memory only)

  /** The model an id or alias names (exactly, else ignoring case); not_found with suggestions otherwise. */
  resolve(idOrAlias: string): CatalogueModel {
    const snap = this.current();
    const id = snap.names.get(idOrAlias) ?? snap.names.get(idOrAlias.toLowerCase());
    const model = id === undefined ? undefined : snap.byId.get(id);
    if (model) return model;
    // A caller's string goes back into the message: bounded, so that junk cannot bloat it.
    const shown = idOrAlias.length > 128 ? `${idOrAlias.slice(0, 128)}…` : idOrAlias;
    const suggestions = idOrAlias.length > 128 ? [] : suggestNames(idOrAlias, snap.displayNames, snap.names);
    const hint = suggestions.length ? ` Did you mean ${suggestions.map((s) => `"${s}"`).join(" or ")}?` : "";
    throw new AppError("not_found", `Unknown model "${shown}".${hint} GET /v1/llm/models lists the models.`, {
      model: shown,
      suggestions,
    });
  }

  /**
   * The catalogue, filtered; ordered by provider (OpenAI, Anthropic, then others), type, then the
   * data file's order (its families in release order, each snapshot after its alias), then name.
   */
  list(filter: ModelFilter = {}): CatalogueModel[] {
    const search = filter.search?.trim().toLowerCase();
    const out = [...this.current().byId.values()].filter(
      (m) =>
        (filter.provider === undefined || m.provider === filter.provider) &&
        (filter.type === undefined || m.type === filter.type) &&
        (filter.includeDisabled !== false || m.enabled) &&
        (!search ||
          [m.id, m.name, m.provider, ...m.aliases, ...m.capabilities].some((s) => s.toLowerCase().includes(search))),
    );
    const order = this.fileOrder();
    return out.sort((a, b) => compareModels(a, b, order));
  }

  private fileOrder(): Map<string, number> {
    this.order ??= new Map(this.entries().map((e, i) => [e.id, i]));
    return this.order;
  }

  /**
   * The price that held for a model at a moment: the last price row effective at or before `at`
   * (the first row for a moment before any), so a usage event is costed at the price of its time.
   */
  pricingFor(idOrAlias: string, at: Date = new Date()): ModelPrice {
    const model = this.resolve(idOrAlias);
    const history = this.current().prices.get(model.id);
    if (!history?.length) return model.price;
    let chosen = history[0]!;
    for (const entry of history) {
      if (entry.effectiveFrom.getTime() <= at.getTime()) chosen = entry;
      else break;
    }
    return chosen.price;
  }

  /** Oldest first. */
  priceHistory(idOrAlias: string): PriceHistoryEntry[] {
    const model = this.resolve(idOrAlias);
    return [...(this.current().prices.get(model.id) ?? [])];
  }

  /** Whether calls to the model can be served now, and if not, why (for people to read). */
  availability(modelOrId: CatalogueModel | string): Availability {
    const model = typeof modelOrId === "string" ? this.resolve(modelOrId) : modelOrId;
    if (!model.enabled) return { available: false, reason: `Model ${model.id} is disabled by an admin` };
    const provider = this.providers(model.provider);
    if (!provider) return { available: false, reason: `Provider "${model.provider}" is not configured in this service` };
    const status = provider.status();
    if (!status.available) return { available: false, reason: `${provider.name} is unavailable: ${status.reason}` };
    return { available: true };
  }

  // -------------------------------------------------------------------------------------------
  // Admin changes

  /**
   * Applies an admin's change. A new price takes effect now (a price row is added; earlier rows,
   * and usage already costed with them, stay as they were). The row is marked source=admin so that
   * the data file never overwrites it. Refreshes this instance's cache; others follow within their
   * refresh interval.
   */
  async update(idOrAlias: string, patch: ModelPatch, actor: string): Promise<CatalogueModel> {
    await this.ready();
    const model = this.resolve(idOrAlias);
    const data: Record<string, unknown> = {};
    if (patch.name !== undefined && patch.name !== model.name) data.name = patch.name;
    if (patch.enabled !== undefined && patch.enabled !== model.enabled) data.enabled = patch.enabled;
    if (patch.capabilities !== undefined && !sameList(patch.capabilities, model.capabilities)) data.capabilities = patch.capabilities;
    if (patch.contextWindow !== undefined && patch.contextWindow !== model.contextWindow) data.contextWindow = patch.contextWindow;
    if (patch.maxOutputTokens !== undefined && patch.maxOutputTokens !== model.maxOutputTokens) data.maxOutputTokens = patch.maxOutputTokens;
    const contextWindow = patch.contextWindow ?? model.contextWindow;
    const maxOutput = patch.maxOutputTokens === undefined ? model.maxOutputTokens : patch.maxOutputTokens;
    if (maxOutput !== null && maxOutput > contextWindow) {
      throw new AppError("invalid_request", `maxOutputTokens (${maxOutput}) cannot exceed the context window (${contextWindow})`);
    }
    if (patch.fallbacks !== undefined) {
      const fallbacks = this.checkFallbacks(model, patch.fallbacks);
      if (!sameList(fallbacks, model.fallbacks)) data.fallbacks = fallbacks;
    }
    if (patch.aliases !== undefined) {
      const aliases = this.checkAliases(model, patch.aliases);
      if (!sameList(aliases, model.aliases)) data.aliases = aliases;
    }
    const newPrice = patch.price ? mergePrice(model.price, patch.price) : undefined;
    const priceChanged = newPrice !== undefined && !samePrice(newPrice, model.price);
    if (priceChanged) Object.assign(data, priceColumns(newPrice));
    if (Object.keys(data).length === 0) return model;

    const db = await this.options.database();
    await db.prisma.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe(`select pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
        await tx.model.update({ where: { id: model.id }, data: { ...data, source: "admin" } });
        if (priceChanged) {
          await tx.modelPrice.create({
            data: { modelId: model.id, effectiveFrom: new Date(), changedBy: actor, ...priceColumns(newPrice) },
          });
        }
      },
      { timeout: 30_000, maxWait: 30_000 },
    );
    this.log.info({ model: model.id, actor, changed: Object.keys(data) }, "model updated by an admin");
    await this.load();
    return this.resolve(model.id);
  }

  /**
   * Adds a model the data file does not list, e.g. one served by an OpenAI-compatible provider.
   * It is an admin's row (source=admin) from the start, with its first price effective now.
   */
  async create(entry: CatalogueEntry & { fallbacks?: string[] }, actor: string): Promise<CatalogueModel> {
    await this.ready();
    const names = this.current().names;
    for (const name of [entry.id, ...(entry.aliases ?? [])]) {
      const owner = names.get(name) ?? names.get(name.toLowerCase());
      if (owner !== undefined) throw new AppError("conflict", `"${name}" already names model ${owner}`);
    }
    const draft = entryToModel(entry);
    const fallbacks = this.checkFallbacks(draft, entry.fallbacks ?? []);
    const db = await this.options.database();
    try {
      await db.prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`select pg_advisory_xact_lock(${WRITE_LOCK_KEY})`);
          await tx.model.create({ data: { id: entry.id, ...entryColumns(entry), fallbacks, source: "admin" } });
          await tx.modelPrice.create({ data: { modelId: entry.id, effectiveFrom: new Date(), changedBy: actor, ...priceColumns(draft.price) } });
        },
        { timeout: 30_000, maxWait: 30_000 },
      );
    } catch (error) {
      // Another instance added the same id since this one last loaded.
      if ((error as { code?: string }).code === "P2002") throw new AppError("conflict", `Model ${entry.id} already exists`);
      throw error;
    }
    this.log.info({ model: entry.id, provider: entry.provider, actor }, "model added by an admin");
    await this.load();
    return this.resolve(entry.id);
  }

  private checkFallbacks(model: CatalogueModel, names: string[]): string[] {
    const out: string[] = [];
    for (const name of names) {
      let target: CatalogueModel;
      try {
        target = this.resolve(name);
      } catch (e) {
        if (e instanceof AppError) throw new AppError("invalid_request", `Invalid fallback: ${e.message}`, e.details);
        throw e;
      }
      if (target.id === model.id) throw new AppError("invalid_request", `Model ${model.id} cannot be its own fallback`);
      if (target.type !== model.type) {
        throw new AppError("invalid_request", `Fallback ${target.id} is an ${target.type} model; ${model.id} is a ${model.type} model`);
      }
      if (!out.includes(target.id)) out.push(target.id);
    }
    return out;
  }

  private checkAliases(model: CatalogueModel, aliases: string[]): string[] {
    const names = this.current().names;
    const out: string[] = [];
    for (const alias of aliases) {
      const owner = names.get(alias) ?? names.get(alias.toLowerCase());
      if (owner !== undefined && owner !== model.id) throw new AppError("conflict", `"${alias}" already names model ${owner}`);
      if (alias !== model.id && !out.includes(alias)) out.push(alias);
    }
    return out;
  }

  private current(): Snapshot {
    this.state.snapshot ??= buildSnapshot("file", "", this.entries().map(entryToModel), [], this.log);
    return this.state.snapshot;
  }
}

async function readAll(db: CatalogueDatabase): Promise<{ version: string; models: ModelRow[]; prices: PriceRow[] }> {
  // The version first: a change that lands between the reads is seen again by the next check.
  const [v] = await db.rawQuery<{ version: string }>(VERSION_SQL);
  const models = await db.rawQuery<ModelRow>(MODELS_SQL);
  const prices = await db.rawQuery<PriceRow>(PRICES_SQL);
  return { version: v?.version ?? "", models, prices };
}

// ---------------------------------------------------------------------------------------------
// Sync planning: pure functions of the data file and the table.

type SyncPlan = {
  insert: CatalogueEntry[];
  update: CatalogueEntry[];
  /** Price rows to add: a new or changed price, or a model that has none yet. */
  prices: { modelId: string; price: ModelPrice; effectiveFrom?: Date }[];
};

function planSync(entries: CatalogueEntry[], rows: ModelRow[], priceRows: PriceRow[]): SyncReport & { plan: SyncPlan } {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const priced = new Set(priceRows.map((p) => p.model_id));
  const plan: SyncPlan = { insert: [], update: [], prices: [] };
  const keptAdminEdits: string[] = [];
  for (const entry of entries) {
    const row = byId.get(entry.id);
    const price = entryPrice(entry);
    if (!row) {
      plan.insert.push(entry);
      plan.prices.push({ modelId: entry.id, price });
      continue;
    }
    const current = rowToModel(row);
    if (current.source === "admin") {
      keptAdminEdits.push(entry.id);
      continue;
    }
    if (!sameAsEntry(current, entry)) plan.update.push(entry);
    if (!samePrice(price, current.price)) plan.prices.push({ modelId: entry.id, price });
  }
  for (const row of rows) {
    // A row from before price history existed: its price has held since it was created. (Added
    // before any change planned above, so it sorts first at equal times.)
    if (!priced.has(row.id)) plan.prices.unshift({ modelId: row.id, price: rowToModel(row).price, effectiveFrom: row.created_at });
  }
  const listed = new Set(entries.map((e) => e.id));
  return {
    plan,
    inserted: plan.insert.map((e) => e.id),
    updated: plan.update.map((e) => e.id),
    keptAdminEdits,
    priceRows: plan.prices.length,
    notInCatalogue: rows.filter((r) => !listed.has(r.id)).map((r) => r.id),
  };
}

function hasWrites(plan: SyncPlan): boolean {
  return plan.insert.length + plan.update.length + plan.prices.length > 0;
}

type Tx = Parameters<Parameters<CatalogueDatabase["prisma"]["$transaction"]>[0]>[0];

async function applyPlan(tx: Tx, plan: SyncPlan): Promise<void> {
  const now = new Date();
  if (plan.insert.length) {
    await tx.model.createMany({ data: plan.insert.map((e) => ({ id: e.id, ...entryColumns(e), source: "catalogue" })) });
  }
  for (const e of plan.update) await tx.model.update({ where: { id: e.id }, data: entryColumns(e) });
  if (plan.prices.length) {
    await tx.modelPrice.createMany({
      data: plan.prices.map((p) => ({ modelId: p.modelId, effectiveFrom: p.effectiveFrom ?? now, changedBy: CATALOGUE_ACTOR, ...priceColumns(p.price) })),
    });
  }
}

function entryColumns(e: CatalogueEntry) {
  return {
    name: e.name,
    provider: e.provider,
    type: e.type,
    contextWindow: e.contextWindow,
    maxOutputTokens: e.maxOutputTokens,
    capabilities: e.capabilities,
    aliases: e.aliases ?? [],
    embeddingDimensions: e.embeddingDimensions ?? null,
    ...priceColumns(entryPrice(e)),
  };
}

function priceColumns(p: ModelPrice) {
  return {
    inputPricePerMTok: p.inputPerMTok,
    outputPricePerMTok: p.outputPerMTok,
    cachedInputPricePerMTok: p.cachedInputPerMTok,
    cacheWritePricePerMTok: p.cacheWritePerMTok,
  };
}

function sameAsEntry(m: CatalogueModel, e: CatalogueEntry): boolean {
  return (
    m.name === e.name &&
    m.provider === e.provider &&
    m.type === e.type &&
    m.contextWindow === e.contextWindow &&
    m.maxOutputTokens === e.maxOutputTokens &&
    m.embeddingDimensions === (e.embeddingDimensions ?? null) &&
    sameList(m.capabilities, e.capabilities) &&
    sameList(m.aliases, e.aliases ?? []) &&
    samePrice(m.price, entryPrice(e))
  );
}

// ---------------------------------------------------------------------------------------------
// Conversions

function entryPrice(e: CatalogueEntry): ModelPrice {
  return {
    inputPerMTok: e.price.input,
    outputPerMTok: e.price.output,
    cachedInputPerMTok: e.price.cachedInput ?? null,
    cacheWritePerMTok: e.price.cacheWrite ?? null,
  };
}

function entryToModel(e: CatalogueEntry): CatalogueModel {
  return {
    id: e.id,
    name: e.name,
    provider: e.provider,
    type: e.type,
    contextWindow: e.contextWindow,
    maxOutputTokens: e.maxOutputTokens,
    price: entryPrice(e),
    capabilities: [...e.capabilities],
    aliases: [...(e.aliases ?? [])],
    fallbacks: [],
    embeddingDimensions: e.embeddingDimensions ?? null,
    enabled: true,
    source: "catalogue",
    updatedAt: new Date(0),
  };
}

const optionalPrice = (text: string | null) => (text === null ? null : normalizePrice(text));

function rowToModel(r: ModelRow): CatalogueModel {
  return {
    id: r.id,
    name: r.name,
    provider: r.provider,
    type: r.type === "embedding" ? "embedding" : "chat",
    contextWindow: r.context_window,
    maxOutputTokens: r.max_output_tokens,
    price: {
      inputPerMTok: normalizePrice(r.input),
      outputPerMTok: normalizePrice(r.output),
      cachedInputPerMTok: optionalPrice(r.cached_input),
      cacheWritePerMTok: optionalPrice(r.cache_write),
    },
    capabilities: r.capabilities ?? [],
    aliases: r.aliases ?? [],
    fallbacks: r.fallbacks ?? [],
    embeddingDimensions: r.embedding_dimensions,
    enabled: r.enabled,
    source: r.source === "admin" ? "admin" : "catalogue",
    updatedAt: new Date(r.updated_at),
  };
}

function buildSnapshot(from: Snapshot["from"], version: string, models: CatalogueModel[], priceRows: PriceRow[], log: Logger): Snapshot {
  const byId = new Map(models.map((m) => [m.id, m]));
  const names = new Map<string, string>();
  // Ids first, so that an alias can never hide another model's id.
  for (const m of models) names.set(m.id, m.id);
  for (const m of models) if (!names.has(m.id.toLowerCase())) names.set(m.id.toLowerCase(), m.id);
  for (const m of models) {
    for (const alias of m.aliases) {
      for (const key of new Set([alias, alias.toLowerCase()])) {
        const owner = names.get(key);
        if (owner === undefined) names.set(key, m.id);
        else if (owner !== m.id && key === alias) log.warn({ alias, model: m.id, owner }, "model alias ignored: it already names another model");
      }
    }
  }
  const prices = new Map<string, PriceHistoryEntry[]>();
  for (const p of priceRows) {
    const list = prices.get(p.model_id) ?? [];
    list.push({
      effectiveFrom: new Date(p.effective_from),
      changedBy: p.changed_by,
      price: {
        inputPerMTok: normalizePrice(p.input),
        outputPerMTok: normalizePrice(p.output),
        cachedInputPerMTok: optionalPrice(p.cached_input),
        cacheWritePerMTok: optionalPrice(p.cache_write),
      },
    });
    prices.set(p.model_id, list);
  }
  const displayNames = models.flatMap((m) => [m.id, ...m.aliases.filter((a) => names.get(a) === m.id)]);
  return { from, version, byId, names, displayNames, prices };
}

function mergePrice(current: ModelPrice, patch: NonNullable<ModelPatch["price"]>): ModelPrice {
  const price = (value: string | number, field: string) => {
    try {
      return normalizePrice(value);
    } catch {
      throw new AppError("invalid_request", `Invalid price.${field}: expected USD per 1M tokens, a non-negative decimal with at most 6 decimals`);
    }
  };
  return {
    inputPerMTok: patch.input === undefined ? current.inputPerMTok : price(patch.input, "input"),
    outputPerMTok: patch.output === undefined ? current.outputPerMTok : price(patch.output, "output"),
    cachedInputPerMTok:
      patch.cachedInput === undefined ? current.cachedInputPerMTok : patch.cachedInput === null ? null : price(patch.cachedInput, "cachedInput"),
    cacheWritePerMTok:
      patch.cacheWrite === undefined ? current.cacheWritePerMTok : patch.cacheWrite === null ? null : price(patch.cacheWrite, "cacheWrite"),
  };
}

function samePrice(a: ModelPrice, b: ModelPrice): boolean {
  return (
    a.inputPerMTok === b.inputPerMTok &&
    a.outputPerMTok === b.outputPerMTok &&
    a.cachedInputPerMTok === b.cachedInputPerMTok &&
    a.cacheWritePerMTok === b.cacheWritePerMTok
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const PROVIDER_ORDER = ["openai", "anthropic"];
const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

function compareModels(a: CatalogueModel, b: CatalogueModel, fileOrder: Map<string, number>): number {
  const rank = (p: string) => {
    const i = PROVIDER_ORDER.indexOf(p);
    return i < 0 ? PROVIDER_ORDER.length : i;
  };
  const position = (m: CatalogueModel) => fileOrder.get(m.id) ?? Number.MAX_SAFE_INTEGER;
  return (
    rank(a.provider) - rank(b.provider) ||
    collator.compare(a.provider, b.provider) ||
    (a.type === b.type ? 0 : a.type === "chat" ? -1 : 1) ||
    position(a) - position(b) ||
    collator.compare(a.name, b.name) ||
    collator.compare(a.id, b.id)
  );
}

/** Per-1M price text to the per-1K amount, exactly: "30" → "0.03". */
export function perThousandTokens(perMTok: string): string {
  // µUSD per 1M tokens × 1000 = pUSD per 1K tokens.
  return formatUsd(parsePriceMicros(perMTok) * 1000n);
}

// ---------------------------------------------------------------------------------------------
// Suggestions for an unknown name

/** Up to three known names close to `query` (edit distance, or one containing the other). */
export function suggestNames(query: string, candidates: string[], canonical?: Map<string, string>): string[] {
  const q = query.toLowerCase();
  const limit = Math.max(2, Math.floor(q.length * 0.35));
  const scored: { name: string; score: number }[] = [];
  for (const name of candidates) {
    const n = name.toLowerCase();
    const d = editDistance(q, n, limit);
    const contains = q.length >= 3 && (n.includes(q) || q.includes(n));
    if (d <= limit || contains) scored.push({ name, score: d <= limit ? d : limit + 1 + Math.abs(n.length - q.length) / 100 });
  }
  scored.sort((a, b) => a.score - b.score || a.name.length - b.name.length || collator.compare(a.name, b.name));
  const out: string[] = [];
  const models = new Set<string>();
  for (const { name } of scored) {
    const model = canonical?.get(name) ?? name;
    if (models.has(model)) continue;
    models.add(model);
    out.push(name);
    if (out.length === 3) break;
  }
  return out;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      row.push(v);
      if (v < best) best = v;
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// The process-wide catalogue. On globalThis so that Next's route bundles and the node:http host
// share one cache (and one poller).

const g = globalThis as { __modelServiceCatalogueState?: CatalogueState };
let processCatalogue: ModelCatalogue | undefined;

export function modelCatalogue(): ModelCatalogue {
  processCatalogue ??= new ModelCatalogue({ database: getDatabase, state: (g.__modelServiceCatalogueState ??= {}) });
  return processCatalogue;
}

/** Tests and tools: use `catalogue` as this module's process-wide catalogue (undefined: the default again). */
export function installModelCatalogue(catalogue: ModelCatalogue | undefined): void {
  processCatalogue = catalogue;
}

/** Tests: forgets the shared cache (and stops its polling) so that the next use starts afresh. */
export function resetModelCatalogueForTests(): void {
  const state = g.__modelServiceCatalogueState;
  if (state?.timer) clearInterval(state.timer);
  g.__modelServiceCatalogueState = undefined;
  processCatalogue = undefined;
}

/**
 * Loads the data file into the database and the cache. With `watch` (the default; the server),
 * keeps polling for changes made by other instances until shutdown; the CLI passes false.
 */
export async function syncCatalogue(options: { watch?: boolean } = {}): Promise<SyncReport> {
  const catalogue = modelCatalogue();
  const report = await catalogue.sync();
  if (options.watch ?? true) {
    catalogue.watch();
    onShutdown("model catalogue", () => catalogue.stop());
  }
  return report;
}

/**
 * Resolves once the cache holds the database's catalogue. Before that (a process that never
 * synced), the functions below answer from the shipped data file, without admin edits.
 */
export function catalogueReady(): Promise<void> {
  return modelCatalogue().ready();
}

export function resolveModel(idOrAlias: string): CatalogueModel {
  return modelCatalogue().resolve(idOrAlias);
}

export function listModels(filter?: ModelFilter): CatalogueModel[] {
  return modelCatalogue().list(filter);
}

export function pricingFor(idOrAlias: string, at?: Date): ModelPrice {
  return modelCatalogue().pricingFor(idOrAlias, at);
}

export function priceHistory(idOrAlias: string): PriceHistoryEntry[] {
  return modelCatalogue().priceHistory(idOrAlias);
}

export function modelAvailability(model: CatalogueModel | string): Availability {
  return modelCatalogue().availability(model);
}

export type ModelProviderInfo = {
  id: string;
  name: string;
  /** OpenAI itself (its base URL may point at any compatible server) or an OPENAI_COMPATIBLE_PROVIDERS entry: an admin can add models served by it. */
  openAICompatible: boolean;
  available: boolean;
  reason: string | null;
};

/** The providers models can be served by, with whether each is configured (and why not). */
export function modelProviders(): ModelProviderInfo[] {
  return listProviders().map((p) => {
    const status = p.status();
    return {
      id: p.id,
      name: p.name,
      openAICompatible: p.id === "openai" || !BUILT_IN_PROVIDER_IDS.has(p.id),
      available: status.available,
      reason: status.available ? null : status.reason,
    };
  });
}

export function updateModel(idOrAlias: string, patch: ModelPatch, actorId: string): Promise<CatalogueModel> {
  return modelCatalogue().update(idOrAlias, patch, actorId);
}

export function createModel(entry: CatalogueEntry & { fallbacks?: string[] }, actorId: string): Promise<CatalogueModel> {
  return modelCatalogue().create(entry, actorId);
}
