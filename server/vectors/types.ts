// The vector-store interface: what the pgvector and Qdrant implementations both do, with the same
// meaning, so that the service (server/features/vectors/vectors.ts) and the shared contract tests
// (tests/vectors/) do not care which one runs.
//
// Collection metadata (name, size, distance, owner) lives in the service's own `vector_collections`
// table; a store is handed a `CollectionRef` from there and owns only the points. Scores follow
// Qdrant's conventions on both backends:
//   Cosine  cosine similarity, higher is better; score_threshold keeps scores strictly above it
//   Dot     dot product,       higher is better; score_threshold keeps scores strictly above it
//   Euclid  Euclidean distance, lower is better; score_threshold keeps distances strictly below it
// (Qdrant's `Distance::check_threshold`: `score > threshold` for Cosine/Dot, `score < threshold` for Euclid.)
import { z } from "zod";
import { float32, safeString } from "../kernel/validation.ts";
import { AppError } from "../kernel/errors.ts";
import type { Filter } from "./filter.ts";
import { DISTANCES, type Distance } from "../../lib/vectors.ts";

export { DISTANCES, type Distance } from "../../lib/vectors.ts";

export type VectorBackend = "pgvector" | "qdrant";

/** A caller's point id: any non-empty string or an unsigned integer, returned exactly as given. */
export type PointId = string | number;
export type Payload = Record<string, unknown>;

export type VectorPoint = { id: PointId; vector: number[]; payload?: Payload | null };

/**
 * A collection as the stores see it: the registry row's id (a safe identifier), name, size and
 * distance, and `storageName`, the name of its storage in a backend that names it (Qdrant's
 * collection; the name itself when absent). Names are unique per owner, storage names across the service.
 */
export type CollectionRef = { id: string; name: string; storageName?: string; vectorSize: number; distance: Distance };

export type SearchQuery = {
  vector: number[];
  limit: number;
  /** Cosine/Dot: keep scores above it; Euclid: keep distances below it. */
  scoreThreshold?: number;
  filter?: Filter;
};

export type ScoredPoint = { id: PointId; score: number; payload: Payload };

export type PointSelector = { ids: PointId[] } | { filter: Filter };

export type StoreStatus = { available: true } | { available: false; reason: string };

export type PhysicalCollection = { pointsCount: number };

export interface VectorStore {
  readonly backend: VectorBackend;
  /** Whether calls can succeed now (pgvector: the extension exists; Qdrant: the server answers). */
  status(): Promise<StoreStatus>;
  /** Creates the backend's storage for a collection; `conflict` when it exists already. */
  createCollection(collection: CollectionRef): Promise<void>;
  /** The backend's view of a collection, or undefined when its storage is missing. */
  getCollection(collection: CollectionRef): Promise<PhysicalCollection | undefined>;
  /** Drops the collection's storage and points; false when there was none. */
  deleteCollection(collection: CollectionRef): Promise<boolean>;
  /** Inserts or replaces points by id (a later duplicate id in one call wins). */
  upsert(collection: CollectionRef, points: VectorPoint[]): Promise<void>;
  /** Deletes points by id or by payload filter; returns how many existed and are gone. */
  deletePoints(collection: CollectionRef, selector: PointSelector): Promise<number>;
  /** Nearest points, best first (see the header for what score means). */
  search(collection: CollectionRef, query: SearchQuery): Promise<ScoredPoint[]>;
  /** Points matching the filter (all points without one). */
  count(collection: CollectionRef, filter?: Filter): Promise<number>;
  /** Releases connections; the store is not used afterwards. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Limits and validation shared by both backends, so they refuse the same things the same way.

/** pgvector's `vector` type holds up to 16,000 dimensions (Qdrant allows more; the smaller limit holds for both). */
export const MAX_VECTOR_SIZE = 16_000;
/** Points per upsert and ids per delete: more answer 413. */
export const MAX_POINTS_PER_REQUEST = 1_000;
export const MAX_SEARCH_LIMIT = 1_000;
/** Kept inside Qdrant payloads for string ids (see qdrant.ts); callers may not use it. */
export const RESERVED_PAYLOAD_KEY = "_ms_point_id";

export const distanceSchema = z.enum(DISTANCES, { error: "one of Cosine, Euclid, Dot" });

/** An admin's choice of whose collection a name means (names are unique per owner). */
export const collectionOwnerSchema = safeString.min(1).max(320).meta({
  description: "Admins only: whose collection (user:<id>, key:<id> or the user's e-mail), when several owners have one of that name",
});

export const collectionNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, {
  error: "1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit",
});

export const vectorSizeSchema = z
  .number({ error: `a whole number from 1 to ${MAX_VECTOR_SIZE}` })
  .int({ error: `a whole number from 1 to ${MAX_VECTOR_SIZE}` })
  .min(1, { error: `a whole number from 1 to ${MAX_VECTOR_SIZE}` })
  .max(MAX_VECTOR_SIZE, { error: `a whole number from 1 to ${MAX_VECTOR_SIZE}` });

const ID_EXPECTED = `a non-empty string (up to 256 characters) or an unsigned integer up to ${Number.MAX_SAFE_INTEGER}`;
export const pointIdSchema = z.union([safeString.min(1).max(256), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)], {
  error: ID_EXPECTED,
});

/** Values as float32 holds them (pgvector and Qdrant store float32): larger ones are refused, not made Infinity. */
export const vectorSchema = z.array(float32, { error: "an array of numbers" });

export const payloadSchema = z
  .record(safeString, z.unknown(), { error: "a JSON object" })
  .refine((p) => !(RESERVED_PAYLOAD_KEY in p), { error: `the payload key ${RESERVED_PAYLOAD_KEY} is reserved` });

export const pointSchema = z.object({
  id: pointIdSchema,
  vector: vectorSchema,
  payload: payloadSchema.nullish(),
});

/** Throws 400 naming the point when a vector's length differs from the collection's, or it cannot be compared. */
export function checkVector(collection: CollectionRef, vector: number[], where: string): void {
  if (vector.length !== collection.vectorSize) {
    throw new AppError(
      "invalid_request",
      `${where} has ${vector.length} dimensions, but collection ${collection.name} expects ${collection.vectorSize}`,
      { expected: collection.vectorSize, received: vector.length, field: where },
    );
  }
  for (const x of vector) {
    if (!Number.isFinite(x)) throw new AppError("invalid_request", `${where} holds a value that is not a finite number`, { field: where });
  }
  // Cosine similarity is undefined for a zero vector (pgvector answers NaN); refusing it keeps the
  // two backends' answers equal.
  if (collection.distance === "Cosine" && vector.every((x) => x === 0)) {
    throw new AppError("invalid_request", `${where} is all zeros, which has no direction to compare with Cosine distance`, {
      field: where,
    });
  }
}

/** Validates a batch of points against the collection: count, lengths, values. */
export function checkPoints(collection: CollectionRef, points: VectorPoint[]): void {
  if (points.length > MAX_POINTS_PER_REQUEST) {
    throw new AppError("payload_too_large", `At most ${MAX_POINTS_PER_REQUEST} points per request; this one has ${points.length}`, {
      limit: MAX_POINTS_PER_REQUEST,
      received: points.length,
    });
  }
  points.forEach((p, i) => checkVector(collection, p.vector, `points[${i}].vector`));
}

/** Keeps only the last point of each id (an upsert where a later duplicate wins), in the order of those last ones. */
export function dedupeById(points: VectorPoint[]): VectorPoint[] {
  const byKey = new Map<string, VectorPoint>();
  for (const p of points) {
    const key = idKey(p.id);
    if (byKey.has(key)) byKey.delete(key);
    byKey.set(key, p);
  }
  return [...byKey.values()];
}

/** A string that tells "7" and 7 apart. */
export function idKey(id: PointId): string {
  return typeof id === "number" ? `n:${id}` : `s:${id}`;
}

export function notFound(name: string): AppError {
  return new AppError("not_found", `Collection ${name} does not exist`, { collection_name: name });
}

export function alreadyExists(name: string, why?: string): AppError {
  return new AppError("conflict", `Collection ${name} already exists${why ? `: ${why}` : ""}`, { collection_name: name });
}
