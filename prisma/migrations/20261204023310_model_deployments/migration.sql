-- CreateTable
CREATE TABLE "model_deployments" (
    "id" TEXT NOT NULL,
    "entry" JSONB NOT NULL,
    "created_by" TEXT,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "model_deployments_pkey" PRIMARY KEY ("id")
);
