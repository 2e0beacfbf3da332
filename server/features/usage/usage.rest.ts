import "server-only";
// GET /v1/llm/usage and GET /v1/llm/embedding-usage: the original service's usage statistics
// (snake_case; costs as JSON numbers of the exact decimal), plus breakdowns, error rate and
// latency. POST /v1/llm/cost: what a call would cost at a model's current price.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { calculateCost } from "../catalogue/index.ts";
import { usdNumber, type CostBreakdown, type Pico } from "../catalogue/index.ts";
import {
  BREAKDOWN_DIMENSIONS,
  restQuery,
  snakeCase,
  statsQuerySchema,
  usageStats,
  type BreakdownRow,
  type UsageStats,
} from "./usage-stats.ts";
import type { UsageKind } from "./usage-rollups.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { COST_POLICY, USAGE_READ_POLICY } from "./policies.ts";

/** start_date, end_date (calendar days in `tz`, both included; the last 30 days by default), user_id, api_key_id, model, provider, status, tag, end_user, tz, attribution. */
export const usageQuery = restQuery(statsQuerySchema.omit({ kind: true }));

function restRow(r: BreakdownRow) {
  return {
    value: r.value,
    label: r.label,
    requests: r.requests,
    errors: r.errors,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    tokens: r.totalTokens,
    cost: usdNumber(r.cost),
    avg_latency_ms: r.avgLatencyMs,
  };
}

/** A cost's parts in snake_case, as JSON numbers of the exact decimals. */
export function restCostBreakdown(b: CostBreakdown & { unitemised?: Pico }) {
  return {
    input: usdNumber(b.input),
    cached_input: usdNumber(b.cachedInput),
    cache_write_5m: usdNumber(b.cacheWrite5m),
    cache_write_1h: usdNumber(b.cacheWrite1h),
    audio_input: usdNumber(b.audioInput),
    image_input: usdNumber(b.imageInput),
    output: usdNumber(b.output),
    reasoning: usdNumber(b.reasoning),
    ...(b.unitemised !== undefined ? { unitemised: usdNumber(b.unitemised) } : {}),
  };
}

/** The original service's shape first, then what this service adds. */
export function toRestUsage(s: UsageStats) {
  const t = s.totals;
  return {
    total_requests: t.requests,
    total_tokens: t.totalTokens,
    total_cost: usdNumber(t.cost),
    requests_by_model: Object.fromEntries(s.breakdowns.model.map((m) => [m.value, m.requests])),
    cost_by_model: Object.fromEntries(s.breakdowns.model.map((m) => [m.value, usdNumber(m.cost)])),
    // Attribution: a call with several tags counts under each; calls without a tag or end user are in neither.
    requests_by_tag: Object.fromEntries(s.breakdowns.tag.map((m) => [m.value, m.requests])),
    cost_by_tag: Object.fromEntries(s.breakdowns.tag.map((m) => [m.value, usdNumber(m.cost)])),
    requests_by_end_user: Object.fromEntries(s.breakdowns.endUser.map((m) => [m.value, m.requests])),
    cost_by_end_user: Object.fromEntries(s.breakdowns.endUser.map((m) => [m.value, usdNumber(m.cost)])),
    // False when a filtered view was not broken down by tag and end user (ask with attribution=true).
    attribution_included: s.attributionIncluded,
    daily_usage: s.daily.map((d) => ({ date: d.date, requests: d.requests, tokens: d.totalTokens, cost: usdNumber(d.cost) })),
    start_date: s.range.start,
    end_date: s.range.end,
    tz: s.range.tz,
    total_input_tokens: t.inputTokens,
    total_output_tokens: t.outputTokens,
    total_cached_tokens: t.cachedInputTokens,
    total_cache_write_tokens: s.costBreakdown.cacheWriteTokens,
    total_reasoning_tokens: t.reasoningTokens,
    // Each kind of token's cost; they add up to total_cost (unitemised: events recorded before the parts were kept).
    cost_breakdown: restCostBreakdown(s.costBreakdown),
    total_errors: t.errors,
    error_rate: t.errorRate,
    latency_ms: { avg: t.avgLatencyMs, p50: t.latency.p50, p95: t.latency.p95 },
    breakdowns: Object.fromEntries(BREAKDOWN_DIMENSIONS.map((d) => [snakeCase(d), s.breakdowns[d].map(restRow)])),
  };
}

function usageRoute(kind: UsageKind) {
  return route({
    ...USAGE_READ_POLICY,
    doc: { summary: kind === "llm" ? "Usage statistics of the generation endpoints" : "Usage statistics of the embedding endpoints" },
    query: usageQuery,
    handler: async ({ query, identity }) => toRestUsage(await usageStats(identity, { ...query, kind })),
  });
}

export const llmUsage = endpoint({ GET: usageRoute("llm") });
export const embeddingUsage = endpoint({ GET: usageRoute("embedding") });

const tokens = z.number().int().min(0).max(1_000_000_000);

export const costBody = z.object({
  model: safeString.min(1, { error: "name a model, e.g. gpt-4o-mini" }).max(200),
  input_tokens: tokens,
  output_tokens: tokens,
  cached_tokens: tokens.optional(),
});

export const llmCost = endpoint({
  POST: route({
    ...COST_POLICY,
    doc: { summary: "What a call would cost at the model's current price" },
    body: costBody,
    handler: async ({ body }) => {
      const c = await calculateCost({
        model: body.model,
        inputTokens: body.input_tokens,
        outputTokens: body.output_tokens,
        cachedTokens: body.cached_tokens,
      });
      return {
        model: c.model,
        provider: c.provider,
        input_cost: usdNumber(c.inputCost),
        output_cost: usdNumber(c.outputCost),
        total_cost: usdNumber(c.totalCost),
        cost_per_1k_input: Number(c.per1K.input),
        cost_per_1k_output: Number(c.per1K.output),
        cost_per_1k_cached_input: Number(c.per1K.cachedInput),
      };
    },
  }),
});
