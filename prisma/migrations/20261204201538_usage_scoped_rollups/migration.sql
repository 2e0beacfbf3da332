-- The scoped roll-ups (features/usage/usage-rollups.ts): usage_daily_dims / usage_hourly_dims
-- kept per user, per API key without a user, per tag and per end user, which the statistics of one of them (a
-- caller's own usage, an admin's single user, key, tag or end-user filter) read instead of
-- usage_daily and usage_*_attr. The writer keeps them from now on; the events so far are rolled up
-- here by the same SQL the writer runs (rollupCtes' scoped part).

-- CreateTable
CREATE TABLE "usage_daily_scoped" (
    "day" DATE NOT NULL,
    "scope" TEXT NOT NULL,
    "scope_value" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "dim" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "requests" INTEGER NOT NULL DEFAULT 0,
    "errors" INTEGER NOT NULL DEFAULT 0,
    "input_tokens" BIGINT NOT NULL DEFAULT 0,
    "output_tokens" BIGINT NOT NULL DEFAULT 0,
    "cached_input_tokens" BIGINT NOT NULL DEFAULT 0,
    "reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_daily_scoped_pkey" PRIMARY KEY ("scope","scope_value","day","kind","dim","value")
);

-- CreateTable
CREATE TABLE "usage_hourly_scoped" (
    "hour" TIMESTAMPTZ(0) NOT NULL,
    "scope" TEXT NOT NULL,
    "scope_value" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "dim" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "requests" INTEGER NOT NULL DEFAULT 0,
    "errors" INTEGER NOT NULL DEFAULT 0,
    "input_tokens" BIGINT NOT NULL DEFAULT 0,
    "output_tokens" BIGINT NOT NULL DEFAULT 0,
    "cached_input_tokens" BIGINT NOT NULL DEFAULT 0,
    "reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_hourly_scoped_pkey" PRIMARY KEY ("scope","scope_value","hour","kind","dim","value")
);

-- Backfill from the events stored so far.
WITH rollup_events AS (
  SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour_utc,
    coalesce(user_id, '') AS user_id, coalesce(api_key_id, '') AS api_key_id, model_id, provider, endpoint, status, kind,
    coalesce(deployment, '') AS deployment, coalesce(end_user, '') AS end_user,
    array_to_string(coalesce(tags, '{}'::text[]), ',') AS tags, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_cost, latency_ms, saved_cost,
    ('1e' || (12 * width_bucket(latency_ms, '{1,2,3,4,5,6,7,8,10,12,14,16,20,23,27,32,39,46,54,64,77,91,108,128,153,182,216,256,305,363,431,512,609,725,862,1024,1218,1449,1723,2048,2436,2897,3445,4096,4871,5793,6889,8192,9742,11586,13778,16384,19484,23171,27555,32768,38968,46341,55109,65536,77936,92682,110218,131072,155872,185364,220436,262144,311744,370728,440872,524288,623488,741456,881744,1048576}'::int[])))::numeric AS hist
  FROM usage_events
),
rollup_attributed AS (
  SELECT hour_utc, user_id, api_key_id, model_id, provider, endpoint, status, kind, deployment, end_user, tags,
    count(*)::int AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens,
    sum(total_cost) AS cost, sum(latency_ms) AS latency_ms_sum, sum(hist) AS latency_hist, sum(saved_cost) AS saved_cost,
    (CASE WHEN status = 'error' THEN count(*) ELSE 0 END)::int AS errors
  FROM rollup_events
  GROUP BY hour_utc, user_id, api_key_id, model_id, provider, endpoint, status, kind, deployment, end_user, tags
),
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
  SELECT s.hour_utc, s.scope, s.scope_value, s.kind, v.dim, v.value, s.requests, s.input_tokens, s.output_tokens, s.cached_input_tokens, s.reasoning_tokens, s.cost, s.latency_ms_sum, CASE WHEN v.dim = 'total' THEN s.latency_hist ELSE 0 END AS latency_hist, s.saved_cost, s.errors FROM rollup_scopes s
  CROSS JOIN LATERAL (VALUES ('total', ''), ('model', s.model_id), ('provider', s.provider), ('api_key', s.api_key_id),
    ('user', s.user_id), ('endpoint', s.endpoint), ('status', s.status), ('deployment', s.deployment), ('end_user', s.end_user)) AS v(dim, value)
  WHERE (v.dim NOT IN ('deployment', 'end_user') OR v.value <> '')
  UNION ALL
  SELECT s.hour_utc, s.scope, s.scope_value, s.kind, 'tag', t.tag, s.requests, s.input_tokens, s.output_tokens, s.cached_input_tokens, s.reasoning_tokens, s.cost, s.latency_ms_sum, 0 AS latency_hist, s.saved_cost, s.errors FROM rollup_scopes s
  CROSS JOIN LATERAL unnest(string_to_array(s.tags, ',')) AS t(tag) WHERE s.tags <> ''
),
rollup_scoped_hours AS (
  SELECT hour_utc, scope, scope_value, kind, dim, value, sum(requests)::int AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens, sum(cost) AS cost, sum(latency_ms_sum) AS latency_ms_sum, sum(latency_hist) AS latency_hist, sum(saved_cost) AS saved_cost, sum(errors)::int AS errors
  FROM rollup_scoped_rows GROUP BY hour_utc, scope, scope_value, kind, dim, value
),
rollup_hourly_scoped AS (
  INSERT INTO usage_hourly_scoped AS t (hour, scope, scope_value, kind, dim, value, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist, saved_cost, errors)
  SELECT hour_utc AT TIME ZONE 'UTC', scope, scope_value, kind, dim, value, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist, saved_cost, errors FROM rollup_scoped_hours
  ORDER BY 2, 3, 1, 4, 5, 6
  ON CONFLICT (scope, scope_value, hour, kind, dim, value) DO UPDATE SET
    requests = t.requests + EXCLUDED.requests,
    input_tokens = t.input_tokens + EXCLUDED.input_tokens,
    output_tokens = t.output_tokens + EXCLUDED.output_tokens,
    cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost = t.cost + EXCLUDED.cost,
    latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
    latency_hist = t.latency_hist + EXCLUDED.latency_hist,
    saved_cost = t.saved_cost + EXCLUDED.saved_cost,
    errors = t.errors + EXCLUDED.errors
),
rollup_daily_scoped AS (
  INSERT INTO usage_daily_scoped AS t (day, scope, scope_value, kind, dim, value, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist, saved_cost, errors)
  SELECT hour_utc::date, scope, scope_value, kind, dim, value, sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens), sum(cost), sum(latency_ms_sum), sum(latency_hist), sum(saved_cost), sum(errors) FROM rollup_scoped_hours
  GROUP BY hour_utc::date, scope, scope_value, kind, dim, value ORDER BY 2, 3, 1, 4, 5, 6
  ON CONFLICT (scope, scope_value, day, kind, dim, value) DO UPDATE SET
    requests = t.requests + EXCLUDED.requests,
    input_tokens = t.input_tokens + EXCLUDED.input_tokens,
    output_tokens = t.output_tokens + EXCLUDED.output_tokens,
    cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost = t.cost + EXCLUDED.cost,
    latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
    latency_hist = t.latency_hist + EXCLUDED.latency_hist,
    saved_cost = t.saved_cost + EXCLUDED.saved_cost,
    errors = t.errors + EXCLUDED.errors
)
SELECT 1;
