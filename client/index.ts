// The typed tRPC client for other TypeScript apps: `createModelServiceClient(url, { apiKey })`.
// Only the router's *type* comes from the server (`import type`, erased at compile time), so a
// program using this client loads @trpc/client and superjson at run time, and no server code.
//
//   import { createModelServiceClient } from "model-service/client";
//   const ms = createModelServiceClient("http://localhost:8003", { apiKey: process.env.MODEL_SERVICE_API_KEY! });
//   const out = await ms.generation.generate.mutate({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] });
import { createTRPCClient, httpBatchStreamLink, type TRPCClient } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import superjson from "superjson";
import { TRPC_MAX_BATCH_SIZE } from "../lib/trpc-limits.ts";
import type { AppRouter } from "../server/api/trpc-root.ts";

export type { AppRouter };
/** Every procedure's input, e.g. `RouterInputs["vectors"]["search"]`. */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Every procedure's output, e.g. `RouterOutputs["usage"]["stats"]`. */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type ModelServiceClient = TRPCClient<AppRouter>;

export type ModelServiceClientOptions = {
  /** An API key (`ms_…`) or a platform JWT, sent as `Authorization: Bearer <apiKey>`. */
  apiKey: string;
  /** Extra headers on every request (e.g. `x-request-id`). */
  headers?: Record<string, string>;
  /** A fetch implementation; the global fetch by default. */
  fetch?: typeof fetch;
};

/** `http://host:8003` (or `…/api/trpc`) → `http://host:8003/api/trpc`. */
export function trpcEndpoint(url: string): string {
  const base = url.replace(/\/+$/, "");
  return base.endsWith("/api/trpc") ? base : `${base}/api/trpc`;
}

/**
 * A client for the service at `url` (its base address, e.g. http://localhost:8003). It uses the
 * dashboard's link: `httpBatchStreamLink` with superjson, which also carries the procedures that
 * yield (the streamed `generation.stream`). Errors are TRPCClientError; `error.data.appCode` is
 * the service's error code (e.g. `rate_limited`, `budget_exceeded`), `error.data.requestId` the
 * request id in the service's log.
 */
export function createModelServiceClient(url: string, options: ModelServiceClientOptions): ModelServiceClient {
  if (!options.apiKey) throw new Error("createModelServiceClient: apiKey is required (an ms_… key or a platform JWT)");
  const headers = { ...options.headers, authorization: `Bearer ${options.apiKey}` };
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchStreamLink({
        url: trpcEndpoint(url),
        transformer: superjson,
        headers: () => headers,
        // The server refuses larger batches; the link splits them.
        maxItems: TRPC_MAX_BATCH_SIZE,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    ],
  });
}
