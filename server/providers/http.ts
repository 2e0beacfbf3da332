import "server-only";
// The HTTP client every provider SDK uses: a `fetch` on one shared keep-alive undici Agent
// (a connection pool per upstream origin). It is built on the dispatcher's `request()` rather than
// on undici's WHATWG fetch: fetch's request cloning, header sorting and stream plumbing cost more
// than the rest of a proxied call (bench/gateway; DESIGN.md, "Performance"). The SDKs only see a
// standard Response: JSON answers arrive whole (a BufferedResponse, no Web stream unless one is
// asked for), event streams (SSE) as a stream, chunk by chunk.
import { Readable } from "node:stream";
import { Agent, Pool, errors as undiciErrors, type Dispatcher } from "undici";
import { BufferedResponse } from "../web/buffered-response.ts";
import { onShutdown } from "../kernel/lifecycle.ts";

/** The `fetch` signature both SDKs accept through their `fetch` option. */
export type ProviderFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export type HttpClientOptions = {
  /** TCP + TLS connect. A provider that does not accept a connection in this time is down. */
  connectTimeoutMs?: number;
  /**
   * Until the response headers arrive. A non-streamed completion sends its headers only when the
   * whole answer is ready, so this matches the SDKs' own 10-minute request timeout.
   */
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks (a stalled stream). */
  bodyTimeoutMs?: number;
  /** How long an idle connection is kept for reuse. */
  keepAliveTimeoutMs?: number;
};

export const HTTP_DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 600_000,
  bodyTimeoutMs: 300_000,
  keepAliveTimeoutMs: 30_000,
} as const satisfies Required<HttpClientOptions>;

export function createDispatcher(options: HttpClientOptions = {}): Agent {
  const o = { ...HTTP_DEFAULTS, ...options };
  return new Agent({
    connectTimeout: o.connectTimeoutMs,
    headersTimeout: o.headersTimeoutMs,
    bodyTimeout: o.bodyTimeoutMs,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    // Servers may ask for shorter keep-alive; never hold a socket longer than 10 minutes.
    keepAliveMaxTimeout: 600_000,
  });
}

/**
 * A fetch bound to `dispatcher`, with fetch's contract as far as the SDKs rely on it: a standard
 * Response; network failures reject with `TypeError("fetch failed")` and the undici error as its
 * cause; an aborted signal rejects with the signal's reason (an AbortError), also mid-body.
 */
export function createFetch(dispatcher: Dispatcher): ProviderFetch {
  return async (input, init = {}) => {
    const url = new URL(typeof input === "string" ? input : input instanceof URL ? input.href : input.url);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) throw abortReason(signal);
    let upstream: Dispatcher.ResponseData;
    try {
      upstream = await dispatcher.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: (init.method ?? "GET").toUpperCase() as Dispatcher.HttpMethod,
        headers: flatHeaders(init.headers),
        body: requestBody(init.body),
        signal,
      });
    } catch (err) {
      throw signal?.aborted ? abortReason(signal) : fetchFailed(err);
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, v);
      else if (value !== undefined) headers.append(name, value);
    }
    const init2 = { status: upstream.statusCode, headers };
    if (upstream.statusCode === 204 || upstream.statusCode === 304 || init.method === "HEAD") {
      upstream.body.resume();
      return new Response(null, init2);
    }
    // An event stream is handed on as it arrives; anything else is read whole (the SDKs parse it whole).
    if (/^text\/event-stream/i.test(headers.get("content-type") ?? "")) {
      return new Response(Readable.toWeb(upstream.body) as ReadableStream<Uint8Array>, init2);
    }
    try {
      return new BufferedResponse(new Uint8Array(await upstream.body.arrayBuffer()), init2);
    } catch (err) {
      throw signal?.aborted ? abortReason(signal) : fetchFailed(err);
    }
  };
}

function flatHeaders(h: RequestInit["headers"]): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(h)) for (const [k, v] of h) out[k!.toLowerCase()] = v!;
  else for (const [k, v] of Object.entries(h)) if (v !== undefined && v !== null) out[k.toLowerCase()] = String(v);
  return out;
}

function requestBody(body: RequestInit["body"]): Dispatcher.DispatchOptions["body"] {
  if (body === undefined || body === null) return undefined;
  if (typeof body === "string" || body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (body instanceof ReadableStream) return Readable.fromWeb(body as import("node:stream/web").ReadableStream);
  if (body instanceof URLSearchParams) return body.toString();
  throw new TypeError(`The provider HTTP client cannot send a ${Object.prototype.toString.call(body)} body`);
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException("This operation was aborted", "AbortError");
}

function fetchFailed(err: unknown): TypeError {
  if (err instanceof TypeError && err.message === "fetch failed") return err;
  return new TypeError("fetch failed", {
    cause: err instanceof undiciErrors.UndiciError || err instanceof Error ? err : new Error(String(err)),
  });
}

const g = globalThis as unknown as { __modelServiceProviderHttp?: { agent: Agent; fetch: ProviderFetch } };

/** The process-wide provider fetch (one Agent across Next's route bundles and hot reloads). */
export function getProviderFetch(): ProviderFetch {
  if (!g.__modelServiceProviderHttp) {
    const agent = createDispatcher();
    g.__modelServiceProviderHttp = { agent, fetch: createFetch(agent) };
    onShutdown("provider-http", async () => {
      const current = g.__modelServiceProviderHttp;
      g.__modelServiceProviderHttp = undefined;
      await current?.agent.close();
    });
  }
  return g.__modelServiceProviderHttp.fetch;
}

const pools = globalThis as unknown as { __modelServiceProviderPools?: Map<string, Pool> };

/**
 * The keep-alive connection pool of one upstream origin, for the OpenAI-wire passthrough
 * (openai-wire.ts), with the timeouts of the shared Agent; the call's deadline comes with its signal.
 */
export function providerPool(origin: string): Pool {
  let map = pools.__modelServiceProviderPools;
  if (!map) {
    map = pools.__modelServiceProviderPools = new Map();
    onShutdown("provider-pools", async () => {
      const current = pools.__modelServiceProviderPools;
      pools.__modelServiceProviderPools = undefined;
      await Promise.all([...(current?.values() ?? [])].map((p) => p.close()));
    });
  }
  let pool = map.get(origin);
  if (!pool) {
    const o = HTTP_DEFAULTS;
    pool = new Pool(origin, {
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
      keepAliveMaxTimeout: 600_000,
    });
    map.set(origin, pool);
  }
  return pool;
}
