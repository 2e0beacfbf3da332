-- AlterTable
ALTER TABLE "vector_collections" ADD COLUMN     "owner_key_id" TEXT;

-- CreateIndex
CREATE INDEX "vector_collections_owner_key_id_idx" ON "vector_collections"("owner_key_id");
