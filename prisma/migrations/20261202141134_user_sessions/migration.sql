-- AlterTable
ALTER TABLE "users" ADD COLUMN     "disabled_at" TIMESTAMPTZ(3),
ADD COLUMN     "revoked_sessions" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "session_epoch" INTEGER NOT NULL DEFAULT 0;
