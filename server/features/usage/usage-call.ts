import "server-only";
// One call's recorded outcome, found by the request id it was served under: what the playground
// shows after Stop, when the stream that would have carried the outcome was cut. Only the caller's
// own calls (the events of its key, or of its user), and only recent ones: the read follows the
// key's or the user's index on (created_at DESC) over the last hour.
import { getDatabase } from "../../db/index.ts";
import type { AuthenticatedIdentity } from "../../access/auth.ts";
import { parseUsd, type Pico } from "../catalogue/index.ts";

export type RecordedCall = {
  model: string;
  provider: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  cost: Pico;
  latencyMs: number;
  ttftMs: number | null;
};

type Row = {
  model_id: string;
  provider: string;
  status: string;
  input_tokens: number;
  output_tokens: number;
  total_cost: string;
  latency_ms: number;
  ttft_ms: number | null;
};

/** The usage event of the caller's call `requestId` from the last hour, or null (none, or not written yet). */
export async function recordedCall(identity: AuthenticatedIdentity, requestId: string): Promise<RecordedCall | null> {
  const owner = identity.apiKeyId ? { column: "api_key_id", value: identity.apiKeyId } : { column: "user_id", value: identity.userId };
  if (!owner.value) return null;
  const db = await getDatabase();
  const rows = await db.rawQuery<Row>(
    `SELECT model_id, provider, status, input_tokens, output_tokens, total_cost::text AS total_cost, latency_ms, ttft_ms
     FROM usage_events
     WHERE ${owner.column} = $1 AND created_at >= $2::timestamptz AND request_id = $3
     ORDER BY created_at DESC LIMIT 1`,
    [owner.value, new Date(Date.now() - 3_600_000).toISOString(), requestId],
  );
  const row = rows[0];
  if (!row) return null;
  return {
    model: row.model_id,
    provider: row.provider,
    status: row.status,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    cost: parseUsd(row.total_cost),
    latencyMs: row.latency_ms,
    ttftMs: row.ttft_ms,
  };
}
