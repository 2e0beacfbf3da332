import "server-only";
// GET /v1/llm/models and GET /api/v1/models: the catalogue in the original service's shape
// (snake_case; `max_tokens` is the context window, as it was there; per-1K costs as numbers),
// with a few added fields. Served from the in-process cache.
import { z } from "zod";
import { MODEL_TYPES, providerIdSchema } from "./catalogue-data.ts";
import { catalogueReady, listModels, modelAvailability, perThousandTokens, type CatalogueModel } from "./models.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { modelAllowed } from "../../access/model-access.ts";
import { TIER_RATES, tierLabel } from "./pricing.ts";

/** cachedInput → cached_input, cacheWrite1h → cache_write_1h. */
const snake = (name: string) =>
  name
    .replace(/([A-Z])/g, "_$1")
    .replace(/(\d+h)$/, "_$1")
    .replace(/__/g, "_")
    .toLowerCase();

export const modelsQuery = z.object({
  provider: providerIdSchema.optional(),
  type: z.enum(MODEL_TYPES).optional(),
});

/** One model as the original service's callers expect it, plus optional extras. */
export function toRestModel(m: CatalogueModel) {
  const availability = modelAvailability(m);
  const p = m.price;
  return {
    id: m.id,
    name: m.name,
    provider: m.provider,
    type: m.type,
    max_tokens: m.contextWindow,
    cost_per_1k_input: Number(perThousandTokens(p.inputPerMTok)),
    cost_per_1k_output: Number(perThousandTokens(p.outputPerMTok)),
    capabilities: m.capabilities,
    available: availability.available,
    ...(availability.reason !== undefined ? { unavailable_reason: availability.reason } : {}),
    aliases: m.aliases,
    context_window: m.contextWindow,
    max_output_tokens: m.maxOutputTokens,
    cost_per_1k_cached_input: p.cachedInputPerMTok === null ? null : Number(perThousandTokens(p.cachedInputPerMTok)),
    cost_per_1m_input: Number(p.inputPerMTok),
    cost_per_1m_output: Number(p.outputPerMTok),
    cost_per_1m_cached_input: p.cachedInputPerMTok === null ? null : Number(p.cachedInputPerMTok),
    cost_per_1m_cache_write: p.cacheWritePerMTok === null ? null : Number(p.cacheWritePerMTok),
    cost_per_1m_cache_write_1h: p.cacheWrite1hPerMTok == null ? null : Number(p.cacheWrite1hPerMTok),
    cost_per_1m_reasoning: p.reasoningPerMTok == null ? null : Number(p.reasoningPerMTok),
    cost_per_1m_audio_input: p.audioInputPerMTok == null ? null : Number(p.audioInputPerMTok),
    cost_per_1m_image_input: p.imageInputPerMTok == null ? null : Number(p.imageInputPerMTok),
    // Rates that replace the standard ones for a whole call on a service tier and/or above an input size.
    price_tiers: (p.tiers ?? []).map((t) => ({
      label: tierLabel(t),
      service_tier: t.serviceTier ?? null,
      above_input_tokens: t.aboveInputTokens ?? null,
      ...Object.fromEntries(
        TIER_RATES.flatMap((k) => (t[k] != null ? [[`cost_per_1m_${snake(k.replace(/PerMTok$/, ""))}`, Number(t[k])]] : [])),
      ),
    })),
    ...(m.embeddingDimensions !== null ? { dimensions: m.embeddingDimensions } : {}),
    enabled: m.enabled,
  };
}

export const models = endpoint({
  GET: route({
    access: "user",
    doc: { summary: "The model catalogue with prices and availability" },
    query: modelsQuery,
    handler: async ({ query, identity }) => {
      await catalogueReady();
      // A key with an allow-list sees only its models.
      return listModels({ provider: query.provider, type: query.type })
        .filter((m) => modelAllowed(identity, m.id))
        .map(toRestModel);
    },
  }),
});
