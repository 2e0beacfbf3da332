// A chat model of the catalogue's shape for tests and benchmarks that build routes and prices by
// hand (no database): 128K context, $1 / $2 per 1M tokens, enabled.
import type { CatalogueModel } from "@/server/features/catalogue/index.ts";

export function chatModel(id: string, provider = "a"): CatalogueModel {
  return {
    id,
    name: id,
    provider,
    type: "chat",
    contextWindow: 128_000,
    maxOutputTokens: 4096,
    price: { inputPerMTok: "1", outputPerMTok: "2", cachedInputPerMTok: null, cacheWritePerMTok: null },
    capabilities: [],
    aliases: [],
    fallbacks: [],
    embeddingDimensions: null,
    enabled: true,
    source: "catalogue",
    updatedAt: new Date(),
  };
}
