-- AlterTable
ALTER TABLE "usage_daily_scoped" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_hourly_scoped" ADD COLUMN     "audio_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_1h_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_5m_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "cache_write_tokens" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "cached_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "image_input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "input_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "output_cost" DECIMAL(24,12) NOT NULL DEFAULT 0,
ADD COLUMN     "reasoning_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;
