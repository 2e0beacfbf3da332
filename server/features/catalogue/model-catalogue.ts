import "server-only";
// The model catalogue at run time. `sync()` loads the shipped data file into the `models` table
// (and first prices into `model_prices`) without touching rows an admin edited; the table and the
// price history are then held in memory, so resolving a model, checking its availability and
// pricing a call never wait for the database.
//
// Other instances learn of an admin's change by polling a cheap fingerprint of the two tables
// (every 5 s by default) and reloading when it moved. LISTEN/NOTIFY was not used: it needs a
// dedicated connection held open outside the pool on PostgreSQL, and its delivery through the
// embedded database's socket server (pglite-socket multiplexes clients onto one PGlite) is not
// something to rely on; one small query every few seconds works the same on both. Until a change
// arrives, an instance prices calls at the price it last saw.
import type { Logger } from "pino";
import { AppError } from "../../kernel/errors.ts";
import { writeAudit, type AuditActorLike } from "../../db/audit.ts";
import { getLogger } from "../../kernel/logger.ts";
import { getProvider } from "../../providers/registry.ts";
import { configuredCatalogue } from "./configured-catalogue.ts";
import type { Provider } from "../../providers/types.ts";
import type { CatalogueEntry } from "./catalogue-data.ts";
import {
  type Availability,
  type CatalogueDatabase,
  type CatalogueModel,
  type CatalogueState,
  type ModelCatalogueOptions,
  type ModelFilter,
  type ModelPatch,
  type ModelPrice,
  type ModelRow,
  type PriceHistoryEntry,
  type PriceRow,
  type Snapshot,
  type SyncReport,
} from "./model-types.ts";
import { applyPlan, entryColumns, hasWrites, planSync, priceColumns } from "./catalogue-sync.ts";
import { buildSnapshot, compareModels, entryToModel, mergePrice, rowToModel, sameList, samePrice } from "./catalogue-rows.ts";
import { suggestNames } from "./model-names.ts";

type Query = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

const MODELS_SQL = `
select id, name, provider, type, context_window, max_output_tokens,
  input_price_per_mtok::text as input, output_price_per_mtok::text as output,
  cached_input_price_per_mtok::text as cached_input, cache_write_price_per_mtok::text as cache_write,
  extra_prices, capabilities, aliases, fallbacks, embedding_dimensions, enabled, source, created_at, updated_at
from models`;

const PRICES_SQL = `
select model_id, effective_from, input_price_per_mtok::text as input, output_price_per_mtok::text as output,
  cached_input_price_per_mtok::text as cached_input, cache_write_price_per_mtok::text as cache_write, extra_prices, changed_by
from model_prices order by model_id, effective_from, id`;

// Changes whenever a model row is added or updated (Prisma sets updated_at) or a price row is added.
const VERSION_SQL = `
select (select count(*) from models)::text || ':' ||
  coalesce((select md5(string_agg(id || '@' || updated_at::text, ',' order by id)) from models), '') || ':' ||
  (select count(*) from model_prices)::text || ':' || coalesce((select max(id) from model_prices)::text, '') as version`;

// Serialises catalogue writers (sync on several instances starting together, admin edits).
const WRITE_LOCK_KEY = 827_364_119;

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
      this.log.info(
        { models: summary.notInCatalogue },
        "models in the database that the catalogue file no longer lists were left as they are",
      );
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
      this.refreshIfChanged().catch((err: unknown) =>
        this.log.warn({ err }, "could not refresh the model catalogue; keeping the cached one"),
      );
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
        (!search || [m.id, m.name, m.provider, ...m.aliases, ...m.capabilities].some((s) => s.toLowerCase().includes(search))),
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
  async update(idOrAlias: string, patch: ModelPatch, actor: string, auditActor: AuditActorLike = { kind: "cli" }): Promise<CatalogueModel> {
    await this.ready();
    const model = this.resolve(idOrAlias);
    const data: Record<string, unknown> = {};
    if (patch.name !== undefined && patch.name !== model.name) data.name = patch.name;
    if (patch.enabled !== undefined && patch.enabled !== model.enabled) data.enabled = patch.enabled;
    if (patch.capabilities !== undefined && !sameList(patch.capabilities, model.capabilities)) data.capabilities = patch.capabilities;
    if (patch.contextWindow !== undefined && patch.contextWindow !== model.contextWindow) data.contextWindow = patch.contextWindow;
    if (patch.maxOutputTokens !== undefined && patch.maxOutputTokens !== model.maxOutputTokens)
      data.maxOutputTokens = patch.maxOutputTokens;
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
        // What changed, before and after (the price as the catalogue shows it, per million tokens).
        const before: Record<string, unknown> = {};
        const after: Record<string, unknown> = {};
        for (const k of Object.keys(data)) {
          if (k in model) {
            before[k] = (model as unknown as Record<string, unknown>)[k];
            after[k] = data[k];
          }
        }
        if (priceChanged) {
          before.price = model.price;
          after.price = newPrice;
        }
        await writeAudit(tx, { actor: auditActor, action: "model.update", target: { kind: "model", id: model.id }, before, after });
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
  async create(
    entry: CatalogueEntry & { fallbacks?: string[] },
    actor: string,
    auditActor: AuditActorLike = { kind: "cli" },
  ): Promise<CatalogueModel> {
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
          await tx.modelPrice.create({
            data: { modelId: entry.id, effectiveFrom: new Date(), changedBy: actor, ...priceColumns(draft.price) },
          });
          await writeAudit(tx, {
            actor: auditActor,
            action: "model.create",
            target: { kind: "model", id: entry.id },
            after: { ...entry, fallbacks },
          });
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
