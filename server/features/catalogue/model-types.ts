import "server-only";
// The shapes of the catalogue: a model as the service sees it, its price, the database rows it is
// read from and the state the process-wide catalogue keeps.
import type { Logger } from "pino";
import { type DatabaseHandle } from "../../db/index.ts";
import type { Provider } from "../../providers/types.ts";
import { type CatalogueEntry, type ModelType, type PriceTierEntry } from "./catalogue-data.ts";
import { type Price } from "./pricing.ts";

export type ModelSource = "catalogue" | "admin";

/** USD per 1M tokens, as exact decimal strings ("2.5"). */
export type ModelPrice = Price & {
  cachedInputPerMTok: string | null;
  /** Anthropic's price for writing the prompt cache. */
  cacheWritePerMTok: string | null;
};

/** The stored form of a price's rates beyond the four columns (models.extra_prices, model_prices.extra_prices). */
export type ExtraPrices = {
  cacheWrite1h?: string;
  reasoning?: string;
  audioInput?: string;
  imageInput?: string;
  tiers?: PriceTierEntry[];
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
    cacheWrite1h?: string | number | null;
    reasoning?: string | number | null;
    audioInput?: string | number | null;
    imageInput?: string | number | null;
    /** The tiers in full (replacing the current ones); [] removes them. */
    tiers?: PriceTierEntry[];
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

export type ModelRow = {
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
  extra_prices: ExtraPrices | null;
  capabilities: string[] | null;
  aliases: string[] | null;
  fallbacks: string[] | null;
  embedding_dimensions: number | null;
  enabled: boolean;
  source: string;
  created_at: Date;
  updated_at: Date;
};

export type PriceRow = {
  model_id: string;
  effective_from: Date;
  input: string;
  output: string;
  cached_input: string | null;
  cache_write: string | null;
  extra_prices: ExtraPrices | null;
  changed_by: string;
};

/** Who the catalogue's own writes (sync of the shipped file) are attributed to in the price history. */
export const CATALOGUE_ACTOR = "catalogue";
