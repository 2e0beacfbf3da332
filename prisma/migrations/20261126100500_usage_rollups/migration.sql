-- AlterTable
ALTER TABLE "usage_daily" ADD COLUMN     "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "usage_hourly" (
    "hour" TIMESTAMPTZ(0) NOT NULL,
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "requests" INTEGER NOT NULL DEFAULT 0,
    "input_tokens" BIGINT NOT NULL DEFAULT 0,
    "output_tokens" BIGINT NOT NULL DEFAULT 0,
    "cached_input_tokens" BIGINT NOT NULL DEFAULT 0,
    "reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_hourly_pkey" PRIMARY KEY ("hour","user_id","api_key_id","model_id","provider","endpoint","status")
);

-- CreateTable
CREATE TABLE "usage_daily_dims" (
    "day" DATE NOT NULL,
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
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_daily_dims_pkey" PRIMARY KEY ("day","kind","dim","value")
);

-- CreateTable
CREATE TABLE "usage_hourly_dims" (
    "hour" TIMESTAMPTZ(0) NOT NULL,
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
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_hourly_dims_pkey" PRIMARY KEY ("hour","kind","dim","value")
);

-- CreateIndex
CREATE INDEX "usage_hourly_user_id_hour_idx" ON "usage_hourly"("user_id", "hour");

-- CreateIndex
CREATE INDEX "usage_hourly_api_key_id_hour_idx" ON "usage_hourly"("api_key_id", "hour");

-- CreateIndex
CREATE INDEX "usage_daily_api_key_id_day_idx" ON "usage_daily"("api_key_id", "day");

-- Backfill from the events recorded so far: the latency histograms of the existing daily rows
-- (their other columns are already right), the hourly roll-up and both per-dimension roll-ups.
-- The same SQL as the usage writer's (server/services/usage-rollups.ts) as of this migration.
WITH
rollup_events AS (
  SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC') AS hour_utc,
    coalesce(user_id, '') AS user_id, coalesce(api_key_id, '') AS api_key_id, model_id, provider, endpoint, status,
    CASE WHEN endpoint ILIKE '%embedding%' THEN 'embedding' ELSE 'llm' END AS kind,
    input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_cost, latency_ms,
    ('1e' || (12 * width_bucket(latency_ms, '{1,2,3,4,5,6,7,8,10,12,14,16,20,23,27,32,39,46,54,64,77,91,108,128,153,182,216,256,305,363,431,512,609,725,862,1024,1218,1449,1723,2048,2436,2897,3445,4096,4871,5793,6889,8192,9742,11586,13778,16384,19484,23171,27555,32768,38968,46341,55109,65536,77936,92682,110218,131072,155872,185364,220436,262144,311744,370728,440872,524288,623488,741456,881744,1048576}'::int[])))::numeric AS hist
  FROM usage_events
),
-- Per UTC hour and every key: each roll-up below is a sum of these rows.
rollup_hours AS (
  SELECT hour_utc, user_id, api_key_id, model_id, provider, endpoint, status, kind,
    count(*)::int AS requests, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    sum(cached_input_tokens) AS cached_input_tokens, sum(reasoning_tokens) AS reasoning_tokens,
    sum(total_cost) AS cost, sum(latency_ms) AS latency_ms_sum, sum(hist) AS latency_hist,
    (CASE WHEN status = 'error' THEN count(*) ELSE 0 END)::int AS errors
  FROM rollup_events
  GROUP BY hour_utc, user_id, api_key_id, model_id, provider, endpoint, status, kind
),
rollup_hourly AS (
  INSERT INTO usage_hourly AS t (hour, user_id, api_key_id, model_id, provider, endpoint, status, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist)
  SELECT hour_utc AT TIME ZONE 'UTC', user_id, api_key_id, model_id, provider, endpoint, status, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist FROM rollup_hours
  ON CONFLICT (hour, user_id, api_key_id, model_id, provider, endpoint, status) DO UPDATE SET
    requests = t.requests + EXCLUDED.requests,
    input_tokens = t.input_tokens + EXCLUDED.input_tokens,
    output_tokens = t.output_tokens + EXCLUDED.output_tokens,
    cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost = t.cost + EXCLUDED.cost,
    latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
    latency_hist = t.latency_hist + EXCLUDED.latency_hist
),
rollup_daily AS (
  UPDATE usage_daily AS t SET latency_hist = x.latency_hist
  FROM (SELECT hour_utc::date AS day, user_id, api_key_id, model_id, provider, endpoint, status, sum(latency_hist) AS latency_hist
        FROM rollup_hours GROUP BY 1, 2, 3, 4, 5, 6, 7) AS x
  WHERE t.day = x.day AND t.user_id = x.user_id AND t.api_key_id = x.api_key_id AND t.model_id = x.model_id
    AND t.provider = x.provider AND t.endpoint = x.endpoint AND t.status = x.status
),
-- Each hour's rows once per dimension: the totals, then per model, provider, key, user, endpoint, status.
rollup_dim_rows AS (
  SELECT h.*, v.dim, v.value FROM rollup_hours h
  CROSS JOIN LATERAL (VALUES ('total', ''), ('model', h.model_id), ('provider', h.provider), ('api_key', h.api_key_id),
    ('user', h.user_id), ('endpoint', h.endpoint), ('status', h.status)) AS v(dim, value)
),
rollup_hourly_dims AS (
  INSERT INTO usage_hourly_dims AS t (hour, kind, dim, value, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist, errors)
  SELECT hour_utc AT TIME ZONE 'UTC', kind, dim, value, sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens), sum(cost), sum(latency_ms_sum), sum(latency_hist), sum(errors) FROM rollup_dim_rows GROUP BY hour_utc, kind, dim, value
  ON CONFLICT (hour, kind, dim, value) DO UPDATE SET
    requests = t.requests + EXCLUDED.requests,
    input_tokens = t.input_tokens + EXCLUDED.input_tokens,
    output_tokens = t.output_tokens + EXCLUDED.output_tokens,
    cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost = t.cost + EXCLUDED.cost,
    latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
    latency_hist = t.latency_hist + EXCLUDED.latency_hist,
    errors = t.errors + EXCLUDED.errors
),
rollup_daily_dims AS (
  INSERT INTO usage_daily_dims AS t (day, kind, dim, value, requests, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, cost, latency_ms_sum, latency_hist, errors)
  SELECT hour_utc::date, kind, dim, value, sum(requests), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens), sum(reasoning_tokens), sum(cost), sum(latency_ms_sum), sum(latency_hist), sum(errors) FROM rollup_dim_rows GROUP BY hour_utc::date, kind, dim, value
  ON CONFLICT (day, kind, dim, value) DO UPDATE SET
    requests = t.requests + EXCLUDED.requests,
    input_tokens = t.input_tokens + EXCLUDED.input_tokens,
    output_tokens = t.output_tokens + EXCLUDED.output_tokens,
    cached_input_tokens = t.cached_input_tokens + EXCLUDED.cached_input_tokens,
    reasoning_tokens = t.reasoning_tokens + EXCLUDED.reasoning_tokens,
    cost = t.cost + EXCLUDED.cost,
    latency_ms_sum = t.latency_ms_sum + EXCLUDED.latency_ms_sum,
    latency_hist = t.latency_hist + EXCLUDED.latency_hist,
    errors = t.errors + EXCLUDED.errors
)
SELECT 1;
