// pgvector's own behaviour beyond the contract: exact search below the index threshold, an HNSW
// index with the collection's operator class once a collection is large, and approximate search
// (with a filter that rejects most candidates) that still fills the page in the right order.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgVectorStore } from "@/server/vectors/pgvector.ts";
import type { CollectionRef, Distance, VectorPoint } from "@/server/vectors/types.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const DIM = 8;
const THRESHOLD_POINTS = 100;

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

const exactScore: Record<Distance, (a: number[], b: number[]) => number> = {
  Cosine: (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)),
  Dot: (a, b) => dot(a, b),
  Euclid: (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0)),
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe("pgvector index policy", () => {
  let db: TestDatabase;
  let store: PgVectorStore;
  const random = rng(42);
  const points: VectorPoint[] = Array.from({ length: 400 }, (_, i) => ({
    id: i % 2 ? i : `p${i}`,
    vector: Array.from({ length: DIM }, () => random() * 2 - 1),
    payload: { group: i % 10 },
  }));

  beforeAll(async () => {
    db = await createTestDatabase("pglite");
    store = new PgVectorStore({ db: async () => db, indexThresholdBytes: 4 * DIM * THRESHOLD_POINTS });
  });
  afterAll(() => db.destroy());

  const indexes = async () =>
    (
      await db.rawQuery<{ indexdef: string }>(
        `SELECT indexdef FROM pg_indexes WHERE schemaname = 'vector_store' AND indexname LIKE '%_hnsw'`,
      )
    ).map((r) => r.indexdef);

  it.each(["Cosine", "Dot", "Euclid"] as const)(
    "indexes a %s collection once it passes the threshold, and still answers well",
    async (distance) => {
      const c: CollectionRef = { id: `idx${distance.toLowerCase()}`, name: `idx_${distance}`, vectorSize: DIM, distance };
      await store.createCollection(c);
      await store.upsert(c, points.slice(0, THRESHOLD_POINTS - 1));
      expect((await indexes()).filter((d) => d.includes(c.id))).toEqual([]);
      await store.upsert(c, points.slice(THRESHOLD_POINTS - 1));
      const opclass = { Cosine: "vector_cosine_ops", Dot: "vector_ip_ops", Euclid: "vector_l2_ops" }[distance];
      expect((await indexes()).filter((d) => d.includes(c.id))).toEqual([
        expect.stringMatching(new RegExp(`USING hnsw \\(embedding ${opclass}\\)`)),
      ]);

      const larger = distance !== "Euclid";
      for (let q = 0; q < 5; q++) {
        const query = Array.from({ length: DIM }, () => random() * 2 - 1);
        for (const group of [undefined, 3]) {
          const pool = points.filter((p) => group === undefined || p.payload!.group === group);
          const exact = pool
            .map((p) => ({ id: p.id, score: exactScore[distance](query, p.vector) }))
            .sort((a, b) => (larger ? b.score - a.score : a.score - b.score))
            .slice(0, 10);
          const got = await store.search(c, {
            vector: query,
            limit: 10,
            ...(group !== undefined ? { filter: { must: [{ key: "group", match: { value: group } }] } } : {}),
          });
          // A full page even when the filter keeps one point in ten, best first, with true scores.
          expect(got).toHaveLength(10);
          if (group !== undefined) expect(got.every((p) => p.payload.group === group)).toBe(true);
          for (let i = 1; i < got.length; i++)
            expect(larger ? got[i - 1]!.score >= got[i]!.score : got[i - 1]!.score <= got[i]!.score).toBe(true);
          for (const p of got)
            expect(Math.abs(p.score - exactScore[distance](query, points.find((x) => x.id === p.id)!.vector))).toBeLessThan(1e-5);
          const recall = got.filter((p) => exact.some((e) => e.id === p.id)).length / exact.length;
          expect(recall).toBeGreaterThanOrEqual(0.8);
        }
      }
    },
  );

  it("keeps collections of more than 2,000 dimensions unindexed (pgvector's HNSW limit) and searches them exactly", async () => {
    const wide = new PgVectorStore({ db: async () => db, indexThresholdBytes: 4 * 2001 * 5 });
    const c: CollectionRef = { id: "wide", name: "wide", vectorSize: 2001, distance: "Euclid" };
    await wide.createCollection(c);
    const pts = Array.from({ length: 8 }, (_, i) => ({ id: i, vector: Array.from({ length: 2001 }, (_, j) => (j === 0 ? i : 0)) }));
    await wide.upsert(c, pts);
    expect((await indexes()).filter((d) => d.includes("c_wide"))).toEqual([]);
    const query = Array.from({ length: 2001 }, (_, j) => (j === 0 ? 3.25 : 0));
    const hits = await wide.search(c, { vector: query, limit: 3 });
    expect(hits.map((h) => [h.id, h.score])).toEqual([
      [3, 0.25],
      [4, 0.75],
      [2, 1.25],
    ]);
  });

  it("computes the threshold from the vector size (10 MB of float32 by default)", () => {
    const defaults = new PgVectorStore({ db: async () => db });
    expect(defaults.indexThresholdPoints({ vectorSize: 384 })).toBe(6_666);
    expect(defaults.indexThresholdPoints({ vectorSize: 1536 })).toBe(1_666);
  });

  it("never puts anything but the registry id into a table name", async () => {
    const evil: CollectionRef = { id: 'x"; drop table users; --', name: "evil", vectorSize: DIM, distance: "Dot" };
    await expect(store.createCollection(evil)).rejects.toThrow(/unsafe collection id/);
  });
});
