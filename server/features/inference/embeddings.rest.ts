import "server-only";
// POST /v1/llm/generate-embeddings: the original service's embeddings endpoint.
//   {model, texts, dimensions?, user?} -> {model, embeddings, usage: {prompt_tokens, total_tokens}, cost}
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { generateEmbeddings } from "./embeddings.ts";
import { usdNumber } from "../catalogue/index.ts";
import { embeddingCacheFrom } from "../../web/cache-directives.ts";
import { endpoint, route } from "../../http/endpoint.ts";
import { EMBED_POLICY } from "./policies.ts";
import { attributionIdSchema, attributionOf, metadataSchema } from "../usage/index.ts";

const body = z.object({
  model: safeString.min(1, { error: "name an embedding model, e.g. local-hash-384 or text-embedding-3-small" }),
  // One string is taken as a list of one. The count limit (413) is the service's.
  texts: z.union([safeString.transform((t) => [t]), z.array(safeString).min(1, { error: "send at least one text" })], {
    error: "a list of strings",
  }),
  dimensions: z.number().int().min(1).max(16_000).optional(),
  /** The end user of the calling app (attribution; also sent to the provider, as OpenAI's `user`). */
  user: attributionIdSchema.optional(),
  /** Attribution metadata, stored on the usage event (features/usage/attribution.ts: at most 16 keys, 2 KB). */
  metadata: metadataSchema.optional(),
  /** The embedding cache (on by default): false sends every text to the provider. */
  cache: z.boolean({ error: "cache must be true or false" }).optional(),
});

export const llmGenerateEmbeddings = endpoint({
  POST: route({
    ...EMBED_POLICY,
    doc: { summary: "Embeddings for a list of texts with a catalogue embedding model" },
    body,
    handler: async ({ body, identity, requestId, req }) => {
      const out = await generateEmbeddings(
        identity,
        {
          model: body.model,
          texts: body.texts,
          dimensions: body.dimensions,
          user: body.user,
          cache: body.cache ?? embeddingCacheFrom(req.headers),
        },
        {
          endpoint: "/v1/llm/generate-embeddings",
          requestId,
          signal: req.signal,
          attribution: attributionOf({ endUser: body.user, metadata: body.metadata }, req.headers),
        },
      );
      return {
        model: out.model,
        embeddings: out.embeddings,
        usage: { prompt_tokens: out.usage.inputTokens, total_tokens: out.usage.inputTokens },
        cost: usdNumber(out.cost.totalCost),
        cached_texts: out.cached.texts,
        saved_cost: usdNumber(out.cached.savedCost),
      };
    },
  }),
});
