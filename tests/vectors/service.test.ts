// The vector service (registry + ownership + store) on each backend: what REST and tRPC share.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@/server/kernel/errors.ts";
import type { Identity } from "@/server/access/auth.ts";
import { createVectorService, type VectorService } from "@/server/features/vectors/vectors.ts";
import { PgVectorStore } from "@/server/vectors/pgvector.ts";
import { QdrantVectorStore } from "@/server/vectors/qdrant.ts";
import type { VectorStore } from "@/server/vectors/types.ts";
import { startQdrantEmulator, type QdrantEmulator } from "../emulators/qdrant-emulator.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const caller = (over: Partial<Extract<Identity, { kind: "apiKey" }>>): Identity => ({
  kind: "apiKey",
  apiKeyId: "key-a",
  userId: "user-a",
  role: "user",
  tier: "standard",
  scopes: ["vectors"],
  ...over,
});
const alice = caller({});
const aliceOtherKey = caller({ apiKeyId: "key-a2" });
const bob = caller({ apiKeyId: "key-b", userId: "user-b" });
const service = caller({ apiKeyId: "key-s", userId: null });
const admin = caller({ apiKeyId: "key-admin", userId: null, role: "admin" });

type Backend = {
  label: string;
  open: (db: TestDatabase) => Promise<{ store: VectorStore; close(): Promise<void>; emulator?: QdrantEmulator }>;
};

const backends: Backend[] = [
  { label: "pgvector", open: async (db) => ({ store: new PgVectorStore({ db: async () => db }), close: async () => {} }) },
  {
    label: "qdrant",
    open: async () => {
      const emulator = await startQdrantEmulator();
      return { store: new QdrantVectorStore({ url: emulator.url }), close: () => emulator.close(), emulator };
    },
  },
];

describe.each(backends)("vector service on $label", ({ label, open }) => {
  let db: TestDatabase;
  let opened: Awaited<ReturnType<Backend["open"]>>;
  let vectors: VectorService;

  beforeAll(async () => {
    db = await createTestDatabase("pglite");
    await db.prisma.user.createMany({
      data: [
        { id: "user-a", email: "a@example.com" },
        { id: "user-b", email: "b@example.com" },
      ],
    });
    opened = await open(db);
    vectors = createVectorService({ db: async () => db, store: () => opened.store });
  });
  afterAll(async () => {
    await opened?.close();
    await db?.destroy();
  });

  it("creates, lists with point counts, and deletes", async () => {
    const created = await vectors.createCollection(alice, { name: "notes", vectorSize: 3, distance: "Cosine" });
    expect(created).toMatchObject({ name: "notes", vectorSize: 3, distance: "Cosine", backend: label, pointsCount: 0 });
    await vectors.upsertPoints(alice, "notes", [
      { id: "n1", vector: [1, 0, 0], payload: { t: "a" } },
      { id: 2, vector: [0, 1, 0] },
    ]);
    expect((await vectors.listCollections(alice)).map((c) => [c.name, c.pointsCount])).toEqual([["notes", 2]]);
    expect(await vectors.count(alice, "notes", { must: [{ key: "t", match: { value: "a" } }] })).toBe(1);
    await vectors.deleteCollection(alice, "notes");
    expect(await vectors.listCollections(alice)).toEqual([]);
    expect(await db.prisma.vectorCollection.count()).toBe(0);
  });

  it("a collection belongs to its user (any of their keys), or to a key without a user; admins see all", async () => {
    await vectors.createCollection(alice, { name: "alice_docs", vectorSize: 2, distance: "Dot" });
    await vectors.createCollection(service, { name: "service_docs", vectorSize: 2, distance: "Dot" });
    await vectors.upsertPoints(aliceOtherKey, "alice_docs", [{ id: 1, vector: [1, 1] }]);

    const names = async (who: Identity) => (await vectors.listCollections(who)).map((c) => c.name).sort();
    expect(await names(alice)).toEqual(["alice_docs"]);
    expect(await names(aliceOtherKey)).toEqual(["alice_docs"]);
    expect(await names(bob)).toEqual([]);
    expect(await names(service)).toEqual(["service_docs"]);
    expect(await names(admin)).toEqual(["alice_docs", "service_docs"]);

    for (const [who, name] of [
      [bob, "alice_docs"],
      [service, "alice_docs"],
      [alice, "service_docs"],
    ] as const) {
      await expect(vectors.search(who, name, { vector: [1, 1], limit: 1 })).rejects.toMatchObject({
        code: "not_found",
        message: `Collection ${name} does not exist`,
      });
      await expect(vectors.deleteCollection(who, name)).rejects.toMatchObject({ code: "not_found" });
    }
    expect((await vectors.search(admin, "alice_docs", { vector: [1, 1], limit: 1 }))[0]).toMatchObject({ id: 1, score: 2 });
    await expect(vectors.createCollection(aliceOtherKey, { name: "alice_docs", vectorSize: 2, distance: "Dot" })).rejects.toMatchObject({
      code: "conflict",
      message: "Collection alice_docs already exists",
    });
  });

  it("names belong to their owner: another owner's name is free, and an admin names the owner when several have it", async () => {
    await vectors.createCollection(alice, { name: "shared_name", vectorSize: 2, distance: "Dot" });
    // Before names were per owner, this was a 409 (and a get of it a 404).
    const bobs = await vectors.createCollection(bob, { name: "shared_name", vectorSize: 2, distance: "Dot" });
    expect(bobs).toMatchObject({ name: "shared_name", owner: "user:user-b", pointsCount: 0 });
    await vectors.upsertPoints(alice, "shared_name", [{ id: 1, vector: [1, 0] }]);
    await vectors.upsertPoints(bob, "shared_name", [
      { id: 1, vector: [0, 1] },
      { id: 2, vector: [0, 2] },
    ]);
    expect((await vectors.getCollection(alice, "shared_name")).pointsCount).toBe(1);
    expect((await vectors.getCollection(bob, "shared_name")).pointsCount).toBe(2);
    expect((await vectors.search(bob, "shared_name", { vector: [0, 1], limit: 5 })).map((p) => p.id).sort()).toEqual([1, 2]);

    // The backend's storage is apart: the first keeps the name, the second is name-id.
    const rows = await db.prisma.vectorCollection.findMany({ where: { name: "shared_name" }, orderBy: { createdAt: "asc" } });
    expect(rows.map((r) => [r.ownerScope, r.physicalName])).toEqual([
      ["user:user-a", "shared_name"],
      ["user:user-b", `shared_name-${rows[1]!.id}`],
    ]);

    await expect(vectors.getCollection(admin, "shared_name")).rejects.toMatchObject({
      code: "conflict",
      message: "Several owners have a collection named shared_name (user:user-a, user:user-b); name one with owner",
    });
    expect((await vectors.getCollection(admin, "shared_name", "user:user-b")).pointsCount).toBe(2);
    expect((await vectors.getCollection(admin, "shared_name", "a@example.com")).pointsCount).toBe(1);
    await expect(vectors.getCollection(admin, "shared_name", "user:nobody")).rejects.toMatchObject({ code: "not_found" });
    // Someone else's owner is not theirs to name: as if it did not exist.
    await expect(vectors.getCollection(alice, "shared_name", "user:user-b")).rejects.toMatchObject({ code: "not_found" });
    expect((await vectors.listCollections(admin)).filter((c) => c.name === "shared_name").map((c) => c.owner)).toEqual([
      "user:user-a",
      "user:user-b",
    ]);

    await vectors.deleteCollection(admin, "shared_name", "user:user-a");
    expect((await vectors.getCollection(admin, "shared_name")).owner).toBe("user:user-b"); // the only one left
    await vectors.deleteCollection(bob, "shared_name");
  });

  it("refuses anonymous callers", async () => {
    await expect(vectors.listCollections({ kind: "anonymous" })).rejects.toMatchObject({ code: "unauthorized" });
  });

  it("leaves no registry row behind when the backend refuses the collection", async () => {
    const failing = new Proxy(opened.store, {
      get(target, prop, receiver) {
        if (prop === "createCollection") return async () => Promise.reject(new AppError("unavailable", "the backend said no"));
        const value = Reflect.get(target, prop, receiver) as unknown;
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const refusing = createVectorService({ db: async () => db, store: () => failing });
    await expect(refusing.createCollection(alice, { name: "refused", vectorSize: 2, distance: "Dot" })).rejects.toMatchObject({
      message: "the backend said no",
    });
    expect(await db.prisma.vectorCollection.findFirst({ where: { name: "refused" } })).toBeNull();
  });

  // Only Qdrant names its storage after the collection (pgvector tables are named by registry id).
  if (label === "qdrant") {
    it("answers 409 when Qdrant already has a collection of that name that the registry does not know", async () => {
      await opened.store.createCollection({ id: "leftoverid", name: "leftover", vectorSize: 2, distance: "Dot" });
      await expect(vectors.createCollection(alice, { name: "leftover", vectorSize: 2, distance: "Dot" })).rejects.toMatchObject({
        code: "conflict",
      });
      expect(await db.prisma.vectorCollection.findFirst({ where: { name: "leftover" } })).toBeNull();
    });
  }

  it("does not show collections of the other backend", async () => {
    const other = label === "qdrant" ? "pgvector" : "qdrant";
    await db.prisma.vectorCollection.create({
      data: {
        name: "elsewhere",
        ownerScope: "user:user-a",
        physicalName: "elsewhere",
        vectorSize: 2,
        distance: "Dot",
        backend: other,
        ownerId: "user-a",
      },
    });
    expect((await vectors.listCollections(alice)).map((c) => c.name)).not.toContain("elsewhere");
    await expect(vectors.getCollection(alice, "elsewhere")).rejects.toMatchObject({ code: "not_found" });
  });
});
