-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "log_bodies" BOOLEAN;

-- CreateTable
CREATE TABLE "request_bodies" (
    "event_id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "body" BYTEA NOT NULL,
    "size" INTEGER NOT NULL,

    CONSTRAINT "request_bodies_pkey" PRIMARY KEY ("event_id")
);

-- CreateIndex
CREATE INDEX "request_bodies_created_at_idx" ON "request_bodies"("created_at");
