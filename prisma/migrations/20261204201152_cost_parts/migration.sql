-- Cost for every kind of token (#24): the rates beyond the four price columns (extra_prices), the
-- usage events' token kinds, service and price tier and cost parts, and the roll-ups' cost parts.
-- AlterTable
ALTER TABLE "model_prices" ADD COLUMN     "extra_prices" JSONB NOT NULL DEFAULT '{}';

-- AlterTable
ALTER TABLE "models" ADD COLUMN     "extra_prices" JSONB NOT NULL DEFAULT '{}';

-- AlterTable
ALTER TABLE "usage_daily" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_daily_attr" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_daily_dims" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "audio_input_tokens" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_tokens" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_tokens" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "itemised" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "price_tier" TEXT,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "service_tier" TEXT;

-- AlterTable
ALTER TABLE "usage_hourly" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_hourly_attr" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_hourly_dims" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- Events recorded before this migration kept no parts: itemised false for them, true from now on.
ALTER TABLE "usage_events" ALTER COLUMN "itemised" SET DEFAULT true;
