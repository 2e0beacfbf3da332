import "server-only";
// The embedding cache, on by default: an embedding is a function of (model, dimensions, text), so
// one already paid for is never paid for again. A request's texts are looked up in one round trip
// (cache-store.ts: memory, then Redis or PostgreSQL); only the misses, each distinct text once, go
// to the provider; the answer keeps the request's order. Each entry keeps the tokens the provider
// counted for its text, so a hit's saved cost is those tokens at the model's current price.
//
// Whose entries: by default each owner's own (EMBEDDING_CACHE_SCOPE=owner; the owner is the
// caller's user, so their keys and sessions share entries, or the key itself for a key without a
// user). A shared entry would tell any caller, by its hit, its saved cost or its speed, that
// someone else embedded that exact text. EMBEDDING_CACHE_SCOPE=global shares entries between all
// callers, for deployments where every caller may know what the others embed.
// EMBEDDING_CACHE_TTL sets how long an entry lives (0: cache off); free models (the built-in local
// one) are never cached, and a request can opt out (`cache: false`, or the header
// `x-model-service-cache: false`).
import { createHash } from "node:crypto";
import { loadEnv } from "../../kernel/env.ts";
import { cacheGetMany, cacheSetMany } from "./cache-store.ts";
import type { Identity } from "../../access/identity.ts";
import type { CatalogueModel } from "../catalogue/index.ts";
import { cacheScope } from "./response-cache.ts";

/** What a request's texts need: which to send to the provider, and how to put the answer together. */
export type EmbeddingLookup = {
  /** Distinct texts not in the cache, in first-seen order: all the provider is asked for. */
  toEmbed: string[];
  /** How many of the request's texts the cache answered. */
  hits: number;
  /** The provider's tokens of the texts the cache answered (what they would have cost); final after `complete`, which adds a text repeated within the request. */
  hitTokens: number;
  /**
   * The request's embeddings in its order, from the cache and from `embedded` (one vector and its
   * token count per text of `toEmbed`); stores the new ones.
   */
  complete(embedded: number[][], tokens: number[]): number[][];
};

type Entry = { t: number; v: string };

/** The owner whose entries a caller reads and writes, or null when entries are shared by all. */
export function embeddingCacheOwner(identity: Identity): string | null {
  return loadEnv().EMBEDDING_CACHE_SCOPE === "global" ? null : cacheScope(identity);
}

function keyOf(owner: string | null, model: string, dimensions: number | undefined, text: string): string {
  // Shared entries keep the key they had before entries were scoped, so switching to global finds them.
  if (owner === null)
    return `e:${createHash("sha256")
      .update(`${model}\u0000${dimensions ?? ""}\u0000${text}`)
      .digest("base64url")}`;
  return `eo:${createHash("sha256")
    .update(`${owner}\u0000${model}\u0000${dimensions ?? ""}\u0000${text}`)
    .digest("base64url")}`;
}

/** A vector as base64 of float64 values: exact, so a hit returns the very numbers the provider sent. */
function encodeVector(v: readonly number[]): string {
  return Buffer.from(Float64Array.from(v).buffer).toString("base64");
}

function decodeVector(b64: string): number[] {
  const buf = Buffer.from(b64, "base64");
  const copy = new Uint8Array(buf.byteLength);
  copy.set(buf);
  return Array.from(new Float64Array(copy.buffer));
}

/** Whether this request uses the cache: on unless turned off, and only for models that cost money. */
export function embeddingCacheApplies(model: CatalogueModel, requested: boolean | undefined): boolean {
  if (requested === false || loadEnv().EMBEDDING_CACHE_TTL === 0) return false;
  return Number(model.price.inputPerMTok) > 0;
}

/**
 * Looks the texts up among the caller's entries (embeddingCacheOwner); with the cache off,
 * everything is a miss and nothing is stored.
 */
export async function lookupEmbeddings(
  identity: Identity,
  model: CatalogueModel,
  dimensions: number | undefined,
  texts: readonly string[],
  enabled: boolean,
): Promise<EmbeddingLookup> {
  if (!enabled) {
    return { toEmbed: [...texts], hits: 0, hitTokens: 0, complete: (embedded) => embedded };
  }
  const owner = embeddingCacheOwner(identity);
  const keys = texts.map((t) => keyOf(owner, model.id, dimensions, t));
  const distinct = [...new Set(keys)];
  const found = await cacheGetMany(distinct);
  const cached = new Map<string, Entry>();
  found.forEach((raw, i) => {
    if (!raw) return;
    try {
      const e = JSON.parse(raw) as Entry;
      if (typeof e.v === "string" && typeof e.t === "number") cached.set(distinct[i]!, e);
    } catch {
      // unreadable: a miss
    }
  });
  const toEmbed: string[] = [];
  const missIndex = new Map<string, number>();
  /** Repeats within the request of a text sent once: served as hits. */
  const repeats: number[] = [];
  let hits = 0;
  let hitTokens = 0;
  keys.forEach((k, i) => {
    const e = cached.get(k);
    const j = missIndex.get(k);
    if (e) {
      hits++;
      hitTokens += e.t;
    } else if (j === undefined) {
      missIndex.set(k, toEmbed.length);
      toEmbed.push(texts[i]!);
    } else {
      hits++;
      repeats.push(j);
    }
  });
  const lookup: EmbeddingLookup = {
    toEmbed,
    hits,
    hitTokens,
    complete(embedded, tokens) {
      for (const j of repeats) lookup.hitTokens += tokens[j] ?? 0;
      const ttlMs = loadEnv().EMBEDDING_CACHE_TTL * 1000;
      const fresh: { key: string; value: string }[] = [];
      for (const [k, j] of missIndex)
        fresh.push({ key: k, value: JSON.stringify({ t: tokens[j] ?? 0, v: encodeVector(embedded[j]!) } satisfies Entry) });
      cacheSetMany(fresh, ttlMs);
      const decoded = new Map<string, number[]>();
      return keys.map((k) => {
        const j = missIndex.get(k);
        if (j !== undefined) return embedded[j]!;
        let v = decoded.get(k);
        if (!v) decoded.set(k, (v = decodeVector(cached.get(k)!.v)));
        return v;
      });
    },
  };
  return lookup;
}

/**
 * A batch's token count split over its texts in proportion to their length (largest remainder, so
 * the parts add up to the total exactly): providers report one count per call, not per text.
 */
export function apportionTokens(texts: readonly string[], total: number): number[] {
  if (texts.length === 1) return [total];
  const weights = texts.map((t) => Math.max(1, t.length));
  const sum = weights.reduce((a, b) => a + b, 0);
  const exact = weights.map((w) => (total * w) / sum);
  const parts = exact.map(Math.floor);
  let left = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    parts[i]!++;
    left--;
  }
  return parts;
}
