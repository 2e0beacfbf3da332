import "server-only";
// usage.*: statistics for the dashboard and tRPC clients (the caller's own usage; an admin's
// anyone's), the recent requests page by page, the CSV export, and the cost calculator. Costs are
// exact decimal strings in USD.
import { z } from "zod";
import { USAGE_KIND_FILTERS } from "../../../lib/usage.ts";
import { safeString } from "../../kernel/validation.ts";
import { calculateCost } from "../catalogue/index.ts";
import { percentilesSchema } from "./latency-histogram.ts";
import { COST_PARTS, formatUsd, type CostBreakdown } from "../catalogue/index.ts";
import { savingsQuerySchema, savingsToJson, usageSavings } from "./savings.ts";
import { exportUsageCsv } from "./usage-csv.ts";
import { recentQuerySchema, recentRequests, requestDetail, requestIdSchema, sessionView, type RecentRequest } from "./usage-recent.ts";
import { attributionIdSchema } from "./attribution.ts";
import {
  perBreakdown,
  statsQuerySchema,
  USAGE_SOURCES,
  usageStats,
  type BreakdownRow,
  type Measures,
  type Totals,
  type UsageStats,
} from "./usage-stats.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { COST_POLICY, USAGE_READ_POLICY } from "./policies.ts";

const costBreakdownOutput = z.object({
  input: z.string(),
  cachedInput: z.string(),
  cacheWrite5m: z.string(),
  cacheWrite1h: z.string(),
  audioInput: z.string(),
  imageInput: z.string(),
  output: z.string(),
  reasoning: z.string(),
});

const measuresOutput = z.object({
  requests: z.number(),
  errors: z.number(),
  inputTokens: z.number(),
  outputTokens: z.number(),
  cachedInputTokens: z.number(),
  reasoningTokens: z.number(),
  totalTokens: z.number(),
  /** USD, exact. */
  cost: z.string(),
  avgLatencyMs: z.number().nullable(),
});

const totalsOutput = measuresOutput.extend({ errorRate: z.number(), latency: percentilesSchema });
const breakdownOutput = z.array(measuresOutput.extend({ value: z.string(), label: z.string() }));

export const statsOutput = z.object({
  range: z.object({ start: z.string(), end: z.string(), tz: z.string(), days: z.number() }),
  kind: z.enum(USAGE_KIND_FILTERS),
  source: z.enum(USAGE_SOURCES),
  /** Whether the tag and end-user breakdowns were computed (see statsQuerySchema's `attribution`). */
  attributionIncluded: z.boolean(),
  totals: totalsOutput,
  daily: z.array(totalsOutput.extend({ date: z.string() })),
  dailyByModel: z.array(measuresOutput.extend({ date: z.string(), model: z.string() })),
  breakdowns: z.object(perBreakdown(() => breakdownOutput)),
  previous: z.object({ range: z.object({ start: z.string(), end: z.string() }), totals: totalsOutput }).optional(),
  /** The range's cost by kind of token (USD, exact; they add up to totals.cost) and its cache-write tokens. */
  costBreakdown: costBreakdownOutput.extend({ unitemised: z.string(), cacheWriteTokens: z.number() }),
});

/** USD, exact, per kind of token. */
function exactParts(b: CostBreakdown) {
  return Object.fromEntries(COST_PARTS.map((k) => [k, formatUsd(b[k])])) as Record<(typeof COST_PARTS)[number], string>;
}

function measures(m: Measures & { totalTokens: number; avgLatencyMs?: number | null }) {
  return {
    requests: m.requests,
    errors: m.errors,
    inputTokens: m.inputTokens,
    outputTokens: m.outputTokens,
    cachedInputTokens: m.cachedInputTokens,
    reasoningTokens: m.reasoningTokens,
    totalTokens: m.totalTokens,
    cost: formatUsd(m.cost),
    avgLatencyMs: m.avgLatencyMs ?? (m.requests ? Math.round((m.latencyMsSum / m.requests) * 10) / 10 : null),
  };
}

const totals = (t: Totals) => ({ ...measures(t), errorRate: t.errorRate, latency: t.latency });
const breakdown = (rows: BreakdownRow[]) => rows.map((r) => ({ ...measures(r), value: r.value, label: r.label }));

function toStatsOutput(s: UsageStats): z.infer<typeof statsOutput> {
  return {
    range: s.range,
    kind: s.kind,
    source: s.source,
    attributionIncluded: s.attributionIncluded,
    totals: totals(s.totals),
    daily: s.daily.map((d) => ({ ...totals(d), date: d.date })),
    dailyByModel: s.dailyByModel.map((d) => ({ ...measures(d), date: d.date, model: d.model })),
    breakdowns: perBreakdown((d) => breakdown(s.breakdowns[d])),
    ...(s.previous ? { previous: { range: s.previous.range, totals: totals(s.previous.totals) } } : {}),
    costBreakdown: {
      ...exactParts(s.costBreakdown),
      unitemised: formatUsd(s.costBreakdown.unitemised),
      cacheWriteTokens: s.costBreakdown.cacheWriteTokens,
    },
  };
}

const recentOutput = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      createdAt: z.date(),
      requestId: z.string().nullable(),
      endpoint: z.string(),
      model: z.string(),
      provider: z.string(),
      apiKeyId: z.string().nullable(),
      apiKey: z.string().nullable(),
      userId: z.string().nullable(),
      user: z.string().nullable(),
      status: z.string(),
      errorCode: z.string().nullable(),
      stream: z.boolean(),
      inputTokens: z.number(),
      outputTokens: z.number(),
      cachedInputTokens: z.number(),
      reasoningTokens: z.number(),
      cost: z.string(),
      latencyMs: z.number(),
      ttftMs: z.number().nullable(),
      tags: z.array(z.string()),
      endUser: z.string().nullable(),
      session: z.string().nullable(),
      deployment: z.string().nullable(),
      attempts: z.number().nullable(),
    }),
  ),
  nextCursor: z.string().nullable(),
});

const requestOutput = recentOutput.shape.items.element.extend({
  metadata: z.record(z.string(), z.json()).nullable(),
  /** USD, exact. */
  inputCost: z.string(),
  outputCost: z.string(),
  savedCost: z.string(),
  cacheWriteTokens: z.number(),
  cacheWrite1hTokens: z.number(),
  audioInputTokens: z.number(),
  imageInputTokens: z.number(),
  serviceTier: z.string().nullable(),
  priceTier: z.string().nullable(),
  /** USD, exact, per kind of token; null for a call recorded before the parts were kept. */
  costBreakdown: costBreakdownOutput.nullable(),
  /** The stored request and answer (redacted), when the call's bodies were logged. */
  body: z.object({ request: z.json(), response: z.json() }).nullable(),
});

const recentItem = (r: RecentRequest) => ({ ...r, cost: formatUsd(r.cost) });

const tokenCount = z.number().int().min(0).max(1_000_000_000);

export const calculateCostInput = z.object({
  model: safeString.min(1).max(200),
  inputTokens: tokenCount,
  outputTokens: tokenCount,
  cachedTokens: tokenCount.optional(),
});

const calculateCostOutput = z.object({
  model: z.string(),
  provider: z.string(),
  inputCost: z.string(),
  outputCost: z.string(),
  totalCost: z.string(),
  per1K: z.object({ input: z.string(), output: z.string(), cachedInput: z.string() }),
});

const reader = procedure(USAGE_READ_POLICY);

const alternativeOutput = z.object({
  model: z.string(),
  name: z.string(),
  provider: z.string(),
  available: z.boolean(),
  cost: z.string(),
  saving: z.string(),
  savingPercent: z.number(),
});

export const savingsOutput = z.object({
  range: z.object({ start: z.string(), end: z.string(), tz: z.string() }),
  /** USD the caches saved over the range, exact. */
  cache: z.object({ savedCost: z.string(), cachedRequests: z.number() }),
  models: z.array(
    z.object({
      model: z.string(),
      provider: z.string().nullable(),
      type: z.string().nullable(),
      capabilities: z.array(z.string()),
      requests: z.number(),
      cachedRequests: z.number(),
      inputTokens: z.number(),
      cachedInputTokens: z.number(),
      outputTokens: z.number(),
      cost: z.string(),
      savedCost: z.string(),
      alternatives: z.array(alternativeOutput),
    }),
  ),
});

export const usageRouter = createTRPCRouter({
  /** Totals, a series per day, cost per day and model, breakdowns; `compare` adds the previous range's totals. */
  stats: reader
    .input(statsQuerySchema)
    .output(statsOutput)
    .query(async ({ input, ctx }) => toStatsOutput(await usageStats(ctx.identity, input))),

  /** Recent requests, newest first; pass `nextCursor` back for the next page. */
  recent: reader
    .input(recentQuerySchema)
    .output(recentOutput)
    .query(async ({ input, ctx }) => {
      const page = await recentRequests(ctx.identity, input);
      return { nextCursor: page.nextCursor, items: page.items.map(recentItem) };
    }),

  /** One call in full (GET /v1/llm/requests/{id}): attribution, metadata, cost by kind, attempts. */
  request: reader
    .input(z.object({ id: requestIdSchema }))
    .output(requestOutput)
    .query(async ({ input, ctx }) => {
      const r = await requestDetail(ctx.identity, input.id);
      return {
        ...recentItem(r),
        metadata: r.metadata,
        inputCost: formatUsd(r.inputCost),
        outputCost: formatUsd(r.outputCost),
        savedCost: formatUsd(r.savedCost),
        cacheWriteTokens: r.cacheWriteTokens,
        cacheWrite1hTokens: r.cacheWrite1hTokens,
        audioInputTokens: r.audioInputTokens,
        imageInputTokens: r.imageInputTokens,
        serviceTier: r.serviceTier,
        priceTier: r.priceTier,
        costBreakdown: r.costBreakdown ? exactParts(r.costBreakdown) : null,
        body: r.body as never,
      };
    }),

  /** One session's calls in order with their count and total cost (GET /v1/llm/sessions/{id}). */
  session: reader
    .input(z.object({ session: attributionIdSchema.min(1) }))
    .output(
      z.object({
        session: z.string(),
        calls: z.number(),
        /** USD, exact. */
        cost: z.string(),
        items: recentOutput.shape.items,
      }),
    )
    .query(async ({ input, ctx }) => {
      const s = await sessionView(ctx.identity, input.session);
      return { session: s.session, calls: s.calls, cost: formatUsd(s.cost), items: s.items.map(recentItem) };
    }),

  /** The range as CSV, one line per day and model; the sums equal `stats` exactly. */
  exportCsv: reader
    .input(statsQuerySchema.omit({ compare: true }))
    .output(z.object({ filename: z.string(), csv: z.string() }))
    .query(async ({ input, ctx }) => exportUsageCsv(ctx.identity, input)),

  /** Money the caches saved over the range, and what each model's traffic would cost on cheaper models with the same capabilities. */
  savings: reader
    .input(savingsQuerySchema)
    .output(savingsOutput)
    .query(async ({ input, ctx }) => savingsToJson(await usageSavings(ctx.identity, input))),

  /** What a call would cost at the model's current price. */
  calculateCost: procedure(COST_POLICY)
    .input(calculateCostInput)
    .output(calculateCostOutput)
    .query(async ({ input }) => {
      const c = await calculateCost(input);
      return {
        model: c.model,
        provider: c.provider,
        inputCost: formatUsd(c.inputCost),
        outputCost: formatUsd(c.outputCost),
        totalCost: formatUsd(c.totalCost),
        per1K: c.per1K,
      };
    }),
});
