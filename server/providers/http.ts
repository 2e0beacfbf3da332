import "server-only";
// The HTTP client every provider SDK uses: undici's fetch on one shared keep-alive Agent. Node's
// global fetch builds a new dispatcher path per call and costs about half a millisecond more per
// request (DESIGN.md, "Performance"); sharing one Agent also keeps warm connections per origin.
import { Agent, fetch as undiciFetch, type Dispatcher } from "undici";
import { onShutdown } from "../lifecycle.ts";

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

/** A fetch bound to `dispatcher`, typed as the SDKs expect (undici's Response is the Web one). */
export function createFetch(dispatcher: Dispatcher): ProviderFetch {
  return ((input, init) =>
    undiciFetch(input as Parameters<typeof undiciFetch>[0], {
      ...(init as Parameters<typeof undiciFetch>[1]),
      dispatcher,
    })) as ProviderFetch;
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
