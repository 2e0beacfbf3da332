-- The recent-requests pages of one user or key follow (created_at, id) from a cursor: the indexes
-- carry id too, so a page is read in order from the index instead of sorting the whole range.
-- DropIndex
DROP INDEX "usage_events_api_key_id_created_at_idx";

-- DropIndex
DROP INDEX "usage_events_user_id_created_at_idx";

-- CreateIndex
CREATE INDEX "usage_events_user_id_created_at_id_idx" ON "usage_events"("user_id", "created_at" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "usage_events_api_key_id_created_at_id_idx" ON "usage_events"("api_key_id", "created_at" DESC, "id" DESC);
