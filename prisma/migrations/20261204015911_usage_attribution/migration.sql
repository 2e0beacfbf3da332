-- Attribution (features/usage/attribution.ts) on each event: tags, end user, session, metadata.
-- The end user and the tags (distinct, sorted, joined by commas) are keys of the filtered roll-ups
-- too, so that `tag` and `end_user` filter any statistics and break them down from the roll-ups
-- alone (the *_dims tables get one 'tag' row per tag and one 'end_user' row per end user from the
-- writer). Rows written before are kept under "" (no end user, no tags): no earlier event had any.

-- AlterTable
ALTER TABLE "usage_daily" DROP CONSTRAINT "usage_daily_pkey",
ADD COLUMN     "end_user" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "tags" TEXT NOT NULL DEFAULT '',
ADD CONSTRAINT "usage_daily_pkey" PRIMARY KEY ("day", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind", "deployment", "end_user", "tags");

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "end_user" TEXT,
ADD COLUMN     "metadata" JSONB,
ADD COLUMN     "session_id" TEXT,
ADD COLUMN     "tags" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- AlterTable
ALTER TABLE "usage_hourly" DROP CONSTRAINT "usage_hourly_pkey",
ADD COLUMN     "end_user" TEXT NOT NULL DEFAULT '',
ADD COLUMN     "tags" TEXT NOT NULL DEFAULT '',
ADD CONSTRAINT "usage_hourly_pkey" PRIMARY KEY ("hour", "user_id", "api_key_id", "model_id", "provider", "endpoint", "status", "kind", "deployment", "end_user", "tags");
