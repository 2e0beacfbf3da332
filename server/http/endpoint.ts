import "server-only";
// The one wrapper every REST handler uses: request id, auth (API key, platform JWT or dashboard
// session) and scope, rate limit, zod parsing of body and query, the JSON error shape, and error
// mapping. Handlers are Web-standard `(Request) => Response` functions, so the same code serves
// Next's route files and the lean node:http host.
import type { Logger } from "pino";
import { z } from "zod";
import { DatabaseUnavailable, isDatabaseUnavailable } from "../db/index.ts";
import { AppError, fromZodError, unexpectedError } from "../kernel/errors.ts";
import { getLogger, lazyChild } from "../kernel/logger.ts";
import type { AuthenticatedIdentity, Identity } from "../access/auth.ts";
import { rateLimitHeaders } from "../access/rate-limits.ts";
import { inputProblem } from "../kernel/validation.ts";
import { bodyLimit, countCall, identify, payloadTooLarge, type Access, type AccessPolicy } from "../access/policy.ts";
import { errorBody, errorFormatForPath, sdkRetryHeaders, type ErrorFormat } from "./error-formats.ts";
import { requestIdFrom } from "../web/request-id.ts";
import { BufferedResponse } from "../web/buffered-response.ts";
import { BodyTooLarge, readBodyWithin } from "../web/node-request.ts";

export type { Access, AccessPolicy } from "../access/policy.ts";
import { HTTP_METHODS, type HttpMethod, type RouteContext, type WebHandler } from "../web/handler.ts";
export { HTTP_METHODS, type HttpMethod, type RouteContext, type WebHandler };

/** The methods a route may declare (HEAD follows GET; OPTIONS is answered by the endpoint). */
export type DeclaredMethod = Exclude<HttpMethod, "HEAD" | "OPTIONS">;

/** The caller a handler receives: authenticated for `user` and `admin` routes, anyone's otherwise (public, a metrics token). */
export type IdentityFor<A extends Access> = A extends "user" | "admin" ? AuthenticatedIdentity : Identity;

export type HandlerArgs<B, Q, A extends Access = Access> = {
  req: Request;
  body: B;
  query: Q;
  params: Record<string, string>;
  identity: IdentityFor<A>;
  requestId: string;
  log: Logger;
};

type RouteSpec<B extends z.ZodType, Q extends z.ZodType, A extends Access> = AccessPolicy & {
  access: A;
  body?: B;
  query?: Q;
  /** For the OpenAPI document only (server/api/openapi.ts); never used to process a request. */
  doc?: RouteDoc;
  handler: (args: HandlerArgs<z.infer<B>, z.infer<Q>, A>) => Promise<Response | unknown>;
};

/** What the OpenAPI document says about a route beyond its schemas. */
export type RouteDoc = {
  summary: string;
  description?: string;
  /** The 200 answer's schema, where one exists. */
  response?: z.ZodType;
  /** The 200 answer is (or may be) a text/event-stream; `true` also documents a stream when the body asks for one. */
  stream?: boolean;
  /** The 200 answer's content type when it is not JSON (e.g. Prometheus text). */
  contentType?: string;
  /** The request body the document shows, when the route's `body` checks only part of it (a passthrough reads only some fields). */
  body?: z.ZodType;
};

/** A route's declaration as the OpenAPI generator reads it (the same schemas that validate requests). */
export type RouteMeta = AccessPolicy & {
  body?: z.ZodType;
  query?: z.ZodType;
  doc?: RouteDoc;
};

/** An endpoint's declaration: the methods it serves and how its errors are shaped. */
export type EndpointMeta = { methods: Partial<Record<DeclaredMethod, RouteMeta>>; errorFormat: ErrorFormat };

// Metadata kept beside the handlers (not on them), so the handlers stay plain functions and records.
// Process-wide: the server code is loaded twice in one process (the lean host's copy and Next's
// route bundles, see server/kernel/errors.ts), and either copy's generator must find either copy's routes.
const META_REGISTRY = Symbol.for("model-service.endpoint-meta");
const ALLOW_REGISTRY = Symbol.for("model-service.endpoint-allow");
const registry = ((globalThis as { [META_REGISTRY]?: { routes: WeakMap<Route, RouteMeta>; endpoints: WeakMap<object, EndpointMeta> } })[
  META_REGISTRY
] ??= { routes: new WeakMap(), endpoints: new WeakMap() });
const routeMetas = registry.routes;
const endpointMetas = registry.endpoints;

/** The declaration of an endpoint built with `endpoint()` (its handlers record), for the OpenAPI document. */
export function endpointMeta(handlers: object): EndpointMeta | undefined {
  return endpointMetas.get(handlers);
}

export type Route = (
  req: Request,
  ctx: RouteContext | undefined,
  requestId: string,
  log: Logger,
  errorFormat?: ErrorFormat,
) => Promise<Response>;

/** One method of an endpoint. The handler returns a Response, or a value sent as JSON with 200. */
export function route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, A extends Access = Access>(
  spec: RouteSpec<B, Q, A>,
): Route {
  const r: Route = async (req, ctx, requestId, log, errorFormat) => {
    const identity = await identify(spec, req.headers);
    const limited = await countCall(spec, identity);
    if (!limited) return run(spec, req, ctx, requestId, log, identity);
    // A limited response carries X-RateLimit-* whatever it turns out to be, errors included.
    let res: Response;
    try {
      res = await run(spec, req, ctx, requestId, log, identity);
    } catch (err) {
      res = errorResponse(err, requestId, log, errorFormat);
    }
    for (const [k, v] of Object.entries(rateLimitHeaders(limited))) res.headers.set(k, v);
    return res;
  };
  const { access, scope, rateLimit, body, query, maxBodyBytes, doc } = spec;
  routeMetas.set(r, { access, scope, rateLimit, body, query, maxBodyBytes, doc });
  return r;
}

async function run<B extends z.ZodType, Q extends z.ZodType, A extends Access>(
  spec: RouteSpec<B, Q, A>,
  req: Request,
  ctx: RouteContext | undefined,
  requestId: string,
  log: Logger,
  identity: Identity,
): Promise<Response> {
  const rawParams = (await ctx?.params) ?? {};
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawParams)) if (typeof v === "string") params[k] = v;
  refuseUnsafe(params, "path");
  const query = spec.query ? parseWith(spec.query, refuseUnsafe(queryObject(req.url), "query parameters"), "query parameters") : undefined;
  const body = spec.body
    ? parseWith(spec.body, refuseUnsafe(await readJson(req, bodyLimit(spec)), "request body"), "request body")
    : undefined;

  const out = await spec.handler({
    req,
    body: body as z.infer<B>,
    query: query as z.infer<Q>,
    params,
    // identify() admitted a user or admin route's caller (admit() returns an AuthenticatedIdentity).
    identity: identity as IdentityFor<A>,
    requestId,
    log,
  });
  return out instanceof Response ? out : json(out);
}

/** The input itself, or a 400 naming the field that is nested too deep or holds text PostgreSQL cannot store. */
function refuseUnsafe<T>(value: T, where: string): T {
  const problem = inputProblem(value);
  if (!problem) return value;
  const field = problem.field === "(root)" ? "" : `${problem.field}: `;
  throw new AppError("invalid_request", `Invalid ${where}: ${field}${problem.message}`, {
    issues: [{ field: problem.field, message: problem.message }],
  });
}

/**
 * An endpoint: the methods one path answers. Every HTTP method gets a handler, so a method the
 * path does not serve answers 405 with an Allow header in our error shape, and OPTIONS 204 with
 * Allow, on either host (Next's route files re-export all seven; the lean host answers any other
 * method with `methodNotAllowed`). `errorFormat` renders its errors as OpenAI or Anthropic do
 * (error-formats.ts); same statuses.
 */
export function endpoint(
  methods: Partial<Record<DeclaredMethod, Route>>,
  options: { errorFormat?: ErrorFormat } = {},
): Record<HttpMethod, WebHandler> {
  const format = options.errorFormat;
  const handlers: Partial<Record<DeclaredMethod, WebHandler>> = {};
  for (const [method, r] of Object.entries(methods) as [DeclaredMethod, Route][]) {
    handlers[method] = async (req, ctx) => {
      const requestId = requestIdFrom(req.headers);
      const log = lazyChild({ requestId });
      let res: Response;
      try {
        res = await r(req, ctx, requestId, log, format);
      } catch (err) {
        res = errorResponse(err, requestId, log, format);
      }
      res.headers.set("X-Request-Id", requestId);
      return res;
    };
  }
  const out = webEndpoint(handlers, format);
  const meta: EndpointMeta = { methods: {}, errorFormat: format ?? "default" };
  for (const [method, r] of Object.entries(methods) as [DeclaredMethod, Route][]) {
    const m = routeMetas.get(r);
    if (m) meta.methods[method] = m;
  }
  endpointMetas.set(out, meta);
  return out;
}

// Each endpoint's Allow header, for a method outside the seven (process-wide, as the metadata above).
const allowOf = ((globalThis as { [ALLOW_REGISTRY]?: WeakMap<object, { allow: string; format?: ErrorFormat }> })[ALLOW_REGISTRY] ??=
  new WeakMap());

/**
 * The seven method handlers of a path from the ones it serves: HEAD runs GET without the body,
 * OPTIONS answers 204 with Allow, and any other method 405 with Allow, without running a handler.
 */
export function webEndpoint(handlers: Partial<Record<DeclaredMethod, WebHandler>>, format?: ErrorFormat): Record<HttpMethod, WebHandler> {
  const allowed: string[] = Object.keys(handlers);
  if (handlers.GET) allowed.push("HEAD");
  allowed.push("OPTIONS");
  const allow = allowed.join(", ");
  const refuse: WebHandler = async (req) => methodNotAllowedResponse(req, allow, format);
  const get = handlers.GET;
  const out: Record<HttpMethod, WebHandler> = {
    GET: get ?? refuse,
    HEAD: get
      ? async (req, ctx) => {
          const res = await get(req, ctx);
          return new Response(null, { status: res.status, headers: res.headers });
        }
      : refuse,
    POST: handlers.POST ?? refuse,
    PUT: handlers.PUT ?? refuse,
    PATCH: handlers.PATCH ?? refuse,
    DELETE: handlers.DELETE ?? refuse,
    OPTIONS: async (req) => new Response(null, { status: 204, headers: { Allow: allow, "X-Request-Id": requestIdFrom(req.headers) } }),
  };
  allowOf.set(out, { allow, format });
  return out;
}

/**
 * Every method of a path no endpoint serves, under /v1 and /api: 404 as JSON in the error shape of
 * the path's family (error-formats.ts errorFormatForPath), never the dashboard's HTML page or a
 * redirect to /login (which the SDKs cannot parse).
 */
export function noEndpointResponse(req: Request): Response {
  const requestId = requestIdFrom(req.headers);
  const { pathname } = new URL(req.url, "http://localhost");
  const error = new AppError("not_found", `No endpoint at ${pathname}; see /v1/openapi.json for the API's paths`);
  const res = errorResponse(error, requestId, getLogger().child({ requestId }), errorFormatForPath(pathname));
  res.headers.set("X-Request-Id", requestId);
  return res;
}

const noEndpointHandler: WebHandler = async (req) => noEndpointResponse(req);
export const noEndpoint: Record<HttpMethod, WebHandler> = {
  GET: noEndpointHandler,
  HEAD: noEndpointHandler,
  POST: noEndpointHandler,
  PUT: noEndpointHandler,
  PATCH: noEndpointHandler,
  DELETE: noEndpointHandler,
  OPTIONS: noEndpointHandler,
};

/** 405 for a method outside the seven (TRACE, PROPFIND...) on a path built with `endpoint()` or `webEndpoint()`. */
export function methodNotAllowed(handlers: Record<HttpMethod, WebHandler>, req: Request): Response {
  const known = allowOf.get(handlers);
  return methodNotAllowedResponse(req, known?.allow ?? "OPTIONS", known?.format);
}

function methodNotAllowedResponse(req: Request, allow: string, format?: ErrorFormat): Response {
  const requestId = requestIdFrom(req.headers);
  const error = new AppError("method_not_allowed", `Method ${req.method} is not allowed here; use ${allow}`, undefined, { Allow: allow });
  const res = errorResponse(error, requestId, getLogger().child({ requestId }), format);
  res.headers.set("X-Request-Id", requestId);
  return res;
}

/** A JSON answer; its body stays a string until someone reads it (server/web/buffered-response.ts). */
export function json(data: unknown, init?: ResponseInit): Response {
  const headers = new Headers(init?.headers);
  headers.set("Content-Type", "application/json; charset=utf-8");
  return new BufferedResponse(JSON.stringify(data), { ...init, headers });
}

/** Maps any thrown value to the JSON error shape; internals of an unexpected error stay in the log. */
export function errorResponse(err: unknown, requestId: string, log: Logger, format: ErrorFormat = "default"): Response {
  let appError: AppError;
  if (err instanceof AppError) {
    appError = err;
    if (appError.status >= 500) log.warn({ code: appError.code, err: appError }, "request failed");
  } else if (err instanceof z.ZodError) {
    appError = fromZodError(err, "input");
  } else if (isDatabaseUnavailable(err)) {
    // Down, hung past its deadline, or its circuit open: a 503 the caller may retry, not a 500.
    log.warn({ err }, "request failed: the database is not answering");
    appError = new DatabaseUnavailable();
  } else {
    log.error({ err }, "unhandled error");
    appError = unexpectedError(requestId);
  }
  return json(errorBody(format, appError, requestId), {
    status: appError.status,
    headers: { ...appError.headers, ...sdkRetryHeaders(format, appError) },
  });
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw fromZodError(result.error, where);
  return result.data;
}

/** Query string as an object; a key given more than once becomes an array. */
function queryObject(url: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const at = url.indexOf("?");
  if (at < 0) return out;
  // URLSearchParams decodes a malformed %-escape as itself rather than throwing.
  for (const [k, v] of new URLSearchParams(url.slice(at + 1).split("#")[0])) {
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** Reads a JSON body with a size cap that holds even when Content-Length is absent or lies. */
async function readJson(req: Request, limit: number): Promise<unknown> {
  const type = req.headers.get("content-type");
  if (type && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    throw new AppError("unsupported_media_type", `Send the body as JSON (Content-Type: application/json), not ${type.split(";")[0]}`);
  }
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  let bytes: Buffer | null;
  try {
    bytes = await readBodyWithin(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw payloadTooLarge(limit);
    throw err;
  }
  const text = bytes ? bytes.toString("utf8") : "";
  if (!text.trim()) throw new AppError("invalid_request", "A JSON request body is required");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AppError("invalid_request", `The request body is not valid JSON: ${(e as Error).message}`);
  }
}
