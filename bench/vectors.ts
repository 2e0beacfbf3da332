// The pgvector store under load: upsert throughput, HNSW index build time, search p50/p99, and
// recall@10 against exact search, on 100,000 vectors of 384 dimensions (by default) in an embedded
// PGlite — the configuration a fresh clone runs. Not part of `npm test`.
//
//   npm run bench:vectors                                  # 100,000 × 384, Cosine, PGlite in memory
//   npm run bench:vectors -- --points 20000 --queries 100  # quicker
//   npm run bench:vectors -- --database-url postgresql://… # a PostgreSQL server with pgvector
//
// Phases, each through the store (server/vectors/pgvector.ts) as the service uses it:
//   1. load: upserts in batches of 1,000 with the automatic index policy switched off, as a bulk
//      load would be done (pgvector's own advice: load first, index after);
//   2. index: one HNSW build over the loaded points (m=16, ef_construction=64, pgvector's defaults);
//   3. incremental: further upserts into the indexed collection (the cost every later write pays);
//   4. search: sequential queries with limit 10 (ef_search 40), timed one by one; recall@10 against
//      exact nearest neighbours computed in JavaScript over the same float32 data;
//   5. exact: a few searches with the index bypassed, for comparison.
// Data: clustered vectors (points scattered around 200 random centres), seeded, so every run
// sees the same data; queries come from the same distribution but are not stored points.
import { openDatabase, type DatabaseHandle } from "../server/db/index.ts";
import { PgVectorStore } from "../server/vectors/pgvector.ts";
import type { CollectionRef, Distance, VectorPoint } from "../server/vectors/types.ts";
import { fmt, percentile } from "./lib.ts";

// The store logs each index build at info; the figures below say it already.
process.env.LOG_LEVEL ??= "warn";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const POINTS = Number(arg("points", "100000"));
const DIM = Number(arg("dim", "384"));
const QUERIES = Number(arg("queries", "200"));
const EXACT_QUERIES = Number(arg("exact-queries", "10"));
const INCREMENTAL = Number(arg("incremental", "1000"));
const BATCH = 1000;
const DISTANCE = arg("distance", "Cosine") as Distance;
const DATABASE_URL = arg("database-url", "");
const CLUSTERS = 200;
const K = 10;

function rng(seed: number) {
  return () => {
    seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    seed ^= seed >>> 12;
    return (seed >>> 0) / 2 ** 32;
  };
}
const random = rng(20261126);
function gaussian(): number {
  // Box–Muller
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

const centres = Array.from({ length: CLUSTERS }, () => Float32Array.from({ length: DIM }, () => gaussian()));
function sample(): Float32Array {
  const c = centres[Math.floor(random() * CLUSTERS)]!;
  return Float32Array.from(c, (x) => x + 0.6 * gaussian());
}

function score(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  let d2 = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
    d2 += (a[i]! - b[i]!) ** 2;
  }
  if (DISTANCE === "Cosine") return dot / Math.sqrt(na * nb);
  if (DISTANCE === "Dot") return dot;
  return -Math.sqrt(d2); // larger is better for the ranking below
}

function exactTopK(query: Float32Array, data: Float32Array[], k: number): number[] {
  const best: { i: number; s: number }[] = [];
  for (let i = 0; i < data.length; i++) {
    const s = score(query, data[i]!);
    if (best.length < k || s > best[best.length - 1]!.s) {
      best.push({ i, s });
      best.sort((x, y) => y.s - x.s);
      if (best.length > k) best.pop();
    }
  }
  return best.map((b) => b.i);
}

const toPoint = (i: number, v: Float32Array): VectorPoint => ({ id: i, vector: Array.from(v), payload: { i, cluster_hint: i % 10 } });

async function main(): Promise<void> {
  const where = DATABASE_URL ? "PostgreSQL (DATABASE_URL given)" : "PGlite 0.4.3 in memory (WebAssembly, single-threaded)";
  console.log(`bench/vectors: pgvector store on ${where}`);
  console.log(
    `data: ${POINTS.toLocaleString("en")} points × ${DIM} dimensions, ${DISTANCE}, ${CLUSTERS} clusters; ${QUERIES} queries, k=${K}`,
  );

  const opened = performance.now();
  const db: DatabaseHandle = DATABASE_URL
    ? await openDatabase({ databaseUrl: DATABASE_URL, dataDir: "" })
    : await openDatabase({ dataDir: "", memory: true });
  console.log(`database open + migrations: ${fmt((performance.now() - opened) / 1000, 1)} s`);

  const c: CollectionRef = { id: `bench${Date.now().toString(36)}`, name: "bench", vectorSize: DIM, distance: DISTANCE };
  // Automatic indexing off for the bulk load; the index is built once, explicitly, afterwards.
  const store = new PgVectorStore({ db: async () => db, indexThresholdBytes: Number.MAX_SAFE_INTEGER });
  await store.createCollection(c);

  const data: Float32Array[] = [];
  let t = performance.now();
  let lastReport = t;
  for (let i = 0; i < POINTS; i += BATCH) {
    const batch: VectorPoint[] = [];
    for (let j = i; j < Math.min(POINTS, i + BATCH); j++) {
      const v = sample();
      data.push(v);
      batch.push(toPoint(j, v));
    }
    await store.upsert(c, batch);
    if (performance.now() - lastReport > 15_000) {
      lastReport = performance.now();
      console.log(`  … ${data.length.toLocaleString("en")} points loaded`);
    }
  }
  const loadSeconds = (performance.now() - t) / 1000;
  console.log(
    `1. load (no index):        ${POINTS.toLocaleString("en")} points in ${fmt(loadSeconds, 1)} s = ${fmt(POINTS / loadSeconds, 0)} points/s`,
  );

  t = performance.now();
  await store.buildIndex(c, { maintenanceWorkMem: "1GB" });
  const indexSeconds = (performance.now() - t) / 1000;
  console.log(`2. HNSW index build:       ${fmt(indexSeconds, 1)} s`);

  const base = data.length;
  t = performance.now();
  for (let i = 0; i < INCREMENTAL; i += BATCH) {
    const batch: VectorPoint[] = [];
    for (let j = i; j < Math.min(INCREMENTAL, i + BATCH); j++) {
      const v = sample();
      data.push(v);
      batch.push(toPoint(base + j, v));
    }
    await store.upsert(c, batch);
  }
  const incSeconds = (performance.now() - t) / 1000;
  if (INCREMENTAL > 0) {
    console.log(
      `3. upsert into the index:  ${INCREMENTAL.toLocaleString("en")} points in ${fmt(incSeconds, 1)} s = ${fmt(INCREMENTAL / incSeconds, 0)} points/s`,
    );
  }

  const queries = Array.from({ length: QUERIES }, sample);
  await store.search(c, { vector: Array.from(queries[0]!), limit: K }); // warm-up
  const latencies: number[] = [];
  let recallSum = 0;
  for (const q of queries) {
    const started = performance.now();
    const hits = await store.search(c, { vector: Array.from(q), limit: K });
    latencies.push(performance.now() - started);
    const truth = new Set(exactTopK(q, data, K));
    recallSum += hits.filter((h) => truth.has(h.id as number)).length / K;
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `4. search (HNSW, k=${K}):     p50 ${fmt(percentile(latencies, 50))} ms, p99 ${fmt(percentile(latencies, 99))} ms, mean ${fmt(latencies.reduce((a, b) => a + b, 0) / latencies.length)} ms; recall@${K} ${fmt(recallSum / QUERIES, 3)}`,
  );

  // The exact scan: the same ORDER BY written so that the planner cannot use the index.
  const op = { Cosine: "<=>", Dot: "<#>", Euclid: "<->" }[DISTANCE];
  const exact: number[] = [];
  for (const q of queries.slice(0, EXACT_QUERIES)) {
    const started = performance.now();
    await db.rawQuery(`SELECT id FROM vector_store."c_${c.id}" ORDER BY (embedding ${op} $1::vector) + 0 LIMIT ${K}`, [
      `[${Array.from(q).join(",")}]`,
    ]);
    exact.push(performance.now() - started);
  }
  exact.sort((a, b) => a - b);
  if (exact.length) console.log(`5. exact scan (k=${K}):      p50 ${fmt(percentile(exact, 50))} ms over ${exact.length} queries`);

  await db.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
