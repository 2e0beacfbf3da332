import "server-only";
import { type CatalogueEntry } from "./catalogue-data.ts";
import {
  type CatalogueDatabase,
  type CatalogueModel,
  type ModelPrice,
  type ModelRow,
  type PriceRow,
  type SyncReport,
} from "./model-types.ts";
import { CATALOGUE_ACTOR } from "./model-types.ts";
import { entryPrice, extrasOf, rowToModel, sameList, samePrice } from "./catalogue-rows.ts";

// ---------------------------------------------------------------------------------------------
// Sync planning: pure functions of the data file and the table.

type SyncPlan = {
  insert: CatalogueEntry[];
  update: CatalogueEntry[];
  /** Price rows to add: a new or changed price, or a model that has none yet. */
  prices: { modelId: string; price: ModelPrice; effectiveFrom?: Date }[];
};

export function planSync(entries: CatalogueEntry[], rows: ModelRow[], priceRows: PriceRow[]): SyncReport & { plan: SyncPlan } {
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

export function hasWrites(plan: SyncPlan): boolean {
  return plan.insert.length + plan.update.length + plan.prices.length > 0;
}

type Tx = Parameters<Parameters<CatalogueDatabase["prisma"]["$transaction"]>[0]>[0];

export async function applyPlan(tx: Tx, plan: SyncPlan): Promise<void> {
  const now = new Date();
  if (plan.insert.length) {
    await tx.model.createMany({ data: plan.insert.map((e) => ({ id: e.id, ...entryColumns(e), source: "catalogue" })) });
  }
  for (const e of plan.update) await tx.model.update({ where: { id: e.id }, data: entryColumns(e) });
  if (plan.prices.length) {
    await tx.modelPrice.createMany({
      data: plan.prices.map((p) => ({
        modelId: p.modelId,
        effectiveFrom: p.effectiveFrom ?? now,
        changedBy: CATALOGUE_ACTOR,
        ...priceColumns(p.price),
      })),
    });
  }
}

export function entryColumns(e: CatalogueEntry) {
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

export function priceColumns(p: ModelPrice) {
  return {
    inputPricePerMTok: p.inputPerMTok,
    outputPricePerMTok: p.outputPerMTok,
    cachedInputPricePerMTok: p.cachedInputPerMTok,
    cacheWritePricePerMTok: p.cacheWritePerMTok,
    // The rates beyond the four columns: the 1-hour cache write, reasoning, audio and image input, the tiers.
    extraPrices: (extrasOf(p) ?? {}) as Record<string, unknown> as never,
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
