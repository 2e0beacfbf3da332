-- Input tokens written to the provider's prompt cache, on each usage event: priced at the model's cache-write
-- rate (Anthropic's, Bedrock's) instead of as plain input. Earlier events keep 0.

-- AlterTable
ALTER TABLE "usage_events" ADD COLUMN     "cache_write_tokens" INTEGER NOT NULL DEFAULT 0;
