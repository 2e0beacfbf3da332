import "server-only";
// The most recent calls, newest first, one page at a time. This is the only read of the raw
// events, and it never scans them: pages follow the index on (created_at DESC, id DESC) (or the
// user's / key's own index) from a cursor, so page 1,000 costs what page 1 does.
import { z } from "zod";
import { parseInstant, safeString, textProblem } from "../../kernel/validation.ts";
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { parseUsd, type Pico } from "../catalogue/index.ts";
import { addDays, localDayStart } from "./time-zones.ts";
import { filterSql, resolveUsageQuery, statsQuerySchema } from "./usage-stats.ts";

export const recentQuerySchema = statsQuerySchema.omit({ compare: true }).extend({
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
};

export async function recentRequests(identity: AuthenticatedIdentity, query: RecentQuery = {}): Promise<RecentPage> {
  const limit = query.limit ?? 50;
  const r = await resolveUsageQuery(identity, query);
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
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    const at = p(c.at);
    // The plain bound lets PostgreSQL start the index scan at the cursor; the row comparison breaks ties.
    conds.push(`e.created_at <= ${at}::timestamptz`, `(e.created_at, e.id) < (${at}::timestamptz, ${p(c.id)})`);
  }
  const db = await getDatabase();
  const rows = await db.rawQuery<EventRow>(
    // The page first (in index order), then the names of its keys and users.
    `SELECT e.id, e.created_at, e.request_id, e.endpoint, e.model_id, e.provider, e.api_key_id, k.name AS key_name, k.prefix AS key_prefix,
       e.user_id, u.email AS user_email, e.status, e.error_code, e.stream, e.input_tokens, e.output_tokens, e.cached_input_tokens,
       e.reasoning_tokens, e.total_cost::text AS total_cost, e.latency_ms, e.ttft_ms
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
  };
}
