import "server-only";
// The most recent calls, newest first, one page at a time (the dashboard's recent requests, tRPC
// usage.recent, GET /v1/llm/requests), and one call in full (usage.request, GET
// /v1/llm/requests/{id}). These are the only reads of the raw events, and they never scan them:
// pages follow the index on (created_at DESC, id DESC) (or the user's / key's own index) from a
// cursor, so page 1,000 costs what page 1 does; one call is a primary-key lookup.
import { z } from "zod";
import { parseInstant, safeString, textProblem } from "../../kernel/validation.ts";
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { canSee, type AuthenticatedIdentity } from "../../access/auth.ts";
import { parseUsd, type CostBreakdown, type Pico } from "../catalogue/index.ts";
import { addDays, localDayStart } from "./time-zones.ts";
import { filterSql, resolveUsageQuery, statsQuerySchema } from "./usage-stats.ts";
import { attributionIdSchema, type Metadata } from "./attribution.ts";
import { unpackBody, type LoggedBody } from "./request-bodies.ts";

/** A USD amount as an exact decimal (a cost bound of the list): up to 12 digits either side of the point. */
const usdBound = (field: string) =>
  z.string().regex(/^\d{1,12}(\.\d{1,12})?$/, { error: `${field}: a USD amount such as 0.0015 (digits, at most 12 after the point)` });
const latencyBound = (field: string) =>
  z.coerce
    .number({ error: `${field}: whole milliseconds` })
    .int({ error: `${field}: whole milliseconds` })
    .min(0)
    .max(86_400_000);

export const recentQuerySchema = statsQuerySchema.omit({ compare: true, attribution: true }).extend({
  /** The calls of one session (attribution.ts); read from the events only, so not a statistics filter. */
  session: attributionIdSchema.min(1).optional(),
  /** The calls a deployment answered (or last failed), features/routing. Events only. */
  deployment: safeString.min(1).max(200).optional(),
  /** Latency bounds in ms, both included. Events only. */
  minLatencyMs: latencyBound("min_latency_ms").optional(),
  maxLatencyMs: latencyBound("max_latency_ms").optional(),
  /** Cost bounds in USD (exact decimals), both included. Events only. */
  minCost: usdBound("min_cost").optional(),
  maxCost: usdBound("max_cost").optional(),
  limit: z.number().int().min(1).max(200).optional(),
  /** From the previous page's `nextCursor`. */
  cursor: safeString.max(300).optional(),
});
export type RecentQuery = z.infer<typeof recentQuerySchema>;

export type RecentRequest = {
  id: string;
  createdAt: Date;
  requestId: string | null;
  endpoint: string;
  model: string;
  provider: string;
  apiKeyId: string | null;
  apiKey: string | null;
  userId: string | null;
  user: string | null;
  status: string;
  errorCode: string | null;
  stream: boolean;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  reasoningTokens: number;
  cost: Pico;
  latencyMs: number;
  ttftMs: number | null;
  /** Attribution (attribution.ts). */
  tags: string[];
  endUser: string | null;
  session: string | null;
  /** The deployment that answered (or last failed) a routed call, and the provider calls it took (null when not routed). */
  deployment: string | null;
  attempts: number | null;
};

/** One call in full: its page row plus the metadata, the cost by kind and the cache writes. */
export type RequestDetail = RecentRequest & {
  metadata: Metadata | null;
  inputCost: Pico;
  outputCost: Pico;
  savedCost: Pico;
  cacheWriteTokens: number;
  /** Of the cache writes, the 1-hour ones; audio and image input tokens; the service and price tier. */
  cacheWrite1hTokens: number;
  audioInputTokens: number;
  imageInputTokens: number;
  serviceTier: string | null;
  priceTier: string | null;
  /** The cost in its parts (pricing.ts CostBreakdown); null for an event recorded before the parts were kept. */
  costBreakdown: CostBreakdown | null;
  /** The stored request and answer (request-bodies.ts), redacted; null when they were not logged or are past the retention. */
  body: LoggedBody | null;
};

export type RecentPage = { items: RecentRequest[]; nextCursor: string | null };

type Cursor = { at: string; id: string };

export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.at}|${c.id}`, "utf8").toString("base64url");
}

/** A cursor as encodeCursor wrote it: an ISO instant (not whatever Date.parse reads) and an id PostgreSQL can compare. */
function decodeCursor(text: string): Cursor {
  const raw = Buffer.from(text, "base64url").toString("utf8");
  const bar = raw.indexOf("|");
  const at = bar < 0 ? undefined : parseInstant(raw.slice(0, bar));
  const id = raw.slice(bar + 1);
  if (!at || !id || textProblem(id))
    throw new AppError("invalid_request", "cursor: not a cursor from a previous page", { field: "cursor" });
  return { at: at.toISOString(), id };
}

type EventRow = {
  id: string;
  created_at: Date | string;
  request_id: string | null;
  endpoint: string;
  model_id: string;
  provider: string;
  api_key_id: string | null;
  key_name: string | null;
  key_prefix: string | null;
  user_id: string | null;
  user_email: string | null;
  status: string;
  error_code: string | null;
  stream: boolean;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  reasoning_tokens: number;
  total_cost: string;
  latency_ms: number;
  ttft_ms: number | null;
  tags: string[] | null;
  end_user: string | null;
  session_id: string | null;
  deployment: string | null;
  attempts: number | null;
};

type DetailRow = EventRow & {
  metadata: Metadata | null;
  input_cost: string;
  output_cost: string;
  saved_cost: string;
  cache_write_tokens: number;
  cache_write_1h_tokens: number;
  audio_input_tokens: number;
  image_input_tokens: number;
  service_tier: string | null;
  price_tier: string | null;
  itemised: boolean;
  cached_input_cost: string;
  cache_write_5m_cost: string;
  cache_write_1h_cost: string;
  audio_input_cost: string;
  image_input_cost: string;
  reasoning_cost: string;
  body: Uint8Array | null;
};

const PAGE_COLUMNS = `e.id, e.created_at, e.request_id, e.endpoint, e.model_id, e.provider, e.api_key_id, k.name AS key_name, k.prefix AS key_prefix,
       e.user_id, u.email AS user_email, e.status, e.error_code, e.stream, e.input_tokens, e.output_tokens, e.cached_input_tokens,
       e.reasoning_tokens, e.total_cost::text AS total_cost, e.latency_ms, e.ttft_ms, e.tags, e.end_user, e.session_id, e.deployment, e.attempts`;

export async function recentRequests(
  identity: AuthenticatedIdentity,
  query: RecentQuery = {},
  /** The export's pages: larger than a caller may ask for. */
  maxLimit = 200,
): Promise<RecentPage> {
  const limit = Math.min(query.limit ?? 50, maxLimit);
  if (query.minLatencyMs !== undefined && query.maxLatencyMs !== undefined && query.minLatencyMs > query.maxLatencyMs) {
    throw new AppError("invalid_request", "max_latency_ms is below min_latency_ms", { field: "max_latency_ms" });
  }
  if (query.minCost !== undefined && query.maxCost !== undefined && parseUsd(query.minCost) > parseUsd(query.maxCost)) {
    throw new AppError("invalid_request", "max_cost is below min_cost", { field: "max_cost" });
  }
  const r = await resolveUsageQuery(identity, query, { events: true });
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  const conds = [
    `e.created_at >= ${p(new Date(localDayStart(r.tz, r.start)).toISOString())}::timestamptz`,
    `e.created_at < ${p(new Date(localDayStart(r.tz, addDays(r.end, 1))).toISOString())}::timestamptz`,
  ];
  // Roll-up rows store "" for "none"; the events store NULL.
  for (const f of r.filters) conds.push(filterSql(f, "e", "events", p));
  if (r.kind !== "all") conds.push(`e.kind = ${p(r.kind)}`);
  if (query.session !== undefined) conds.push(`e.session_id = ${p(query.session)}`);
  if (query.deployment !== undefined) conds.push(`e.deployment = ${p(query.deployment)}`);
  if (query.minLatencyMs !== undefined) conds.push(`e.latency_ms >= ${p(query.minLatencyMs)}`);
  if (query.maxLatencyMs !== undefined) conds.push(`e.latency_ms <= ${p(query.maxLatencyMs)}`);
  if (query.minCost !== undefined) conds.push(`e.total_cost >= ${p(query.minCost)}::numeric`);
  if (query.maxCost !== undefined) conds.push(`e.total_cost <= ${p(query.maxCost)}::numeric`);
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    const at = p(c.at);
    // The plain bound lets PostgreSQL start the index scan at the cursor; the row comparison breaks ties.
    conds.push(`e.created_at <= ${at}::timestamptz`, `(e.created_at, e.id) < (${at}::timestamptz, ${p(c.id)})`);
  }
  const db = await getDatabase();
  const rows = await db.rawQuery<EventRow>(
    // The page first (in index order), then the names of its keys and users.
    `SELECT ${PAGE_COLUMNS}
     FROM (SELECT * FROM usage_events e WHERE ${conds.join(" AND ")} ORDER BY e.created_at DESC, e.id DESC LIMIT ${p(limit + 1)}) e
     LEFT JOIN api_keys k ON k.id = e.api_key_id
     LEFT JOIN users u ON u.id = e.user_id
     ORDER BY e.created_at DESC, e.id DESC`,
    params,
  );
  const items = rows.slice(0, limit).map(toRecent);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > limit && last ? encodeCursor({ at: last.createdAt.toISOString(), id: last.id }) : null };
}

function toRecent(row: EventRow): RecentRequest {
  return {
    id: row.id,
    createdAt: new Date(row.created_at),
    requestId: row.request_id,
    endpoint: row.endpoint,
    model: row.model_id,
    provider: row.provider,
    apiKeyId: row.api_key_id,
    apiKey: row.api_key_id ? (row.key_name ? `${row.key_name} (${row.key_prefix}…)` : `deleted key ${row.api_key_id}`) : null,
    userId: row.user_id,
    user: row.user_email,
    status: row.status,
    errorCode: row.error_code,
    stream: row.stream,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cachedInputTokens: row.cached_input_tokens,
    reasoningTokens: row.reasoning_tokens,
    cost: parseUsd(row.total_cost),
    latencyMs: row.latency_ms,
    ttftMs: row.ttft_ms,
    tags: row.tags ?? [],
    endUser: row.end_user,
    session: row.session_id,
    deployment: row.deployment,
    attempts: row.attempts,
  };
}

/** Event ids as the writer makes them (timeOrderedId) or as tests and older versions did: any storable text. */
export const requestIdSchema = safeString.min(1).max(200);

/** One call of the caller's (an admin's: anyone's); 404 for an id that is not, so that nobody learns another's ids exist. */
export async function requestDetail(identity: AuthenticatedIdentity, id: string): Promise<RequestDetail> {
  const db = await getDatabase();
  const [row] = await db.rawQuery<DetailRow>(
    `SELECT ${PAGE_COLUMNS}, e.metadata, e.input_cost::text AS input_cost, e.output_cost::text AS output_cost,
       e.saved_cost::text AS saved_cost, e.cache_write_tokens, e.cache_write_1h_tokens, e.audio_input_tokens, e.image_input_tokens,
       e.service_tier, e.price_tier, e.itemised, e.cached_input_cost::text AS cached_input_cost,
       e.cache_write_5m_cost::text AS cache_write_5m_cost, e.cache_write_1h_cost::text AS cache_write_1h_cost,
       e.audio_input_cost::text AS audio_input_cost, e.image_input_cost::text AS image_input_cost, e.reasoning_cost::text AS reasoning_cost,
       b.body
     FROM usage_events e
     LEFT JOIN api_keys k ON k.id = e.api_key_id
     LEFT JOIN users u ON u.id = e.user_id
     LEFT JOIN request_bodies b ON b.event_id = e.id
     WHERE e.id = $1`,
    [id],
  );
  if (!row || !canSee(identity, { userId: row.user_id, apiKeyId: row.api_key_id })) {
    throw new AppError("not_found", `No request ${id} of yours (the id of a usage event, as GET /v1/llm/requests lists them)`);
  }
  return {
    ...toRecent(row),
    metadata: row.metadata,
    inputCost: parseUsd(row.input_cost),
    outputCost: parseUsd(row.output_cost),
    savedCost: parseUsd(row.saved_cost),
    cacheWriteTokens: row.cache_write_tokens,
    body: row.body ? unpackBody(row.body) : null,
    cacheWrite1hTokens: row.cache_write_1h_tokens,
    audioInputTokens: row.audio_input_tokens,
    imageInputTokens: row.image_input_tokens,
    serviceTier: row.service_tier,
    priceTier: row.price_tier,
    costBreakdown: row.itemised ? eventBreakdown(row) : null,
  };
}

/** An event's cost parts: plain input and output are its input and output cost less the other parts. */
function eventBreakdown(row: DetailRow): CostBreakdown {
  const parts = {
    cachedInput: parseUsd(row.cached_input_cost),
    cacheWrite5m: parseUsd(row.cache_write_5m_cost),
    cacheWrite1h: parseUsd(row.cache_write_1h_cost),
    audioInput: parseUsd(row.audio_input_cost),
    imageInput: parseUsd(row.image_input_cost),
    reasoning: parseUsd(row.reasoning_cost),
  };
  return {
    input: parseUsd(row.input_cost) - parts.cachedInput - parts.cacheWrite5m - parts.cacheWrite1h - parts.audioInput - parts.imageInput,
    ...parts,
    output: parseUsd(row.output_cost) - parts.reasoning,
  };
}

/** The calls of one session shown at most (the totals count them all). */
export const SESSION_CALLS = 500;

export type SessionView = {
  session: string;
  /** Every call of the session the caller may see, and their exact total cost. */
  calls: number;
  cost: Pico;
  /** The first SESSION_CALLS of them, oldest first. */
  items: RecentRequest[];
};

/**
 * One session's calls in order (the session view; GET /v1/llm/sessions/{id}, usage.session), the
 * caller's own (an admin's: anyone's), with their count and total cost: read by the
 * (session_id, created_at, id) index, whatever the number of other events.
 */
export async function sessionView(identity: AuthenticatedIdentity, session: string): Promise<SessionView> {
  const r = await resolveUsageQuery(identity, {}, { events: true });
  const params: unknown[] = [session];
  const own = r.filters.map((f) => {
    params.push(f.value);
    return ` AND e.${f.column} = $${params.length}`;
  });
  const where = `e.session_id = $1${own.join("")}`;
  const db = await getDatabase();
  const [rows, totals] = await Promise.all([
    db.rawQuery<EventRow>(
      `SELECT ${PAGE_COLUMNS}
       FROM (SELECT * FROM usage_events e WHERE ${where} ORDER BY e.created_at, e.id LIMIT ${SESSION_CALLS}) e
       LEFT JOIN api_keys k ON k.id = e.api_key_id
       LEFT JOIN users u ON u.id = e.user_id
       ORDER BY e.created_at, e.id`,
      params,
    ),
    db.rawQuery<{ calls: number; cost: string | null }>(
      `SELECT count(*)::int AS calls, sum(e.total_cost)::text AS cost FROM usage_events e WHERE ${where}`,
      params,
    ),
  ]);
  return { session, calls: totals[0]?.calls ?? 0, cost: parseUsd(totals[0]?.cost ?? "0"), items: rows.map(toRecent) };
}
