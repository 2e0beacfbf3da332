// The one contract every vector store passes (pgvector on PGlite, pgvector on PostgreSQL where the
// extension exists, Qdrant through the emulator). Expected scores are worked out by hand below,
// so a store that agrees with the other one but is wrong still fails.
//
//   vectorStoreContract("pgvector on PGlite", async () => ({ store, close }));
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppError } from "@/server/kernel/errors.ts";
import type { Filter } from "@/server/vectors/filter.ts";
import type { CollectionRef, Distance, PointId, ScoredPoint, VectorPoint, VectorStore } from "@/server/vectors/types.ts";

export type StoreHarness = { store: VectorStore; close(): Promise<void> };

/** Four points in 3 dimensions and a query; their scores are computed by hand in EXPECTED. */
export const POINTS: VectorPoint[] = [
  { id: "point_1", vector: [1, 0, 0], payload: { lang: "en", n: 1 } },
  { id: 2, vector: [0.8, 0.6, 0], payload: { lang: "de", n: 2 } },
  { id: "3", vector: [0, 0, 2], payload: { lang: "en", n: 3, tags: ["x", "y"] } },
  { id: 4, vector: [-1, -1, 0], payload: {} },
];
export const QUERY = [1, 0.5, 0];

// |q| = √1.25. Cosine: q·p / (|q||p|); Dot: q·p; Euclid: |q − p|.
export const EXPECTED: Record<Distance, [PointId, number][]> = {
  Cosine: [
    [2, 1.1 / Math.sqrt(1.25)], // 0.98387
    ["point_1", 1 / Math.sqrt(1.25)], // 0.89443
    ["3", 0],
    [4, -1.5 / (Math.sqrt(1.25) * Math.SQRT2)], // -0.94868
  ],
  Dot: [
    [2, 1.1],
    ["point_1", 1],
    ["3", 0],
    [4, -1.5],
  ],
  Euclid: [
    [2, Math.sqrt(0.05)], // 0.22361
    ["point_1", 0.5],
    ["3", Math.sqrt(5.25)], // 2.29129
    [4, 2.5],
  ],
};

export const SCORE_TOLERANCE = 1e-5;

export function expectScores(got: ScoredPoint[], expected: [PointId, number][]): void {
  expect(got.map((p) => p.id)).toEqual(expected.map(([id]) => id));
  got.forEach((p, i) => expect(Math.abs(p.score - expected[i]![1])).toBeLessThan(SCORE_TOLERANCE));
}

async function rejection(p: Promise<unknown>): Promise<AppError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

export function vectorStoreContract(label: string, open: () => Promise<StoreHarness>): void {
  describe(`vector store contract: ${label}`, () => {
    let h: StoreHarness;
    const run = randomBytes(4).toString("hex");
    let seq = 0;
    const ref = (distance: Distance, vectorSize = 3): CollectionRef => {
      seq++;
      return { id: `c${run}n${seq}`, name: `contract_${run}_${seq}`, vectorSize, distance };
    };
    const fresh = async (distance: Distance, points: VectorPoint[] = POINTS, vectorSize = 3) => {
      const c = ref(distance, vectorSize);
      await h.store.createCollection(c);
      if (points.length) await h.store.upsert(c, points);
      return c;
    };

    beforeAll(async () => {
      h = await open();
    });
    afterAll(async () => {
      await h?.close();
    });

    it("is available", async () => {
      expect(await h.store.status()).toEqual({ available: true });
    });

    it("creates a collection once; a second create is a conflict", async () => {
      const c = ref("Cosine");
      await h.store.createCollection(c);
      expect(await h.store.getCollection(c)).toEqual({ pointsCount: 0 });
      expect((await rejection(h.store.createCollection(c))).code).toBe("conflict");
    });

    it("deletes a collection and its points; deleting again says there was none", async () => {
      const c = await fresh("Cosine");
      expect(await h.store.deleteCollection(c)).toBe(true);
      expect(await h.store.getCollection(c)).toBeUndefined();
      expect(await h.store.deleteCollection(c)).toBe(false);
      expect((await rejection(h.store.search(c, { vector: QUERY, limit: 3 }))).code).toBe("not_found");
    });

    it("answers not_found for points of a collection that does not exist", async () => {
      const c = ref("Dot");
      expect(await h.store.getCollection(c)).toBeUndefined();
      expect((await rejection(h.store.upsert(c, POINTS))).code).toBe("not_found");
      expect((await rejection(h.store.search(c, { vector: QUERY, limit: 3 }))).code).toBe("not_found");
      expect((await rejection(h.store.count(c))).code).toBe("not_found");
      expect((await rejection(h.store.deletePoints(c, { ids: [1] }))).code).toBe("not_found");
    });

    for (const distance of ["Cosine", "Dot", "Euclid"] as const) {
      it(`scores and orders by ${distance} as Qdrant does`, async () => {
        const c = await fresh(distance);
        expect(await h.store.count(c)).toBe(4);
        expectScores(await h.store.search(c, { vector: QUERY, limit: 10 }), EXPECTED[distance]);
        expectScores(await h.store.search(c, { vector: QUERY, limit: 2 }), EXPECTED[distance].slice(0, 2));
      });
    }

    it("score_threshold keeps Cosine scores strictly above it", async () => {
      const c = await fresh("Cosine");
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: 0.9 }), EXPECTED.Cosine.slice(0, 1));
      // The orthogonal point scores exactly 0: "strictly above 0" leaves it out.
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: 0 }), EXPECTED.Cosine.slice(0, 2));
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: -0.5 }), EXPECTED.Cosine.slice(0, 3));
    });

    it("score_threshold keeps Dot scores strictly above it", async () => {
      const c = await fresh("Dot");
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: 1 }), EXPECTED.Dot.slice(0, 1));
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: -2 }), EXPECTED.Dot);
    });

    it("score_threshold is a maximum distance for Euclid, strictly below it", async () => {
      const c = await fresh("Euclid");
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: 0.5 }), EXPECTED.Euclid.slice(0, 1));
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, scoreThreshold: 2.4 }), EXPECTED.Euclid.slice(0, 3));
    });

    it("returns string and integer ids unchanged, with their type; '7' and 7 are different points", async () => {
      const c = await fresh("Euclid");
      const hits = await h.store.search(c, { vector: QUERY, limit: 10 });
      expect(hits.map((p) => [p.id, typeof p.id])).toEqual([
        [2, "number"],
        ["point_1", "string"],
        ["3", "string"],
        [4, "number"],
      ]);
      await h.store.upsert(c, [
        { id: "7", vector: [7, 7, 7], payload: { kind: "string" } },
        { id: 7, vector: [7, 7, 7.5], payload: { kind: "number" } },
        { id: Number.MAX_SAFE_INTEGER, vector: [9, 9, 9] },
        { id: "ünïcødé id / with spaces", vector: [8, 8, 8] },
      ]);
      expect(await h.store.count(c)).toBe(8);
      const near = await h.store.search(c, { vector: [7, 7, 7], limit: 4 });
      expect(near.map((p) => p.id)).toEqual(["7", 7, "ünïcødé id / with spaces", Number.MAX_SAFE_INTEGER]);
      expect(near[0]!.payload).toEqual({ kind: "string" });
      expect(near[1]!.payload).toEqual({ kind: "number" });
    });

    it("keeps payloads exactly, and gives {} for a point without one", async () => {
      const payload = {
        nested: { a: [1, { b: null }], deep: { deeper: { x: "y" } } },
        text: 'héllo 🌍 "quoted"',
        flag: false,
        n: 1.5,
        neg: -3,
      };
      const c = await fresh("Dot", [
        { id: "p", vector: [1, 1, 1], payload },
        { id: "q", vector: [-1, -1, -1] },
      ]);
      const [first, second] = await h.store.search(c, { vector: [1, 1, 1], limit: 2 });
      expect(first).toMatchObject({ id: "p", payload });
      expect(second).toMatchObject({ id: "q", payload: {} });
    });

    it("upsert replaces a point by id, and a later duplicate in one batch wins", async () => {
      const c = await fresh("Euclid");
      await h.store.upsert(c, [{ id: "point_1", vector: [5, 5, 5], payload: { lang: "fr" } }]);
      expect(await h.store.count(c)).toBe(4);
      const [hit] = await h.store.search(c, { vector: [5, 5, 5], limit: 1 });
      expect(hit).toMatchObject({ id: "point_1", payload: { lang: "fr" } });
      expect(hit!.score).toBeLessThan(SCORE_TOLERANCE);

      await h.store.upsert(c, [
        { id: "dup", vector: [0, 0, 9], payload: { v: 1 } },
        { id: "dup", vector: [0, 0, 10], payload: { v: 2 } },
      ]);
      expect(await h.store.count(c)).toBe(5);
      const [dup] = await h.store.search(c, { vector: [0, 0, 10], limit: 1 });
      expect(dup).toMatchObject({ id: "dup", payload: { v: 2 } });
      expect(dup!.score).toBeLessThan(SCORE_TOLERANCE);
    });

    it("refuses a vector of the wrong length with 400 naming both sizes, and stores nothing of that batch", async () => {
      const c = await fresh("Cosine", []);
      const e = await rejection(h.store.upsert(c, [POINTS[0]!, { id: "bad", vector: [1, 2] }]));
      expect(e.code).toBe("invalid_request");
      expect(e.status).toBe(400);
      expect(e.message).toMatch(/points\[1\]\.vector has 2 dimensions.*expects 3/);
      expect(e.details).toMatchObject({ expected: 3, received: 2 });
      expect(await h.store.count(c)).toBe(0);
      const q = await rejection(h.store.search(c, { vector: [1, 2, 3, 4], limit: 1 }));
      expect(q.message).toMatch(/query_vector has 4 dimensions.*expects 3/);
    });

    it("refuses an all-zero vector for Cosine, which has no direction", async () => {
      const c = await fresh("Cosine", []);
      expect((await rejection(h.store.upsert(c, [{ id: 1, vector: [0, 0, 0] }]))).code).toBe("invalid_request");
      expect((await rejection(h.store.search(c, { vector: [0, 0, 0], limit: 1 }))).code).toBe("invalid_request");
    });

    it("answers 413 for more than 1000 points or ids in one call", async () => {
      const c = await fresh("Dot", []);
      const many = Array.from({ length: 1001 }, (_, i) => ({ id: i, vector: [i, 1, 1] }));
      const e = await rejection(h.store.upsert(c, many));
      expect(e.code).toBe("payload_too_large");
      expect(e.status).toBe(413);
      expect((await rejection(h.store.deletePoints(c, { ids: many.map((p) => p.id) }))).status).toBe(413);
      await h.store.upsert(c, many.slice(0, 1000));
      expect(await h.store.count(c)).toBe(1000);
    });

    it("filters searches and counts by payload", async () => {
      const c = await fresh("Cosine");
      const en: Filter = { must: [{ key: "lang", match: { value: "en" } }] };
      expect((await h.store.search(c, { vector: QUERY, limit: 10, filter: en })).map((p) => p.id)).toEqual(["point_1", "3"]);
      expect((await h.store.search(c, { vector: QUERY, limit: 10, filter: { must_not: en.must } })).map((p) => p.id)).toEqual([2, 4]);
      const shouldFilter: Filter = {
        should: [
          { key: "lang", match: { value: "de" } },
          { key: "n", range: { gte: 3 } },
        ],
      };
      expect(await h.store.count(c, shouldFilter)).toBe(2);
      expect(await h.store.count(c, { must: [{ key: "tags", match: { any: ["y", "z"] } }] })).toBe(1);
      expect(await h.store.count(c, { must: [{ key: "missing", match: { value: 1 } }] })).toBe(0);
      // Filter and threshold together.
      expectScores(await h.store.search(c, { vector: QUERY, limit: 10, filter: en, scoreThreshold: 0.5 }), [EXPECTED.Cosine[1]!]);
    });

    it("deletes points by id, counting only those that existed", async () => {
      const c = await fresh("Dot");
      expect(await h.store.deletePoints(c, { ids: ["point_1", 4, "nope", 99, "2"] })).toBe(2);
      expect(await h.store.count(c)).toBe(2);
      expect((await h.store.search(c, { vector: QUERY, limit: 10 })).map((p) => p.id)).toEqual([2, "3"]);
      expect(await h.store.deletePoints(c, { ids: [] })).toBe(0);
    });

    it("deletes points by payload filter", async () => {
      const c = await fresh("Dot");
      expect(await h.store.deletePoints(c, { filter: { must: [{ key: "lang", match: { value: "en" } }] } })).toBe(2);
      expect((await h.store.search(c, { vector: QUERY, limit: 10 })).map((p) => p.id)).toEqual([2, 4]);
      expect(await h.store.deletePoints(c, { filter: { must: [{ key: "lang", match: { value: "xx" } }] } })).toBe(0);
    });

    it("searches an empty collection without error", async () => {
      const c = await fresh("Euclid", []);
      expect(await h.store.search(c, { vector: QUERY, limit: 5 })).toEqual([]);
      expect(await h.store.getCollection(c)).toEqual({ pointsCount: 0 });
    });
  });
}
