import "server-only";
// tRPC embeddings.*: the same embeddings service as POST /v1/llm/generate-embeddings.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import { generateEmbeddings, MAX_TEXTS_PER_REQUEST } from "./embeddings.ts";
import { formatUsd } from "../catalogue/index.ts";
import { createTRPCRouter, procedure } from "../../trpc/init.ts";
import { EMBED_POLICY } from "./policies.ts";
import { attributionInput, attributionOf } from "../usage/index.ts";

export const embeddingsRouter = createTRPCRouter({
  /** Embeds texts with a catalogue embedding model; the answer keeps the texts' order. */
  generate: procedure(EMBED_POLICY)
    .input(
      z.object({
        model: safeString.min(1),
        // The count limit is checked by the service (413), like REST.
        texts: z
          .array(safeString)
          .min(1)
          .max(MAX_TEXTS_PER_REQUEST * 2),
        dimensions: z.number().int().min(1).max(16_000).optional(),
        /** The embedding cache (on by default): false sends every text to the provider. */
        cache: z.boolean().optional(),
        /** Tags, end user, session and metadata stored on the usage event (features/usage/attribution.ts). */
        attribution: attributionInput.optional(),
      }),
    )
    .output(
      z.object({
        model: z.string(),
        provider: z.string(),
        embeddings: z.array(z.array(z.number())),
        usage: z.object({ inputTokens: z.number() }),
        /** Exact decimal string in USD. */
        cost: z.string(),
        latencyMs: z.number(),
        /** Texts answered from the embedding cache and what they would have cost (exact decimal string). */
        cached: z.object({ texts: z.number(), savedCost: z.string() }),
      }),
    )
    .mutation(async ({ input, ctx, signal }) => {
      const { attribution, ...embed } = input;
      const out = await generateEmbeddings(ctx.identity, embed, {
        endpoint: "trpc:embeddings.generate",
        requestId: ctx.requestId,
        signal,
        attribution: attributionOf(attribution),
      });
      return {
        ...out,
        cost: formatUsd(out.cost.totalCost),
        cached: { texts: out.cached.texts, savedCost: formatUsd(out.cached.savedCost) },
      };
    }),
});
