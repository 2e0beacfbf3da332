// The OpenAPI document covers every REST route file: each method a route file exports is either in
// the document under that path, or answers 405 (the methods an endpoint does not serve). The
// document is OpenAPI 3.1 in shape, its references resolve, and it is served without a credential.
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it, vi } from "vitest";
import { HTTP_METHODS } from "../http/endpoint.ts";
import { openApiDocument, type OpenApiDocument, type OpenApiOperation } from "./openapi.ts";
import { leanRoutes } from "./routes.ts";
import { openApi } from "./routes.ts";
import { generateBody } from "../features/inference/generate.rest.ts";

const APP = path.resolve("app");
/** Not REST: next-auth's own routes and the tRPC endpoint. */
const NOT_REST = [path.join(APP, "api", "auth"), path.join(APP, "api", "trpc")];

function routeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) {
      // A catch-all ([...path]) is the family's JSON 404 for the paths no endpoint serves, not an endpoint.
      if (!NOT_REST.includes(full) && !name.startsWith("[...")) out.push(...routeFiles(full));
    } else if (name === "route.ts") out.push(full);
  }
  return out;
}

/** app/v1/vector/collections/[name]/route.ts → /v1/vector/collections/{name} */
function urlPathOf(file: string): string {
  const rel = path
    .relative(APP, path.dirname(file))
    .split(path.sep)
    .filter((s) => !/^\(.*\)$/.test(s));
  return "/" + rel.map((s) => s.replace(/^\[(\w+)\]$/, "{$1}")).join("/");
}

const doc = openApiDocument(leanRoutes);
const files = routeFiles(APP);

function operation(p: string, method: string): OpenApiOperation | undefined {
  return (doc.paths[p] as Record<string, OpenApiOperation> | undefined)?.[method.toLowerCase()];
}

describe("the OpenAPI document", () => {
  it("finds the route files under app/v1 and app/api/v1, the same paths as the lean host's", () => {
    const paths = files.map(urlPathOf);
    expect(paths).toContain("/v1/vector/collections/{name}");
    expect(paths).toContain("/api/v1/models");
    expect(paths).toContain("/v1/openapi.json");
    // The same paths as the lean host serves (both hosts answer alike).
    const lean = leanRoutes.filter((r) => !r.pattern.startsWith("/api/trpc")).map((r) => r.pattern.replace(/:(\w+)/g, "{$1}"));
    expect([...paths].sort()).toEqual([...lean].sort());
  });

  it.each(files.map((f) => [path.relative(process.cwd(), f), f]))("documents every method %s serves", async (_name, file) => {
    const p = urlPathOf(file);
    const mod = (await import(file)) as Record<string, unknown>;
    const exported = HTTP_METHODS.filter((m) => typeof mod[m] === "function");
    expect(exported.length).toBeGreaterThan(0);
    const params = Object.fromEntries([...p.matchAll(/\{(\w+)\}/g)].map((m) => [m[1]!, "x"]));
    let documented = 0;
    for (const method of exported) {
      if (method === "OPTIONS") {
        // Answered by the endpoint itself: 204 with Allow naming what is documented (and HEAD with GET).
        const handler = mod[method] as (req: Request, ctx: unknown) => Promise<Response>;
        const res = await handler(new Request(`http://localhost${p}`, { method }), { params: Promise.resolve(params) });
        expect(res.status, `OPTIONS ${p}`).toBe(204);
        const expected = [...new Set([...Object.keys(doc.paths[p] ?? {}).map((m) => m.toUpperCase()), "HEAD", "OPTIONS"])];
        const allow = res.headers.get("allow")?.split(", ") ?? [];
        expect(allow.sort(), `Allow of ${p}`).toEqual(expected.filter((m) => m !== "HEAD" || allow.includes("GET")).sort());
        continue;
      }
      if (operation(p, method)) {
        documented++;
        continue;
      }
      // Not in the document: then the route must refuse it.
      const handler = mod[method] as (req: Request, ctx: unknown) => Promise<Response>;
      const res = await handler(new Request(`http://localhost${p}`, { method }), { params: Promise.resolve(params) });
      expect(res.status, `${method} ${p} is neither documented nor 405`).toBe(405);
    }
    expect(documented, `${p} has no documented method`).toBeGreaterThan(0);
    // And nothing is documented that the file does not export.
    for (const method of Object.keys(doc.paths[p] ?? {})) expect(exported).toContain(method.toUpperCase());
  });

  it("documents each lean-host REST route under the same path", () => {
    for (const r of leanRoutes) {
      if (r.pattern.startsWith("/api/trpc")) continue;
      expect(doc.paths, r.pattern).toHaveProperty([r.pattern.replace(/:(\w+)/g, "{$1}")]);
    }
  });

  it("is OpenAPI 3.1 in shape, with unique operation ids and references that resolve", () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Object.keys(doc.paths).length).toBeGreaterThan(20);
    expect(doc.components.schemas).toHaveProperty("Error");
    expect(Object.keys(doc.components.securitySchemes)).toEqual(expect.arrayContaining(["bearerAuth", "apiKeyHeader"]));

    const ids = new Set<string>();
    for (const [p, item] of Object.entries(doc.paths)) {
      expect(p).toMatch(/^\//);
      for (const [method, op] of Object.entries(item as Record<string, OpenApiOperation>)) {
        expect(["get", "head", "post", "put", "patch", "delete"]).toContain(method);
        expect(ids.has(op.operationId), op.operationId).toBe(false);
        ids.add(op.operationId);
        expect(op.summary).toBeTruthy();
        expect(op.responses).toHaveProperty("200");
        expect(op.responses).toHaveProperty("default");
        // Every {param} of the path is declared as a required path parameter.
        for (const [, name] of p.matchAll(/\{(\w+)\}/g)) {
          expect(op.parameters?.find((x) => x.in === "path" && x.name === name)?.required, `${method} ${p} {${name}}`).toBe(true);
        }
      }
    }

    const refs: string[] = [];
    const walk = (v: unknown) => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (v && typeof v === "object")
        for (const [k, x] of Object.entries(v)) {
          if (k === "$ref" && typeof x === "string") refs.push(x);
          else walk(x);
        }
    };
    walk(doc);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of refs) {
      expect(ref).toMatch(/^#\//);
      const target = ref
        .slice(2)
        .split("/")
        .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
      expect(target, ref).toBeDefined();
    }
  });

  it("takes bodies and query parameters from the zod schemas that validate the requests", () => {
    const generate = operation("/v1/llm/generate", "POST")!;
    const body = generate.requestBody!.content["application/json"]!.schema as {
      required: string[];
      properties: Record<string, { type?: string }>;
    };
    expect([...body.required].sort()).toEqual(["messages", "model"]);
    expect(Object.keys(body.properties).sort()).toEqual(Object.keys(generateBody.shape).sort());
    expect(generate["x-scope"]).toBe("generate");
    expect(generate["x-rate-limit"]).toBe("generate");
    expect(Object.keys(generate.responses)).toEqual(expect.arrayContaining(["400", "401", "402", "429"]));
    expect(generate.responses["200"]).toHaveProperty(["content", "text/event-stream"]);

    // A default makes a field optional for the caller (io: input).
    const create = operation("/v1/vector/collections", "POST")!.requestBody!.content["application/json"]!.schema as { required: string[] };
    expect([...create.required].sort()).toEqual(["collection_name", "vector_size"]);

    const usage = operation("/v1/llm/usage", "GET")!;
    expect(usage.parameters?.map((x) => `${x.in}:${x.name}`)).toEqual(
      expect.arrayContaining(["query:start_date", "query:tz", "query:status"]),
    );
    expect(usage.parameters?.find((x) => x.name === "status")?.schema).toEqual({ type: "string", enum: ["success", "error", "cached"] });

    // Error shapes per endpoint family; public routes need no credential.
    expect(doc.components.schemas.Error).toMatchObject({
      properties: { error: { required: expect.arrayContaining(["code", "message"]) } },
    });
    expect(operation("/v1/chat/completions", "POST")!.responses["401"]).toMatchObject({ $ref: "#/components/responses/OpenAIError" });
    expect(operation("/v1/messages", "POST")!.responses["401"]).toMatchObject({ $ref: "#/components/responses/AnthropicError" });
    expect(operation("/v1/vector/search", "POST")!.responses["401"]).toMatchObject({ $ref: "#/components/responses/Error" });
    expect(operation("/health", "GET")!.security).toEqual([]);
    expect(operation("/v1/openapi.json", "GET")!.security).toEqual([]);
  });
});

describe("GET /v1/openapi.json", () => {
  it("loads first, in a fresh module graph, as Next loads its route file", async () => {
    vi.resetModules();
    const mod = (await import("@/app/v1/openapi.json/route.ts")) as { GET: (req: Request) => Promise<Response> };
    const res = await mod.GET(new Request("http://localhost/v1/openapi.json"));
    expect(res.status).toBe(200);
    expect(((await res.json()) as OpenApiDocument).paths).toHaveProperty(["/v1/openapi.json", "get"]);
  });

  it("answers the document without a credential, even with a bad one", async () => {
    for (const headers of [{}, { authorization: "Bearer ms_wrong" }] as Record<string, string>[]) {
      const res = await openApi.GET(new Request("http://localhost/v1/openapi.json", { headers }));
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      expect((await res.json()) as OpenApiDocument).toEqual(JSON.parse(JSON.stringify(doc)));
    }
  });
});
