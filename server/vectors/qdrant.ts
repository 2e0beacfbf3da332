import "server-only";
// The Qdrant store, through the official @qdrant/js-client-rest. A collection is a Qdrant
// collection of the same name with one unnamed vector (size and distance from the registry).
//
// Point ids: Qdrant accepts only unsigned integers and UUIDs, while callers use any string
// ("point_1") or unsigned integer. Integers pass through unchanged; a string becomes a UUID
// derived from it (name-based, UUID version 5 layout over SHA-1 — the same string always gives
// the same UUID, so upserts replace and deletes find their points), and the original string is
// kept in the payload under RESERVED_PAYLOAD_KEY, removed again on the way out. "7" and 7 are
// therefore different points, as on pgvector.
//
// Scores are Qdrant's own, whose conventions the pgvector store reproduces (see types.ts).
import { createHash } from "node:crypto";
import { QdrantClient } from "@qdrant/js-client-rest";
import { AppError } from "../kernel/errors.ts";
import { redactSecrets } from "../kernel/logger.ts";
import { toQdrantFilter, type Filter } from "./filter.ts";
import {
  alreadyExists,
  checkPoints,
  checkVector,
  dedupeById,
  MAX_POINTS_PER_REQUEST,
  notFound,
  RESERVED_PAYLOAD_KEY,
  type CollectionRef,
  type Payload,
  type PhysicalCollection,
  type PointId,
  type PointSelector,
  type ScoredPoint,
  type SearchQuery,
  type StoreStatus,
  type VectorPoint,
  type VectorStore,
} from "./types.ts";

export type QdrantStoreOptions = {
  url: string;
  apiKey?: string;
  /** Per-request timeout, in milliseconds. */
  timeoutMs?: number;
  /** How long a status answer is reused. */
  statusTtlMs?: number;
  /**
   * The largest upsert body sent in one request; larger upserts go in several. Qdrant refuses bodies
   * over its `service.max_request_size_mb` (32 MiB by default) with a 413.
   */
  maxRequestBytes?: number;
};

/** Below Qdrant's default 32 MiB request limit, with room for the request's own framing. */
export const QDRANT_MAX_REQUEST_BYTES = 30 * 1024 * 1024;

/** The namespace of the name-based UUIDs for string ids (fixed forever: changing it orphans every point). */
const ID_NAMESPACE = "0b3c1c6e-8f4a-5d1e-9a57-6d2f3f6b8a10";

/**
 * The points in runs whose JSON body (`{"points":[...]}`) stays within `maxBytes`, in order; 413
 * before any request when one point alone is larger.
 */
export function bySize<T>(points: T[], maxBytes: number): T[][] {
  const FRAMING = 64; // {"points":[ ... ]} and the separators, generously
  const batches: T[][] = [];
  let current: T[] = [];
  let size = FRAMING;
  for (const p of points) {
    const bytes = Buffer.byteLength(JSON.stringify(p)) + 1;
    if (bytes + FRAMING > maxBytes) {
      throw new AppError(
        "payload_too_large",
        `A point of ${bytes} bytes is larger than what Qdrant accepts in one request (${maxBytes} bytes)`,
        {
          limit: maxBytes,
          received: bytes,
        },
      );
    }
    if (size + bytes > maxBytes && current.length) {
      batches.push(current);
      current = [];
      size = FRAMING;
    }
    current.push(p);
    size += bytes;
  }
  if (current.length) batches.push(current);
  return batches;
}

/** The Qdrant id for a caller's id: integers unchanged, strings a deterministic UUID. */
export function qdrantPointId(id: PointId): string | number {
  if (typeof id === "number") return id;
  const hash = createHash("sha1")
    .update(Buffer.from(ID_NAMESPACE.replace(/-/g, ""), "hex"))
    .update(id, "utf8")
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50; // version 5
  hash[8] = (hash[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

type ApiErrorLike = { status?: number; data?: unknown; message?: string };

export class QdrantVectorStore implements VectorStore {
  readonly backend = "qdrant" as const;
  private readonly client: QdrantClient;
  private readonly statusTtlMs: number;
  private lastStatus: { status: StoreStatus; at: number } | undefined;

  constructor(private readonly options: QdrantStoreOptions) {
    const url = options.url.replace(/\/+$/, "");
    this.client = new QdrantClient({
      url,
      // Sent as a plain header rather than `apiKey`, which makes the client warn on every http:// URL.
      headers: options.apiKey ? { "api-key": options.apiKey } : {},
      timeout: options.timeoutMs ?? 30_000,
      checkCompatibility: false,
    });
    this.statusTtlMs = options.statusTtlMs ?? 5_000;
  }

  async status(): Promise<StoreStatus> {
    const known = this.lastStatus;
    if (known && Date.now() - known.at < this.statusTtlMs) return known.status;
    let status: StoreStatus;
    try {
      await this.client.getCollections();
      status = { available: true };
    } catch (error) {
      status = { available: false, reason: this.unavailable(error).message };
    }
    this.lastStatus = { status, at: Date.now() };
    return status;
  }

  async createCollection(c: CollectionRef): Promise<void> {
    await this.call(c, () => this.client.createCollection(storage(c), { vectors: { size: c.vectorSize, distance: c.distance } }), {
      // The registry had no such collection, so this one was made outside the service (or is left
      // from an interrupted delete): refuse rather than adopt points whose ids we did not map.
      409: () => alreadyExists(c.name, "Qdrant already has a collection of that name that this service did not create"),
    });
  }

  async getCollection(c: CollectionRef): Promise<PhysicalCollection | undefined> {
    const { exists } = await this.call(c, () => this.client.collectionExists(storage(c)));
    if (!exists) return undefined;
    return { pointsCount: await this.count(c) };
  }

  async deleteCollection(c: CollectionRef): Promise<boolean> {
    const { exists } = await this.call(c, () => this.client.collectionExists(storage(c)));
    if (!exists) return false;
    await this.call(c, () => this.client.deleteCollection(storage(c)));
    return true;
  }

  async upsert(c: CollectionRef, points: VectorPoint[]): Promise<void> {
    checkPoints(c, points);
    const unique = dedupeById(points);
    if (unique.length === 0) return;
    const wire = unique.map((p) => ({
      id: qdrantPointId(p.id),
      vector: p.vector,
      payload: typeof p.id === "string" ? { ...(p.payload ?? {}), [RESERVED_PAYLOAD_KEY]: p.id } : (p.payload ?? {}),
    }));
    for (const batch of bySize(wire, this.options.maxRequestBytes ?? QDRANT_MAX_REQUEST_BYTES)) {
      await this.call(c, () => this.client.upsert(storage(c), { wait: true, points: batch }));
    }
  }

  async deletePoints(c: CollectionRef, selector: PointSelector): Promise<number> {
    if ("ids" in selector) {
      if (selector.ids.length > MAX_POINTS_PER_REQUEST) {
        throw new AppError("payload_too_large", `At most ${MAX_POINTS_PER_REQUEST} ids per request; this one has ${selector.ids.length}`, {
          limit: MAX_POINTS_PER_REQUEST,
          received: selector.ids.length,
        });
      }
      if (selector.ids.length === 0) return 0;
      const ids = [...new Set(selector.ids.map(qdrantPointId))];
      // Qdrant's delete does not say how many points it removed: ask which exist first.
      const existing = await this.call(c, () => this.client.retrieve(storage(c), { ids, with_payload: false, with_vector: false }));
      await this.call(c, () => this.client.delete(storage(c), { wait: true, points: ids }));
      return existing.length;
    }
    const filter = toQdrantFilter(selector.filter) as Record<string, unknown>;
    const { count } = await this.call(c, () => this.client.count(storage(c), { filter, exact: true }));
    await this.call(c, () => this.client.delete(storage(c), { wait: true, filter }));
    return count;
  }

  async search(c: CollectionRef, query: SearchQuery): Promise<ScoredPoint[]> {
    checkVector(c, query.vector, "query_vector");
    const result = await this.call(c, () =>
      this.client.query(storage(c), {
        query: query.vector,
        limit: query.limit,
        ...(query.scoreThreshold !== undefined ? { score_threshold: query.scoreThreshold } : {}),
        ...(query.filter ? { filter: toQdrantFilter(query.filter) as Record<string, unknown> } : {}),
        with_payload: true,
        with_vector: false,
      }),
    );
    return result.points.map((p) => {
      const payload = { ...((p.payload ?? {}) as Payload) };
      const original = payload[RESERVED_PAYLOAD_KEY];
      delete payload[RESERVED_PAYLOAD_KEY];
      const id: PointId = typeof original === "string" ? original : p.id;
      return { id, score: p.score, payload };
    });
  }

  async count(c: CollectionRef, filter?: Filter): Promise<number> {
    const { count } = await this.call(c, () =>
      this.client.count(storage(c), { exact: true, ...(filter ? { filter: toQdrantFilter(filter) as Record<string, unknown> } : {}) }),
    );
    return count;
  }

  async close(): Promise<void> {
    // The client's keep-alive agent closes its idle sockets by itself.
  }

  /** Runs a client call, mapping Qdrant's answers to ours: 404 → not_found, 400 → invalid_request, others → unavailable. */
  private async call<T>(c: CollectionRef, fn: () => Promise<T>, overrides: Record<number, () => AppError> = {}): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const e = error as ApiErrorLike;
      if (typeof e.status === "number" && overrides[e.status]) throw overrides[e.status]!();
      if (e.status === 404) throw notFound(c.name);
      if (e.status === 409) throw alreadyExists(c.name);
      if (e.status === 400 || e.status === 422)
        throw new AppError("invalid_request", `Qdrant refused the request: ${this.qdrantMessage(e)}`);
      throw this.unavailable(error);
    }
  }

  private qdrantMessage(e: ApiErrorLike): string {
    const data = e.data as { status?: { error?: unknown } } | string | undefined;
    const text =
      typeof data === "string" ? data : typeof data?.status?.error === "string" ? data.status.error : (e.message ?? "no reason given");
    return this.scrub(text);
  }

  private unavailable(error: unknown): AppError {
    const e = error as ApiErrorLike & { cause?: { code?: string; message?: string } };
    let why: string;
    if (e.status === 401 || e.status === 403) why = "it rejected the API key (check QDRANT_API_KEY)";
    else if (typeof e.status === "number") why = `it answered ${e.status}: ${this.qdrantMessage(e)}`;
    else why = `it cannot be reached (${this.scrub(e.cause?.code ?? e.cause?.message ?? e.message ?? String(error))})`;
    return new AppError("unavailable", `Qdrant at ${this.safeUrl()} is unavailable: ${why}`);
  }

  private safeUrl(): string {
    try {
      const u = new URL(this.options.url);
      return `${u.protocol}//${u.host}`;
    } catch {
      return "QDRANT_URL";
    }
  }

  private scrub(text: string): string {
    const key = this.options.apiKey;
    const out = key ? text.split(key).join("[redacted]") : text;
    return redactSecrets(out);
  }
}

/** The collection's name in Qdrant: its storage name (unique across the service), else its name. */
function storage(c: CollectionRef): string {
  return c.storageName ?? c.name;
}
