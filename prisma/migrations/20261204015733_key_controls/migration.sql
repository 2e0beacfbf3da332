-- CreateEnum
CREATE TYPE "BudgetPeriod" AS ENUM ('day', 'week', 'month');

-- AlterTable
ALTER TABLE "api_keys" ADD COLUMN     "allowed_models" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "budget_period" "BudgetPeriod" NOT NULL DEFAULT 'month',
ADD COLUMN     "max_parallel" INTEGER,
ADD COLUMN     "rpm_limit" INTEGER,
ADD COLUMN     "tpm_limit" INTEGER;

-- AlterTable
ALTER TABLE "users" ADD COLUMN     "budget_period" "BudgetPeriod" NOT NULL DEFAULT 'month';
