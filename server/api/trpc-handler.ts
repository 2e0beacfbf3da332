import "server-only";
// The tRPC endpoint as a Web handler, mounted at /api/trpc on both hosts. Before tRPC runs the
// calls it enforces what the REST wrapper enforces for a request as a whole: a batch of at most
// TRPC_MAX_BATCH_SIZE calls, a JSON body no larger than the calls' body limit (read with that
// cap, whatever Content-Length says), the procedure path taken from the URL's path alone (never
// from the Host header), and the request id on every answer (X-Request-Id, and in each error).
import { TRPCError } from "@trpc/server";
import { resolveResponse } from "@trpc/server/http";
import { TRPC_MAX_BATCH_SIZE } from "../../lib/trpc-limits.ts";
import { AppError } from "../kernel/errors.ts";
import { bodyLimit, payloadTooLarge } from "../access/policy.ts";
import { requestIdFrom } from "../web/request-id.ts";
import { BodyTooLarge, readBodyWithin } from "../web/node-request.ts";
import { createContext, createTRPCRouter, toTRPCError, type ProcedureMeta } from "../trpc/init.ts";
import { appRouter } from "./trpc-root.ts";

export const TRPC_ENDPOINT = "/api/trpc";

type Calls = { path: string; names: string[]; error?: AppError };

/** The procedures a request names (`a.b,c.d` with `?batch=1`), or why they cannot be read. */
function callsOf(url: URL): Calls {
  const path = url.pathname.slice(TRPC_ENDPOINT.length).replace(/^\/+|\/+$/g, "");
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { path: "", names: [], error: new AppError("invalid_request", "The procedure path is not valid percent-encoding") };
  }
  const names = url.searchParams.get("batch") === "1" ? decoded.split(",") : [decoded];
  if (names.length > TRPC_MAX_BATCH_SIZE) {
    return {
      path,
      names,
      error: new AppError("payload_too_large", `A batch holds at most ${TRPC_MAX_BATCH_SIZE} calls; this one has ${names.length}`, {
        limit: TRPC_MAX_BATCH_SIZE,
        received: names.length,
      }),
    };
  }
  return { path, names };
}

type Router = typeof appRouter | ReturnType<typeof createTRPCRouter>;

/** The largest body limit among the procedures called (each declares one in its policy; MAX_BODY_BYTES by default). */
function bodyLimitOf(router: Router, names: string[]): number {
  const procedures = router._def.procedures as unknown as Record<string, { _def: { meta?: ProcedureMeta } } | undefined>;
  return Math.max(...names.map((name) => bodyLimit(procedures[name]?._def.meta?.policy)));
}

/** What tRPC reads of the request, with the body read within `limit` bytes. */
function boundedRequest(req: Request, url: URL, limit: number): Request {
  const json = async (): Promise<unknown> => {
    const declared = Number(req.headers.get("content-length") ?? "NaN");
    if (Number.isFinite(declared) && declared > limit) throw toTRPCError(payloadTooLarge(limit));
    let bytes: Buffer | null;
    try {
      bytes = await readBodyWithin(req, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) throw toTRPCError(payloadTooLarge(limit));
      throw err;
    }
    return JSON.parse(bytes ? bytes.toString("utf8") : "");
  };
  const refuse = async (): Promise<never> => {
    throw toTRPCError(new AppError("unsupported_media_type", "Send tRPC calls as JSON (Content-Type: application/json)"));
  };
  return {
    method: req.method,
    url: url.href,
    headers: req.headers,
    signal: req.signal,
    json,
    formData: refuse,
    arrayBuffer: refuse,
    body: null,
  } as unknown as Request;
}

/** The tRPC endpoint of `router` (the root router; tests pass their own). */
export function trpcEndpointFor(router: Router): (req: Request) => Promise<Response> {
  return (req) => handle(router, req);
}

export const trpcHandler = trpcEndpointFor(appRouter);

async function handle(router: Router, req: Request): Promise<Response> {
  const requestId = requestIdFrom(req.headers);
  const given = new URL(req.url);
  const url = new URL(`${given.pathname}${given.search}`, "http://localhost");
  const calls = callsOf(url);
  const type = req.headers.get("content-type") ?? "";
  let error = calls.error;
  if (!error && req.method === "POST" && type && !/^application\/json\b/i.test(type)) {
    error = new AppError("unsupported_media_type", `Send tRPC calls as JSON (Content-Type: application/json), not ${type.split(";")[0]}`);
  }
  const resHeaders = new Headers();
  // One context for all the calls (authenticated once); it never throws, so every error carries this id.
  const context = createContext({ req, resHeaders, requestId });
  const res = await resolveResponse({
    router,
    req: boundedRequest(req, url, bodyLimitOf(router, calls.names)),
    path: calls.path,
    error: error ? (toTRPCError(error) as TRPCError) : null,
    createContext: () => context,
    responseMeta: () => ({ headers: resHeaders }),
  });
  res.headers.set("X-Request-Id", requestId);
  return res;
}
