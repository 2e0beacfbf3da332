-- Attribution (features/usage/attribution.ts) on each event: tags, end user, session, metadata.
-- The tags and the end user are roll-up dimensions: the *_dims tables get 'tag' and 'end_user'
-- rows (written by the writer from now on), and usage_daily_attr / usage_hourly_attr keep one row
-- per tag and per end user with every key of usage_daily, for the `tag` and `end_user` filters and
-- the tag and end-user breakdowns of a filtered view. usage_daily and usage_hourly are unchanged,
-- so the number of end users never multiplies their rows. No earlier event had any attribution:
-- nothing to backfill.

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "end_user" TEXT,
ADD COLUMN     "metadata" JSONB,
ADD COLUMN     "session_id" TEXT,
ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "usage_daily_attr" (
    "day" DATE NOT NULL,
    "kind" TEXT NOT NULL,
    "dim" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "deployment" TEXT NOT NULL DEFAULT '',
    "requests" INTEGER NOT NULL DEFAULT 0,
    "input_tokens" BIGINT NOT NULL DEFAULT 0,
    "output_tokens" BIGINT NOT NULL DEFAULT 0,
    "cached_input_tokens" BIGINT NOT NULL DEFAULT 0,
    "reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_daily_attr_pkey" PRIMARY KEY ("dim","value","day","user_id","api_key_id","model_id","provider","endpoint","status","kind","deployment")
);

-- CreateTable
CREATE TABLE "usage_hourly_attr" (
    "hour" TIMESTAMPTZ(0) NOT NULL,
    "kind" TEXT NOT NULL,
    "dim" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "user_id" TEXT NOT NULL DEFAULT '',
    "api_key_id" TEXT NOT NULL DEFAULT '',
    "model_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "endpoint" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "deployment" TEXT NOT NULL DEFAULT '',
    "requests" INTEGER NOT NULL DEFAULT 0,
    "input_tokens" BIGINT NOT NULL DEFAULT 0,
    "output_tokens" BIGINT NOT NULL DEFAULT 0,
    "cached_input_tokens" BIGINT NOT NULL DEFAULT 0,
    "reasoning_tokens" BIGINT NOT NULL DEFAULT 0,
    "cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
    "latency_ms_sum" BIGINT NOT NULL DEFAULT 0,
    "latency_hist" DECIMAL(1000,0) NOT NULL DEFAULT 0,

    CONSTRAINT "usage_hourly_attr_pkey" PRIMARY KEY ("hour","dim","value","user_id","api_key_id","model_id","provider","endpoint","status","kind","deployment")
);

-- CreateIndex
CREATE INDEX "usage_daily_attr_user_id_day_idx" ON "usage_daily_attr"("user_id", "day");

-- CreateIndex
CREATE INDEX "usage_daily_attr_api_key_id_day_idx" ON "usage_daily_attr"("api_key_id", "day");

-- CreateIndex
CREATE INDEX "usage_hourly_attr_user_id_hour_idx" ON "usage_hourly_attr"("user_id", "hour");

-- CreateIndex
CREATE INDEX "usage_hourly_attr_api_key_id_hour_idx" ON "usage_hourly_attr"("api_key_id", "hour");
