import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import pino from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import pkg from "../../package.json" with { type: "json" };
import { TRPC_MAX_BATCH_SIZE } from "../../lib/trpc-limits.ts";
import { closeDb, getDb } from "../db/index.ts";
import { resetEnvForTests } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { hashApiKey } from "../access/auth.ts";
import { resetRateLimitersForTests } from "../access/rate-limits.ts";
import { trpcEndpointFor, trpcHandler } from "./trpc-handler.ts";
import { createContext, createTRPCRouter, protectedProcedure, publicProcedure, type ProcedureMeta } from "../trpc/init.ts";
import { appRouter } from "./trpc-root.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-trpc-"));
process.env.DATA_DIR = dataDir;
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
// Basic-tier keys get 3 calls a minute here (the rate-limit cases); bodies over 64 KiB are refused.
process.env.RATE_LIMITS = JSON.stringify({ "tier:basic": "3/minute" });
process.env.MAX_BODY_BYTES = "65536";
resetEnvForTests();

// The process logger, captured: an unexpected error's log line must carry the request id.
const logLines: Record<string, unknown>[] = [];
(globalThis as unknown as { __modelServiceLogger: pino.Logger }).__modelServiceLogger = pino(
  { level: "info" },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      cb();
    },
  }),
);

const USER_KEY = "ms_test_user_key_0123456789abcdef";
const ADMIN_KEY = "ms_test_admin_key_0123456789abcdef";
const BASIC_KEY = "ms_test_basic_key_0123456789abcdef";
const GENERATE_ONLY_KEY = "ms_test_generate_key_0123456789abcd";

beforeAll(async () => {
  const db = await getDb();
  await db.apiKey.create({ data: { name: "user", prefix: USER_KEY.slice(0, 10), keyHash: hashApiKey(USER_KEY) } });
  await db.apiKey.create({ data: { name: "admin", prefix: ADMIN_KEY.slice(0, 10), keyHash: hashApiKey(ADMIN_KEY), isAdmin: true } });
  await db.apiKey.create({ data: { name: "basic", prefix: BASIC_KEY.slice(0, 10), keyHash: hashApiKey(BASIC_KEY), tier: "basic" } });
  await db.apiKey.create({
    data: { name: "generate only", prefix: GENERATE_ONLY_KEY.slice(0, 10), keyHash: hashApiKey(GENERATE_ONLY_KEY), scopes: ["generate"] },
  });
  await db.apiKey.create({
    data: { name: "revoked", prefix: "ms_revoked", keyHash: hashApiKey("ms_revoked_key_000000000000"), revokedAt: new Date() },
  });
});

afterAll(async () => {
  await closeDb();
  rmSync(dataDir, { recursive: true, force: true });
});

// A router that exercises the error paths with the real procedures and error formatter.
const testRouter = createTRPCRouter({
  app: appRouter,
  boom: publicProcedure.query(() => {
    throw new Error("connect ECONNREFUSED 10.1.2.3 password=hunter2");
  }),
  missing: publicProcedure.query(() => {
    throw new AppError("not_found", "Model gpt-9 is not in the catalogue");
  }),
  echo: protectedProcedure
    .input(z.object({ n: z.number().int().max(10) }))
    .query(({ input, ctx }) => ({ n: input.n, kind: ctx.identity.kind })),
});

type TrpcError = {
  message: string;
  code: number;
  data: {
    code: string;
    httpStatus: number;
    appCode: string | null;
    zodError: { field: string }[] | null;
    requestId: string | null;
    stack?: string;
  };
};

async function call(pathName: string, input?: unknown, headers: Record<string, string> = {}) {
  const url = new URL(`http://localhost/api/trpc/${pathName}`);
  if (input !== undefined) url.searchParams.set("input", JSON.stringify({ json: input }));
  const res = await fetchRequestHandler({ endpoint: "/api/trpc", req: new Request(url, { headers }), router: testRouter, createContext });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: TrpcError } };
  return { status: res.status, data: body.result?.data.json, error: body.error?.json };
}

describe("tRPC", () => {
  it("system.info tells anyone which database and vector backend are in use, and only admins the versions", async () => {
    const r = await call("app.system.info");
    expect(r.status).toBe(200);
    expect(r.data).toEqual({ name: "model-service", database: "pglite", vectorBackend: "pgvector", rateLimitStore: "memory" });
    const asUser = await call("app.system.info", undefined, { authorization: `Bearer ${USER_KEY}` });
    expect(asUser.data).not.toHaveProperty("version");
    expect(asUser.data).not.toHaveProperty("nodeVersion");
    const asAdmin = await call("app.system.info", undefined, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(asAdmin.data).toMatchObject({ name: "model-service", version: pkg.version, nodeVersion: process.version, database: "pglite" });
  });

  it("protected procedures refuse an anonymous caller with UNAUTHORIZED", async () => {
    const r = await call("echo", { n: 1 });
    expect(r.status).toBe(401);
    expect(r.error?.data.code).toBe("UNAUTHORIZED");
  });

  it("protected procedures accept an API key as Bearer or x-api-key", async () => {
    expect((await call("echo", { n: 2 }, { authorization: `Bearer ${USER_KEY}` })).data).toEqual({ n: 2, kind: "apiKey" });
    expect((await call("echo", { n: 3 }, { "x-api-key": USER_KEY })).data).toEqual({ n: 3, kind: "apiKey" });
  });

  it("a revoked or unknown key is UNAUTHORIZED, not anonymous", async () => {
    for (const key of ["ms_revoked_key_000000000000", "ms_nobody_0000000000000000"]) {
      const r = await call("echo", { n: 1 }, { authorization: `Bearer ${key}` });
      expect(r.status).toBe(401);
      expect(r.error?.message).toMatch(/Invalid API key/);
      expect(JSON.stringify(r.error)).not.toContain(key);
    }
  });

  it("admin procedures: FORBIDDEN for a user key, allowed for an admin key", async () => {
    const asUser = await call("app.system.health", undefined, { authorization: `Bearer ${USER_KEY}` });
    expect(asUser.status).toBe(403);
    expect(asUser.error?.data.code).toBe("FORBIDDEN");
    const asAdmin = await call("app.system.health", undefined, { authorization: `Bearer ${ADMIN_KEY}` });
    expect(asAdmin.status).toBe(200);
    expect(asAdmin.data).toMatchObject({ status: "ok", dependencies: { database: { status: "ok", backend: "pglite" } } });
  });

  it("zod input errors are BAD_REQUEST with the field named", async () => {
    const r = await call("echo", { n: 99 }, { authorization: `Bearer ${USER_KEY}` });
    expect(r.status).toBe(400);
    expect(r.error?.data.code).toBe("BAD_REQUEST");
    expect(r.error?.data.zodError?.[0]?.field).toBe("n");
    // In words, not the issues as JSON: the dashboard's forms show the message as it is.
    expect(r.error?.message).toMatch(/^Invalid input: n: /);
    expect(r.error?.message).not.toContain("{");
  });

  it("domain errors keep their code and message", async () => {
    const r = await call("missing");
    expect(r.status).toBe(404);
    expect(r.error?.message).toBe("Model gpt-9 is not in the catalogue");
    expect(r.error?.data.appCode).toBe("not_found");
  });

  it("unexpected errors show no internals, only a request id", async () => {
    const r = await call("boom", undefined, { "x-request-id": "trpc-req-1" });
    expect(r.status).toBe(500);
    const text = JSON.stringify(r.error);
    expect(text).not.toMatch(/ECONNREFUSED|hunter2|10\.1\.2\.3/);
    expect(r.error?.data.stack ?? null).toBeNull();
    expect(r.error?.message).toContain("trpc-req-1");
  });
});

type Item = {
  result?: { data: { json: unknown } };
  error?: { json: TrpcError & { data: TrpcError["data"] & { details: Record<string, unknown> | null } } };
};

/** One request through the endpoint both hosts serve (server/api/trpc-handler.ts), batched when `paths` has a comma. */
async function viaEndpoint(
  paths: string,
  inputs: unknown[] | undefined,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  handler = trpcHandler,
) {
  const batch = paths.includes(",") || inputs !== undefined;
  const url = new URL(`http://localhost/api/trpc/${paths}`);
  if (batch) url.searchParams.set("batch", "1");
  const method = init.method ?? "GET";
  const encoded = inputs === undefined ? undefined : JSON.stringify(Object.fromEntries(inputs.map((v, i) => [i, { json: v }])));
  if (method === "GET" && encoded) url.searchParams.set("input", encoded);
  const res = await handler(
    new Request(url, {
      method,
      headers: { ...(method === "POST" ? { "content-type": "application/json" } : {}), ...init.headers },
      body: init.body ?? (method === "POST" ? encoded : undefined),
    }),
  );
  const text = await res.text();
  const parsed = JSON.parse(text) as Item | Item[];
  return { res, items: Array.isArray(parsed) ? parsed : [parsed] };
}

describe("the tRPC endpoint's access policy (the same as REST's)", () => {
  beforeEach(() => resetRateLimitersForTests());

  it("every procedure declares a policy, and counts against its REST twin's limit (the default for the others)", () => {
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { meta?: ProcedureMeta } }>;
    const twins: Record<string, string> = {
      "generation.generate": "generate",
      "generation.stream": "generate",
      "embeddings.generate": "generate-embeddings",
      "vectors.search": "vector-search",
      "vectors.searchText": "vector-search",
    };
    for (const [name, p] of Object.entries(procedures)) {
      const policy = p._def.meta?.policy;
      expect(policy, `${name} declares no access policy`).toBeDefined();
      if (name === "system.info") {
        expect(policy!.access).toBe("public");
        continue;
      }
      expect(["user", "admin"], name).toContain(policy!.access);
      expect(policy!.rateLimit, name).toBe(twins[name]);
    }
  });

  it("limits every call of a batch like its REST twin: a refused item answers 429 with the limit, the others run", async () => {
    const { res, items } = await viaEndpoint(
      "auth.me,auth.me,auth.me,auth.me,auth.me",
      [undefined, undefined, undefined, undefined, undefined],
      {
        headers: { authorization: `Bearer ${BASIC_KEY}` },
      },
    );
    expect(items.slice(0, 3).map((i) => (i.result?.data.json as { tier?: string } | undefined)?.tier)).toEqual(["basic", "basic", "basic"]);
    for (const item of items.slice(3)) {
      expect(item.error?.json.data).toMatchObject({ code: "TOO_MANY_REQUESTS", httpStatus: 429, appCode: "rate_limited" });
      expect(item.error?.json.data.details).toMatchObject({ limit: 3, limit_name: "tier:basic" });
      expect(Number(item.error?.json.data.details?.retry_after_seconds)).toBeGreaterThan(0);
    }
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(res.headers.get("x-ratelimit-limit")).toBe("3");
    // One call alone answers 429 itself, as REST does.
    const alone = await viaEndpoint("usage.stats", undefined, { headers: { authorization: `Bearer ${BASIC_KEY}` } });
    expect(alone.res.status).toBe(429);
  });

  it(`refuses a batch of more than ${TRPC_MAX_BATCH_SIZE} calls without running any`, async () => {
    const n = TRPC_MAX_BATCH_SIZE + 1;
    const { items } = await viaEndpoint(Array(n).fill("system.info").join(","), Array(n).fill(undefined));
    expect(items).toHaveLength(n);
    for (const item of items) {
      expect(item.result).toBeUndefined();
      expect(item.error?.json.data).toMatchObject({ code: "PAYLOAD_TOO_LARGE", httpStatus: 413 });
      expect(item.error?.json.message).toContain(`at most ${TRPC_MAX_BATCH_SIZE} calls`);
    }
    const { items: full } = await viaEndpoint(
      Array(TRPC_MAX_BATCH_SIZE).fill("system.info").join(","),
      Array(TRPC_MAX_BATCH_SIZE).fill(undefined),
    );
    expect(full.every((i) => i.result)).toBe(true);
  });

  it("reads a body only up to the limit: larger answers 413, whatever Content-Length says", async () => {
    const big = JSON.stringify({ json: { name: "c", points: [{ id: 1, vector: Array(20_000).fill(0.5) }] } });
    expect(big.length).toBeGreaterThan(65_536);
    const { res, items } = await viaEndpoint("vectors.upsert", undefined, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      body: big,
    });
    expect(res.status).toBe(413);
    expect(items[0]!.error?.json.data).toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      appCode: "payload_too_large",
      details: { limit_bytes: 65_536 },
    });
  });

  it("keys and budget alerts are listed only for keys with usage:read", async () => {
    for (const path of ["keys.list", "budgetAlerts.list"]) {
      const refused = await viaEndpoint(path, undefined, { headers: { authorization: `Bearer ${GENERATE_ONLY_KEY}` } });
      expect(refused.res.status, path).toBe(403);
      expect(refused.items[0]!.error?.json.message).toMatch(/lacks the `usage:read` scope/);
      expect((await viaEndpoint(path, undefined, { headers: { authorization: `Bearer ${USER_KEY}` } })).res.status, path).toBe(200);
    }
  });
});

describe("the tRPC endpoint's input guard and error path", () => {
  const router = createTRPCRouter({
    echo: protectedProcedure.input(z.object({ n: z.number() }).passthrough()).query(({ input }) => ({ n: input.n })),
    boom: publicProcedure.query(() => {
      throw new Error("connect ECONNREFUSED 10.1.2.3 password=hunter2");
    }),
  });
  const endpoint = trpcEndpointFor(router);
  const auth = { authorization: `Bearer ${ADMIN_KEY}` };
  let deep: unknown = 1;
  for (let i = 0; i < 1_000; i++) deep = [deep];

  it("refuses an input nested too deep, or with unstorable text, per call: the batch's other calls still run", async () => {
    const { items } = await viaEndpoint(
      "echo,echo,echo",
      [{ n: 1 }, { n: 2, x: deep }, { n: 3, s: "a\u0000b" }],
      { headers: auth },
      endpoint,
    );
    expect(items[0]!.result?.data.json).toEqual({ n: 1 });
    expect(items[1]!.error?.json.data).toMatchObject({ code: "BAD_REQUEST", appCode: "invalid_request" });
    expect(items[1]!.error?.json.message).toMatch(/x\[0\].*nests deeper than 64 levels/);
    expect(items[2]!.error?.json.message).toBe("Invalid input: s: must not contain a NUL character (\\u0000)");
  });

  it("answers an unexpected error with the request id in the body, the X-Request-Id header and the log line", async () => {
    const { res, items } = await viaEndpoint("boom", undefined, { headers: { "x-request-id": "trpc-req-500" } }, endpoint);
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBe("trpc-req-500");
    const error = items[0]!.error!.json;
    expect(error.message).toBe("Internal error. Quote request id trpc-req-500 when reporting it.");
    expect(error.data.requestId).toBe("trpc-req-500");
    expect(JSON.stringify(error)).not.toMatch(/ECONNREFUSED|hunter2/);
    const logged = logLines.find((l) => l.requestId === "trpc-req-500" && l.msg === "unhandled error in tRPC procedure");
    expect(JSON.stringify(logged)).toContain("ECONNREFUSED");
  });

  it("takes the procedure from the URL's path and answers a path that is not %-encoding 400", async () => {
    const res = await endpoint(new Request("http://localhost/api/trpc/%E0%A4%A"));
    expect(res.status).toBe(400);
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });
});
