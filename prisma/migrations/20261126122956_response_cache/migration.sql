-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "cache_responses" BOOLEAN NOT NULL DEFAULT false;

-- AlterTable
ALTER TABLE "usage_daily" ADD COLUMN     "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_daily_dims" ADD COLUMN     "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_hourly" ADD COLUMN     "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- AlterTable
ALTER TABLE "usage_hourly_dims" ADD COLUMN     "saved_cost" DECIMAL(24,12) NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE "cache_entries" (
    "key" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "cache_entries_pkey" PRIMARY KEY ("key")
);

-- CreateIndex
CREATE INDEX "cache_entries_expires_at_idx" ON "cache_entries"("expires_at");
