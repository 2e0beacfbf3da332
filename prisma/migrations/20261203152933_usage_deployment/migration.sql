-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "attempts" INTEGER,
ADD COLUMN     "deployment" TEXT;
