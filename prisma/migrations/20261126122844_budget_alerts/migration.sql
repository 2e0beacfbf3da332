-- CreateTable
CREATE TABLE "budget_alert_settings" (
    "subject_kind" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "thresholds" INTEGER[] DEFAULT ARRAY[]::INTEGER[],
    "webhook_url" TEXT,
    "webhook_secret" TEXT,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_alert_settings_pkey" PRIMARY KEY ("subject_kind","subject_id")
);

-- CreateTable
CREATE TABLE "budget_alerts" (
    "id" TEXT NOT NULL,
    "subject_kind" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "period" DATE NOT NULL,
    "threshold_percent" INTEGER NOT NULL,
    "budget_usd" DECIMAL(20,6) NOT NULL,
    "spent_usd" DECIMAL(24,12) NOT NULL,
    "user_id" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_alerts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "budget_alert_deliveries" (
    "id" TEXT NOT NULL,
    "alert_id" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "last_status" INTEGER,
    "last_error" TEXT,
    "delivered_at" TIMESTAMPTZ(3),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "budget_alert_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "budget_alerts_user_id_created_at_idx" ON "budget_alerts"("user_id", "created_at" DESC);

-- CreateIndex
CREATE INDEX "budget_alerts_created_at_idx" ON "budget_alerts"("created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "budget_alerts_subject_kind_subject_id_period_threshold_perc_key" ON "budget_alerts"("subject_kind", "subject_id", "period", "threshold_percent");

-- CreateIndex
CREATE INDEX "budget_alert_deliveries_status_next_attempt_at_idx" ON "budget_alert_deliveries"("status", "next_attempt_at");

-- CreateIndex
CREATE UNIQUE INDEX "budget_alert_deliveries_alert_id_target_key" ON "budget_alert_deliveries"("alert_id", "target");

-- AddForeignKey
ALTER TABLE "budget_alert_deliveries" ADD CONSTRAINT "budget_alert_deliveries_alert_id_fkey" FOREIGN KEY ("alert_id") REFERENCES "budget_alerts"("id") ON DELETE CASCADE ON UPDATE CASCADE;
