-- Collection names belong to their owner (#20 item 7): unique per owner scope instead of across the
-- service, and the backend's own name (Qdrant's collection) kept apart. Existing collections keep
-- their storage: their physical name is their name.

-- AlterTable
ALTER TABLE "vector_collections" ADD COLUMN "owner_scope" TEXT,
ADD COLUMN "physical_name" TEXT;

UPDATE "vector_collections" SET
  "physical_name" = "name",
  "owner_scope" = CASE
    WHEN "owner_id" IS NOT NULL THEN 'user:' || "owner_id"
    WHEN "owner_key_id" IS NOT NULL THEN 'key:' || "owner_key_id"
    ELSE 'none:' || "id"
  END;

ALTER TABLE "vector_collections" ALTER COLUMN "owner_scope" SET NOT NULL,
ALTER COLUMN "physical_name" SET NOT NULL;

-- DropIndex
DROP INDEX "vector_collections_name_key";

-- CreateIndex
CREATE UNIQUE INDEX "vector_collections_physical_name_key" ON "vector_collections"("physical_name");

-- CreateIndex
CREATE UNIQUE INDEX "vector_collections_owner_scope_name_key" ON "vector_collections"("owner_scope", "name");
