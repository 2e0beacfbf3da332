import "server-only";
import type { Logger } from "pino";
import { AppError } from "../../kernel/errors.ts";
import { normalizePrice, RATE_NAMES, type CatalogueEntry, type PriceTierEntry, type RateName } from "./catalogue-data.ts";
import { formatUsd, parsePriceMicros, type PriceTier } from "./pricing.ts";
import {
  type CatalogueModel,
  type ExtraPrices,
  type ModelPatch,
  type ModelPrice,
  type ModelRow,
  type PriceHistoryEntry,
  type PriceRow,
  type Snapshot,
} from "./model-types.ts";

// ---------------------------------------------------------------------------------------------
// Conversions

export function entryPrice(e: CatalogueEntry): ModelPrice {
  const { input, output, cachedInput, cacheWrite, ...extra } = e.price;
  return withExtras(
    { inputPerMTok: input, outputPerMTok: output, cachedInputPerMTok: cachedInput ?? null, cacheWritePerMTok: cacheWrite ?? null },
    extra,
  );
}

/** A price tier's stored (short-named) form to pricing.ts's PriceTier. */
function toPriceTier(t: PriceTierEntry): PriceTier {
  const tier: PriceTier = {};
  if (t.serviceTier !== undefined) tier.serviceTier = t.serviceTier;
  if (t.aboveInputTokens !== undefined) tier.aboveInputTokens = t.aboveInputTokens;
  for (const [short, long] of Object.entries(RATE_NAMES) as [RateName, (typeof RATE_NAMES)[RateName]][]) {
    const v = t[short];
    if (v !== undefined) tier[long] = normalizePrice(v);
  }
  return tier;
}

/** A PriceTier in its stored (short-named) form. */
export function fromPriceTier(t: PriceTier): PriceTierEntry {
  const out: PriceTierEntry = {};
  if (t.serviceTier !== undefined) out.serviceTier = t.serviceTier;
  if (t.aboveInputTokens !== undefined) out.aboveInputTokens = t.aboveInputTokens;
  for (const [short, long] of Object.entries(RATE_NAMES) as [RateName, (typeof RATE_NAMES)[RateName]][]) {
    const v = t[long];
    if (v != null) out[short] = v;
  }
  return out;
}

/** The rates of the extra_prices column (or the data file) added to a price's four columns. */
export function withExtras(base: ModelPrice, extra: ExtraPrices | null | undefined): ModelPrice {
  const price: ModelPrice = { ...base };
  if (!extra) return price;
  if (extra.cacheWrite1h != null) price.cacheWrite1hPerMTok = normalizePrice(extra.cacheWrite1h);
  if (extra.reasoning != null) price.reasoningPerMTok = normalizePrice(extra.reasoning);
  if (extra.audioInput != null) price.audioInputPerMTok = normalizePrice(extra.audioInput);
  if (extra.imageInput != null) price.imageInputPerMTok = normalizePrice(extra.imageInput);
  if (extra.tiers?.length) price.tiers = extra.tiers.map(toPriceTier);
  return price;
}

/** What of a price goes into the extra_prices column; null when it has nothing beyond the four columns. */
export function extrasOf(p: ModelPrice): ExtraPrices | null {
  const extra: ExtraPrices = {};
  if (p.cacheWrite1hPerMTok != null) extra.cacheWrite1h = p.cacheWrite1hPerMTok;
  if (p.reasoningPerMTok != null) extra.reasoning = p.reasoningPerMTok;
  if (p.audioInputPerMTok != null) extra.audioInput = p.audioInputPerMTok;
  if (p.imageInputPerMTok != null) extra.imageInput = p.imageInputPerMTok;
  if (p.tiers?.length) extra.tiers = p.tiers.map(fromPriceTier);
  return Object.keys(extra).length ? extra : null;
}

export function entryToModel(e: CatalogueEntry): CatalogueModel {
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

export function rowToModel(r: ModelRow): CatalogueModel {
  return {
    id: r.id,
    name: r.name,
    provider: r.provider,
    type: r.type === "embedding" ? "embedding" : "chat",
    contextWindow: r.context_window,
    maxOutputTokens: r.max_output_tokens,
    price: withExtras(
      {
        inputPerMTok: normalizePrice(r.input),
        outputPerMTok: normalizePrice(r.output),
        cachedInputPerMTok: optionalPrice(r.cached_input),
        cacheWritePerMTok: optionalPrice(r.cache_write),
      },
      r.extra_prices,
    ),
    capabilities: r.capabilities ?? [],
    aliases: r.aliases ?? [],
    fallbacks: r.fallbacks ?? [],
    embeddingDimensions: r.embedding_dimensions,
    enabled: r.enabled,
    source: r.source === "admin" ? "admin" : "catalogue",
    updatedAt: new Date(r.updated_at),
  };
}

export function buildSnapshot(
  from: Snapshot["from"],
  version: string,
  models: CatalogueModel[],
  priceRows: PriceRow[],
  log: Logger,
): Snapshot {
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
        else if (owner !== m.id && key === alias)
          log.warn({ alias, model: m.id, owner }, "model alias ignored: it already names another model");
      }
    }
  }
  const prices = new Map<string, PriceHistoryEntry[]>();
  for (const p of priceRows) {
    const list = prices.get(p.model_id) ?? [];
    list.push({
      effectiveFrom: new Date(p.effective_from),
      changedBy: p.changed_by,
      price: withExtras(
        {
          inputPerMTok: normalizePrice(p.input),
          outputPerMTok: normalizePrice(p.output),
          cachedInputPerMTok: optionalPrice(p.cached_input),
          cacheWritePerMTok: optionalPrice(p.cache_write),
        },
        p.extra_prices,
      ),
    });
    prices.set(p.model_id, list);
  }
  const displayNames = models.flatMap((m) => [m.id, ...m.aliases.filter((a) => names.get(a) === m.id)]);
  return { from, version, byId, names, displayNames, prices };
}

export function mergePrice(current: ModelPrice, patch: NonNullable<ModelPatch["price"]>): ModelPrice {
  const price = (value: string | number, field: string) => {
    try {
      return normalizePrice(value);
    } catch {
      throw new AppError(
        "invalid_request",
        `Invalid price.${field}: expected USD per 1M tokens, a non-negative decimal with at most 6 decimals`,
      );
    }
  };
  const optional = (value: string | number | null | undefined, current: string | null | undefined, field: string) =>
    value === undefined ? (current ?? null) : value === null ? null : price(value, field);
  const merged: ModelPrice = {
    inputPerMTok: patch.input === undefined ? current.inputPerMTok : price(patch.input, "input"),
    outputPerMTok: patch.output === undefined ? current.outputPerMTok : price(patch.output, "output"),
    cachedInputPerMTok: optional(patch.cachedInput, current.cachedInputPerMTok, "cachedInput"),
    cacheWritePerMTok: optional(patch.cacheWrite, current.cacheWritePerMTok, "cacheWrite"),
  };
  const extra = {
    cacheWrite1hPerMTok: optional(patch.cacheWrite1h, current.cacheWrite1hPerMTok, "cacheWrite1h"),
    reasoningPerMTok: optional(patch.reasoning, current.reasoningPerMTok, "reasoning"),
    audioInputPerMTok: optional(patch.audioInput, current.audioInputPerMTok, "audioInput"),
    imageInputPerMTok: optional(patch.imageInput, current.imageInputPerMTok, "imageInput"),
  };
  for (const [k, v] of Object.entries(extra)) if (v !== null) merged[k as keyof typeof extra] = v;
  const tiers = patch.tiers === undefined ? current.tiers : patch.tiers.map(toPriceTier);
  if (tiers?.length) merged.tiers = tiers;
  return merged;
}

export function samePrice(a: ModelPrice, b: ModelPrice): boolean {
  return (
    a.inputPerMTok === b.inputPerMTok &&
    a.outputPerMTok === b.outputPerMTok &&
    a.cachedInputPerMTok === b.cachedInputPerMTok &&
    a.cacheWritePerMTok === b.cacheWritePerMTok &&
    JSON.stringify(extrasOf(a)) === JSON.stringify(extrasOf(b))
  );
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const PROVIDER_ORDER = ["openai", "anthropic"];
export const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

export function compareModels(a: CatalogueModel, b: CatalogueModel, fileOrder: Map<string, number>): number {
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
