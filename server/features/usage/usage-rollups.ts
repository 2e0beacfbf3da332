// The roll-up tables that usage statistics read, and the SQL that keeps them in step with the raw
// events. The batched writer runs `rollupCtes("ins")` in the same statement as its insert (so the
// roll-ups count exactly the rows actually inserted); the migration's backfill and the benchmark
// run the same SQL over usage_events.
//
//   usage_daily, usage_hourly            per UTC day / hour and every key: user, key, model,
//                                        provider, endpoint, status, kind, deployment (filtered statistics)
//   usage_daily_dims, usage_hourly_dims  per UTC day / hour and kind: the totals and one row per
//                                        value of each dimension (unfiltered statistics), the
//                                        deployment of routed calls included, and each tag and end
//                                        user of the calls that have them (attribution.ts)
//   usage_daily_attr, usage_hourly_attr  per UTC day / hour, tag, end user or team, and every key of
//                                        usage_daily: a tag, end-user or team filter combined with
//                                        others, and those breakdowns of a filtered view (asked for; and a team's budget spend)
//   usage_daily_scoped, usage_hourly_scoped  the *_dims rows kept per scope: per user, per key
//                                        without a user, per tag and per end user (the statistics
//                                        of one of them: a caller's own usage, an admin's single filter)
// A call with several tags counts once under each of its tags (in the *_dims 'tag' rows and in
// usage_*_attr), once everywhere else.
// Every table carries requests, tokens, the exact cost and its parts, the cost the caches saved, the latency sum and a packed latency
// histogram (latency-histogram.ts). Each upsert takes its rows in key order, so that two writers
// (two instances) that touch the same roll-up rows lock them in the same order and wait for each
// other rather than deadlock.
import { latencyHistSql } from "./latency-histogram.ts";
import type { UsageKind } from "../../../lib/usage.ts";

/** What a call was: text generation or embeddings. Set by the service that made the call, on the event and every roll-up row. */
export type { UsageKind } from "../../../lib/usage.ts";

/**
 * How versions before the `kind` column guessed it, from the endpoint's name: only for events they
 * spooled to disk and this version replays. Everything else carries the kind its service recorded.
 */
export function endpointKind(endpoint: string): UsageKind {
  return endpoint.toLowerCase().includes("embedding") ? "embedding" : "llm";
}

/** The breakdowns of the *_dims tables; "total" has the value "". */
export const DIMENSIONS = [
  "total",
  "model",
  "provider",
  "api_key",
  "user",
  "endpoint",
  "status",
  "deployment",
  "tag",
  "end_user",
  "team",
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

const KEY_COLUMNS = ["user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind", "deployment"] as const;
/** The attribution roll-ups' keys beyond KEY_COLUMNS: which attribution (tag, end_user) and its value. */
const ATTR_KEYS = ["dim", "value"] as const;
/**
 * The cost's parts (features/catalogue CostBreakdown) and the cache writes, summed from the events'
 * columns of the same names into every roll-up: GET /v1/llm/usage's cost_breakdown reads them.
 * Plain input is input_cost less the input parts, plain output output_cost less reasoning_cost;
 * an event recorded without its parts (`itemised` false) adds to `cost` only, so cost less
 * input_cost and output_cost is what was not itemised.
 */
export const ROLLUP_EVENT_COLUMNS = [
  "cache_write_tokens",
  "input_cost",
  "output_cost",
  "cached_input_cost",
  "cache_write_5m_cost",
  "cache_write_1h_cost",
  "audio_input_cost",
  "image_input_cost",
  "reasoning_cost",
] as const;
const MEASURES = [
  "requests",
  "input_tokens",
  "output_tokens",
  "cached_input_tokens",
  "reasoning_tokens",
  "cost",
  "latency_ms_sum",
  "latency_hist",
  "saved_cost",
  ...ROLLUP_EVENT_COLUMNS,
] as const;
const DIM_MEASURES = [...MEASURES, "errors"] as const;

/** DIM_MEASURES of the rows of `alias`, the latency histogram only where `dim` (a column; null: none) is 'total'. */
const SCOPED_MEASURES = (alias: string, dim: string | null) =>
  DIM_MEASURES.map((c) =>
    c !== "latency_hist" ? `${alias}.${c}` : dim ? `CASE WHEN ${dim} = 'total' THEN ${alias}.${c} ELSE 0 END AS ${c}` : `0 AS ${c}`,
  ).join(", ");
const sums = (cols: readonly string[]) => cols.map((c) => `sum(${c})`).join(", ");
const addOnConflict = (alias: string, cols: readonly string[]) => cols.map((c) => `${c} = ${alias}.${c} + EXCLUDED.${c}`).join(",\n    ");

/**
 * CTEs (to follow `WITH <source CTE>,`) that add the rows of `source` to every roll-up table.
 * `source` must give created_at, user_id, api_key_id, model_id, provider, endpoint, status, kind,
 * the token columns, total_cost, latency_ms, saved_cost, deployment, end_user, tags (text[]), team_id,
 * ROLLUP_EVENT_COLUMNS and itemised, as usage_events has them.
 */
export function rollupCtes(source: string): string {
  const keys = KEY_COLUMNS.join(", ");
  return `
rollup_events AS (
  SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour_utc,
    coalesce(user_id, '') AS user_id, coalesce(api_key_id, '') AS api_key_id, model_id, provider, endpoint, status, kind,
    coalesce(deployment, '') AS deployment, coalesce(end_user, '') AS end_user, coalesce(team_id, '') AS team_id,
    array_to_string(coalesce(tags, '{}'::text[]), ',') AS tags, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_cost, latency_ms, saved_cost,
    ${ROLLUP_EVENT_COLUMNS.map((c) => (c === "input_cost" || c === "output_cost" ? `CASE WHEN itemised THEN ${c} ELSE 0 END AS ${c}` : c)).join(", ")},
    ${latencyHistSql("latency_ms")} AS hist
  FROM ${source}
),
-- Per UTC hour, every key (the deployment among them) and the attribution (end user, tags): each
-- roll-up below is a sum of these rows.
rollup_attributed AS (
  SELECT hour_utc, ${keys}, end_user, tags, team_id,
    count(*)::int AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens,
    sum(total_cost) AS cost, sum(latency_ms) AS latency_ms_sum, sum(hist) AS latency_hist, sum(saved_cost) AS saved_cost,
    ${ROLLUP_EVENT_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(", ")},
    (CASE WHEN status = 'error' THEN count(*) ELSE 0 END)::int AS errors
  FROM rollup_events
  GROUP BY hour_utc, ${keys}, end_user, tags, team_id
),
rollup_hours AS (
  SELECT hour_utc, ${keys}, ${DIM_MEASURES.map((c) => (c === "requests" || c === "errors" ? `sum(${c})::int AS ${c}` : `sum(${c}) AS ${c}`)).join(", ")}
  FROM rollup_attributed
  GROUP BY hour_utc, ${keys}
),
-- Each attributed hour's rows once per tag (a call with several tags under each), once per end user
-- and once per team (a team key's calls).
rollup_attr_rows AS (
  SELECT a.*, 'end_user' AS dim, a.end_user AS value FROM rollup_attributed a WHERE a.end_user <> ''
  UNION ALL
  SELECT a.*, 'team', a.team_id FROM rollup_attributed a WHERE a.team_id <> ''
  UNION ALL
  SELECT a.*, 'tag', t.tag FROM rollup_attributed a CROSS JOIN LATERAL unnest(string_to_array(a.tags, ',')) AS t(tag) WHERE a.tags <> ''
),
rollup_hourly_attr AS (
  INSERT INTO usage_hourly_attr AS t (hour, ${ATTR_KEYS.join(", ")}, ${keys}, ${MEASURES.join(", ")})
  SELECT hour_utc AT TIME ZONE 'UTC', ${ATTR_KEYS.join(", ")}, ${keys}, ${sums(MEASURES)} FROM rollup_attr_rows
  GROUP BY hour_utc, ${ATTR_KEYS.join(", ")}, ${keys} ORDER BY 1, ${ATTR_KEYS.join(", ")}, ${keys}
  ON CONFLICT (hour, ${ATTR_KEYS.join(", ")}, ${keys}) DO UPDATE SET
    ${addOnConflict("t", MEASURES)}
),
rollup_daily_attr AS (
  INSERT INTO usage_daily_attr AS t (day, ${ATTR_KEYS.join(", ")}, ${keys}, ${MEASURES.join(", ")})
  SELECT hour_utc::date, ${ATTR_KEYS.join(", ")}, ${keys}, ${sums(MEASURES)} FROM rollup_attr_rows
  GROUP BY hour_utc::date, ${ATTR_KEYS.join(", ")}, ${keys} ORDER BY ${ATTR_KEYS.join(", ")}, 1, ${keys}
  ON CONFLICT (${ATTR_KEYS.join(", ")}, day, ${keys}) DO UPDATE SET
    ${addOnConflict("t", MEASURES)}
),
rollup_hourly AS (
  INSERT INTO usage_hourly AS t (hour, ${keys}, ${MEASURES.join(", ")})
  SELECT hour_utc AT TIME ZONE 'UTC', ${keys}, ${MEASURES.join(", ")} FROM rollup_hours ORDER BY 1, ${keys}
  ON CONFLICT (hour, ${keys}) DO UPDATE SET
    ${addOnConflict("t", MEASURES)}
),
rollup_daily AS (
  INSERT INTO usage_daily AS t (day, ${keys}, ${MEASURES.join(", ")})
  SELECT hour_utc::date, ${keys}, ${sums(MEASURES)} FROM rollup_hours GROUP BY hour_utc::date, ${keys} ORDER BY 1, ${keys}
  ON CONFLICT (day, ${keys}) DO UPDATE SET
    ${addOnConflict("t", MEASURES)}
),
-- Each hour's rows once per dimension: the totals, then per model, provider, key, user, endpoint,
-- status, and deployment (routed calls only); then the attribution rows (per tag, per end user).
rollup_dim_rows AS (
  SELECT h.hour_utc, h.kind, v.dim, v.value, ${DIM_MEASURES.map((c) => `h.${c}`).join(", ")} FROM rollup_hours h
  CROSS JOIN LATERAL (VALUES ('total', ''), ('model', h.model_id), ('provider', h.provider), ('api_key', h.api_key_id),
    ('user', h.user_id), ('endpoint', h.endpoint), ('status', h.status), ('deployment', h.deployment)) AS v(dim, value)
  WHERE v.dim <> 'deployment' OR v.value <> ''
  UNION ALL
  SELECT a.hour_utc, a.kind, a.dim, a.value, ${DIM_MEASURES.map((c) => `a.${c}`).join(", ")} FROM rollup_attr_rows a
),
-- The scoped rows (usage_*_scoped): each attributed hour's rows under its user (else its key: a
-- key with a user is read through usage_daily), each of its tags and its end user; then each of
-- those once per dimension, as rollup_dim_rows does for everyone. Only the 'total' rows keep the
-- latency histogram (the statistics sum no other).
rollup_scopes AS (
  SELECT a.*, 'user' AS scope, a.user_id AS scope_value FROM rollup_attributed a WHERE a.user_id <> ''
  UNION ALL
  SELECT a.*, 'api_key', a.api_key_id FROM rollup_attributed a WHERE a.api_key_id <> '' AND a.user_id = ''
  UNION ALL
  SELECT a.*, 'end_user', a.end_user FROM rollup_attributed a WHERE a.end_user <> ''
  UNION ALL
  SELECT a.*, 'tag', t.tag FROM rollup_attributed a CROSS JOIN LATERAL unnest(string_to_array(a.tags, ',')) AS t(tag) WHERE a.tags <> ''
),
rollup_scoped_rows AS (
  SELECT s.hour_utc, s.scope, s.scope_value, s.kind, v.dim, v.value, ${SCOPED_MEASURES("s", "v.dim")} FROM rollup_scopes s
  CROSS JOIN LATERAL (VALUES ('total', ''), ('model', s.model_id), ('provider', s.provider), ('api_key', s.api_key_id),
    ('user', s.user_id), ('endpoint', s.endpoint), ('status', s.status), ('deployment', s.deployment), ('end_user', s.end_user)) AS v(dim, value)
  WHERE (v.dim NOT IN ('deployment', 'end_user') OR v.value <> '')
  UNION ALL
  SELECT s.hour_utc, s.scope, s.scope_value, s.kind, 'tag', t.tag, ${SCOPED_MEASURES("s", null)} FROM rollup_scopes s
  CROSS JOIN LATERAL unnest(string_to_array(s.tags, ',')) AS t(tag) WHERE s.tags <> ''
),
-- Summed per hour once (a batch's events mostly share an hour); the days are sums of those.
rollup_scoped_hours AS (
  SELECT hour_utc, scope, scope_value, kind, dim, value, ${DIM_MEASURES.map((c) => (c === "requests" || c === "errors" ? `sum(${c})::int AS ${c}` : `sum(${c}) AS ${c}`)).join(", ")}
  FROM rollup_scoped_rows GROUP BY hour_utc, scope, scope_value, kind, dim, value
),
rollup_hourly_scoped AS (
  INSERT INTO usage_hourly_scoped AS t (hour, scope, scope_value, kind, dim, value, ${DIM_MEASURES.join(", ")})
  SELECT hour_utc AT TIME ZONE 'UTC', scope, scope_value, kind, dim, value, ${DIM_MEASURES.join(", ")} FROM rollup_scoped_hours
  ORDER BY 2, 3, 1, 4, 5, 6
  ON CONFLICT (scope, scope_value, hour, kind, dim, value) DO UPDATE SET
    ${addOnConflict("t", DIM_MEASURES)}
),
rollup_daily_scoped AS (
  INSERT INTO usage_daily_scoped AS t (day, scope, scope_value, kind, dim, value, ${DIM_MEASURES.join(", ")})
  SELECT hour_utc::date, scope, scope_value, kind, dim, value, ${sums(DIM_MEASURES)} FROM rollup_scoped_hours
  GROUP BY hour_utc::date, scope, scope_value, kind, dim, value ORDER BY 2, 3, 1, 4, 5, 6
  ON CONFLICT (scope, scope_value, day, kind, dim, value) DO UPDATE SET
    ${addOnConflict("t", DIM_MEASURES)}
),
rollup_hourly_dims AS (
  INSERT INTO usage_hourly_dims AS t (hour, kind, dim, value, ${DIM_MEASURES.join(", ")})
  SELECT hour_utc AT TIME ZONE 'UTC', kind, dim, value, ${sums(DIM_MEASURES)} FROM rollup_dim_rows GROUP BY hour_utc, kind, dim, value ORDER BY 1, 2, 3, 4
  ON CONFLICT (hour, kind, dim, value) DO UPDATE SET
    ${addOnConflict("t", DIM_MEASURES)}
),
rollup_daily_dims AS (
  INSERT INTO usage_daily_dims AS t (day, kind, dim, value, ${DIM_MEASURES.join(", ")})
  SELECT hour_utc::date, kind, dim, value, ${sums(DIM_MEASURES)} FROM rollup_dim_rows GROUP BY hour_utc::date, kind, dim, value ORDER BY 1, 2, 3, 4
  ON CONFLICT (day, kind, dim, value) DO UPDATE SET
    ${addOnConflict("t", DIM_MEASURES)}
)`;
}
