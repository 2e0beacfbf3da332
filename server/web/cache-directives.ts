import "server-only";
// The response and embedding caches' directives as a request gives them, read at the edge (by the
// REST routes and the tRPC procedures; both wrappers share server/web), so
// that the services take typed values: the body's `cache` / `cache_ttl` fields (POST
// /v1/llm/generate, tRPC generation.*) and the headers `x-model-service-cache` and
// `x-model-service-cache-ttl` (every endpoint, the compatible ones included, whose bodies have no
// such field); and the cache status a response reports in `x-model-service-cache`.
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";

/** off: never; on: requests with temperature 0; force: any request. */
export type CacheMode = "off" | "on" | "force";
/** What a request asks of the cache; `mode` absent: the API key's setting (off for other callers). */
export type CacheRequest = { mode?: CacheMode; ttlSeconds?: number };
/** hit: answered from the cache; miss: answered by the provider and stored; bypass: caching was asked for but does not apply (temperature). */
export type CacheStatus = "hit" | "miss" | "bypass";

export const CACHE_HEADER = "x-model-service-cache";
export const CACHE_TTL_HEADER = "x-model-service-cache-ttl";

/** `true`/`on`/`1`, `force`, `false`/`off`/`0`: a request field or header value as a mode. */
export function parseCacheMode(value: boolean | string, where: string): CacheMode {
  if (value === true) return "on";
  if (value === false) return "off";
  const v = value.trim().toLowerCase();
  if (v === "true" || v === "on" || v === "1") return "on";
  if (v === "false" || v === "off" || v === "0") return "off";
  if (v === "force") return "force";
  throw new AppError("invalid_request", `${where} must be true, false or "force", not ${JSON.stringify(value).slice(0, 40)}`, {
    field: where,
  });
}

/** A TTL a request asked for, in seconds: 1 to RESPONSE_CACHE_MAX_TTL. */
export function checkCacheTtl(seconds: number, where: string): number {
  const max = loadEnv().RESPONSE_CACHE_MAX_TTL;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > max) {
    throw new AppError("invalid_request", `${where} must be a whole number of seconds from 1 to ${max}`, { field: where });
  }
  return seconds;
}

/**
 * The cache request of a call: the body's fields win over the headers (`x-model-service-cache`,
 * `x-model-service-cache-ttl`), which the OpenAI- and Anthropic-compatible endpoints use since
 * their bodies have no such field.
 */
export function cacheRequestFrom(
  headers: Headers | undefined,
  body: { cache?: boolean | "force"; ttlSeconds?: number } = {},
): CacheRequest | undefined {
  const header = headers?.get(CACHE_HEADER) ?? null;
  const ttlHeader = headers?.get(CACHE_TTL_HEADER) ?? null;
  const mode =
    body.cache !== undefined ? parseCacheMode(body.cache, "cache") : header !== null ? parseCacheMode(header, CACHE_HEADER) : undefined;
  const ttlSeconds =
    body.ttlSeconds !== undefined
      ? checkCacheTtl(body.ttlSeconds, "cache_ttl")
      : ttlHeader !== null
        ? checkCacheTtl(Number(ttlHeader.trim() || "NaN"), CACHE_TTL_HEADER)
        : undefined;
  if (mode === undefined && ttlSeconds === undefined) return undefined;
  return { ...(mode ? { mode } : {}), ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) };
}

/** The embedding cache is on by default; the header `x-model-service-cache: false` turns it off for one request. */
export function embeddingCacheFrom(headers: Headers): boolean | undefined {
  const header = headers.get(CACHE_HEADER);
  return header !== null && parseCacheMode(header, CACHE_HEADER) === "off" ? false : undefined;
}

/** The response header of a call's cache status (none when the cache was not asked for). */
export function cacheHeaders(status: CacheStatus | undefined): Record<string, string> {
  return status ? { [CACHE_HEADER]: status } : {};
}

/** For a handler: collects the status the service reports, then gives the response header. */
export function cacheStatusTracker(): { onStatus: (s: CacheStatus) => void; headers: () => Record<string, string> } {
  let status: CacheStatus | undefined;
  return {
    onStatus: (s) => {
      status = s;
    },
    headers: () => cacheHeaders(status),
  };
}
