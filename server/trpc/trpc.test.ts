import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import pkg from "../../package.json" with { type: "json" };
import { closeDb, getDb } from "../db/index.ts";
import { AppError } from "../errors.ts";
import { hashApiKey } from "../services/auth.ts";
import { createContext, createTRPCRouter, protectedProcedure, publicProcedure } from "./init.ts";
import { appRouter } from "./root.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-trpc-"));
process.env.DATA_DIR = dataDir;
delete process.env.DATABASE_URL;
process.env.LOG_LEVEL = "silent";

const USER_KEY = "ms_test_user_key_0123456789abcdef";
const ADMIN_KEY = "ms_test_admin_key_0123456789abcdef";

beforeAll(async () => {
  const db = await getDb();
  await db.apiKey.create({ data: { name: "user", prefix: USER_KEY.slice(0, 10), keyHash: hashApiKey(USER_KEY) } });
  await db.apiKey.create({ data: { name: "admin", prefix: ADMIN_KEY.slice(0, 10), keyHash: hashApiKey(ADMIN_KEY), isAdmin: true } });
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
  echo: protectedProcedure.input(z.object({ n: z.number().int().max(10) })).query(({ input, ctx }) => ({ n: input.n, kind: ctx.identity.kind })),
});

type TrpcError = { message: string; code: number; data: { code: string; httpStatus: number; appCode: string | null; zodError: { field: string }[] | null; requestId: string | null; stack?: string } };

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
