-- CreateIndex
CREATE INDEX "usage_events_session_id_created_at_id_idx" ON "usage_events"("session_id", "created_at", "id");
