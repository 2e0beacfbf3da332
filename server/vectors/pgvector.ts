import "server-only";
// The pgvector store: points in the service's own database (PostgreSQL with the `vector` extension,
// or the embedded PGlite, which ships it), one table per collection in the schema `vector_store`,
// outside Prisma's `public` schema so that Prisma never sees them as drift.
//
//   vector_store."c_<registry id>" (id text, id_kind 'int'|'str', embedding vector(n), payload jsonb,
//                                   primary key (id_kind, id))
//
// The table name comes from the registry row's id (a cuid), never from the caller's string; keys and
// values of payload filters travel as bound parameters (filter.ts).
//
// Index policy, like Qdrant's `indexing_threshold`: a collection is searched exactly (a sequential
// scan with a top-k sort) until it holds INDEX_THRESHOLD_BYTES of vectors, then it gets an HNSW
// index with the collection's operator class and searches become approximate. Small collections
// thereby give exact answers (equal to Qdrant's, which also scans small segments exhaustively),
// and pay no HNSW insert cost: in PGlite (WebAssembly) an HNSW insert of a 384-dimension vector
// costs milliseconds, a plain insert a fraction of that. Vectors of more than 2,000 dimensions
// cannot be HNSW-indexed with the `vector` type and are always searched exactly.
import type { Logger } from "pino";
import type { DatabaseHandle } from "../db/index.ts";
import { AppError } from "../kernel/errors.ts";
import { getLogger } from "../kernel/logger.ts";
import { filterToSql, type Filter } from "./filter.ts";
import {
  alreadyExists,
  checkPoints,
  checkVector,
  dedupeById,
  MAX_POINTS_PER_REQUEST,
  notFound,
  type CollectionRef,
  type Distance,
  type PhysicalCollection,
  type PointId,
  type PointSelector,
  type ScoredPoint,
  type SearchQuery,
  type StoreStatus,
  type VectorPoint,
  type VectorStore,
} from "./types.ts";

export type PgVectorDb = Pick<DatabaseHandle, "rawQuery" | "prisma" | "longRunning">;

/** An index build runs past the statement timeout of the request path (DATABASE_STATEMENT_TIMEOUT_MS): up to an hour. */
const INDEX_BUILD_TIMEOUT_MS = 60 * 60_000;

export type PgVectorStoreOptions = {
  /** The database, opened on first use (the process-wide one, or a test database). */
  db: () => Promise<PgVectorDb>;
  /** Bytes of vectors (4 per dimension) from which a collection gets its HNSW index; default 10 MB. */
  indexThresholdBytes?: number;
  /** How long an "extension missing" answer is kept before asking the database again. */
  unavailableRetryMs?: number;
  log?: Logger;
};

export const SCHEMA = "vector_store";
/** Qdrant's default indexing threshold is 10,000 KB of vectors per segment; the same here per collection. */
export const DEFAULT_INDEX_THRESHOLD_BYTES = 10_000 * 1024;
/** The `vector` type's HNSW index stops at 2,000 dimensions. */
export const MAX_INDEXED_DIMENSIONS = 2_000;
/** HNSW candidate list for searches: at least the result size, so a page of results is never cut short. */
const MIN_EF_SEARCH = 40;
const MAX_EF_SEARCH = 1_000;
/** Prisma's defaults (2 s to start, 5 s to finish) are short for a busy PGlite, which queues every query. */
const SEARCH_TRANSACTION = { maxWait: 10_000, timeout: 60_000 };

type Op = { operator: string; opclass: string; score: (distance: number) => number };

// pgvector's operators give distances (smaller is nearer); Qdrant's scores are recovered from them.
const OPS: Record<Distance, Op> = {
  Cosine: { operator: "<=>", opclass: "vector_cosine_ops", score: (d) => 1 - d }, // cosine distance = 1 - similarity
  Dot: { operator: "<#>", opclass: "vector_ip_ops", score: (d) => -d }, // <#> is the negative inner product
  Euclid: { operator: "<->", opclass: "vector_l2_ops", score: (d) => d }, // Euclidean distance itself
};

export const PGVECTOR_MISSING =
  'The database has no pgvector extension ("vector"), which vector collections need. Install pgvector on the PostgreSQL server ' +
  "(the pgvector/pgvector Docker image, or the postgresql-<version>-pgvector package) and restart, or set QDRANT_URL to keep vectors in Qdrant. " +
  "Everything else works without it.";
export const PGVECTOR_NOT_ALLOWED =
  "pgvector is installed on the PostgreSQL server but not enabled in this database, and this database user may not enable it: run `CREATE EXTENSION vector;` " +
  "as the database owner or a superuser, or set QDRANT_URL to keep vectors in Qdrant.";

export const SCHEMA_NOT_ALLOWED =
  `This database user may not create the schema ${SCHEMA} that holds vector collections: run \`CREATE SCHEMA ${SCHEMA} AUTHORIZATION <the service's user>;\` ` +
  "as the database owner, or set QDRANT_URL to keep vectors in Qdrant.";

export class PgVectorStore implements VectorStore {
  readonly backend = "pgvector" as const;
  private readonly thresholdBytes: number;
  private readonly retryMs: number;
  private readonly log: Logger;
  private extension: { status: StoreStatus; at: number } | undefined;
  private checking: Promise<StoreStatus> | undefined;
  /** Tables known to have their HNSW index (an index, once built, stays until the table goes). */
  private readonly indexed = new Set<string>();

  constructor(private readonly options: PgVectorStoreOptions) {
    this.thresholdBytes = options.indexThresholdBytes ?? DEFAULT_INDEX_THRESHOLD_BYTES;
    this.retryMs = options.unavailableRetryMs ?? 30_000;
    this.log = options.log ?? getLogger().child({ component: "pgvector" });
  }

  /** Available once the extension exists (created here when missing); "missing" is re-checked every 30 s. */
  async status(): Promise<StoreStatus> {
    const known = this.extension;
    if (known && (known.status.available || Date.now() - known.at < this.retryMs)) return known.status;
    this.checking ??= this.checkExtension().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async checkExtension(): Promise<StoreStatus> {
    const db = await this.options.db();
    let status: StoreStatus = { available: true };
    try {
      const present = await db.rawQuery(`SELECT 1 FROM pg_extension WHERE extname = 'vector'`);
      if (present.length === 0) await db.rawQuery(`CREATE EXTENSION IF NOT EXISTS vector`);
    } catch (error) {
      const code = pgCode(error);
      if (code === "0A000" || code === "58P01") status = { available: false, reason: PGVECTOR_MISSING };
      else if (code === "42501") status = { available: false, reason: PGVECTOR_NOT_ALLOWED };
      // 23505: another process created it at the same moment.
      else if (code !== "23505") throw error;
    }
    if (status.available) {
      try {
        // Asked first: CREATE SCHEMA checks the privilege even when the schema exists.
        const schema = await db.rawQuery(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [SCHEMA]);
        if (schema.length === 0) await db.rawQuery(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
      } catch (error) {
        const code = pgCode(error);
        if (code === "42501") status = { available: false, reason: SCHEMA_NOT_ALLOWED };
        else if (code !== "23505" && code !== "42P06") throw error;
      }
    }
    if (!status.available) this.log.warn({ reason: status.reason }, "vector collections unavailable");
    this.extension = { status, at: Date.now() };
    return status;
  }

  private async ready(): Promise<PgVectorDb> {
    const status = await this.status();
    if (!status.available) throw new AppError("unavailable", status.reason);
    return this.options.db();
  }

  async createCollection(c: CollectionRef): Promise<void> {
    const db = await this.ready();
    try {
      await db.rawQuery(
        `CREATE TABLE ${table(c)} (
           id text NOT NULL,
           id_kind text NOT NULL CHECK (id_kind IN ('int', 'str')),
           embedding vector(${dimensions(c)}) NOT NULL,
           payload jsonb NOT NULL DEFAULT '{}'::jsonb,
           PRIMARY KEY (id_kind, id)
         )`,
      );
    } catch (error) {
      if (pgCode(error) === "42P07") throw alreadyExists(c.name);
      throw error;
    }
  }

  async getCollection(c: CollectionRef): Promise<PhysicalCollection | undefined> {
    const db = await this.ready();
    const [row] = await db.rawQuery<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [table(c)]);
    if (!row?.present) return undefined;
    return { pointsCount: await this.count(c) };
  }

  async deleteCollection(c: CollectionRef): Promise<boolean> {
    const db = await this.ready();
    const [row] = await db.rawQuery<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [table(c)]);
    await db.rawQuery(`DROP TABLE IF EXISTS ${table(c)}`);
    this.indexed.delete(c.id);
    return row?.present ?? false;
  }

  async upsert(c: CollectionRef, points: VectorPoint[]): Promise<void> {
    checkPoints(c, points);
    const db = await this.ready();
    const unique = dedupeById(points);
    if (unique.length === 0) return;
    await this.run(c, () =>
      db.rawQuery(
        `INSERT INTO ${table(c)} (id, id_kind, embedding, payload)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[]::vector[], $4::text[]::jsonb[])
         ON CONFLICT (id_kind, id) DO UPDATE SET embedding = EXCLUDED.embedding, payload = EXCLUDED.payload`,
        [
          unique.map((p) => String(p.id)),
          unique.map((p) => idKind(p.id)),
          unique.map((p) => vectorLiteral(p.vector)),
          unique.map((p) => JSON.stringify(p.payload ?? {})),
        ],
      ),
    );
    await this.indexWhenLarge(c, db);
  }

  async deletePoints(c: CollectionRef, selector: PointSelector): Promise<number> {
    const db = await this.ready();
    let rows: { n: number }[];
    if ("ids" in selector) {
      if (selector.ids.length > MAX_POINTS_PER_REQUEST) {
        throw new AppError("payload_too_large", `At most ${MAX_POINTS_PER_REQUEST} ids per request; this one has ${selector.ids.length}`, {
          limit: MAX_POINTS_PER_REQUEST,
          received: selector.ids.length,
        });
      }
      if (selector.ids.length === 0) return 0;
      rows = await this.run(c, () =>
        db.rawQuery<{ n: number }>(
          `WITH gone AS (
             DELETE FROM ${table(c)} WHERE (id_kind, id) IN (SELECT k, i FROM unnest($1::text[], $2::text[]) AS u(k, i))
             RETURNING 1)
           SELECT count(*)::int AS n FROM gone`,
          [selector.ids.map(idKind), selector.ids.map(String)],
        ),
      );
    } else {
      const where = filterToSql(selector.filter, "payload", 1);
      rows = await this.run(c, () =>
        db.rawQuery<{ n: number }>(
          `WITH gone AS (DELETE FROM ${table(c)} WHERE ${where.sql} RETURNING 1) SELECT count(*)::int AS n FROM gone`,
          where.params,
        ),
      );
    }
    return rows[0]?.n ?? 0;
  }

  async search(c: CollectionRef, query: SearchQuery): Promise<ScoredPoint[]> {
    checkVector(c, query.vector, "query_vector");
    const db = await this.ready();
    const op = OPS[c.distance];
    const where = filterToSql(query.filter, "payload", 3);
    // ORDER BY the bare operator expression: the HNSW index serves it when there is one; without
    // one the planner scans and sorts, which is exact.
    const sql = `SELECT id, id_kind, payload, embedding ${op.operator} $1::vector AS distance
                 FROM ${table(c)} WHERE ${where.sql}
                 ORDER BY embedding ${op.operator} $1::vector LIMIT $2`;
    const params = [vectorLiteral(query.vector), query.limit, ...where.params];
    type Row = { id: string; id_kind: string; payload: Record<string, unknown>; distance: number };

    let rows: Row[];
    if (await this.isIndexed(c, db)) {
      // Approximate search: a candidate list at least as long as the page, and iterative scans so
      // that a filter that rejects most candidates still fills the page, in exact distance order.
      const ef = Math.min(MAX_EF_SEARCH, Math.max(MIN_EF_SEARCH, query.limit));
      rows = await this.run(c, () =>
        db.prisma.$transaction(async (tx) => {
          await tx.$executeRawUnsafe(`SET LOCAL hnsw.ef_search = ${ef}`);
          await tx.$executeRawUnsafe(`SET LOCAL hnsw.iterative_scan = strict_order`);
          return tx.$queryRawUnsafe<Row[]>(sql, ...params);
        }, SEARCH_TRANSACTION),
      );
    } else {
      rows = await this.run(c, () => db.rawQuery<Row>(sql, params));
    }

    const out: ScoredPoint[] = [];
    for (const r of rows) {
      const score = op.score(Number(r.distance));
      if (query.scoreThreshold !== undefined && !passes(c.distance, score, query.scoreThreshold)) break;
      out.push({ id: r.id_kind === "int" ? Number(r.id) : r.id, score, payload: parsePayload(r.payload) });
    }
    return out;
  }

  async count(c: CollectionRef, filter?: Filter): Promise<number> {
    const db = await this.ready();
    const where = filterToSql(filter, "payload", 1);
    const [row] = await this.run(c, () =>
      db.rawQuery<{ n: number }>(`SELECT count(*)::int AS n FROM ${table(c)} WHERE ${where.sql}`, where.params),
    );
    return row?.n ?? 0;
  }

  async close(): Promise<void> {
    // The database handle belongs to whoever passed it in.
  }

  /** Whether the collection has its HNSW index (asked once per table, then remembered). */
  private async isIndexed(c: CollectionRef, db: PgVectorDb): Promise<boolean> {
    if (this.indexed.has(c.id)) return true;
    if (dimensions(c) > MAX_INDEXED_DIMENSIONS) return false;
    const [row] = await db.rawQuery<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`${SCHEMA}."${indexName(c)}"`]);
    if (row?.present) this.indexed.add(c.id);
    return row?.present ?? false;
  }

  /** Builds the HNSW index once the collection has reached the threshold (see the header). */
  private async indexWhenLarge(c: CollectionRef, db: PgVectorDb): Promise<void> {
    if (await this.isIndexed(c, db)) return;
    if (dimensions(c) > MAX_INDEXED_DIMENSIONS) return;
    const threshold = this.indexThresholdPoints(c);
    // Counting stops at the threshold, so this costs at most `threshold` rows however large the table.
    const [row] = await db.rawQuery<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${table(c)} LIMIT $1) s`, [threshold]);
    if ((row?.n ?? 0) < threshold) return;
    await this.buildIndex(c);
  }

  /**
   * Builds the collection's HNSW index now, whatever its size (the upsert that crosses the
   * threshold does this by itself; bulk loads and the benchmark call it once after loading).
   * `maintenanceWorkMem` (e.g. "512MB") keeps a large graph in memory while it is built.
   */
  async buildIndex(c: CollectionRef, options: { maintenanceWorkMem?: string } = {}): Promise<void> {
    const db = await this.ready();
    if (dimensions(c) > MAX_INDEXED_DIMENSIONS) {
      throw new AppError(
        "invalid_request",
        `Collection ${c.name} has ${c.vectorSize} dimensions; pgvector indexes at most ${MAX_INDEXED_DIMENSIONS}`,
      );
    }
    const memory = options.maintenanceWorkMem;
    if (memory !== undefined && !/^\d+(kB|MB|GB)$/.test(memory)) throw new Error(`bad maintenance_work_mem ${memory}`);
    const started = performance.now();
    const create = `CREATE INDEX IF NOT EXISTS "${indexName(c)}" ON ${table(c)} USING hnsw (embedding ${OPS[c.distance].opclass})`;
    await this.run(c, () =>
      db.longRunning(INDEX_BUILD_TIMEOUT_MS, async (query) => {
        if (!memory) return void (await query(create));
        // On the build's own connection (PGlite: its one session), set back afterwards.
        await query(`SET maintenance_work_mem = '${memory}'`);
        try {
          await query(create);
        } finally {
          await query("RESET maintenance_work_mem");
        }
      }),
    );
    this.indexed.add(c.id);
    this.log.info({ collection: c.name, ms: Math.round(performance.now() - started) }, "built HNSW index");
  }

  /** Points from which a collection of this size is indexed. */
  indexThresholdPoints(c: Pick<CollectionRef, "vectorSize">): number {
    return Math.max(1, Math.floor(this.thresholdBytes / (4 * c.vectorSize)));
  }

  /** Runs a statement on the collection's table; a missing table is the collection being gone. */
  private async run<T>(c: CollectionRef, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (pgCode(error) === "42P01") {
        this.indexed.delete(c.id);
        throw notFound(c.name);
      }
      throw error;
    }
  }
}

/** Qdrant's threshold test: strictly better than the threshold. */
export function passes(distance: Distance, score: number, threshold: number): boolean {
  return distance === "Euclid" ? score < threshold : score > threshold;
}

function table(c: CollectionRef): string {
  return `${SCHEMA}."${tableName(c)}"`;
}

function tableName(c: CollectionRef): string {
  // The registry id is a cuid; anything else is a bug, and must not reach SQL.
  if (!/^[a-z0-9]{1,48}$/.test(c.id)) throw new Error(`unsafe collection id for a table name: ${JSON.stringify(c.id)}`);
  return `c_${c.id}`;
}

function indexName(c: CollectionRef): string {
  return `${tableName(c)}_hnsw`;
}

function dimensions(c: CollectionRef): number {
  if (!Number.isInteger(c.vectorSize) || c.vectorSize < 1) throw new Error(`bad vector size ${c.vectorSize}`);
  return c.vectorSize;
}

function idKind(id: PointId): "int" | "str" {
  return typeof id === "number" ? "int" : "str";
}

function vectorLiteral(v: number[]): string {
  return `[${v.join(",")}]`;
}

// pg and PGlite parse jsonb into objects; Prisma's raw queries may hand back text.
function parsePayload(p: unknown): Record<string, unknown> {
  if (typeof p === "string") return JSON.parse(p) as Record<string, unknown>;
  return (p ?? {}) as Record<string, unknown>;
}

/** The SQLSTATE of a database error, from pg, PGlite or a Prisma wrapper around either. */
export function pgCode(error: unknown): string | undefined {
  const seen = new Set<unknown>();
  let e: unknown = error;
  while (e && typeof e === "object" && !seen.has(e)) {
    seen.add(e);
    const o = e as { code?: unknown; meta?: { code?: unknown }; cause?: unknown; originalCode?: unknown };
    for (const c of [o.code, o.meta?.code, o.originalCode]) if (typeof c === "string" && /^[0-9A-Z]{5}$/.test(c)) return c;
    e = o.cause;
  }
  return undefined;
}
