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
//                                        usage_daily: the tag, end-user and team filters, and those
//                                        breakdowns of a filtered view (and a team's budget spend)
// A call with several tags counts once under each of its tags (in the *_dims 'tag' rows and in
// usage_*_attr), once everywhere else.
// Every table carries requests, tokens, the exact cost, the cost the caches saved, the latency sum and a packed latency
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
] as const;
const DIM_MEASURES = [...MEASURES, "errors"] as const;

const sums = (cols: readonly string[]) => cols.map((c) => `sum(${c})`).join(", ");
const addOnConflict = (alias: string, cols: readonly string[]) => cols.map((c) => `${c} = ${alias}.${c} + EXCLUDED.${c}`).join(",\n    ");

/**
 * CTEs (to follow `WITH <source CTE>,`) that add the rows of `source` to every roll-up table.
 * `source` must give created_at, user_id, api_key_id, model_id, provider, endpoint, status, kind,
 * the token columns, total_cost, latency_ms, saved_cost, deployment, end_user, tags (text[]) and team_id, as
 * usage_events has them.
 */
export function rollupCtes(source: string): string {
  const keys = KEY_COLUMNS.join(", ");
  return `
rollup_events AS (
  SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour_utc,
    coalesce(user_id, '') AS user_id, coalesce(api_key_id, '') AS api_key_id, model_id, provider, endpoint, status, kind,
    coalesce(deployment, '') AS deployment, coalesce(end_user, '') AS end_user, coalesce(team_id, '') AS team_id,
    array_to_string(coalesce(tags, '{}'::text[]), ',') AS tags, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_cost, latency_ms, saved_cost,
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
