import "server-only";
// OpenAI's embeddings protocol over our embeddings service: `input` as a string or a list of
// strings, `encoding_format` float or base64 (little-endian float32, as OpenAI sends it and its SDK
// decodes it; the SDK asks for base64 unless told otherwise), and `dimensions`.
import { z } from "zod";
import { safeString } from "../../kernel/validation.ts";
import type { EmbedOutcome } from "../../features/inference/index.ts";
import { attributionIdSchema, metadataSchema } from "../../features/usage/index.ts";
import { usdNumber } from "../../features/catalogue/index.ts";

const tokenArrays = "token arrays are not supported here; send the text itself (a string or a list of strings)";

export const embeddingsBody = z.object({
  model: safeString.min(1, { error: "name an embedding model, e.g. text-embedding-3-small or local-hash-384" }),
  input: z.union(
    [
      safeString.min(1, { error: "an input text must not be empty" }),
      z
        .array(safeString.min(1, { error: "an input text must not be empty" }), { error: tokenArrays })
        .min(1, { error: "send at least one text" }),
    ],
    { error: tokenArrays },
  ),
  encoding_format: z.enum(["float", "base64"], { error: "encoding_format must be float or base64" }).nullish(),
  dimensions: z.number().int().min(1).max(16_000).nullish(),
  /** The end user (attribution, and sent to the provider as before); `metadata`: attribution only (features/usage). */
  user: attributionIdSchema.nullish(),
  metadata: metadataSchema.nullish(),
});

export type EmbeddingsBody = z.infer<typeof embeddingsBody>;

/** A vector as OpenAI's base64: the float32 values, little-endian, whatever this machine's byte order. */
export function float32Base64(values: readonly number[]): string {
  const view = new DataView(new ArrayBuffer(values.length * 4));
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return Buffer.from(view.buffer).toString("base64");
}

export function toEmbeddingsResponse(out: EmbedOutcome, encoding: "float" | "base64") {
  return {
    object: "list" as const,
    data: out.embeddings.map((v, index) => ({
      object: "embedding" as const,
      index,
      // Rounded to float32 as OpenAI's are, so that float and base64 answers give the same numbers.
      embedding: encoding === "base64" ? float32Base64(v) : Array.from(Float32Array.from(v)),
    })),
    model: out.model,
    usage: { prompt_tokens: out.usage.inputTokens, total_tokens: out.usage.inputTokens },
    provider: out.provider,
    cost: { total_cost: usdNumber(out.cost.totalCost) },
  };
}
