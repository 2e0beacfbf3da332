import "server-only";
// GET /v1/llm/requests and GET /v1/llm/requests/{id}: the caller's calls, newest first by cursor,
// with the statistics' filters (model, provider, status, tag, end user, key, user, kind, range)
// and a session, a deployment, latency and cost ranges; and one call with its attribution, cost
// by kind and attempts (usage-recent.ts). GET /v1/llm/requests/export: the same filtered list as
// CSV or JSON lines (requests-export.ts), which the Requests page's buttons download.
// The tRPC twins are usage.recent and usage.request; an admin sees everyone's.
import { z } from "zod";
import { usdNumber } from "../catalogue/index.ts";
import { restCostBreakdown } from "./usage.rest.ts";
import { recentQuerySchema, recentRequests, requestDetail, requestIdSchema, sessionView } from "./usage-recent.ts";
import { attributionIdSchema } from "./attribution.ts";
import { restRequest } from "./requests-shape.ts";
import { EXPORT_FORMATS, exportFilename, exportRequests } from "./requests-export.ts";
import { resolveUsageQuery } from "./usage-stats.ts";
import { restQuery } from "./usage-stats.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { AppError } from "../../kernel/errors.ts";
import { USAGE_READ_POLICY } from "./policies.ts";

export { restRequest };

const requestsQuery = restQuery(
  recentQuerySchema.extend({
    /** Calls per page: 1 to 200, default 50. */
    limit: z.coerce.number({ error: "limit must be a whole number from 1 to 200" }).int().min(1).max(200).optional(),
  }),
);

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

const exportQuery = restQuery(
  recentQuerySchema.omit({ limit: true, cursor: true }).extend({
    /** csv (default) or jsonl. */
    format: z.enum(EXPORT_FORMATS, { error: "format: csv or jsonl" }).optional(),
  }),
);

export const llmRequestsExport = endpoint({
  GET: route({
    ...USAGE_READ_POLICY,
    doc: {
      summary: "The filtered calls as CSV or JSON lines (every page), newest first",
      contentType: "text/csv",
      description:
        "The filters of GET /v1/llm/requests; `format` csv (default) or jsonl. Streamed as read, a thousand calls at a time; costs exact (CSV: cost_usd as a decimal).",
    },
    query: exportQuery,
    handler: async ({ query, identity }) => {
      const { format = "csv", ...filters } = query;
      const lines = await exportRequests(identity, filters, format);
      const r = await resolveUsageQuery(identity, filters, { events: true });
      const encoder = new TextEncoder();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const next = await lines.next();
            if (next.done) controller.close();
            else controller.enqueue(encoder.encode(next.value));
          } catch (err) {
            controller.error(err);
          }
        },
        async cancel() {
          await lines.return(undefined);
        },
      });
      return new Response(body, {
        headers: {
          "Content-Type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8",
          "Content-Disposition": `attachment; filename="${exportFilename(filters, format, r)}"`,
          "Cache-Control": "no-store",
        },
      });
    },
  }),
});

export const llmSession = endpoint({
  GET: route({
    ...USAGE_READ_POLICY,
    doc: { summary: "One session's calls in order (the caller's own; an admin's: anyone's) with their count and total cost" },
    handler: async ({ params, identity }) => {
      const id = attributionIdSchema.min(1).safeParse(params.id ?? "");
      if (!id.success) throw new AppError("invalid_request", "id: a session id of 1 to 256 characters", { field: "id" });
      const s = await sessionView(identity, id.data);
      return { session_id: s.session, calls: s.calls, total_cost: usdNumber(s.cost), items: s.items.map(restRequest) };
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
        body: r.body,
      };
    },
  }),
});
