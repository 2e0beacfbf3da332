-- The deployment that answered (features/routing) as a key of the filtered roll-ups too, so that a
-- user's or a key's statistics break down by deployment as everyone's do (usage_*_dims). Rows
-- written before are kept under "" (no deployment).

-- AlterTable
ALTER TABLE "usage_daily" DROP CONSTRAINT "usage_daily_pkey",
ADD COLUMN     "deployment" TEXT NOT NULL DEFAULT '',
ADD CONSTRAINT "usage_daily_pkey" PRIMARY KEY ("day", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind", "deployment");

-- AlterTable
ALTER TABLE "usage_hourly" DROP CONSTRAINT "usage_hourly_pkey",
ADD COLUMN     "deployment" TEXT NOT NULL DEFAULT '',
ADD CONSTRAINT "usage_hourly_pkey" PRIMARY KEY ("hour", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind", "deployment");
