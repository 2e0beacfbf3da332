import "server-only";
// The OpenAPI 3.1 document of the REST API, built from what each route declares in `route()`
// (access, scope, rate limit, the zod body and query schemas that validate its requests, a summary)
// and the paths the hosts serve (routes/index.ts). Schemas are zod 4's JSON Schema (draft 2020-12,
// the dialect OpenAPI 3.1 uses), as the request side reads them (`io: "input"`: defaults optional).
// Served at GET /v1/openapi.json and rendered by the dashboard's API reference page. The routes are
// passed in (routes/index.ts's leanRoutes) rather than imported: routes/index.ts lists the
// /v1/openapi.json route itself, and a static import both ways would be a cycle.
import { z } from "zod";
import pkg from "../../package.json" with { type: "json" };
import { exampleOf } from "./examples.ts";
import { ERROR_STATUS, type ErrorCode } from "../kernel/errors.ts";
import { endpointMeta, type HttpMethod, type RouteMeta } from "../http/endpoint.ts";
import type { ErrorFormat } from "../http/error-formats.ts";
import type { LeanRoute } from "../web/handler.ts";

type JsonSchema = Record<string, unknown>;

export type OpenApiParameter = {
  name: string;
  in: "path" | "query";
  required: boolean;
  description?: string;
  schema: JsonSchema;
  example?: string;
};
export type OpenApiOperation = {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required: boolean; content: Record<string, { schema: JsonSchema; example?: unknown }> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema: JsonSchema; example?: unknown }> } | { $ref: string; description?: string }
  >;
  "x-access": RouteMeta["access"];
  "x-scope"?: string;
  "x-rate-limit"?: string;
  "x-error-format": ErrorFormat;
  /** Headers the example request sends beside the credential (examples.json). */
  "x-example-headers"?: Record<string, string>;
};
export type OpenApiDocument = {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  tags: { name: string; description: string }[];
  paths: Record<string, Partial<Record<Lowercase<HttpMethod>, OpenApiOperation>>>;
  components: { schemas: Record<string, JsonSchema>; responses: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/** The error shapes, as zod schemas like everything else in the document. */
const errorSchemas: Record<ErrorFormat, { name: string; schema: z.ZodType }> = {
  default: {
    name: "Error",
    schema: z
      .object({
        error: z.object({
          code: z.enum(ERROR_CODES).describe("One code per HTTP status (see ERROR_STATUS in server/kernel/errors.ts)"),
          message: z.string().describe("What went wrong and, for a caller's mistake, what to fix"),
          details: z
            .unknown()
            .optional()
            .describe("e.g. {issues: [{field, message}]} for invalid input, {request_id} for an internal error"),
        }),
      })
      .describe('Every REST error: {"error": {"code", "message", "details"?}}'),
  },
  openai: {
    name: "OpenAIError",
    schema: z
      .object({ error: z.object({ message: z.string(), type: z.string(), param: z.string().nullable(), code: z.string().nullable() }) })
      .describe("OpenAI's error shape (the OpenAI-compatible endpoints); statuses and headers as every other endpoint"),
  },
  anthropic: {
    name: "AnthropicError",
    schema: z
      .object({ type: z.literal("error"), error: z.object({ type: z.string(), message: z.string() }), request_id: z.string() })
      .describe("Anthropic's error shape (POST /v1/messages); statuses and headers as every other endpoint"),
  },
};

const TAGS: { name: string; description: string; match: (path: string) => boolean }[] = [
  {
    name: "Operations",
    description: "Health, liveness, metrics and this document",
    match: (p) => /^\/(health|ping|metrics)$|openapi/.test(p),
  },
  { name: "Auth", description: "The caller's identity", match: (p) => p.startsWith("/v1/auth/") },
  { name: "Models", description: "The model catalogue", match: (p) => p === "/v1/llm/models" || p === "/api/v1/models" },
  {
    name: "Generation",
    description: "Text generation and embeddings (the original service's endpoints)",
    match: (p) => /^\/v1\/llm\/generate/.test(p),
  },
  { name: "Usage", description: "Usage statistics and cost", match: (p) => /^\/v1\/llm\/(usage|embedding-usage|cost)$/.test(p) },
  { name: "Vectors", description: "Vector collections, points and search", match: (p) => p.startsWith("/v1/vector/") },
  {
    name: "OpenAI-compatible",
    description: "For the OpenAI SDK: base URL http://host:8003/v1",
    match: (p) => /^\/v1\/(chat|embeddings|models)/.test(p),
  },
  { name: "Anthropic-compatible", description: "For the Anthropic SDK: base URL http://host:8003", match: (p) => p === "/v1/messages" },
];

const STANDARD_ERRORS: Record<number, string> = {
  400: "Invalid input: the message names the field",
  401: "No credential, or a bad one",
  402: "The key's or user's monthly budget is spent (paid models)",
  403: "The credential lacks the scope or role",
  404: "Not found",
  405: "Method not allowed (see the Allow header)",
  409: "Conflict",
  413: "Body larger than MAX_BODY_BYTES, or too many items",
  415: "The body is not JSON",
  429: "Rate limited (Retry-After, X-RateLimit-*)",
  500: "Internal error: the message quotes a request id that is in the log",
  502: "The provider failed (after retries and fallbacks)",
  503: "A dependency is unavailable",
  504: "The provider did not answer in time",
};

/** JSON Schema of a zod schema, its `$defs` moved into components.schemas under `name`. */
function jsonSchema(schema: z.ZodType, name: string, components: Record<string, JsonSchema>, io: "input" | "output" = "input"): JsonSchema {
  const raw = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any" }) as JsonSchema;
  const { $schema: _dialect, $defs, ...root } = raw as JsonSchema & { $defs?: Record<string, JsonSchema> };
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (v === null || typeof v !== "object") return v;
    const out: JsonSchema = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === "$ref" && typeof x === "string") {
        out[k] = x === "#" ? `#/components/schemas/${name}` : x.replace(/^#\/\$defs\//, `#/components/schemas/${name}_`);
      } else out[k] = rewrite(x);
    }
    return out;
  };
  for (const [def, s] of Object.entries($defs ?? {})) components[`${name}_${def}`] = rewrite(s) as JsonSchema;
  const rewritten = rewrite(root) as JsonSchema;
  // A schema that refers to itself is kept as a component, referenced from where it is used.
  if (JSON.stringify(rewritten).includes(`"#/components/schemas/${name}"`)) {
    components[name] = rewritten;
    return { $ref: `#/components/schemas/${name}` };
  }
  return rewritten;
}

function operationId(method: string, path: string): string {
  const words = path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("");
}

function securityOf(meta: RouteMeta): Record<string, string[]>[] {
  if (meta.access === "public") return [];
  if (meta.access === "metrics") return [{ bearerAuth: [] }, { sessionCookie: [] }];
  return [{ bearerAuth: [] }, { apiKeyHeader: [] }, { sessionCookie: [] }];
}

function accessLine(meta: RouteMeta): string {
  const who = {
    public: "Public: no credential needed.",
    user: "Any authenticated caller (API key, platform JWT or dashboard session).",
    admin: "Admins only.",
    metrics: "An admin key or session, or `Authorization: Bearer $METRICS_TOKEN`.",
  }[meta.access];
  const scope = meta.scope ? ` An API key needs the \`${meta.scope}\` scope.` : "";
  const limit =
    meta.access === "public" || meta.rateLimit === false ? "" : ` Rate limit: \`${meta.rateLimit ?? "default"}\` and the caller's tier.`;
  return who + scope + limit;
}

function buildOperation(
  method: Exclude<HttpMethod, "HEAD">,
  path: string,
  meta: RouteMeta,
  errorFormat: ErrorFormat,
  components: Record<string, JsonSchema>,
): OpenApiOperation {
  const id = operationId(method, path);
  const pathParams = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
  // A real request and its answer (examples.json, recorded from the service and checked by tests/api).
  const example = exampleOf(id);
  const exampleQuery = new URLSearchParams(example?.request?.query ?? "");
  const parameters: OpenApiParameter[] = pathParams.map((name) => {
    const value = example?.request?.params?.[name];
    return { name, in: "path", required: true, schema: { type: "string" }, ...(value && !value.startsWith("$") ? { example: value } : {}) };
  });
  if (meta.query) {
    const q = jsonSchema(meta.query, `${id}Query`, components) as { properties?: Record<string, JsonSchema>; required?: string[] };
    for (const [name, schema] of Object.entries(q.properties ?? {})) {
      const { description, ...rest } = schema as JsonSchema & { description?: string };
      parameters.push({
        name,
        in: "query",
        required: q.required?.includes(name) ?? false,
        ...(description ? { description } : {}),
        schema: rest,
        ...(exampleQuery.has(name) ? { example: exampleQuery.get(name)! } : {}),
      });
    }
  }
  const doc = meta.doc;
  const success: Record<string, { schema: JsonSchema; example?: unknown }> = {};
  success[doc?.contentType ?? "application/json"] = {
    schema: doc?.response ? jsonSchema(doc.response, `${id}Response`, components, "output") : {},
    ...(example?.response !== undefined ? { example: example.response } : {}),
  };
  if (doc?.stream)
    success["text/event-stream"] = { schema: { type: "string", description: "Server-sent events, when the body asks for a stream" } };

  const statuses = new Set<number>([500]);
  if (meta.access !== "public") [401, 403].forEach((s) => statuses.add(s));
  if (meta.body || meta.query || pathParams.length) statuses.add(400);
  if (meta.body) [413, 415].forEach((s) => statuses.add(s));
  if (pathParams.length || meta.body) statuses.add(404);
  if (meta.access !== "public" && meta.rateLimit !== false) statuses.add(429);
  if (meta.scope === "generate" || meta.scope === "embeddings") [402, 502, 503, 504].forEach((s) => statuses.add(s));
  if (meta.scope === "vectors") [409, 503].forEach((s) => statuses.add(s));
  const errorRef = { $ref: `#/components/responses/${errorSchemas[errorFormat].name}` };
  const responses: OpenApiOperation["responses"] = { "200": { description: "Success", content: success } };
  for (const s of [...statuses].sort((a, b) => a - b)) responses[String(s)] = { ...errorRef, description: STANDARD_ERRORS[s]! };
  responses.default = { ...errorRef };

  return {
    operationId: id,
    summary: doc?.summary ?? `${method} ${path}`,
    description: [doc?.description, accessLine(meta)].filter(Boolean).join("\n\n"),
    tags: [TAGS.find((t) => t.match(path))?.name ?? "Other"],
    security: securityOf(meta),
    ...(parameters.length ? { parameters } : {}),
    ...(meta.body
      ? {
          requestBody: {
            required: true,
            content: {
              "application/json": {
                schema: jsonSchema(meta.doc?.body ?? meta.body, `${id}Body`, components),
                ...(example?.request?.body !== undefined ? { example: example.request.body } : {}),
              },
            },
          },
        }
      : {}),
    responses,
    "x-access": meta.access,
    ...(meta.scope ? { "x-scope": meta.scope } : {}),
    ...(meta.access !== "public" && meta.rateLimit !== false ? { "x-rate-limit": meta.rateLimit ?? "default" } : {}),
    "x-error-format": errorFormat,
    ...(example?.request?.headers ? { "x-example-headers": example.request.headers } : {}),
  };
}

/** `/v1/vector/collections/:name` → `/v1/vector/collections/{name}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:(\w+)/g, "{$1}");
}

function build(routes: readonly LeanRoute[]): OpenApiDocument {
  const schemas: Record<string, JsonSchema> = {};
  const responses: Record<string, unknown> = {};
  for (const { name, schema } of Object.values(errorSchemas)) {
    schemas[name] = jsonSchema(schema, name, schemas, "output");
    responses[name] = {
      description: "An error (the status says which)",
      content: { "application/json": { schema: { $ref: `#/components/schemas/${name}` } } },
    };
  }
  const paths: OpenApiDocument["paths"] = {};
  for (const r of routes) {
    const meta = endpointMeta(r.handlers);
    if (!meta) continue;
    const path = openApiPath(r.pattern);
    const item: OpenApiDocument["paths"][string] = {};
    for (const [method, m] of Object.entries(meta.methods) as [Exclude<HttpMethod, "HEAD">, RouteMeta][]) {
      item[method.toLowerCase() as Lowercase<typeof method>] = buildOperation(method, path, m, meta.errorFormat, schemas);
    }
    // Every GET answers HEAD too: the same status and headers, no body.
    if (item.get) {
      const { operationId: getId, summary, ...rest } = item.get;
      item.head = { ...rest, operationId: getId.replace(/^get/, "head"), summary: `Headers of GET ${path}: ${summary}` };
    }
    paths[path] = item;
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Model Service REST API",
      version: pkg.version,
      description:
        "The REST endpoints of Model Service. Errors: " +
        Object.entries(STANDARD_ERRORS)
          .map(([s, d]) => `${s} ${d}`)
          .join("; ") +
        ". Every response carries X-Request-Id; rate-limited routes carry X-RateLimit-Limit, -Remaining and -Reset. " +
        "TypeScript apps can use the typed tRPC client instead (see the README).",
    },
    servers: [{ url: "/", description: "This service" }],
    tags: TAGS.map(({ name, description }) => ({ name, description })),
    paths,
    components: {
      schemas,
      responses,
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "An API key (ms_…), a platform JWT, or the METRICS_TOKEN for /metrics" },
        apiKeyHeader: { type: "apiKey", in: "header", name: "x-api-key", description: "An API key (ms_…)" },
        sessionCookie: { type: "apiKey", in: "cookie", name: "authjs.session-token", description: "The dashboard's session (signed in)" },
      },
    },
  };
}

const cache = new WeakMap<readonly LeanRoute[], OpenApiDocument>();

/** The document of these routes (routes/index.ts's leanRoutes); built once per list. */
export function openApiDocument(routes: readonly LeanRoute[]): OpenApiDocument {
  let doc = cache.get(routes);
  if (!doc) cache.set(routes, (doc = build(routes)));
  return doc;
}
