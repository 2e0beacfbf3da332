// A wire-level emulator of the Qdrant REST API, for the paths @qdrant/js-client-rest 1.18 calls for
// what the service does: collections (list, get, exists, create, delete) and points (upsert,
// retrieve, delete by ids or filter, search, query, count, scroll). No Qdrant server can run on this
// machine, so tests drive the real client against this over HTTP.
//
// Faithful where it matters for the contract tests: response envelopes
// (`{"result": ..., "status": "ok", "time": ...}`), error envelopes (`{"status": {"error": ...}}`) and
// statuses (404 unknown collection, 409 existing collection, 400 wrong vector size with Qdrant's
// "Vector dimension error" text, 422 undecodable JSON), the `api-key` header, point ids (unsigned
// integers or UUIDs only), vectors held as float32 with Cosine vectors normalised on the way in,
// exact scoring (Cosine: dot of normalised vectors; Dot; Euclid: distance), ordering and the strict
// score_threshold test, and the filter subset (must/should/must_not, match value/any, range,
// nested filters, "a.b", "a[].b" and quoted `a."b c"` keys; a key outside Qdrant's path syntax is
// refused with 400 "Invalid json path" as the server refuses it).
//
// Start it by hand:  npx tsx tests/emulators/qdrant-emulator.ts [--port 6333] [--api-key secret]
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

type Distance = "Cosine" | "Euclid" | "Dot" | "Manhattan";
type PointId = number | string;
type StoredPoint = { id: PointId; vector: Float32Array; payload: Record<string, unknown>; version: number };
type Collection = { name: string; size: number; distance: Distance; points: Map<string, StoredPoint>; createdOrder: number };

export type QdrantEmulatorOptions = {
  port?: number;
  host?: string;
  apiKey?: string;
  version?: string;
  /** service.max_request_size_mb in bytes: a larger body is refused with 413 (default 32 MiB, as Qdrant's). */
  maxRequestBytes?: number;
};

export type QdrantEmulator = {
  url: string;
  port: number;
  /** Every request seen: method and path with query, in order. */
  requests: { method: string; path: string }[];
  collections: Map<string, Collection>;
  close(): Promise<void>;
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

export async function startQdrantEmulator(options: QdrantEmulatorOptions = {}): Promise<QdrantEmulator> {
  const collections = new Map<string, Collection>();
  const requests: { method: string; path: string }[] = [];
  let operationId = 0;
  let created = 0;
  const version = options.version ?? "1.18.0";

  const server = createServer((req, res) => {
    const started = performance.now();
    requests.push({ method: req.method ?? "GET", path: req.url ?? "/" });
    void handle(req, res, started).catch((error: unknown) => {
      if (error instanceof HttpError) return sendError(res, error.status, error.message, started);
      sendError(res, 500, `Service internal error: ${(error as Error).message}`, started);
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "") || "/";

    // Qdrant leaves the health probes open and guards everything else with the key.
    if (!["/healthz", "/livez", "/readyz"].includes(path) && options.apiKey) {
      const given = req.headers["api-key"] ?? /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? "")?.[1];
      if (!given) return sendText(res, 401, "Must provide an API key or an Authorization bearer token");
      if (given !== options.apiKey) return sendText(res, 401, "Invalid API key or JWT");
    }
    const body = method === "GET" || method === "HEAD" ? undefined : await readBody(req, options.maxRequestBytes ?? 32 * 1024 * 1024);
    const ok = (result: unknown) => sendJson(res, 200, { result, status: "ok", time: (performance.now() - started) / 1000 });

    if (path === "/" && method === "GET") return sendJson(res, 200, { title: "qdrant - vector search engine", version, commit: null });
    if (["/healthz", "/livez", "/readyz"].includes(path)) return sendText(res, 200, `${path.slice(1)} check passed`);
    if (path === "/collections" && method === "GET") {
      return ok({ collections: [...collections.values()].sort((a, b) => a.createdOrder - b.createdOrder).map((c) => ({ name: c.name })) });
    }

    const m = /^\/collections\/([^/]+)(\/.*)?$/.exec(path);
    if (!m) throw new HttpError(404, "");
    const name = decodeURIComponent(m[1]!);
    const rest = m[2] ?? "";
    const wait = url.searchParams.get("wait") === "true";
    const updateResult = () => ({ operation_id: ++operationId, status: wait ? "completed" : "acknowledged" });

    if (rest === "") {
      if (method === "PUT") return ok(createCollection(name, body));
      if (method === "DELETE") return ok(collections.delete(name));
      if (method === "GET") return ok(collectionInfo(need(name)));
      throw new HttpError(405, "");
    }
    if (rest === "/exists" && method === "GET") return ok({ exists: collections.has(name) });

    const c = need(name);
    if (body && typeof body === "object" && !Array.isArray(body)) checkedFilter((body as { filter?: unknown }).filter);
    switch (`${method} ${rest}`) {
      case "PUT /points":
        upsert(c, object(body));
        return ok(updateResult());
      case "POST /points": {
        const b = object(body);
        const ids = array(b.ids, "ids").map(pointId);
        return ok(
          ids.flatMap((id) => {
            const p = c.points.get(keyOf(id));
            return p ? [render(p, b.with_payload ?? true, b.with_vector ?? false)] : [];
          }),
        );
      }
      case "POST /points/delete": {
        const b = object(body);
        if (b.points !== undefined) for (const id of array(b.points, "points").map(pointId)) c.points.delete(keyOf(id));
        else if (b.filter !== undefined) {
          for (const [k, p] of c.points) if (matches(p.payload, b.filter)) c.points.delete(k);
        } else throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum PointsSelector");
        return ok(updateResult());
      }
      case "POST /points/search": {
        const b = object(body);
        return ok(search(c, b.vector, b));
      }
      case "POST /points/query": {
        const b = object(body);
        const q = b.query;
        const vector = q && typeof q === "object" && !Array.isArray(q) && "nearest" in q ? (q as { nearest: unknown }).nearest : q;
        if (vector === undefined) return ok({ points: scroll(c, b).points });
        return ok({ points: search(c, vector, b) });
      }
      case "POST /points/count": {
        const b = object(body ?? {});
        let n = 0;
        for (const p of c.points.values()) if (b.filter === undefined || b.filter === null || matches(p.payload, b.filter)) n++;
        return ok({ count: n });
      }
      case "POST /points/scroll":
        return ok(scroll(c, object(body ?? {})));
      default:
        throw new HttpError(404, "");
    }
  }

  function need(name: string): Collection {
    const c = collections.get(name);
    if (!c) throw new HttpError(404, `Not found: Collection \`${name}\` doesn't exist!`);
    return c;
  }

  function createCollection(name: string, body: unknown): true {
    const b = object(body);
    const v = b.vectors;
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new HttpError(422, "Json deserialize error: missing field `vectors`");
    const { size, distance } = v as { size?: unknown; distance?: unknown };
    if (typeof size !== "number" || !Number.isInteger(size)) throw new HttpError(422, "Json deserialize error: missing field `size`");
    if (!["Cosine", "Euclid", "Dot", "Manhattan"].includes(distance as string)) {
      throw new HttpError(
        422,
        `Json deserialize error: unknown variant \`${String(distance)}\`, expected one of \`Cosine\`, \`Euclid\`, \`Dot\`, \`Manhattan\``,
      );
    }
    if (size < 1 || size > 65536)
      throw new HttpError(400, "Validation error in JSON body: [vectors.size: value 0 invalid, must be from 1 to 65536]");
    if (!/^[^<>:"/\\|?*\x00]{1,255}$/.test(name))
      throw new HttpError(400, `Validation error in path parameters: [name: collection name cannot contain "/" char]`);
    if (collections.has(name)) throw new HttpError(409, `Wrong input: Collection \`${name}\` already exists!`);
    collections.set(name, { name, size, distance: distance as Distance, points: new Map(), createdOrder: created++ });
    return true;
  }

  function collectionInfo(c: Collection) {
    return {
      status: "green",
      optimizer_status: "ok",
      indexed_vectors_count: 0,
      points_count: c.points.size,
      segments_count: 1,
      config: {
        params: {
          vectors: { size: c.size, distance: c.distance },
          shard_number: 1,
          replication_factor: 1,
          write_consistency_factor: 1,
          on_disk_payload: true,
        },
        hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000, max_indexing_threads: 0, on_disk: false },
        optimizer_config: {
          deleted_threshold: 0.2,
          vacuum_min_vector_number: 1000,
          default_segment_number: 0,
          max_segment_size: null,
          memmap_threshold: null,
          indexing_threshold: 10000,
          flush_interval_sec: 5,
          max_optimization_threads: null,
        },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
        quantization_config: null,
      },
      payload_schema: {},
    };
  }

  function upsert(c: Collection, b: Record<string, unknown>): void {
    let incoming: { id: unknown; vector: unknown; payload: unknown }[];
    if (b.points !== undefined) {
      incoming = array(b.points, "points").map((p) => object(p) as { id: unknown; vector: unknown; payload: unknown });
    } else if (b.batch !== undefined) {
      const batch = object(b.batch);
      const ids = array(batch.ids, "ids");
      const vectors = array(batch.vectors, "vectors");
      const payloads = batch.payloads === undefined || batch.payloads === null ? [] : array(batch.payloads, "payloads");
      incoming = ids.map((id, i) => ({ id, vector: vectors[i], payload: payloads[i] }));
    } else {
      throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum PointInsertOperations");
    }
    // Validate the whole batch first: Qdrant refuses a batch with one bad point and applies nothing.
    const ready = incoming.map((p) => {
      const id = pointId(p.id);
      if (!Array.isArray(p.vector) || p.vector.some((x) => typeof x !== "number")) {
        throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum VectorStruct");
      }
      if (p.vector.length !== c.size)
        throw new HttpError(400, `Wrong input: Vector dimension error: expected dim: ${c.size}, got ${p.vector.length}`);
      const payload = p.payload === undefined || p.payload === null ? {} : object(p.payload);
      return { id, vector: prepare(c.distance, p.vector as number[]), payload };
    });
    for (const p of ready) {
      const existing = c.points.get(keyOf(p.id));
      c.points.set(keyOf(p.id), { ...p, payload: structuredClone(p.payload), version: (existing?.version ?? -1) + 1 });
    }
  }

  function search(c: Collection, vectorIn: unknown, b: Record<string, unknown>) {
    if (!Array.isArray(vectorIn) || vectorIn.some((x) => typeof x !== "number")) {
      throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum NamedVectorStruct");
    }
    if (vectorIn.length !== c.size)
      throw new HttpError(400, `Wrong input: Vector dimension error: expected dim: ${c.size}, got ${vectorIn.length}`);
    const query = prepare(c.distance, vectorIn as number[]);
    const limit = b.limit === undefined || b.limit === null ? 10 : Number(b.limit);
    const offset = Number(b.offset ?? 0);
    const threshold = b.score_threshold === undefined || b.score_threshold === null ? undefined : Number(b.score_threshold);
    const largerBetter = c.distance === "Cosine" || c.distance === "Dot";
    const scored: { p: StoredPoint; score: number }[] = [];
    for (const p of c.points.values()) {
      if (b.filter !== undefined && b.filter !== null && !matches(p.payload, b.filter)) continue;
      const score = Math.fround(scoreOf(c.distance, query, p.vector));
      // Distance::check_threshold: strictly better than the threshold.
      if (threshold !== undefined && !(largerBetter ? score > threshold : score < threshold)) continue;
      scored.push({ p, score });
    }
    scored.sort((x, y) => (largerBetter ? y.score - x.score : x.score - y.score));
    return scored
      .slice(offset, offset + limit)
      .map(({ p, score }) => ({ ...render(p, b.with_payload ?? false, b.with_vector ?? false), score }));
  }

  function scroll(c: Collection, b: Record<string, unknown>) {
    const limit = Number(b.limit ?? 10);
    const all = [...c.points.values()]
      .filter((p) => b.filter === undefined || b.filter === null || matches(p.payload, b.filter))
      .sort(compareIds);
    const start = b.offset === undefined || b.offset === null ? 0 : all.findIndex((p) => compareIds(p, { id: pointId(b.offset) }) >= 0);
    const page = all.slice(Math.max(0, start), Math.max(0, start) + limit);
    const next = all[Math.max(0, start) + limit];
    return { points: page.map((p) => render(p, b.with_payload ?? true, b.with_vector ?? false)), next_page_offset: next ? next.id : null };
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    requests,
    collections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------

function pointId(v: unknown): PointId {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === "string" && UUID.test(v)) {
    const hex = v.replace(/-/g, "").toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  throw new HttpError(
    400,
    `Format error in JSON body: value ${typeof v === "string" ? v : JSON.stringify(v)} is not a valid point ID, valid values are either an unsigned integer or a UUID`,
  );
}

function keyOf(id: PointId): string {
  return typeof id === "number" ? `n${id}` : `u${id}`;
}

// Qdrant orders point ids numbers first (ascending), then UUIDs.
function compareIds(a: { id: PointId }, b: { id: PointId }): number {
  if (typeof a.id === "number" && typeof b.id === "number") return a.id - b.id;
  if (typeof a.id === "number") return -1;
  if (typeof b.id === "number") return 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function prepare(distance: Distance, v: number[]): Float32Array {
  if (distance !== "Cosine") return Float32Array.from(v);
  // Qdrant normalises Cosine vectors when they arrive and then scores with a dot product.
  const f = Float32Array.from(v);
  let norm = 0;
  for (const x of f) norm += x * x;
  norm = Math.sqrt(norm);
  if (norm < 1.1920929e-7) return f;
  return f.map((x) => x / norm);
}

function scoreOf(distance: Distance, a: Float32Array, b: Float32Array): number {
  let s = 0;
  switch (distance) {
    case "Cosine":
    case "Dot":
      for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
      return s;
    case "Euclid":
      for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
      return Math.sqrt(s);
    case "Manhattan":
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
      return s;
  }
}

function render(p: StoredPoint, withPayload: unknown, withVector: unknown) {
  return {
    id: p.id,
    version: p.version,
    payload: withPayload === false ? null : structuredClone(p.payload),
    vector: withVector === true ? Array.from(p.vector) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Filters, as Qdrant evaluates them.

function matches(payload: Record<string, unknown>, filter: unknown): boolean {
  const f = object(filter);
  for (const k of Object.keys(f)) {
    if (!["must", "should", "must_not", "min_should"].includes(k))
      throw new HttpError(422, `Json deserialize error: unknown field \`${k}\``);
  }
  const list = (v: unknown) => (v === undefined || v === null ? [] : Array.isArray(v) ? v : [v]);
  const must = list(f.must);
  const should = list(f.should);
  const mustNot = list(f.must_not);
  return (
    must.every((c) => condition(payload, c)) &&
    (should.length === 0 || should.some((c) => condition(payload, c))) &&
    !mustNot.some((c) => condition(payload, c))
  );
}

function condition(payload: Record<string, unknown>, c: unknown): boolean {
  const o = object(c);
  if (!("key" in o)) return matches(payload, o);
  const values = valuesAt(payload, String(o.key)).flatMap((v) => (Array.isArray(v) ? v : [v]));
  if (o.match !== undefined) {
    const m = object(o.match);
    if ("value" in m) return values.some((v) => sameValue(v, m.value));
    if ("any" in m) return values.some((v) => array(m.any, "any").some((x) => sameValue(v, x)));
    throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum Match");
  }
  if (o.range !== undefined) {
    const r = object(o.range) as { gt?: number; gte?: number; lt?: number; lte?: number };
    return values.some(
      (v) =>
        typeof v === "number" &&
        (r.gt === undefined || r.gt === null || v > r.gt) &&
        (r.gte === undefined || r.gte === null || v >= r.gte) &&
        (r.lt === undefined || r.lt === null || v < r.lt) &&
        (r.lte === undefined || r.lte === null || v <= r.lte),
    );
  }
  throw new HttpError(422, "Json deserialize error: data did not match any variant of untagged enum Condition");
}

function sameValue(a: unknown, b: unknown): boolean {
  return (typeof a === "string" || typeof a === "number" || typeof a === "boolean") && a === b;
}

/**
 * A key path as Qdrant's parser reads it (json_path/parse.rs): segments of letters, digits, `_`
 * and `-`, or in double quotes (anything but `"` and `\`), joined by `.`, each optionally followed
 * by `[]` (every element) or `[N]`. Anything else is refused when the request is decoded, before any
 * point is read: 400 "Invalid json path".
 */
function parseJsonPath(key: string): { key: string; each: boolean }[] {
  const segments: { key: string; each: boolean }[] = [];
  let rest = key;
  for (;;) {
    const m = /^(?:([\p{L}\p{N}_-]+)|"([^"\\]*)")(\[\]|\[\d+\])?/u.exec(rest);
    if (!m) throw new HttpError(400, `Format error in JSON body: Invalid json path: \`${key}\``);
    segments.push({ key: m[1] ?? m[2]!, each: m[3] === "[]" });
    rest = rest.slice(m[0].length);
    if (rest === "") return segments;
    if (!rest.startsWith(".")) throw new HttpError(400, `Format error in JSON body: Invalid json path: \`${key}\``);
    rest = rest.slice(1);
  }
}

/** The filter of a request, its keys checked as Qdrant decodes them (before it reads any point). */
function checkedFilter(filter: unknown): unknown {
  if (filter === undefined || filter === null) return filter;
  const walk = (f: unknown, depth: number) => {
    if (depth > 64 || !f || typeof f !== "object") return;
    if (Array.isArray(f)) return f.forEach((x) => walk(x, depth + 1));
    const o = f as Record<string, unknown>;
    if (typeof o.key === "string") parseJsonPath(o.key);
    for (const k of ["must", "should", "must_not"]) if (o[k] !== undefined) walk(o[k], depth + 1);
  };
  walk(filter, 0);
  return filter;
}

// get.rs: a key reaches into objects only; "key[]" flattens an array at that step.
function valuesAt(payload: Record<string, unknown>, key: string): unknown[] {
  let current: unknown[] = [payload];
  for (const segment of parseJsonPath(key)) {
    const each = segment.each;
    const k = segment.key;
    const next: unknown[] = [];
    for (const v of current) {
      if (!v || typeof v !== "object" || Array.isArray(v)) continue;
      const child = (v as Record<string, unknown>)[k];
      if (child === undefined) continue;
      if (each) {
        if (Array.isArray(child)) next.push(...child);
      } else next.push(child);
    }
    current = next;
  }
  return current;
}

// ---------------------------------------------------------------------------------------------

function object(v: unknown): Record<string, unknown> {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new HttpError(422, "Json deserialize error: invalid type, expected a map");
  return v as Record<string, unknown>;
}

function array(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw new HttpError(422, `Json deserialize error: invalid type for \`${field}\`, expected a sequence`);
  return v;
}

async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  // actix-web's JSON extractor, as Qdrant answers it.
  if (size > limit) throw new HttpError(413, `JSON payload (${size} bytes) is larger than allowed (limit: ${limit} bytes).`);
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `Format error in JSON body: ${(e as Error).message}`);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, started: number): void {
  if (!message) {
    res.writeHead(status);
    res.end();
    return;
  }
  sendJson(res, status, { status: { error: message }, time: (performance.now() - started) / 1000 });
}

// Started by hand: print the URL and serve until interrupted.
if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const emulator = await startQdrantEmulator({ port: Number(arg("--port") ?? 6333), apiKey: arg("--api-key") });
  console.log(`Qdrant emulator on ${emulator.url}${arg("--api-key") ? " (api-key required)" : ""}`);
}
