-- AlterTable
ALTER TABLE "models" ADD COLUMN     "cache_write_price_per_mtok" DECIMAL(18,6);

-- CreateTable
CREATE TABLE "model_prices" (
    "id" BIGSERIAL NOT NULL,
    "model_id" TEXT NOT NULL,
    "effective_from" TIMESTAMPTZ(3) NOT NULL,
    "input_price_per_mtok" DECIMAL(18,6) NOT NULL,
    "output_price_per_mtok" DECIMAL(18,6) NOT NULL,
    "cached_input_price_per_mtok" DECIMAL(18,6),
    "cache_write_price_per_mtok" DECIMAL(18,6),
    "changed_by" TEXT NOT NULL,

    CONSTRAINT "model_prices_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "model_prices_model_id_effective_from_idx" ON "model_prices"("model_id", "effective_from" DESC);

-- AddForeignKey
ALTER TABLE "model_prices" ADD CONSTRAINT "model_prices_model_id_fkey" FOREIGN KEY ("model_id") REFERENCES "models"("id") ON DELETE CASCADE ON UPDATE CASCADE;
