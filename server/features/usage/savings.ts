import "server-only";
// Savings for the dashboard home and usage.savings / GET /v1/llm/savings, read from the roll-ups
// only (like usage-stats.ts, with the same scope rules and filters):
//   - what the caches saved over the range: the roll-ups' saved_cost (a cached answer's price,
//     embeddings served from the cache) and the number of requests answered from the cache;
//   - for each model in use, what the same traffic (its recorded input, cached-input and output
//     tokens) would have cost on each cheaper model of the catalogue that has the same type and at
//     least the same capabilities, at that model's current price. Token counts differ between
//     providers' tokenizers, so this is an estimate for the same counts, not a quote.
// Alternatives with the same provider, price and capabilities (dated snapshots of one model) are
// listed once, under the shortest id.
import { z } from "zod";
import { getDatabase } from "../../db/index.ts";
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { catalogueReady, listModels, modelAvailability, resolveModel, type CatalogueModel } from "../catalogue/index.ts";
import { costOf, formatUsd, parseUsd, type Pico } from "../catalogue/index.ts";
import { resolveUsageQuery, sourceFor, statsQuerySchema } from "./usage-stats.ts";

export const savingsQuerySchema = statsQuerySchema.omit({ status: true, compare: true, attribution: true }).extend({
  /** Cheaper models listed per model in use, cheapest first. */
  alternatives: z.number().int().min(0).max(50).optional(),
});
export type SavingsQuery = z.infer<typeof savingsQuerySchema>;

export type Alternative = {
  model: string;
  name: string;
  provider: string;
  /** Its provider is configured and it is enabled. */
  available: boolean;
  /** The same tokens at this model's current price. */
  cost: Pico;
  /** The recorded cost minus `cost`. */
  saving: Pico;
  /** saving / recorded cost, 0 to 100. */
  savingPercent: number;
};

export type ModelSavings = {
  model: string;
  provider: string | null;
  type: string | null;
  capabilities: string[];
  requests: number;
  /** Requests answered from a cache. */
  cachedRequests: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  /** What the traffic cost, as recorded (the price of each call's time). */
  cost: Pico;
  /** What the caches saved on this model. */
  savedCost: Pico;
  alternatives: Alternative[];
};

export type Savings = {
  range: { start: string; end: string; tz: string };
  cache: { savedCost: Pico; cachedRequests: number };
  models: ModelSavings[];
};

type Row = {
  model: string;
  requests: string | null;
  cached_requests: string | null;
  input_tokens: string | null;
  cached_input_tokens: string | null;
  output_tokens: string | null;
  cost: string | null;
  saved_cost: string | null;
};

export async function usageSavings(identity: AuthenticatedIdentity, q: SavingsQuery): Promise<Savings> {
  const r = await resolveUsageQuery(identity, q);
  const src = sourceFor(r, r, [], ["requests", "input_tokens", "cached_input_tokens", "output_tokens", "cost", "saved_cost"], false, false);
  const sums = `sum(x.requests)::text AS requests, sum(x.input_tokens)::text AS input_tokens,
    sum(x.cached_input_tokens)::text AS cached_input_tokens, sum(x.output_tokens)::text AS output_tokens,
    sum(x.cost)::text AS cost, sum(x.saved_cost)::text AS saved_cost`;
  // Per model. The *_dims tables have no model × status rows, so there the cached requests are
  // only known in total (the status dimension); the filtered roll-ups have them per model.
  const sql = src.dims
    ? `SELECT CASE WHEN x.dim = 'model' THEN x.value END AS model, ${sums},
         sum(x.requests) FILTER (WHERE x.dim = 'status')::text AS cached_requests
       FROM ${src.from}
       WHERE x.dim = 'model' OR (x.dim = 'status' AND x.value = 'cached')
       GROUP BY 1`
    : `SELECT x.model_id AS model, ${sums}, sum(x.requests) FILTER (WHERE x.status = 'cached')::text AS cached_requests
       FROM ${src.from}
       GROUP BY x.model_id`;
  const rows = await (await getDatabase()).rawQuery<Row>(sql, src.params);
  await catalogueReady();

  const limit = q.alternatives ?? 5;
  let cachedRequests = 0;
  let savedTotal = 0n;
  const models: ModelSavings[] = [];
  for (const row of rows) {
    if (row.model === null) {
      cachedRequests = Number(row.requests ?? 0); // the status dimension's 'cached' row
      continue;
    }
    const perModelCached = Number(row.cached_requests ?? 0);
    if (!src.dims) cachedRequests += perModelCached;
    const savedCost = parseUsd(row.saved_cost ?? "0");
    savedTotal += savedCost;
    const tokens = {
      inputTokens: Number(row.input_tokens ?? 0),
      cachedInputTokens: Number(row.cached_input_tokens ?? 0),
      outputTokens: Number(row.output_tokens ?? 0),
    };
    const cost = parseUsd(row.cost ?? "0");
    const model = catalogueModel(row.model);
    models.push({
      model: row.model,
      provider: model?.provider ?? null,
      type: model?.type ?? null,
      capabilities: model?.capabilities ?? [],
      requests: Number(row.requests ?? 0),
      cachedRequests: src.dims ? 0 : perModelCached,
      ...tokens,
      cost,
      savedCost,
      alternatives: model && limit > 0 ? cheaperAlternatives(model, tokens, cost).slice(0, limit) : [],
    });
  }
  models.sort((a, b) => (a.cost === b.cost ? a.model.localeCompare(b.model) : b.cost > a.cost ? 1 : -1));
  return { range: { start: r.start, end: r.end, tz: r.tz }, cache: { savedCost: savedTotal, cachedRequests }, models };
}

function catalogueModel(id: string): CatalogueModel | undefined {
  try {
    return resolveModel(id);
  } catch {
    return undefined; // a retired model: its traffic is shown, without alternatives
  }
}

/** Cheaper models of the same type with at least the same capabilities, cheapest first. */
export function cheaperAlternatives(
  model: CatalogueModel,
  tokens: { inputTokens: number; cachedInputTokens: number; outputTokens: number },
  cost: Pico,
): Alternative[] {
  if (cost <= 0n) return [];
  const seen = new Map<string, Alternative>();
  for (const m of listModels({ type: model.type, includeDisabled: false })) {
    if (m.id === model.id || !model.capabilities.every((c) => m.capabilities.includes(c))) continue;
    const altCost = costOf(m.price, tokens).totalCost;
    if (altCost >= cost) continue;
    // Snapshots of one model (same provider, price, capabilities) once, under the shortest id.
    const twin = [
      m.provider,
      m.price.inputPerMTok,
      m.price.outputPerMTok,
      m.price.cachedInputPerMTok,
      [...m.capabilities].sort().join(","),
    ].join("|");
    const prev = seen.get(twin);
    if (prev && prev.model.length <= m.id.length) continue;
    const saving = cost - altCost;
    seen.set(twin, {
      model: m.id,
      name: m.name,
      provider: m.provider,
      available: modelAvailability(m).available,
      cost: altCost,
      saving,
      savingPercent: Number((saving * 10_000n) / cost) / 100,
    });
  }
  return [...seen.values()].sort((a, b) => (a.cost === b.cost ? a.model.localeCompare(b.model) : a.cost < b.cost ? -1 : 1));
}

/** Exact decimal strings for JSON (tRPC and REST). */
export function savingsToJson(s: Savings) {
  return {
    range: s.range,
    cache: { savedCost: formatUsd(s.cache.savedCost), cachedRequests: s.cache.cachedRequests },
    models: s.models.map((m) => ({
      ...m,
      cost: formatUsd(m.cost),
      savedCost: formatUsd(m.savedCost),
      alternatives: m.alternatives.map((a) => ({ ...a, cost: formatUsd(a.cost), saving: formatUsd(a.saving) })),
    })),
  };
}
