// /v1/vector/* end to end through the REST wrapper, on the default backend (pgvector in PGlite):
// the original service's shapes, errors with their statuses, ownership, and /health's vectors entry.
// Also the tRPC vectors router over the same service.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { resetEnvForTests } from "../../kernel/env.ts";
import { getLogger } from "../../kernel/logger.ts";
import { CLI_ACTOR, type Identity } from "../../access/auth.ts";
import { createApiKey } from "../accounts/keys.ts";
import { resetRateLimitersForTests } from "../../access/rate-limits.ts";
import { createUser } from "../accounts/users.ts";
import { resetVectorStoreForTests } from "../../vectors/index.ts";
import { createCaller } from "../../api/trpc-root.ts";
import { getDb } from "../../db/index.ts";
import { health } from "../system/health.rest.ts";
import { vectorCollection, vectorCollections, vectorPoints, vectorSearch } from "./vectors.rest.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-vectors-"));
Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent", RATE_LIMIT_REQUESTS: "1000" });
for (const v of ["QDRANT_URL", "QDRANT_HOST", "DATABASE_URL", "REDIS_URL"]) delete process.env[v];
resetEnvForTests();
resetVectorStoreForTests();

type Handlers = Record<string, (req: Request, ctx?: { params?: Promise<Record<string, string>> }) => Promise<Response>>;

async function call(
  handlers: Handlers,
  method: string,
  key: string | undefined,
  body?: unknown,
  params?: Record<string, string>,
  search = "",
) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const url = `http://localhost/v1/vector/${params?.name ? `collections/${params.name}` : "x"}${search}`;
  const res = await handlers[method]!(new Request(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), {
    params: Promise.resolve(params ?? {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

const V = (x: number, y: number, z: number, w: number) => [x, y, z, w];

describe("/v1/vector REST", () => {
  useServiceDatabase("pglite");
  const keys: Record<"alice" | "bob" | "orphan" | "admin" | "generateOnly", string> = {} as never;
  let aliceIdentity: Identity;

  beforeAll(async () => {
    resetRateLimitersForTests();
    const alice = await createUser({ email: "alice@example.com", password: "alice-password-123" });
    await createUser({ email: "bob@example.com", password: "bob-password-1234" });
    const a = await createApiKey(CLI_ACTOR, { name: "alice", userEmail: "alice@example.com", tier: "premium" });
    keys.alice = a.key;
    keys.bob = (await createApiKey(CLI_ACTOR, { name: "bob", userEmail: "bob@example.com", tier: "premium" })).key;
    keys.orphan = (await createApiKey(CLI_ACTOR, { name: "service", tier: "premium" })).key;
    keys.admin = (await createApiKey(CLI_ACTOR, { name: "admin", isAdmin: true, tier: "premium" })).key;
    keys.generateOnly = (
      await createApiKey(CLI_ACTOR, { name: "gen", userEmail: "alice@example.com", scopes: ["generate"], tier: "premium" })
    ).key;
    aliceIdentity = { kind: "apiKey", apiKeyId: a.apiKey.id, userId: alice.id, role: "user", tier: "premium", scopes: ["vectors"] };
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it("creates a collection and answers with the original service's field names", async () => {
    const r = await call(vectorCollections, "POST", keys.alice, { collection_name: "docs", vector_size: 4, distance: "Cosine" });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      collection_name: "docs",
      vector_size: 4,
      distance: "Cosine",
      points_count: 0,
      backend: "pgvector",
      created_at: expect.any(String),
      owner: expect.stringMatching(/^user:/),
    });
  });

  it("answers 409 for a name its owner already has; another owner may use the name, and an admin says whose", async () => {
    const again = await call(vectorCollections, "POST", keys.alice, { collection_name: "docs", vector_size: 4, distance: "Dot" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "conflict", message: "Collection docs already exists" });
    // Names belong to their owner: before, bob got 409 here for alice's name.
    const bobs = await call(vectorCollections, "POST", keys.bob, { collection_name: "docs", vector_size: 3, distance: "Dot" });
    expect(bobs.status).toBe(200);
    expect((await call(vectorCollection, "GET", keys.bob, undefined, { name: "docs" })).body.vector_size).toBe(3);
    expect((await call(vectorCollection, "GET", keys.alice, undefined, { name: "docs" })).body.vector_size).toBe(4);

    const ambiguous = await call(vectorCollection, "GET", keys.admin, undefined, { name: "docs" });
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body.error.message).toMatch(/^Several owners have a collection named docs \(user:.+, user:.+\); name one with owner$/);
    const alices = await call(vectorCollection, "GET", keys.admin, undefined, { name: "docs" }, "?owner=alice%40example.com");
    expect(alices.status).toBe(200);
    expect(alices.body.vector_size).toBe(4);
    const gone = await call(
      vectorCollection,
      "DELETE",
      keys.admin,
      undefined,
      { name: "docs" },
      `?owner=${encodeURIComponent(bobs.body.owner)}`,
    );
    expect(gone.status).toBe(200);
    expect((await call(vectorCollection, "GET", keys.bob, undefined, { name: "docs" })).status).toBe(404);
    expect((await call(vectorCollection, "GET", keys.admin, undefined, { name: "docs" })).body.vector_size).toBe(4);
  });

  it.each([
    [{ collection_name: "docs2", vector_size: 0 }, "vector_size"],
    [{ collection_name: "docs2", vector_size: 4, distance: "Manhattan" }, "distance"],
    [{ collection_name: "bad name!", vector_size: 4 }, "collection_name"],
    [{ collection_name: "docs2", vector_size: 16001 }, "vector_size"],
  ])("answers 400 naming the field for %j", async (body, field) => {
    const r = await call(vectorCollections, "POST", keys.alice, body);
    expect(r.status).toBe(400);
    expect(r.body.error.message).toContain(field);
  });

  it("upserts points with string and integer ids, and finds them with their ids unchanged", async () => {
    const up = await call(vectorPoints, "POST", keys.alice, {
      collection_name: "docs",
      points: [
        { id: "point_1", vector: V(1, 0, 0, 0), payload: { title: "first", lang: "en" } },
        { id: 2, vector: V(0, 1, 0, 0), payload: { title: "second", lang: "de" } },
        { id: "3", vector: V(1, 1, 0, 0) },
      ],
    });
    expect(up).toEqual({ status: 200, body: { collection_name: "docs", status: "ok", upserted: 3 } });
    const s = await call(vectorSearch, "POST", keys.alice, { collection_name: "docs", query_vector: V(1, 0.1, 0, 0), limit: 3 });
    expect(s.status).toBe(200);
    expect(s.body.results.map((p: { id: unknown }) => p.id)).toEqual(["point_1", "3", 2]);
    expect(s.body.results[0]).toEqual({
      id: "point_1",
      score: expect.closeTo(1 / Math.sqrt(1.01), 5),
      payload: { title: "first", lang: "en" },
    });
    expect(s.body.results[1].payload).toEqual({});
  });

  it("searches with score_threshold and a payload filter", async () => {
    const s = await call(vectorSearch, "POST", keys.alice, {
      collection_name: "docs",
      query_vector: V(1, 0.1, 0, 0),
      limit: 10,
      score_threshold: 0.5,
      filter: { must: [{ key: "lang", match: { value: "en" } }] },
    });
    expect(s.body.results.map((p: { id: unknown }) => p.id)).toEqual(["point_1"]);
  });

  it("answers 400 naming the expected and received sizes for a wrong vector", async () => {
    const r = await call(vectorPoints, "POST", keys.alice, { collection_name: "docs", points: [{ id: 9, vector: [1, 2, 3] }] });
    expect(r.status).toBe(400);
    expect(r.body.error.message).toBe("points[0].vector has 3 dimensions, but collection docs expects 4");
    expect(r.body.error.details).toMatchObject({ expected: 4, received: 3 });
    const q = await call(vectorSearch, "POST", keys.alice, { collection_name: "docs", query_vector: [1, 2], limit: 1 });
    expect(q.status).toBe(400);
    expect(q.body.error.details).toMatchObject({ expected: 4, received: 2 });
  });

  it("answers 400 for a bad point id and for a reserved payload key", async () => {
    const neg = await call(vectorPoints, "POST", keys.alice, { collection_name: "docs", points: [{ id: -1, vector: V(1, 1, 1, 1) }] });
    expect(neg.status).toBe(400);
    expect(neg.body.error.message).toContain("points[0].id");
    const reserved = await call(vectorPoints, "POST", keys.alice, {
      collection_name: "docs",
      points: [{ id: 1, vector: V(1, 1, 1, 1), payload: { _ms_point_id: "x" } }],
    });
    expect(reserved.status).toBe(400);
  });

  it("answers 413 for more than 1000 points in one request", async () => {
    const points = Array.from({ length: 1001 }, (_, i) => ({ id: i, vector: V(1, i, 0, 0) }));
    const r = await call(vectorPoints, "POST", keys.alice, { collection_name: "docs", points });
    expect(r.status).toBe(413);
    expect(r.body.error).toMatchObject({ code: "payload_too_large", details: { limit: 1000, received: 1001 } });
  });

  it("answers 404 for an unknown collection", async () => {
    expect((await call(vectorSearch, "POST", keys.alice, { collection_name: "nope", query_vector: V(1, 0, 0, 0) })).status).toBe(404);
    expect((await call(vectorCollection, "GET", keys.alice, undefined, { name: "nope" })).status).toBe(404);
  });

  it("hides a collection from other users (404, and not listed) but not from admins", async () => {
    expect((await call(vectorCollection, "GET", keys.bob, undefined, { name: "docs" })).status).toBe(404);
    expect((await call(vectorSearch, "POST", keys.bob, { collection_name: "docs", query_vector: V(1, 0, 0, 0) })).status).toBe(404);
    expect((await call(vectorPoints, "POST", keys.bob, { collection_name: "docs", points: [] })).status).toBe(404);
    expect((await call(vectorCollection, "DELETE", keys.bob, undefined, { name: "docs" })).status).toBe(404);
    expect((await call(vectorCollections, "GET", keys.bob)).body).toEqual({ collections: [] });

    const asAdmin = await call(vectorCollections, "GET", keys.admin);
    expect(asAdmin.body.collections.map((c: { collection_name: string }) => c.collection_name)).toContain("docs");
    const adminGet = await call(vectorCollection, "GET", keys.admin, undefined, { name: "docs" });
    expect(adminGet.body).toMatchObject({ collection_name: "docs", points_count: 3 });
  });

  it("lets a key without a user own its collections", async () => {
    expect(
      (await call(vectorCollections, "POST", keys.orphan, { collection_name: "svc", vector_size: 4, distance: "Euclid" })).status,
    ).toBe(200);
    expect(
      (await call(vectorCollections, "GET", keys.orphan)).body.collections.map((c: { collection_name: string }) => c.collection_name),
    ).toEqual(["svc"]);
    expect((await call(vectorCollection, "GET", keys.alice, undefined, { name: "svc" })).status).toBe(404);
  });

  it("needs a credential (401) and the vectors scope (403)", async () => {
    expect((await call(vectorCollections, "GET", undefined)).status).toBe(401);
    const r = await call(vectorCollections, "GET", keys.generateOnly);
    expect(r.status).toBe(403);
  });

  it("deletes points by ids and by filter, saying how many went", async () => {
    const byIds = await call(vectorPoints, "DELETE", keys.alice, { collection_name: "docs", ids: ["point_1", 99] });
    expect(byIds).toEqual({ status: 200, body: { collection_name: "docs", status: "ok", deleted: 1 } });
    const byFilter = await call(vectorPoints, "DELETE", keys.alice, {
      collection_name: "docs",
      filter: { must: [{ key: "lang", match: { value: "de" } }] },
    });
    expect(byFilter.body.deleted).toBe(1);
    expect((await call(vectorCollection, "GET", keys.alice, undefined, { name: "docs" })).body.points_count).toBe(1);
    const both = await call(vectorPoints, "DELETE", keys.alice, { collection_name: "docs", ids: [1], filter: {} });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toMatch(/either ids or filter/);
  });

  it("reports the vector store in /health", async () => {
    const res = await health.GET(new Request("http://localhost/health"));
    const body = (await res.json()) as { dependencies: Record<string, any> };
    expect(body.dependencies.vectors).toMatchObject({ status: "ok", backend: "pgvector" });
  });

  it("serves the same collections through tRPC", async () => {
    const caller = createCaller({ identity: aliceIdentity, requestId: "t1", log: getLogger(), db: getDb });
    const created = await caller.vectors.create({ name: "trpc_docs", vectorSize: 2, distance: "Dot" });
    expect(created).toMatchObject({ name: "trpc_docs", vectorSize: 2, distance: "Dot", backend: "pgvector", pointsCount: 0 });
    expect(
      await caller.vectors.upsert({
        name: "trpc_docs",
        points: [
          { id: "a", vector: [1, 2] },
          { id: 7, vector: [3, 4], payload: { k: 1 } },
        ],
      }),
    ).toEqual({ upserted: 2 });
    const hits = await caller.vectors.search({ name: "trpc_docs", vector: [1, 1], limit: 5 });
    expect(hits).toEqual([
      { id: 7, score: 7, payload: { k: 1 } },
      { id: "a", score: 3, payload: {} },
    ]);
    expect(await caller.vectors.count({ name: "trpc_docs" })).toBe(2);
    expect((await caller.vectors.list()).map((c) => c.name)).toEqual(["docs", "trpc_docs"]);
    expect(await caller.vectors.delete({ name: "trpc_docs" })).toEqual({ deleted: true });
    await expect(caller.vectors.get({ name: "trpc_docs" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const anonymous = createCaller({ identity: { kind: "anonymous" }, requestId: "t2", log: getLogger(), db: getDb });
    await expect(anonymous.vectors.list()).rejects.toMatchObject({ code: "UNAUTHORIZED" });
  });

  it("deletes a collection; it is gone afterwards", async () => {
    const r = await call(vectorCollection, "DELETE", keys.alice, undefined, { name: "docs" });
    expect(r).toEqual({ status: 200, body: { collection_name: "docs", deleted: true } });
    expect((await call(vectorCollection, "GET", keys.alice, undefined, { name: "docs" })).status).toBe(404);
    // The name is free again.
    expect((await call(vectorCollections, "POST", keys.bob, { collection_name: "docs", vector_size: 4 })).status).toBe(200);
  });
});
