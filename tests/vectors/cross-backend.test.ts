// The same data on two backends must give the same answers: ids, order and scores within 1e-5,
// for every distance, with and without filters and thresholds. pgvector runs in PGlite (and in
// PostgreSQL too when TEST_DATABASE_URL's server has the extension); Qdrant is the emulator.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Filter } from "@/server/vectors/filter.ts";
import { PgVectorStore } from "@/server/vectors/pgvector.ts";
import { QdrantVectorStore } from "@/server/vectors/qdrant.ts";
import { DISTANCES, type CollectionRef, type VectorPoint, type VectorStore } from "@/server/vectors/types.ts";
import { startQdrantEmulator, type QdrantEmulator } from "../emulators/qdrant-emulator.ts";
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from "../support/db.ts";
import { SCORE_TOLERANCE } from "./contract.ts";

const DIM = 16;

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

const random = rng(7);
const vector = () => Array.from({ length: DIM }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4);
const POINTS: VectorPoint[] = Array.from({ length: 300 }, (_, i) => ({
  id: i % 3 === 0 ? `point_${i}` : i,
  vector: vector(),
  payload: {
    group: i % 5,
    tags: [`t${i % 7}`, `t${i % 11}`],
    score: i / 10,
    ...(i % 4 === 0 ? { nested: { flag: i % 8 === 0 } } : {}),
    // Keys Qdrant's path syntax reads only quoted (a space, a colon, a dot-free unicode name).
    "zip code": `z${i % 3}`,
    meta: { "ns:kind": i % 2 === 0 ? "even" : "odd", größe: i % 4 },
  },
}));
const QUERIES = Array.from({ length: 6 }, vector);
const FILTERS: (Filter | undefined)[] = [
  undefined,
  { must: [{ key: "group", match: { value: 2 } }] },
  { should: [{ key: "tags", match: { any: ["t3", "t5"] } }], must_not: [{ key: "score", range: { gte: 20 } }] },
  { must: [{ key: "nested.flag", match: { value: true } }] },
  {
    must: [
      { key: "zip code", match: { value: "z1" } },
      { key: "meta.ns:kind", match: { value: "even" } },
    ],
  },
  { must_not: [{ key: "meta.größe", range: { lt: 2 } }] },
];

async function pgvectorAvailableOnServer(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`)).rowCount === 1;
  } finally {
    await client.end();
  }
}

const url = testDatabaseUrl();
const withPostgres = url ? await pgvectorAvailableOnServer(url) : false;

describe("backends agree on the same data", () => {
  let emulator: QdrantEmulator;
  const dbs: TestDatabase[] = [];
  const stores: { label: string; store: VectorStore }[] = [];

  beforeAll(async () => {
    emulator = await startQdrantEmulator();
    const pglite = await createTestDatabase("pglite");
    dbs.push(pglite);
    stores.push({ label: "pgvector/PGlite", store: new PgVectorStore({ db: async () => pglite }) });
    if (withPostgres) {
      const postgres = await createTestDatabase("postgres");
      dbs.push(postgres);
      stores.push({ label: "pgvector/PostgreSQL", store: new PgVectorStore({ db: async () => postgres }) });
    }
    stores.push({ label: "Qdrant", store: new QdrantVectorStore({ url: emulator.url }) });
  });
  afterAll(async () => {
    await emulator?.close();
    for (const db of dbs) await db.destroy();
  });

  it.each(DISTANCES)("%s: same ids, order and scores", async (distance) => {
    const c: CollectionRef = { id: `cross${distance.toLowerCase()}`, name: `cross_${distance}`, vectorSize: DIM, distance };
    for (const { store } of stores) {
      await store.createCollection(c);
      for (let i = 0; i < POINTS.length; i += 100) await store.upsert(c, POINTS.slice(i, i + 100));
    }
    let compared = 0;
    for (const query of QUERIES) {
      for (const filter of FILTERS) {
        // A threshold halfway between two neighbours in the middle of the page, so that it cuts
        // some results (one exactly at a score would test float rounding, not the stores).
        const base = await stores[0]!.store.search(c, { vector: query, limit: 20, filter });
        const mid = Math.floor(base.length / 2);
        const threshold = base.length > 4 ? (base[mid - 1]!.score + base[mid]!.score) / 2 : undefined;
        for (const scoreThreshold of [undefined, threshold]) {
          const answers = await Promise.all(
            stores.map(({ store }) => store.search(c, { vector: query, limit: 20, filter, scoreThreshold })),
          );
          const [reference, ...others] = answers;
          expect(reference!.length).toBeGreaterThan(0);
          for (const other of others) {
            expect(other.map((p) => p.id)).toEqual(reference!.map((p) => p.id));
            other.forEach((p, i) => expect(Math.abs(p.score - reference![i]!.score)).toBeLessThan(SCORE_TOLERANCE));
            expect(other.map((p) => p.payload)).toEqual(reference!.map((p) => p.payload));
          }
          compared++;
        }
        const counts = await Promise.all(stores.map(({ store }) => store.count(c, filter)));
        expect(new Set(counts).size).toBe(1);
      }
    }
    expect(compared).toBe(QUERIES.length * FILTERS.length * 2);
  });
});
