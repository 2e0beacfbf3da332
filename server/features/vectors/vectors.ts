import "server-only";
// Vector collections for callers: the registry of collections (`vector_collections`: name, size,
// distance, backend, owner) in front of the configured vector store (server/vectors), which holds
// the points. REST (/v1/vector/*) and tRPC (vectors.*) both call these functions.
//
// Ownership: a collection belongs to the user of the caller who created it (any of that user's
// keys, sessions or JWTs may use it), or — for an API key that belongs to no user — to that key.
// Admins see and use every collection; anyone else gets 404 for a collection that is not theirs,
// exactly as for one that does not exist. Names belong to their owner (`owner_scope`: the user, or
// the key without a user): two owners may each have a "docs". An admin addresses another owner's
// collection with `owner` (`user:<id>`, `key:<id>` or the user's e-mail); without it, an admin's
// own collection of that name, else the only one of that name (409 naming the owners when several
// have it). The backend's storage (Qdrant's collection) is named apart (`physical_name`).
import { randomUUID } from "node:crypto";
import type { DatabaseHandle } from "../../db/index.ts";
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { redactSecrets } from "../../kernel/logger.ts";
import type { Filter } from "../../vectors/filter.ts";
import { getVectorStore } from "../../vectors/index.ts";
import {
  alreadyExists,
  MAX_POINTS_PER_REQUEST,
  notFound,
  type CollectionRef,
  type Distance,
  type PointId,
  type ScoredPoint,
  type VectorBackend,
  type VectorPoint,
  type VectorStore,
} from "../../vectors/types.ts";
import { requireAuthenticated, type Identity } from "../../access/auth.ts";

export type CollectionInfo = {
  name: string;
  /** Whose it is: `user:<id>` or `key:<id>` (what an admin passes as `owner`). */
  owner: string;
  vectorSize: number;
  distance: Distance;
  backend: VectorBackend;
  /** Null when the backend has lost the collection's storage (it can be deleted to clean up). */
  pointsCount: number | null;
  createdAt: Date;
};

export type CreateCollectionInput = { name: string; vectorSize: number; distance: Distance };
export type SearchInput = { vector: number[]; limit: number; scoreThreshold?: number; filter?: Filter };
export type DeletePointsInput = { ids: PointId[] } | { filter: Filter };

type Row = {
  id: string;
  name: string;
  ownerScope: string;
  physicalName: string;
  vectorSize: number;
  distance: string;
  backend: string;
  ownerId: string | null;
  ownerKeyId: string | null;
  createdAt: Date;
};

export type VectorServiceDeps = {
  db: () => Promise<Pick<DatabaseHandle, "prisma">>;
  store: () => VectorStore;
};

export type VectorService = ReturnType<typeof createVectorService>;

export function createVectorService(deps: VectorServiceDeps) {
  const store = () => deps.store();
  const prisma = async () => (await deps.db()).prisma;

  /** 503 with the backend's reason (e.g. how to install pgvector) when it cannot serve. */
  async function requireStore(): Promise<VectorStore> {
    const s = store();
    const status = await s.status();
    if (!status.available) throw new AppError("unavailable", status.reason, { backend: s.backend });
    return s;
  }

  function canSee(identity: Identity, row: Row): boolean {
    const who = requireAuthenticated(identity);
    if (who.role === "admin") return true;
    if (row.ownerId !== null) return who.userId === row.ownerId;
    return row.ownerKeyId !== null && who.apiKeyId === row.ownerKeyId;
  }

  /**
   * The collection of that name on the current backend: the caller's own, or (an admin's) the one
   * of `owner`, else the only one of that name; 404 when there is none the caller may see.
   */
  async function lookup(identity: Identity, name: string, owner?: string): Promise<{ row: Row; ref: CollectionRef }> {
    const who = requireAuthenticated(identity);
    const db = await prisma();
    const backend = store().backend;
    const own = ownerScopeOf(who);
    const scope = owner === undefined ? own : await resolveOwner(owner);
    let row = await db.vectorCollection.findUnique({ where: { ownerScope_name: { ownerScope: scope, name } } });
    if (!row && owner === undefined && who.role === "admin") {
      const rows = await db.vectorCollection.findMany({ where: { name, backend }, take: 10, orderBy: { createdAt: "asc" } });
      if (rows.length > 1) {
        throw new AppError(
          "conflict",
          `Several owners have a collection named ${name} (${rows.map((r) => r.ownerScope).join(", ")}); name one with owner`,
          { collection_name: name, owners: rows.map((r) => r.ownerScope) },
        );
      }
      row = rows[0] ?? null;
    }
    if (!row || row.backend !== backend || !canSee(identity, row)) throw notFound(name);
    return { row, ref: refOf(row) };
  }

  /** An admin's `owner`: `user:<id>`, `key:<id>`, or a user's e-mail; a scope nobody has finds nothing. */
  async function resolveOwner(owner: string): Promise<string> {
    if (!owner.includes("@")) return owner;
    const user = await (await prisma()).user.findUnique({ where: { email: owner }, select: { id: true } });
    return user ? `user:${user.id}` : `user:${owner}`;
  }

  async function info(s: VectorStore, row: Row): Promise<CollectionInfo> {
    const physical = await s.getCollection(refOf(row));
    return {
      name: row.name,
      owner: row.ownerScope,
      vectorSize: row.vectorSize,
      distance: row.distance as Distance,
      backend: row.backend as VectorBackend,
      pointsCount: physical?.pointsCount ?? null,
      createdAt: row.createdAt,
    };
  }

  return {
    /** The caller's collections (an admin's: all), oldest first, with their point counts. */
    async listCollections(identity: Identity): Promise<CollectionInfo[]> {
      const who = requireAuthenticated(identity);
      const s = await requireStore();
      const visibility =
        who.role === "admin"
          ? {}
          : {
              OR: [
                ...(who.userId ? [{ ownerId: who.userId }] : []),
                ...(who.apiKeyId ? [{ ownerId: null, ownerKeyId: who.apiKeyId }] : []),
              ],
            };
      const rows = await (
        await prisma()
      ).vectorCollection.findMany({
        where: { backend: s.backend, ...visibility },
        orderBy: [{ createdAt: "asc" }, { name: "asc" }, { ownerScope: "asc" }],
      });
      return Promise.all(rows.map((row) => info(s, row)));
    },

    async getCollection(identity: Identity, name: string, owner?: string): Promise<CollectionInfo> {
      const s = await requireStore();
      const { row } = await lookup(identity, name, owner);
      return info(s, row);
    },

    async createCollection(identity: Identity, input: CreateCollectionInput): Promise<CollectionInfo> {
      const who = requireAuthenticated(identity);
      const s = await requireStore();
      const db = await prisma();
      const ownerScope = ownerScopeOf(who);
      if (await db.vectorCollection.findUnique({ where: { ownerScope_name: { ownerScope, name: input.name } }, select: { id: true } })) {
        throw alreadyExists(input.name);
      }
      const data = {
        name: input.name,
        ownerScope,
        vectorSize: input.vectorSize,
        distance: input.distance,
        backend: s.backend,
        ownerId: who.userId,
        ownerKeyId: who.apiKeyId,
      };
      let row: Row;
      try {
        // The storage under the collection's own name when that is free, else under name-id.
        row = await db.vectorCollection.create({ data: { ...data, physicalName: input.name } });
      } catch (error) {
        if ((error as { code?: string }).code !== "P2002") throw error;
        try {
          const id = randomUUID().replaceAll("-", "").slice(0, 24);
          row = await db.vectorCollection.create({ data: { ...data, id, physicalName: `${input.name}-${id}` } });
        } catch (again) {
          if ((again as { code?: string }).code === "P2002") throw alreadyExists(input.name); // the same owner, at the same time
          throw again;
        }
      }
      try {
        await s.createCollection(refOf(row));
      } catch (error) {
        // No registry row without storage behind it.
        await db.vectorCollection.delete({ where: { id: row.id } }).catch(() => undefined);
        throw error;
      }
      return {
        name: row.name,
        owner: row.ownerScope,
        vectorSize: row.vectorSize,
        distance: input.distance,
        backend: s.backend,
        pointsCount: 0,
        createdAt: row.createdAt,
      };
    },

    async deleteCollection(identity: Identity, name: string, owner?: string): Promise<void> {
      const s = await requireStore();
      const { row, ref } = await lookup(identity, name, owner);
      await s.deleteCollection(ref);
      await (await prisma()).vectorCollection.deleteMany({ where: { id: row.id } });
    },

    /** Inserts or replaces points; returns how many were sent (a repeated id counts once). */
    async upsertPoints(identity: Identity, name: string, points: VectorPoint[], owner?: string): Promise<{ upserted: number }> {
      tooMany(points.length, "points");
      const s = await requireStore();
      const { ref } = await lookup(identity, name, owner);
      await s.upsert(ref, points);
      return { upserted: new Set(points.map((p) => (typeof p.id === "number" ? `n${p.id}` : `s${p.id}`))).size };
    },

    async deletePoints(identity: Identity, name: string, selector: DeletePointsInput, owner?: string): Promise<{ deleted: number }> {
      if ("ids" in selector) tooMany(selector.ids.length, "ids");
      const s = await requireStore();
      const { ref } = await lookup(identity, name, owner);
      return { deleted: await s.deletePoints(ref, selector) };
    },

    async search(identity: Identity, name: string, query: SearchInput, owner?: string): Promise<ScoredPoint[]> {
      const s = await requireStore();
      const { ref } = await lookup(identity, name, owner);
      return s.search(ref, query);
    },

    async count(identity: Identity, name: string, filter?: Filter, owner?: string): Promise<number> {
      const s = await requireStore();
      const { ref } = await lookup(identity, name, owner);
      return s.count(ref, filter);
    },

    /** The collection's size and distance, for callers that embed text for it first. */
    async describe(identity: Identity, name: string, owner?: string): Promise<CollectionRef> {
      await requireStore();
      return (await lookup(identity, name, owner)).ref;
    },
  };
}

function refOf(row: Row): CollectionRef {
  return { id: row.id, name: row.name, storageName: row.physicalName, vectorSize: row.vectorSize, distance: row.distance as Distance };
}

/** Whose names a caller's collections share: their user's, else their key's. */
function ownerScopeOf(who: { userId: string | null; apiKeyId?: string | null }): string {
  return who.userId ? `user:${who.userId}` : `key:${who.apiKeyId ?? ""}`;
}

function tooMany(n: number, what: "points" | "ids"): void {
  if (n > MAX_POINTS_PER_REQUEST) {
    throw new AppError("payload_too_large", `At most ${MAX_POINTS_PER_REQUEST} ${what} per request; this one has ${n}`, {
      limit: MAX_POINTS_PER_REQUEST,
      received: n,
    });
  }
}

const g = globalThis as unknown as { __modelServiceVectors?: VectorService };

/** The process-wide service over the process's database and configured store. */
export function vectorService(): VectorService {
  g.__modelServiceVectors ??= createVectorService({ db: getDatabase, store: getVectorStore });
  return g.__modelServiceVectors;
}

/** The vector store's state for GET /health, answered within `timeoutMs`. */
export async function vectorHealth(timeoutMs = 2_000): Promise<{ ok: boolean; backend: VectorBackend; latencyMs: number; error?: string }> {
  const store = getVectorStore();
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let status: { available: boolean; reason?: string };
  try {
    status = await Promise.race([
      store.status(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (error) {
    status = { available: false, reason: redactSecrets((error as Error).message) };
  } finally {
    clearTimeout(timer);
  }
  const latencyMs = Math.round((performance.now() - started) * 100) / 100;
  return status.available
    ? { ok: true, backend: store.backend, latencyMs }
    : { ok: false, backend: store.backend, latencyMs, error: status.reason };
}
