// One user cannot read another's usage, keys or vector collections, through REST or tRPC, with
// an API key or a dashboard session; an admin sees everyone's. Collections need pgvector, which the
// embedded database has (stock PostgreSQL here does not), so they are checked on PGlite; usage and
// keys on PGlite and, with TEST_DATABASE_URL, on PostgreSQL.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encode } from "@auth/core/jwt";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { leanRoutes } from "@/server/api/routes.ts";
import { resetAuthSecretForTests } from "@/server/access/auth-secret.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { usageWriter } from "@/server/features/usage/usage.ts";
import { type UserRecord } from "@/server/access/user-lookup.ts";
import { createUser } from "@/server/features/accounts/users.ts";
import { createContext } from "@/server/trpc/init.ts";
import { appRouter } from "@/server/api/trpc-root.ts";
import { testDatabases } from "../support/db.ts";
import { useServiceDatabase } from "../support/service-db.ts";
import { recordTestCall } from "../support/usage-events.ts";

const AUTH_SECRET = "isolation-test-session-secret-0123456789";
const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-isolation-"));
beforeAll(() => {
  Object.assign(process.env, { AUTH_SECRET, DATA_DIR: dataDir, LOG_LEVEL: "silent", QDRANT_URL: "" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
  resetAuthSecretForTests();
});
afterAll(async () => {
  await usageWriter().stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function rest(method: string, pathName: string, headers: Record<string, string>, body?: unknown) {
  const url = new URL(`http://gw.local${pathName}`);
  const pattern = leanRoutes.find((r) => {
    const a = r.pattern.split("/");
    const b = url.pathname.split("/");
    return a.length === b.length && a.every((p, i) => p.startsWith(":") || p === b[i]);
  });
  if (!pattern) throw new Error(`no route for ${pathName}`);
  const params: Record<string, string> = {};
  pattern.pattern.split("/").forEach((p, i) => {
    if (p.startsWith(":")) params[p.slice(1)] = url.pathname.split("/")[i]!;
  });
  const handler = pattern.handlers[method as "GET"];
  const res = await handler(
    new Request(url, {
      method,
      headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    }),
    { params: Promise.resolve(params) },
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function trpc(pathName: string, input: unknown, headers: Record<string, string>) {
  const url = new URL(`http://gw.local/api/trpc/${pathName}`);
  if (input !== undefined) url.searchParams.set("input", JSON.stringify({ json: input }));
  const res = await fetchRequestHandler({ endpoint: "/api/trpc", req: new Request(url, { headers }), router: appRouter, createContext });
  const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: { json: { data: { code: string } } } };
  return { status: res.status, data: body.result?.data.json as Record<string, unknown> | undefined, code: body.error?.json.data.code };
}

const session = async (userId: string) => {
  const name = "authjs.session-token";
  return { cookie: `${name}=${await encode({ token: { sub: userId }, secret: AUTH_SECRET, salt: name, maxAge: 600 })}` };
};

function recordUsage(userId: string, apiKeyId: string, usd: string) {
  recordTestCall({ apiKeyId, userId, costUsd: usd, usage: { inputTokens: 100, outputTokens: 50 }, latencyMs: 12 });
}

describe.each(testDatabases())("isolation between users on $kind", ({ kind }) => {
  const { db } = useServiceDatabase(kind);
  let ada: UserRecord;
  let bob: UserRecord;
  let adaKey: { key: string; id: string };
  let bobKey: { key: string; id: string };
  let adminKey: string;

  beforeAll(async () => {
    ada = await createUser({ email: `ada-${kind}@iso.example`, password: "ada-iso-password" });
    bob = await createUser({ email: `bob-${kind}@iso.example`, password: "bob-iso-password" });
    const a = await createApiKey(CLI_ACTOR, { name: "ada", userEmail: ada.email!, tier: "premium" });
    const b = await createApiKey(CLI_ACTOR, { name: "bob", userEmail: bob.email!, tier: "premium" });
    adaKey = { key: a.key, id: a.apiKey.id };
    bobKey = { key: b.key, id: b.apiKey.id };
    adminKey = (await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true, tier: "premium" })).key;
    recordUsage(ada.id, adaKey.id, "0.25");
    recordUsage(ada.id, adaKey.id, "0.5");
    await usageWriter().flush();
  });

  it("usage over REST: each key reads its own user's usage; another user's is refused", async () => {
    const mine = await rest("GET", "/v1/llm/usage", { "x-api-key": adaKey.key });
    expect(mine.status).toBe(200);
    expect(mine.body.total_requests).toBe(2);
    const theirs = await rest("GET", "/v1/llm/usage", { "x-api-key": bobKey.key });
    expect(theirs.status).toBe(200);
    expect(theirs.body.total_requests).toBe(0);
    expect(JSON.stringify(theirs.body)).not.toContain(adaKey.id);
    const asked = await rest("GET", `/v1/llm/usage?user_id=${ada.id}`, { "x-api-key": bobKey.key });
    expect(asked.status).toBe(403);
    const admin = await rest("GET", `/v1/llm/usage?user_id=${ada.id}`, { "x-api-key": adminKey });
    expect(admin.body.total_requests).toBe(2);
  });

  it("usage over tRPC: a session sees its own user's usage only", async () => {
    const bobStats = await trpc("usage.stats", {}, await session(bob.id));
    expect(bobStats.status).toBe(200);
    expect((bobStats.data!.totals as { requests: number }).requests).toBe(0);
    const adaStats = await trpc("usage.stats", {}, await session(ada.id));
    expect((adaStats.data!.totals as { requests: number }).requests).toBe(2);
    const refused = await trpc("usage.stats", { userId: ada.id }, await session(bob.id));
    expect(refused.code).toBe("FORBIDDEN");
    const recent = await trpc("usage.recent", {}, await session(bob.id));
    expect(JSON.stringify(recent.data)).not.toContain(ada.id);
  });

  it("keys over tRPC: a user lists only their own", async () => {
    const listed = await trpc("keys.list", undefined, await session(bob.id));
    const ids = (listed.data as unknown as { id: string }[]).map((k) => k.id);
    expect(ids).toEqual([bobKey.id]);
    const byKey = await trpc("keys.list", undefined, { "x-api-key": adaKey.key });
    expect((byKey.data as unknown as { id: string }[]).map((k) => k.id)).toEqual([adaKey.id]);
  });

  it.runIf(kind === "pglite")("collections over REST and tRPC: another user's collection is invisible", async () => {
    const created = await rest(
      "POST",
      "/v1/vector/collections",
      { "x-api-key": adaKey.key },
      { collection_name: `ada_docs_${kind}`, vector_size: 3, distance: "Cosine" },
    );
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    const bobList = await rest("GET", "/v1/vector/collections", { "x-api-key": bobKey.key });
    expect(bobList.status).toBe(200);
    expect(JSON.stringify(bobList.body)).not.toContain("ada_docs");
    expect((await rest("GET", `/v1/vector/collections/ada_docs_${kind}`, { "x-api-key": bobKey.key })).status).toBe(404);
    expect((await rest("DELETE", `/v1/vector/collections/ada_docs_${kind}`, { "x-api-key": bobKey.key })).status).toBe(404);
    expect((await trpc("vectors.get", { name: `ada_docs_${kind}` }, await session(bob.id))).code).toBe("NOT_FOUND");
    expect(JSON.stringify((await trpc("vectors.list", undefined, await session(bob.id))).data)).not.toContain("ada_docs");
    // The owner and an admin do see it.
    expect((await rest("GET", `/v1/vector/collections/ada_docs_${kind}`, { "x-api-key": adaKey.key })).status).toBe(200);
    expect(JSON.stringify((await rest("GET", "/v1/vector/collections", { "x-api-key": adminKey })).body)).toContain("ada_docs");
    expect(await db().prisma.vectorCollection.count({ where: { name: `ada_docs_${kind}` } })).toBe(1);
  });
});
