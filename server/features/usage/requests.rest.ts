import "server-only";
// GET /v1/llm/requests and GET /v1/llm/requests/{id}: the caller's calls, newest first by cursor,
// with the statistics' filters (model, provider, status, tag, end user, key, user, kind, range)
// and a session; and one call with its attribution, cost by kind and attempts (usage-recent.ts).
// The tRPC twins are usage.recent and usage.request; an admin sees everyone's.
import { z } from "zod";
import { usdNumber } from "../catalogue/index.ts";
import { restCostBreakdown } from "./usage.rest.ts";
import { recentQuerySchema, recentRequests, requestDetail, requestIdSchema, type RecentRequest } from "./usage-recent.ts";
import { restQuery } from "./usage-stats.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { AppError } from "../../kernel/errors.ts";
import { USAGE_READ_POLICY } from "./policies.ts";

const requestsQuery = restQuery(
  recentQuerySchema.extend({
    /** Calls per page: 1 to 200, default 50. */
    limit: z.coerce.number({ error: "limit must be a whole number from 1 to 200" }).int().min(1).max(200).optional(),
  }),
);

/** One call as REST spells it (snake_case; costs as JSON numbers of the exact decimals). */
export function restRequest(r: RecentRequest) {
  return {
    id: r.id,
    created_at: r.createdAt.toISOString(),
    request_id: r.requestId,
    endpoint: r.endpoint,
    model: r.model,
    provider: r.provider,
    deployment: r.deployment,
    attempts: r.attempts,
    api_key_id: r.apiKeyId,
    api_key: r.apiKey,
    user_id: r.userId,
    user: r.user,
    status: r.status,
    error_code: r.errorCode,
    stream: r.stream,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cached_input_tokens: r.cachedInputTokens,
    reasoning_tokens: r.reasoningTokens,
    cost: usdNumber(r.cost),
    latency_ms: r.latencyMs,
    ttft_ms: r.ttftMs,
    tags: r.tags,
    end_user: r.endUser,
    session_id: r.session,
  };
}

export const llmRequests = endpoint({
  GET: route({
    ...USAGE_READ_POLICY,
    doc: {
      summary: "The caller's calls, newest first, by cursor (an admin's: everyone's)",
      description:
        "Filters as GET /v1/llm/usage (start_date, end_date, tz, model, provider, status, tag, end_user, user_id, api_key_id, kind) plus session; `limit` 1 to 200 (50); pass `next_cursor` back as `cursor` for the next page.",
    },
    query: requestsQuery,
    handler: async ({ query, identity }) => {
      const page = await recentRequests(identity, query);
      return { items: page.items.map(restRequest), next_cursor: page.nextCursor };
    },
  }),
});

export const llmRequest = endpoint({
  GET: route({
    ...USAGE_READ_POLICY,
    doc: { summary: "One call of the caller's (an admin's: anyone's) with its attribution, metadata, cost by kind and attempts" },
    handler: async ({ params, identity }) => {
      const id = requestIdSchema.safeParse(params.id ?? "");
      if (!id.success)
        throw new AppError("invalid_request", "id: the id of a usage event, as GET /v1/llm/requests lists them", { field: "id" });
      const r = await requestDetail(identity, id.data);
      return {
        ...restRequest(r),
        input_cost: usdNumber(r.inputCost),
        output_cost: usdNumber(r.outputCost),
        saved_cost: usdNumber(r.savedCost),
        cache_write_tokens: r.cacheWriteTokens,
        cache_write_1h_tokens: r.cacheWrite1hTokens,
        audio_input_tokens: r.audioInputTokens,
        image_input_tokens: r.imageInputTokens,
        service_tier: r.serviceTier,
        price_tier: r.priceTier,
        // Each kind of token's cost (null: recorded before the parts were kept); they add up to cost.
        cost_breakdown: r.costBreakdown ? restCostBreakdown(r.costBreakdown) : null,
        metadata: r.metadata,
      };
    },
  }),
});
