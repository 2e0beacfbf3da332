// The keys service and the keys.* tRPC router: create (secret once, hash stored), list by owner,
// revoke, rotate, and who may do what. One user never sees or touches another's keys.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encode } from "@auth/core/jwt";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { createContext } from "../../trpc/init.ts";
import { appRouter } from "../../api/trpc-root.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { resetAuthSecretForTests } from "../../access/auth-secret.ts";
import { authenticate, CLI_ACTOR, hashApiKey, type AuthenticatedIdentity } from "../../access/auth.ts";
import { getDatabase } from "../../db/index.ts";
import { QdrantVectorStore } from "../../vectors/qdrant.ts";
import { startQdrantEmulator } from "../../../tests/emulators/qdrant-emulator.ts";
import { budgetStates, clearSpendCacheForTests, reserveBudgets } from "../budgets/budgets.ts";
import { createApiKey, listApiKeys, revokeApiKey, rotateApiKey } from "./keys.ts";
import { parseUsd } from "../catalogue/pricing.ts";
import { usageWriter } from "../usage/usage.ts";
import { usageStats } from "../usage/usage-stats.ts";
import { createVectorService } from "../vectors/vectors.ts";
import { type UserRecord } from "../../access/user-lookup.ts";
import { createUser } from "./users.ts";
import { recordTestCall } from "../../../tests/support/usage-events.ts";

const AUTH_SECRET = "keys-test-session-secret-0123456789abcdef";
const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-keys-"));
beforeAll(() => {
  Object.assign(process.env, { AUTH_SECRET, DATA_DIR: dataDir, LOG_LEVEL: "silent" });
  delete process.env.REDIS_URL;
  resetEnvForTests();
  resetAuthSecretForTests();
});
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const asKey = async (key: string) => (await authenticate(new Headers({ "x-api-key": key }))) as AuthenticatedIdentity;

async function sessionCookie(userId: string): Promise<string> {
  const name = "authjs.session-token";
  return `${name}=${await encode({ token: { sub: userId }, secret: AUTH_SECRET, salt: name, maxAge: 600 })}`;
}

/** A tRPC call over HTTP through the real handler, context and error formatter. */
async function trpc(pathName: string, input: unknown, headers: Record<string, string>, method: "GET" | "POST" = "GET") {
  const url = new URL(`http://localhost/api/trpc/${pathName}`);
  let init: RequestInit = { headers };
  if (method === "GET") {
    if (input !== undefined) url.searchParams.set("input", JSON.stringify({ json: input }));
  } else {
    init = { method, headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify({ json: input }) };
  }
  const res = await fetchRequestHandler({ endpoint: "/api/trpc", req: new Request(url, init), router: appRouter, createContext });
  const body = (await res.json()) as {
    result?: { data: { json: unknown } };
    error?: { json: { message: string; data: { code: string } } };
  };
  return { status: res.status, data: body.result?.data.json, error: body.error?.json };
}

describe.each(testDatabases())("API keys on $kind", ({ kind }) => {
  const { db } = useServiceDatabase(kind);
  let ada: UserRecord;
  let bob: UserRecord;
  let root: UserRecord;

  beforeAll(async () => {
    ada = await createUser({ email: "ada@example.com", password: "ada-password-1" });
    bob = await createUser({ email: "bob@example.com", password: "bob-password-1" });
    root = await createUser({ email: "root@example.com", password: "root-password-1", role: "admin" });
  });

  it("stores only a hash and a prefix: the secret is returned once", async () => {
    const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "stored", userEmail: "ada@example.com", monthlyBudgetUsd: "12.5" });
    const row = await db().prisma.apiKey.findUniqueOrThrow({ where: { id: apiKey.id } });
    expect(row.keyHash).toBe(hashApiKey(key));
    expect(row.prefix).toBe(key.slice(0, 11));
    expect(JSON.stringify(row)).not.toContain(key.slice(11));
    expect(apiKey).toMatchObject({ userEmail: "ada@example.com", monthlyBudgetUsd: "12.5", tier: "standard" });
    expect(JSON.stringify(await listApiKeys(CLI_ACTOR))).not.toContain(key);
  });

  it("each user lists only their own keys; an admin lists all", async () => {
    const a = await createApiKey(CLI_ACTOR, { name: "ada-1", userEmail: "ada@example.com" });
    const b = await createApiKey(CLI_ACTOR, { name: "bob-1", userEmail: "bob@example.com" });
    const adaSees = (await listApiKeys(await asKey(a.key))).map((k) => k.id);
    expect(adaSees).toContain(a.apiKey.id);
    expect(adaSees).not.toContain(b.apiKey.id);
    expect(new Set((await listApiKeys(await asKey(a.key))).map((k) => k.userId))).toEqual(new Set([ada.id]));
    const admin = await createApiKey(CLI_ACTOR, { name: "ops", isAdmin: true });
    const all = (await listApiKeys(await asKey(admin.key))).map((k) => k.id);
    expect(all).toEqual(expect.arrayContaining([a.apiKey.id, b.apiKey.id]));
  });

  it("a user key cannot mint, revoke or rotate keys; a user cannot touch another's key", async () => {
    const a = await createApiKey(CLI_ACTOR, { name: "ada-2", userEmail: "ada@example.com", scopes: ["generate"] });
    const b = await createApiKey(CLI_ACTOR, { name: "bob-2", userEmail: "bob@example.com" });
    const adaKey = await asKey(a.key);
    await expect(createApiKey(adaKey, { name: "broader" })).rejects.toMatchObject({ code: "forbidden" });
    await expect(revokeApiKey(adaKey, a.apiKey.id)).rejects.toMatchObject({ code: "forbidden" });
    const adaSession = (await authenticate(new Headers({ cookie: await sessionCookie(ada.id) }))) as AuthenticatedIdentity;
    expect(adaSession.kind).toBe("session");
    // Another user's key is "not found": its existence does not leak.
    await expect(revokeApiKey(adaSession, b.apiKey.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(rotateApiKey(adaSession, b.apiKey.id)).rejects.toMatchObject({ code: "not_found" });
    expect((await asKey(b.key)).kind).toBe("apiKey");
  });

  it("a non-admin cannot create an admin key, a key above their tier or a key for someone else", async () => {
    const adaSession = (await authenticate(new Headers({ cookie: await sessionCookie(ada.id) }))) as AuthenticatedIdentity;
    await expect(createApiKey(adaSession, { name: "x", isAdmin: true })).rejects.toMatchObject({ code: "forbidden" });
    await expect(createApiKey(adaSession, { name: "x", scopes: ["admin"] })).rejects.toMatchObject({ code: "forbidden" });
    await expect(createApiKey(adaSession, { name: "x", tier: "premium" })).rejects.toMatchObject({ code: "forbidden" });
    await expect(createApiKey(adaSession, { name: "x", userEmail: "bob@example.com" })).rejects.toMatchObject({ code: "forbidden" });
    const own = await createApiKey(adaSession, { name: "mine", tier: "basic", scopes: ["usage:read"] });
    expect(own.apiKey).toMatchObject({ userId: ada.id, tier: "basic", scopes: ["usage:read"], isAdmin: false });
  });

  it("refuses bad input with the field named", async () => {
    await expect(createApiKey(CLI_ACTOR, { name: "" })).rejects.toMatchObject({
      code: "invalid_request",
      message: expect.stringMatching(/name/),
    });
    await expect(createApiKey(CLI_ACTOR, { name: "x", tier: "gold" as never })).rejects.toMatchObject({
      message: expect.stringMatching(/tier/),
    });
    await expect(createApiKey(CLI_ACTOR, { name: "x", scopes: ["everything" as never] })).rejects.toMatchObject({
      message: expect.stringMatching(/scopes/),
    });
    await expect(createApiKey(CLI_ACTOR, { name: "x", monthlyBudgetUsd: "-3" })).rejects.toMatchObject({
      message: expect.stringMatching(/monthlyBudgetUsd/),
    });
    await expect(createApiKey(CLI_ACTOR, { name: "x", userEmail: "nobody@example.com" })).rejects.toMatchObject({ code: "not_found" });
  });

  it("rotation keeps the key and its settings, gives a new secret and stops the old one at once", async () => {
    const adaSession = (await authenticate(new Headers({ cookie: await sessionCookie(ada.id) }))) as AuthenticatedIdentity;
    const old = await createApiKey(adaSession, {
      name: "rotating",
      tier: "basic",
      scopes: ["generate", "embeddings"],
      monthlyBudgetUsd: 3,
    });
    expect((await asKey(old.key)).kind).toBe("apiKey");
    const rotated = await rotateApiKey(adaSession, old.apiKey.id);
    expect(rotated.key).not.toBe(old.key);
    expect(rotated.apiKey).toMatchObject({
      id: old.apiKey.id,
      name: "rotating",
      tier: "basic",
      scopes: ["generate", "embeddings"],
      monthlyBudgetUsd: "3",
      userId: ada.id,
      revokedAt: null,
    });
    expect(rotated.apiKey.prefix).toBe(rotated.key.slice(0, 11));
    expect(rotated.previousPrefix).toBe(old.key.slice(0, 11));
    await expect(authenticate(new Headers({ "x-api-key": old.key }))).rejects.toMatchObject({ status: 401 });
    expect(await asKey(rotated.key)).toMatchObject({ apiKeyId: old.apiKey.id, tier: "basic" });
    // The new secret can be rotated in turn; a revoked key cannot.
    const again = await rotateApiKey(adaSession, old.apiKey.id);
    await expect(authenticate(new Headers({ "x-api-key": rotated.key }))).rejects.toMatchObject({ status: 401 });
    expect(await asKey(again.key)).toMatchObject({ apiKeyId: old.apiKey.id });
    await revokeApiKey(adaSession, old.apiKey.id);
    await expect(rotateApiKey(adaSession, old.apiKey.id)).rejects.toMatchObject({ code: "conflict" });
  });

  it("a key without a user keeps its collections, usage and budget after rotation", async () => {
    const qdrant = await startQdrantEmulator({ apiKey: "rotation-qdrant-key" });
    try {
      const store = new QdrantVectorStore({ url: qdrant.url, apiKey: "rotation-qdrant-key" });
      const vectors = createVectorService({ db: getDatabase, store: () => store });
      const { key, apiKey } = await createApiKey(CLI_ACTOR, { name: "service", monthlyBudgetUsd: "1" });
      expect(apiKey.userId).toBeNull();
      const before = await asKey(key);
      await vectors.createCollection(before, { name: `rotation-${kind}`, vectorSize: 2, distance: "Cosine" });
      await vectors.upsertPoints(before, `rotation-${kind}`, [{ id: "p1", vector: [1, 0] }]);
      // $1.50 spent this month against a $1 budget: paid calls are refused.
      recordTestCall({ apiKeyId: apiKey.id, costUsd: "1.5", usage: { inputTokens: 100, outputTokens: 50 }, latencyMs: 12 });
      await usageWriter().flush();
      clearSpendCacheForTests();
      await expect(reserveBudgets(before, () => 1n, { leaseMs: 60_000 })).rejects.toMatchObject({ code: "budget_exceeded" });

      const rotated = await rotateApiKey(CLI_ACTOR, apiKey.id);
      const after = await asKey(rotated.key);
      clearSpendCacheForTests();
      // The budget still counts this month's spend: rotating does not reset it.
      await expect(reserveBudgets(after, () => 1n, { leaseMs: 60_000 })).rejects.toMatchObject({ code: "budget_exceeded" });
      expect(await budgetStates(after)).toEqual([{ scope: "api_key", period: "month", budgetUsd: "1", spentUsd: "1.5", exceeded: true }]);
      // Its collection, with its point, is still its own.
      expect((await vectors.listCollections(after)).map((c) => c.name)).toEqual([`rotation-${kind}`]);
      expect(await vectors.search(after, `rotation-${kind}`, { vector: [1, 0], limit: 1 })).toMatchObject([{ id: "p1" }]);
      // Its usage history is still its own.
      const stats = await usageStats(after, {});
      expect(stats.totals.requests).toBe(1);
      expect(stats.totals.cost).toBe(parseUsd("1.5"));
      // Another user-less key sees none of it.
      const stranger = await asKey((await createApiKey(CLI_ACTOR, { name: "stranger" })).key);
      expect(await vectors.listCollections(stranger)).toEqual([]);
      expect((await usageStats(stranger, {})).totals.requests).toBe(0);
    } finally {
      await qdrant.close();
    }
  });

  describe("through tRPC", () => {
    it("keys.list answers each caller with their own keys only (session cookie and API key alike)", async () => {
      const a = await createApiKey(CLI_ACTOR, { name: "ada-trpc", userEmail: "ada@example.com" });
      const b = await createApiKey(CLI_ACTOR, { name: "bob-trpc", userEmail: "bob@example.com" });
      const bySession = await trpc("keys.list", undefined, { cookie: await sessionCookie(bob.id) });
      expect(bySession.status).toBe(200);
      const ids = (bySession.data as { id: string; userId: string }[]).map((k) => k.id);
      expect(ids).toContain(b.apiKey.id);
      expect(ids).not.toContain(a.apiKey.id);
      expect(new Set((bySession.data as { userId: string }[]).map((k) => k.userId))).toEqual(new Set([bob.id]));
      const byKey = await trpc("keys.list", undefined, { authorization: `Bearer ${a.key}` });
      expect((byKey.data as { userId: string }[]).every((k) => k.userId === ada.id)).toBe(true);
      const byAdmin = await trpc("keys.list", undefined, { cookie: await sessionCookie(root.id) });
      expect((byAdmin.data as { id: string }[]).map((k) => k.id)).toEqual(expect.arrayContaining([a.apiKey.id, b.apiKey.id]));
    });

    it("keys.revoke of another user's key is NOT_FOUND, and anonymous calls are UNAUTHORIZED", async () => {
      const a = await createApiKey(CLI_ACTOR, { name: "ada-trpc-2", userEmail: "ada@example.com" });
      const r = await trpc("keys.revoke", { id: a.apiKey.id }, { cookie: await sessionCookie(bob.id) }, "POST");
      expect(r.status).toBe(404);
      expect(r.error?.data.code).toBe("NOT_FOUND");
      expect((await asKey(a.key)).kind).toBe("apiKey");
      expect((await trpc("keys.list", undefined, {})).status).toBe(401);
      expect((await trpc("keys.create", { name: "x" }, {}, "POST")).status).toBe(401);
    });

    it("keys.create returns the secret once and it works at once", async () => {
      const r = await trpc(
        "keys.create",
        { name: "from-dashboard", scopes: ["generate"] },
        { cookie: await sessionCookie(bob.id) },
        "POST",
      );
      expect(r.status).toBe(200);
      const { key, apiKey } = r.data as { key: string; apiKey: { id: string; userId: string } };
      expect(apiKey.userId).toBe(bob.id);
      expect(await asKey(key)).toMatchObject({ apiKeyId: apiKey.id, userId: bob.id, scopes: ["generate"] });
      const listed = await trpc("keys.list", undefined, { cookie: await sessionCookie(bob.id) });
      expect(JSON.stringify(listed.data)).not.toContain(key);
    });

    it("auth.me tells who the caller is", async () => {
      const r = await trpc("auth.me", undefined, { cookie: await sessionCookie(root.id) });
      expect(r.data).toMatchObject({ kind: "session", userId: root.id, email: "root@example.com", role: "admin" });
    });
  });
});
