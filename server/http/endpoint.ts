import "server-only";
// The one wrapper every REST handler uses: request id, auth (API key, platform JWT or dashboard
// session) and scope, rate limit, zod parsing of body and query, the JSON error shape, and error
// mapping. Handlers are Web-standard `(Request) => Response` functions, so the same code serves
// Next's route files and the lean node:http host.
import type { Logger } from "pino";
import { z } from "zod";
import { DatabaseUnavailable, isDatabaseUnavailable } from "../db/index.ts";
import { loadEnv } from "../env.ts";
import { AppError, fromZodError } from "../errors.ts";
import { getLogger } from "../logger.ts";
import {
  ANONYMOUS,
  authenticate,
  requireAdmin,
  requireAuthenticated,
  requireScope,
  type Identity,
  type Scope,
} from "../services/auth.ts";
import { isMetricsToken } from "../services/metrics-access.ts";
import { checkRateLimit, rateLimitHeaders, type RateLimitState } from "../services/rate-limits.ts";
import { clientAddressFrom } from "./client-address.ts";
import { errorBody, sdkRetryHeaders, type ErrorFormat } from "./error-formats.ts";
import { requestIdFrom } from "./request-id.ts";
import { BufferedResponse } from "../web/buffered-response.ts";
import { BodyTooLarge, readBodyWithin } from "../web/node-request.ts";

export const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type RouteContext = { params?: Promise<Record<string, string | string[] | undefined>> };
export type WebHandler = (req: Request, ctx?: RouteContext) => Promise<Response>;

/**
 * public: anyone (only /health and /ping); user: any authenticated caller; admin: an admin caller;
 * metrics: an admin caller or `Authorization: Bearer <METRICS_TOKEN>` (for Prometheus).
 */
export type Access = "public" | "user" | "admin" | "metrics";

export type HandlerArgs<B, Q> = {
  req: Request;
  body: B;
  query: Q;
  params: Record<string, string>;
  identity: Identity;
  requestId: string;
  log: Logger;
};

type RouteSpec<B extends z.ZodType, Q extends z.ZodType> = {
  access: Access;
  /** The scope an API key needs for this route (sessions, JWTs and admins hold every user scope). */
  scope?: Scope;
  /**
   * Which rate limit counts this route's requests (after auth, before parsing): a name with its own
   * limit (`generate`, `generate-embeddings`, `vector-search`, or any name set in RATE_LIMITS), or
   * by default the shared RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW; false for none. The caller's
   * tier limit counts every limited request too. Public routes are never limited.
   */
  rateLimit?: string | false;
  body?: B;
  query?: Q;
  /** Largest body accepted, in bytes; MAX_BODY_BYTES by default. */
  maxBodyBytes?: number;
  /** For the OpenAPI document only (server/http/openapi.ts); never used to process a request. */
  doc?: RouteDoc;
  handler: (args: HandlerArgs<z.infer<B>, z.infer<Q>>) => Promise<Response | unknown>;
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
};

/** A route's declaration as the OpenAPI generator reads it (the same schemas that validate requests). */
export type RouteMeta = {
  access: Access;
  scope?: Scope;
  rateLimit?: string | false;
  body?: z.ZodType;
  query?: z.ZodType;
  maxBodyBytes?: number;
  doc?: RouteDoc;
};

/** An endpoint's declaration: the methods it serves and how its errors are shaped. */
export type EndpointMeta = { methods: Partial<Record<Exclude<HttpMethod, "HEAD">, RouteMeta>>; errorFormat: ErrorFormat };

// Metadata kept beside the handlers (not on them), so the handlers stay plain functions and records.
// Process-wide: the server code is loaded twice in one process (the lean host's copy and Next's
// route bundles, see server/errors.ts), and either copy's generator must find either copy's routes.
const META_REGISTRY = Symbol.for("model-service.endpoint-meta");
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
export function route<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined>(
  spec: RouteSpec<B, Q>,
): Route {
  const r: Route = async (req, ctx, requestId, log, errorFormat) => {
    const identity = await authorize(spec, req);
    let limited: RateLimitState | undefined;
    if (identity.kind !== "anonymous" && spec.rateLimit !== false) {
      limited = await checkRateLimit(identity, spec.rateLimit ?? "default");
    }
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

/** Who may call: public routes never look at credentials, so a bad key cannot make them fail. */
async function authorize(spec: { access: Access; scope?: Scope }, req: Request): Promise<Identity> {
  if (spec.access === "public") return ANONYMOUS;
  if (spec.access === "metrics" && isMetricsToken(req.headers)) return ANONYMOUS;
  const identity = await authenticate(req.headers, { clientAddress: clientAddressFrom(req.headers) ?? undefined });
  if (spec.access === "admin" || spec.access === "metrics") requireAdmin(identity);
  else requireAuthenticated(identity);
  if (spec.scope) requireScope(identity, spec.scope);
  return identity;
}

async function run<B extends z.ZodType, Q extends z.ZodType>(
  spec: RouteSpec<B, Q>,
  req: Request,
  ctx: RouteContext | undefined,
  requestId: string,
  log: Logger,
  identity: Identity,
): Promise<Response> {
  const query = spec.query ? parseWith(spec.query, queryObject(new URL(req.url)), "query parameters") : undefined;
  const body = spec.body
    ? parseWith(spec.body, await readJson(req, spec.maxBodyBytes ?? loadEnv().MAX_BODY_BYTES), "request body")
    : undefined;
  const rawParams = (await ctx?.params) ?? {};
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(rawParams)) if (typeof v === "string") params[k] = v;

  const out = await spec.handler({
    req,
    body: body as z.infer<B>,
    query: query as z.infer<Q>,
    params,
    identity,
    requestId,
    log,
  });
  return out instanceof Response ? out : json(out);
}

/**
 * An endpoint: the methods one path answers. Every HTTP method gets a handler, so a method the
 * path does not serve answers 405 with an Allow header in our error shape, on either host.
 * `errorFormat` renders its errors as OpenAI or Anthropic do (error-formats.ts); same statuses.
 */
export function endpoint(
  methods: Partial<Record<Exclude<HttpMethod, "HEAD">, Route>>,
  options: { errorFormat?: ErrorFormat } = {},
): Record<HttpMethod, WebHandler> {
  const allowed = Object.keys(methods) as HttpMethod[];
  if (allowed.includes("GET")) allowed.push("HEAD");
  const out = {} as Record<HttpMethod, WebHandler>;
  for (const method of HTTP_METHODS) {
    const r = method === "HEAD" ? methods.GET : methods[method];
    out[method] = async (req, ctx) => {
      const requestId = requestIdFrom(req.headers);
      const log = getLogger().child({ requestId });
      let res: Response;
      try {
        if (!r) {
          throw new AppError("method_not_allowed", `Method ${req.method} is not allowed here; use ${allowed.join(", ")}`, undefined, {
            Allow: allowed.join(", "),
          });
        }
        res = await r(req, ctx, requestId, log, options.errorFormat);
      } catch (err) {
        res = errorResponse(err, requestId, log, options.errorFormat);
      }
      res.headers.set("X-Request-Id", requestId);
      return method === "HEAD" ? new Response(null, { status: res.status, headers: res.headers }) : res;
    };
  }
  const meta: EndpointMeta = { methods: {}, errorFormat: options.errorFormat ?? "default" };
  for (const [method, r] of Object.entries(methods) as [Exclude<HttpMethod, "HEAD">, Route][]) {
    const m = routeMetas.get(r);
    if (m) meta.methods[method] = m;
  }
  endpointMetas.set(out, meta);
  return out;
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
    appError = new AppError("internal_error", `Internal error. Quote request id ${requestId} when reporting it.`, {
      request_id: requestId,
    });
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
function queryObject(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
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
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  let bytes: Buffer | null;
  try {
    bytes = await readBodyWithin(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLarge) throw tooLarge(limit);
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

function tooLarge(limit: number): AppError {
  return new AppError("payload_too_large", `The request body is larger than the limit of ${limit} bytes`, { limit_bytes: limit });
}
