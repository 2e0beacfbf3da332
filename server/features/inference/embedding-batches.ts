import "server-only";
// The batches an embeddings request is sent in: at most the provider's texts per call, and where
// the provider limits tokens (OpenAI: 8,192 per text, 300,000 per request) within its total, with
// a text the provider would refuse refused here first, before anything is paid for. Tokens are
// counted in the provider's encoding, and only where they could matter: a text cannot have more
// tokens than UTF-8 bytes, so texts short enough in bytes are never tokenized.
import { AppError } from "../../kernel/errors.ts";
import type { EmbeddingTokenLimits } from "../../providers/types.ts";

type Counter = (text: string) => number;
let cl100k: Counter | undefined;

/** cl100k_base (OpenAI's embedding models' encoding), loaded on first need. */
async function counterFor(encoding: EmbeddingTokenLimits["encoding"]): Promise<Counter> {
  if (encoding === "cl100k_base") {
    cl100k ??= (await import("gpt-tokenizer/encoding/cl100k_base")).countTokens as Counter;
    return cl100k;
  }
  throw new Error(`no tokenizer for ${String(encoding)}`);
}

/**
 * An upper bound of each text's tokens where the provider limits them (undefined where it does
 * not): the text's UTF-8 bytes, or its count in the provider's encoding when the bytes could
 * exceed a limit. Refuses (400) a text over the per-text limit (the smaller of the provider's and
 * the model's context window), naming its position.
 */
export async function embeddingTokenSizes(
  texts: readonly string[],
  limits: EmbeddingTokenLimits | undefined,
  model: { id: string; contextWindow: number },
): Promise<number[] | undefined> {
  if (!limits) return undefined;
  const perText = Math.min(limits.perText, model.contextWindow || limits.perText);
  let totalBytes = 0;
  for (const t of texts) totalBytes += Buffer.byteLength(t);
  let count: Counter | undefined;
  const sizes: number[] = [];
  for (const [i, text] of texts.entries()) {
    const bytes = Buffer.byteLength(text);
    if (bytes <= perText && totalBytes <= limits.perCall) {
      sizes.push(bytes);
      continue;
    }
    count ??= await counterFor(limits.encoding);
    const tokens = Math.min(bytes, count(text));
    if (tokens > perText) {
      throw new AppError(
        "invalid_request",
        `Text ${i} has ${tokens} tokens; ${model.id} takes at most ${perText} tokens per text: split it into smaller pieces`,
        { field: `input[${i}]`, limit: perText, received: tokens },
      );
    }
    sizes.push(tokens);
  }
  return sizes;
}

/**
 * The texts in order, in batches of at most `maxPerCall` texts and, with token limits, at most
 * `perCall` tokens by `sizeOf` (embeddingTokenSizes).
 */
export function embeddingBatches(
  texts: readonly string[],
  maxPerCall: number,
  tokens?: { perCall: number; sizeOf: (text: string) => number },
): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let total = 0;
  for (const text of texts) {
    const size = tokens ? tokens.sizeOf(text) : 0;
    if (current.length && (current.length >= maxPerCall || (tokens && total + size > tokens.perCall))) {
      batches.push(current);
      current = [];
      total = 0;
    }
    current.push(text);
    total += size;
  }
  if (current.length) batches.push(current);
  return batches;
}
