import "server-only";
// GET /v1/llm/savings: what the caches saved over a range, and what each model's traffic would have
// cost on cheaper models with the same capabilities (server/features/usage/savings.ts). Costs are JSON
// numbers of the exact decimals, as the other REST usage endpoints give them.
import { z } from "zod";
import { USAGE_KIND_FILTERS } from "../../../lib/usage.ts";
import { usdNumber } from "../catalogue/index.ts";
import { savingsQuerySchema, usageSavings } from "./savings.ts";
import { restQuery } from "./usage-stats.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { USAGE_READ_POLICY } from "./policies.ts";

const savingsQuery = restQuery(
  savingsQuerySchema.extend({
    kind: z.enum(USAGE_KIND_FILTERS, { error: "kind must be all, llm or embedding" }).optional(),
    /** Cheaper models listed per model in use (0 to 50, default 5). */
    alternatives: z.coerce.number({ error: "alternatives must be a whole number from 0 to 50" }).int().min(0).max(50).optional(),
  }),
);

export const llmSavings = endpoint({
  GET: route({
    ...USAGE_READ_POLICY,
    doc: { summary: "Money saved by the caches, and what each model's traffic would cost on cheaper models with the same capabilities" },
    query: savingsQuery,
    handler: async ({ query, identity }) => {
      const s = await usageSavings(identity, query);
      return {
        start_date: s.range.start,
        end_date: s.range.end,
        tz: s.range.tz,
        cache_saved_cost: usdNumber(s.cache.savedCost),
        cached_requests: s.cache.cachedRequests,
        models: s.models.map((m) => ({
          model: m.model,
          provider: m.provider,
          type: m.type,
          capabilities: m.capabilities,
          requests: m.requests,
          cached_requests: m.cachedRequests,
          input_tokens: m.inputTokens,
          cached_input_tokens: m.cachedInputTokens,
          output_tokens: m.outputTokens,
          cost: usdNumber(m.cost),
          saved_cost: usdNumber(m.savedCost),
          alternatives: m.alternatives.map((a) => ({
            model: a.model,
            name: a.name,
            provider: a.provider,
            available: a.available,
            cost: usdNumber(a.cost),
            saving: usdNumber(a.saving),
            saving_percent: a.savingPercent,
          })),
        })),
      };
    },
  }),
});
