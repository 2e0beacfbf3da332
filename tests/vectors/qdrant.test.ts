// Qdrant through the official client against the wire-level emulator (with an API key): the
// shared contract, then what is Qdrant's own — how ids travel, what goes over the wire, and how
// failures read.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@/server/kernel/errors.ts";
import { qdrantPointId, QdrantVectorStore } from "@/server/vectors/qdrant.ts";
import type { CollectionRef } from "@/server/vectors/types.ts";
import { startQdrantEmulator, type QdrantEmulator } from "../emulators/qdrant-emulator.ts";
import { vectorStoreContract } from "./contract.ts";

vectorStoreContract("Qdrant (emulator)", async () => {
  const emulator = await startQdrantEmulator({ apiKey: "qdrant-test-key" });
  return { store: new QdrantVectorStore({ url: emulator.url, apiKey: "qdrant-test-key" }), close: () => emulator.close() };
});

describe("Qdrant store specifics", () => {
  let emulator: QdrantEmulator;
  let store: QdrantVectorStore;
  const c: CollectionRef = { id: "q1", name: "specifics", vectorSize: 2, distance: "Dot" };

  beforeAll(async () => {
    emulator = await startQdrantEmulator({ apiKey: "k-123456789" });
    store = new QdrantVectorStore({ url: emulator.url, apiKey: "k-123456789" });
    await store.createCollection(c);
  });
  afterAll(() => emulator.close());

  it("maps string ids to fixed name-based UUIDs and keeps integers", () => {
    const id = qdrantPointId("point_1");
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(qdrantPointId("point_1")).toBe(id);
    expect(qdrantPointId("point_2")).not.toBe(id);
    expect(qdrantPointId("7")).not.toBe(7);
    expect(qdrantPointId(7)).toBe(7);
  });

  it("stores the original string id in the payload and strips it from results", async () => {
    await store.upsert(c, [
      { id: "point_1", vector: [1, 0], payload: { a: 1 } },
      { id: 5, vector: [0, 1] },
    ]);
    const stored = emulator.collections.get("specifics")!.points;
    expect([...stored.values()].map((p) => [p.id, p.payload])).toEqual([
      [qdrantPointId("point_1"), { a: 1, _ms_point_id: "point_1" }],
      [5, {}],
    ]);
    expect(await store.search(c, { vector: [1, 0.5], limit: 5 })).toEqual([
      { id: "point_1", score: 1, payload: { a: 1 } },
      { id: 5, score: 0.5, payload: {} },
    ]);
  });

  it("calls the REST paths the client uses, waiting for writes", () => {
    const paths = emulator.requests.map((r) => `${r.method} ${r.path}`);
    expect(paths).toContain("PUT /collections/specifics");
    expect(paths).toContain("PUT /collections/specifics/points?wait=true");
    expect(paths).toContain("POST /collections/specifics/points/query");
  });

  it("refuses to adopt a Qdrant collection it did not create", async () => {
    const other: CollectionRef = { id: "q2", name: "made_elsewhere", vectorSize: 2, distance: "Cosine" };
    await fetch(`${emulator.url}/collections/made_elsewhere`, {
      method: "PUT",
      headers: { "api-key": "k-123456789", "content-type": "application/json" },
      body: JSON.stringify({ vectors: { size: 2, distance: "Cosine" } }),
    });
    await expect(store.createCollection(other)).rejects.toMatchObject({
      code: "conflict",
      message: expect.stringMatching(/did not create/),
    });
  });

  it("is unavailable, naming why, when the key is wrong — without showing the key", async () => {
    const wrong = new QdrantVectorStore({ url: emulator.url, apiKey: "wrong-key-000000" });
    const status = await wrong.status();
    expect(status).toEqual({ available: false, reason: expect.stringMatching(/rejected the API key/) });
    const error = await wrong.search(c, { vector: [1, 1], limit: 1 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: "unavailable", status: 503 });
    expect(JSON.stringify([status, (error as Error).message])).not.toContain("wrong-key-000000");
  });

  it("is unavailable when Qdrant cannot be reached", async () => {
    const closed = await startQdrantEmulator();
    const url = closed.url;
    await closed.close();
    const gone = new QdrantVectorStore({ url, timeoutMs: 2_000 });
    expect(await gone.status()).toEqual({
      available: false,
      reason: expect.stringMatching(new RegExp(`Qdrant at ${url} is unavailable: it cannot be reached`)),
    });
    await expect(gone.count(c)).rejects.toMatchObject({ code: "unavailable" });
  });
});

describe("Qdrant's request size limit", () => {
  let emulator: QdrantEmulator;
  const c: CollectionRef = { id: "q-size", name: "sized", vectorSize: 128, distance: "Cosine" };
  const LIMIT = 256 * 1024;
  const points = Array.from({ length: 300 }, (_, i) => ({
    id: i % 2 ? i : `doc-${i}`,
    vector: Array.from({ length: 128 }, (_, j) => Math.sin(i * 131 + j) / 3),
    payload: { text: `document ${i} `.repeat(8) },
  }));

  beforeAll(async () => {
    emulator = await startQdrantEmulator({ maxRequestBytes: LIMIT });
  });
  afterAll(() => emulator.close());

  it("refuses a body over its limit with 413, as Qdrant does", async () => {
    const whole = new QdrantVectorStore({ url: emulator.url, maxRequestBytes: 64 * 1024 * 1024 });
    await whole.createCollection(c);
    const error = await whole.upsert(c, points).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).message).toContain("larger than allowed");
    expect(await whole.count(c)).toBe(0);
  });

  it("splits an upsert into requests under the limit, in order, every point stored", async () => {
    const store = new QdrantVectorStore({ url: emulator.url, maxRequestBytes: LIMIT - 1024 });
    const before = emulator.requests.length;
    await store.upsert(c, points);
    const upserts = emulator.requests.slice(before).filter((r) => r.method === "PUT" && r.path.includes("/points"));
    expect(upserts.length).toBeGreaterThan(2);
    expect(await store.count(c)).toBe(300);
    const [hit] = await store.search(c, { vector: points[7]!.vector, limit: 1 });
    expect(hit!.id).toBe(7);
  });

  it("refuses a single point larger than one request before sending anything", async () => {
    const store = new QdrantVectorStore({ url: emulator.url, maxRequestBytes: 2_000 });
    const before = emulator.requests.length;
    const error = await store.upsert(c, [points[0]!]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "payload_too_large" });
    expect(emulator.requests.length).toBe(before);
  });
});
