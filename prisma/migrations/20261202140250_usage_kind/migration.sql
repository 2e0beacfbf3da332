-- The usage kind (llm | embedding) on each event and roll-up row, recorded by the service that made
-- the call. Until now it was guessed from the name of the endpoint, so the embeddings that
-- /v1/vector/documents, text searches and the tRPC vector procedures pay for counted as llm.
-- Existing rows take the type of their model from the catalogue, and a model no longer in it keeps the
-- guess from its endpoint.

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "kind" TEXT;

-- AlterTable
ALTER TABLE "usage_daily" ADD COLUMN     "kind" TEXT;

-- AlterTable
ALTER TABLE "usage_hourly" ADD COLUMN     "kind" TEXT;

-- Backfill
UPDATE "usage_events" AS t SET "kind" = coalesce(
  (SELECT CASE WHEN m."type" = 'embedding' THEN 'embedding' ELSE 'llm' END FROM "models" m WHERE m."id" = t."model_id"),
  CASE WHEN t."endpoint" ILIKE '%embedding%' THEN 'embedding' ELSE 'llm' END);
UPDATE "usage_daily" AS t SET "kind" = coalesce(
  (SELECT CASE WHEN m."type" = 'embedding' THEN 'embedding' ELSE 'llm' END FROM "models" m WHERE m."id" = t."model_id"),
  CASE WHEN t."endpoint" ILIKE '%embedding%' THEN 'embedding' ELSE 'llm' END);
UPDATE "usage_hourly" AS t SET "kind" = coalesce(
  (SELECT CASE WHEN m."type" = 'embedding' THEN 'embedding' ELSE 'llm' END FROM "models" m WHERE m."id" = t."model_id"),
  CASE WHEN t."endpoint" ILIKE '%embedding%' THEN 'embedding' ELSE 'llm' END);

-- AlterTable
ALTER TABLE "usage_events" ALTER COLUMN "kind" SET NOT NULL;

-- AlterTable
ALTER TABLE "usage_daily" DROP CONSTRAINT "usage_daily_pkey",
ALTER COLUMN "kind" SET NOT NULL,
ADD CONSTRAINT "usage_daily_pkey" PRIMARY KEY ("day", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind");

-- AlterTable
ALTER TABLE "usage_hourly" DROP CONSTRAINT "usage_hourly_pkey",
ALTER COLUMN "kind" SET NOT NULL,
ADD CONSTRAINT "usage_hourly_pkey" PRIMARY KEY ("hour", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind");

-- The per-dimension roll-ups were split by the guessed kind: rebuilt from the full roll-ups, of
-- which they are sums (server/services/usage-rollups.ts).
DELETE FROM "usage_daily_dims";
INSERT INTO "usage_daily_dims" AS t ("day", "kind", "dim", "value", "requests", "errors", "input_tokens", "output_tokens",
  "cached_input_tokens", "reasoning_tokens", "cost", "saved_cost", "latency_ms_sum", "latency_hist")
SELECT r."day", r."kind", v."dim", v."value", sum(r."requests"), sum(CASE WHEN r."status" = 'error' THEN r."requests" ELSE 0 END),
  sum(r."input_tokens"), sum(r."output_tokens"), sum(r."cached_input_tokens"), sum(r."reasoning_tokens"), sum(r."cost"),
  sum(r."saved_cost"), sum(r."latency_ms_sum"), sum(r."latency_hist")
FROM "usage_daily" r
CROSS JOIN LATERAL (VALUES ('total', ''), ('model', r."model_id"), ('provider', r."provider"), ('api_key', r."api_key_id"),
  ('user', r."user_id"), ('endpoint', r."endpoint"), ('status', r."status")) AS v("dim", "value")
GROUP BY 1, 2, 3, 4;

DELETE FROM "usage_hourly_dims";
INSERT INTO "usage_hourly_dims" AS t ("hour", "kind", "dim", "value", "requests", "errors", "input_tokens", "output_tokens",
  "cached_input_tokens", "reasoning_tokens", "cost", "saved_cost", "latency_ms_sum", "latency_hist")
SELECT r."hour", r."kind", v."dim", v."value", sum(r."requests"), sum(CASE WHEN r."status" = 'error' THEN r."requests" ELSE 0 END),
  sum(r."input_tokens"), sum(r."output_tokens"), sum(r."cached_input_tokens"), sum(r."reasoning_tokens"), sum(r."cost"),
  sum(r."saved_cost"), sum(r."latency_ms_sum"), sum(r."latency_hist")
FROM "usage_hourly" r
CROSS JOIN LATERAL (VALUES ('total', ''), ('model', r."model_id"), ('provider', r."provider"), ('api_key', r."api_key_id"),
  ('user', r."user_id"), ('endpoint', r."endpoint"), ('status', r."status")) AS v("dim", "value")
GROUP BY 1, 2, 3, 4;
