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
