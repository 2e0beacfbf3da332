import "server-only";
// The built-in local embedding model ("local-hash-384"): deterministic, no key, no download, so a
// fresh clone can embed and search text with nothing configured.
//
// It is LEXICAL, not semantic. A text becomes a bag of hashed features — word unigrams, word
// bigrams and character 3- to 5-grams of each word — projected into `dimensions` buckets (the
// "hashing trick": FNV-1a 32-bit hash, finalised with murmur3's fmix32, picks the bucket; another
// mix of the same hash picks a sign so that collisions cancel out on average), weighted by
// sublinear term frequency (1 + ln tf) and L2-normalised. Texts that share words or word pieces
// ("vector search" / "searching vectors") come out close; synonyms with no letters in common
// ("car" / "automobile") do not. Use an OpenAI embedding model when meaning matters.
//
// Usage: inputTokens counts word-like runs — each run of letters, each run of digits, and each other
// non-space character — which is close to what a BPE tokenizer reports for plain prose.
import {
  ProviderError,
  type EmbedRequest,
  type EmbedResult,
  type GenerateResult,
  type Provider,
  type ProviderModel,
  type StreamPart,
} from "./types.ts";

export const LOCAL_PROVIDER_ID = "local";
export const LOCAL_EMBEDDING_MODEL = "local-hash-384";
export const LOCAL_EMBEDDING_DIMENSIONS = 384;
/** Most texts one call embeds; it is all in-process, so this only bounds one request's CPU time. */
export const LOCAL_MAX_EMBEDDINGS_PER_CALL = 2048;
/** Largest `dimensions` accepted (pgvector's HNSW index stops at 2,000). */
export const LOCAL_MAX_DIMENSIONS = 4096;

// Feature weights: whole words carry most of the signal, bigrams add word order, character n-grams
// make inflections and typos ("vector" / "vectors") overlap.
const WEIGHT_UNIGRAM = 1.0;
const WEIGHT_BIGRAM = 0.7;
const WEIGHT_CHARGRAM = 0.35;
const CHARGRAM_MIN = 3;
const CHARGRAM_MAX = 5;

const WORD = /[\p{L}\p{M}]+|\p{N}+/gu;
const TOKEN = /[\p{L}\p{M}]+|\p{N}+|[^\s\p{L}\p{M}\p{N}]/gu;

/** 32-bit FNV-1a over the UTF-16 code units of `s`. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's 32-bit finaliser: spreads FNV's weak low bits over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function words(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(WORD) ?? [];
}

/** The weighted feature counts of one text. */
function features(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  const ws = words(text);
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    add(`w:${w}`);
    if (i > 0) add(`b:${ws[i - 1]} ${w}`);
    // Character n-grams of the word with boundary marks, so prefixes and suffixes are their own features.
    const padded = `<${w}>`;
    const chars = Array.from(padded);
    for (let n = CHARGRAM_MIN; n <= CHARGRAM_MAX; n++) {
      for (let start = 0; start + n <= chars.length; start++) add(`c:${chars.slice(start, start + n).join("")}`);
    }
  }
  return counts;
}

function weightOf(key: string): number {
  switch (key.charCodeAt(0)) {
    case 119 /* w */:
      return WEIGHT_UNIGRAM;
    case 98 /* b */:
      return WEIGHT_BIGRAM;
    default:
      return WEIGHT_CHARGRAM;
  }
}

/** The embedding of one text: `dimensions` numbers, unit length (all zeros for a text with no words). */
export function embedText(text: string, dimensions = LOCAL_EMBEDDING_DIMENSIONS): number[] {
  const v = new Float64Array(dimensions);
  for (const [key, tf] of features(text)) {
    const h = fnv1a(key);
    const bucket = fmix32(h) % dimensions;
    const sign = fmix32(h ^ 0x9e3779b9) & 1 ? 1 : -1;
    v[bucket] = v[bucket]! + sign * weightOf(key) * (1 + Math.log(tf));
  }
  let norm = 0;
  for (let i = 0; i < dimensions; i++) norm += v[i]! * v[i]!;
  norm = Math.sqrt(norm);
  const out = new Array<number>(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = norm > 0 ? v[i]! / norm : 0;
  return out;
}

/** Input tokens of one text by the rule in the header comment. */
export function countLocalTokens(text: string): number {
  return text.normalize("NFKC").match(TOKEN)?.length ?? 0;
}

function onlyEmbeds(): ProviderError {
  return new ProviderError(
    "local provider only embeds: use an OpenAI or Anthropic chat model to generate text",
    "invalid_request",
    undefined,
    false,
  );
}

export class LocalEmbeddingProvider implements Provider {
  readonly id = LOCAL_PROVIDER_ID;
  readonly name = "Local (hashed n-grams, lexical)";
  readonly maxEmbeddingsPerCall: number = LOCAL_MAX_EMBEDDINGS_PER_CALL;

  status() {
    return { available: true } as const;
  }

  async generateText(): Promise<GenerateResult> {
    throw onlyEmbeds();
  }

  // An async generator that fails on first iteration, like a provider whose stream is refused.
  async *streamText(): AsyncIterable<StreamPart> {
    throw onlyEmbeds();
  }

  async generateEmbeddings(request: EmbedRequest): Promise<EmbedResult> {
    const dimensions = request.dimensions ?? LOCAL_EMBEDDING_DIMENSIONS;
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > LOCAL_MAX_DIMENSIONS) {
      throw new ProviderError(`dimensions must be a whole number from 1 to ${LOCAL_MAX_DIMENSIONS}`, "invalid_request", undefined, false);
    }
    if (request.texts.length > this.maxEmbeddingsPerCall) {
      throw new ProviderError(`at most ${this.maxEmbeddingsPerCall} texts per call`, "invalid_request", undefined, false);
    }
    let inputTokens = 0;
    const embeddings = request.texts.map((text) => {
      inputTokens += countLocalTokens(text);
      return embedText(text, dimensions);
    });
    return { embeddings, usage: { inputTokens }, model: request.model };
  }

  async listModels(): Promise<ProviderModel[]> {
    return [{ id: LOCAL_EMBEDDING_MODEL, type: "embedding" }];
  }

  /** The connection test: it runs in this process, so one embedding of a word (no network). */
  async testConnection(): Promise<void> {
    await this.generateEmbeddings({ model: LOCAL_EMBEDDING_MODEL, texts: ["ping"] });
  }
}

export function createLocalProvider(): Provider {
  return new LocalEmbeddingProvider();
}
