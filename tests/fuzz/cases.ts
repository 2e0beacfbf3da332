// The requests of a fuzz run: for each target and caller, generated cases (a valid sample with one
// thing broken: a value replaced by a nasty one, a field dropped or added, the wrong type, the
// whole body replaced, the body not JSON at all) and the cases issue #15 listed, each one written
// out. Everything is drawn from the seeded generator, so a run can be replayed.
import type { Caller, Outgoing } from "./harness.ts";
import type { Random } from "./random.ts";
import { sample } from "./samples.ts";
import type { RestTarget, Target, TrpcTarget } from "./targets.ts";
import { NASTY_STRINGS, nastyValue, nested, randomString } from "./values.ts";

export type FuzzCase = { label: string; request: Outgoing };

const JSON_TYPE = { "content-type": "application/json" };

/** Every path to a value inside `v` (objects and arrays), at most `limit` deep. */
function pathsOf(v: unknown, limit = 6, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [at];
  if (at.length >= limit || v === null || typeof v !== "object") return out;
  const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, child] of entries) out.push(...pathsOf(child, limit, [...at, k]));
  return out;
}

function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T);
}

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  let node = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
  return root;
}

function deleteAt(root: unknown, path: (string | number)[]): unknown {
  if (path.length === 0) return undefined;
  let node = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (Array.isArray(node) && typeof last === "number") node.splice(last, 1);
  else delete node[last];
  return root;
}

/** One thing broken in a valid value; the label says what. */
export function mutate(valid: unknown, r: Random): { value: unknown; label: string } {
  const value = clone(valid);
  const paths = pathsOf(value);
  const path = r.pick(paths);
  const where = path.length ? path.join(".") : "(root)";
  const op = r.int(0, 9);
  if (op <= 4) {
    const nasty = nastyValue(r);
    return { value: setAt(value, path, nasty), label: `${where} = ${preview(nasty)}` };
  }
  if (op === 5 && path.length) return { value: deleteAt(value, path), label: `without ${where}` };
  if (op === 6) {
    const parent = r.pick(paths.filter((p) => p.length === 0 || typeof p.at(-1) === "string"));
    const target = parent.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], value);
    if (target && typeof target === "object" && !Array.isArray(target)) {
      const key = r.pick(["\u0000", "extra", "__proto__", randomString(r)]);
      (target as Record<string, unknown>)[key] = nastyValue(r);
      return { value, label: `${parent.join(".") || "(root)"} with an extra key ${preview(key)}` };
    }
  }
  if (op === 7) {
    // Many copies of an array's elements: limits on counts and sizes.
    const arrays = paths.filter((p) => Array.isArray(p.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], value)));
    if (arrays.length) {
      const at = r.pick(arrays);
      const arr = at.reduce<unknown>((n, k) => (n as Record<string | number, unknown>)[k], value) as unknown[];
      const n = r.pick([2, 17, 1_001, 3_000]);
      return {
        value: setAt(
          value,
          at,
          Array.from({ length: n }, () => clone(arr[0] ?? nastyValue(r))),
        ),
        label: `${at.join(".") || "(root)"} with ${n} elements`,
      };
    }
  }
  if (op === 8) {
    const wrong = r.pick<unknown>([[], {}, 7, "7", true, null, [[]], { "0": 1 }]);
    return { value: setAt(value, path, wrong), label: `${where} of the wrong type ${preview(wrong)}` };
  }
  const whole = nastyValue(r);
  return { value: whole, label: `the whole input = ${preview(whole)}` };
}

export function preview(v: unknown): string {
  let s: string;
  try {
    s = typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
  } catch {
    s = `(${typeof v}, too deep to print)`;
  }
  return s.length > 60 ? `${s.slice(0, 57)}…(${s.length} chars)` : s;
}

/** Percent-encodes any string, a lone surrogate included (as UTF-8 would carry it: U+FFFD). */
function encode(s: string): string {
  return [...Buffer.from(s, "utf8")]
    .map((b) =>
      /[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`,
    )
    .join("");
}

function stringify(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// REST

/** A pattern's path with its parameters filled in (already encoded). */
function fillPath(t: RestTarget, caller: Caller, param?: string): string {
  return t.pattern.replace(
    /:(\w+)/g,
    (_, name: string) => param ?? encode(name === "name" ? caller.fixtures.collection : caller.fixtures.chatModels[0]!),
  );
}

function queryString(q: unknown): string {
  if (!q || typeof q !== "object") return q === undefined ? "" : `?${encode(String(stringify(q)))}`;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    for (const item of Array.isArray(v) ? v : [v]) params.append(k, typeof item === "string" ? item : (stringify(item) ?? ""));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

export function restCases(t: RestTarget, caller: Caller, r: Random, count: number): FuzzCase[] {
  const out: FuzzCase[] = [];
  const headers = { ...caller.headers, ...JSON_TYPE };
  const validBody = () => sample(t.body, r, caller.fixtures);
  const validQuery = () => sample(t.query, r, caller.fixtures);
  const request = (label: string, body: unknown, query: unknown, p = fillPath(t, caller), extra: Record<string, string> = {}): FuzzCase => {
    const text = t.method === "GET" || t.method === "DELETE" ? (body === undefined ? undefined : stringify(body)) : (stringify(body) ?? "");
    return {
      label,
      request: {
        method: t.method,
        path: `${p}${queryString(query)}`,
        headers: { ...headers, ...extra },
        body: t.method === "GET" ? undefined : text,
      },
    };
  };
  out.push(request("a valid sample", validBody(), validQuery()));
  for (let i = 0; i < count; i++) {
    const what = r.int(0, 9);
    if (what <= 5 && t.body) {
      const m = mutate(validBody(), r);
      out.push(request(`body: ${m.label}`, m.value, validQuery()));
    } else if (what <= 7 && t.query) {
      const m = mutate(validQuery(), r);
      out.push(request(`query: ${m.label}`, validBody(), m.value));
    } else if (what === 8 && t.pattern.includes(":")) {
      const raw = r.pick(["%", "%zz", "%00", "a%00b", "%ED%A0%80", "..%2F..%2F", encode(r.pick(NASTY_STRINGS)), encode(randomString(r))]);
      out.push(request(`path parameter ${raw}`, validBody(), validQuery(), fillPath(t, caller, raw || "x")));
    } else {
      const raw = r.pick(["{", "[1,", "nul", "\u0000", '{"a":1}{"b":2}', "", "   "]);
      const type = r.pick(["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]);
      out.push({
        label: `body text ${preview(raw)} as ${type || "no content type"}`,
        request: {
          method: t.method,
          path: `${fillPath(t, caller)}${queryString(validQuery())}`,
          headers: { ...caller.headers, ...(type ? { "content-type": type } : {}) },
          body: t.method === "GET" ? undefined : raw,
        },
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// tRPC

function trpcRequest(t: TrpcTarget, caller: Caller, input: unknown, label: string, meta?: unknown): FuzzCase {
  const envelope = input === undefined && meta === undefined ? undefined : { json: input, ...(meta === undefined ? {} : { meta }) };
  const path = `/api/trpc/${t.path}`;
  if (t.type === "query") {
    const q = envelope === undefined ? "" : `?input=${encodeURIComponent(stringify(envelope) ?? "")}`;
    return { label, request: { method: "GET", path: `${path}${q}`, headers: caller.headers } };
  }
  return {
    label,
    request: {
      method: "POST",
      path,
      headers: { ...caller.headers, ...JSON_TYPE },
      body: envelope === undefined ? "" : (stringify(envelope) ?? ""),
    },
  };
}

export function trpcCases(t: TrpcTarget, caller: Caller, r: Random, count: number): FuzzCase[] {
  const valid = () => sample(t.input, r, caller.fixtures);
  const out: FuzzCase[] = [trpcRequest(t, caller, valid(), "a valid sample")];
  for (let i = 0; i < count; i++) {
    const what = r.int(0, 9);
    if (what <= 6) {
      const m = mutate(valid(), r);
      out.push(trpcRequest(t, caller, m.value, `input: ${m.label}`));
    } else if (what === 7) {
      // superjson annotations that do not fit their value.
      const meta = r.pick<unknown>([
        { values: ["Date"] },
        { values: ["bigint"] },
        { values: { __proto__: ["Date"] } },
        JSON.parse('{"values": {"__proto__": ["Date"]}}'),
        { values: [["custom", "nope"]] },
        { values: { expiresAt: ["Date"] } },
        { referentialEqualities: { "": ["x.y"] } },
        "not an object",
      ]);
      const input = r.pick<unknown>([valid(), "275760-09-13T00:00:00.000Z", "abc", { expiresAt: "0000-01-01T00:00:00.000Z", name: "k" }]);
      out.push(trpcRequest(t, caller, input, `superjson meta ${preview(meta)}`, meta));
    } else if (what === 8) {
      // A batch of the same call, sometimes over the limit.
      const n = r.pick([2, 5, 17]);
      const names = Array.from({ length: n }, () => t.path).join(",");
      const inputs = Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { json: i % 2 ? mutate(valid(), r).value : valid() }]));
      const text = stringify(inputs) ?? "{}";
      out.push(
        t.type === "query"
          ? {
              label: `a batch of ${n}`,
              request: { method: "GET", path: `/api/trpc/${names}?batch=1&input=${encodeURIComponent(text)}`, headers: caller.headers },
            }
          : {
              label: `a batch of ${n}`,
              request: { method: "POST", path: `/api/trpc/${names}?batch=1`, headers: { ...caller.headers, ...JSON_TYPE }, body: text },
            },
      );
    } else {
      const raw = r.pick(["{", '{"json":', "\u0000", "[]", "null", '{"0":{"json":1}}']);
      const method = r.pick(["GET", "POST", "PUT", "DELETE"]);
      out.push({
        label: `${method} with raw input ${preview(raw)}`,
        request:
          method === "GET"
            ? { method, path: `/api/trpc/${t.path}?input=${encodeURIComponent(raw)}`, headers: caller.headers }
            : {
                method,
                path: `/api/trpc/${t.path}`,
                headers: {
                  ...caller.headers,
                  "content-type": r.pick(["application/json", "application/octet-stream", "multipart/form-data; boundary=x", "text/plain"]),
                },
                body: raw,
              },
      });
    }
  }
  return out;
}

/**
 * A request target longer than this never reaches our code: node answers 431 past 16 KB of
 * headers, and may reset the connection while the client still writes.
 */
const MAX_TARGET = 12_000;

export function targetCases(t: Target, caller: Caller, r: Random, count: number): FuzzCase[] {
  const cases = t.kind === "rest" ? restCases(t, caller, r, count) : trpcCases(t, caller, r, count);
  return cases.filter((c) => c.request.path.length <= MAX_TARGET);
}

// ---------------------------------------------------------------------------------------------
// The cases issue #15 reported, each one as it was found

export async function reportedCases(caller: Caller, jwtFor: (sub: string) => Promise<string>): Promise<FuzzCase[]> {
  const fx = caller.fixtures;
  const vector = Array.from({ length: fx.vectorSize }, (_, i) => (i + 1) / fx.vectorSize);
  const post = (path: string, body: unknown, label: string, method = "POST"): FuzzCase => ({
    label,
    request: { method, path, headers: { ...caller.headers, ...JSON_TYPE }, body: stringify(body) },
  });
  const get = (path: string, label: string, headers: Record<string, string> = {}): FuzzCase => ({
    label,
    request: { method: "GET", path, headers: { ...caller.headers, ...headers } },
  });
  const trpcPost = (proc: string, input: unknown, label: string, meta?: unknown) =>
    post(`/api/trpc/${proc}`, { json: input, ...(meta === undefined ? {} : { meta }) }, label);
  const trpcGet = (proc: string, input: unknown, label: string, meta?: unknown) =>
    get(`/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify({ json: input, ...(meta === undefined ? {} : { meta }) }))}`, label);
  const cursor = (raw: string) => Buffer.from(raw, "utf8").toString("base64url");
  const nulSub = await jwtFor("svc\u0000x");
  const surrogateSub = await jwtFor("svc\ud800");
  return [
    post("/v1/vector/collections", { collection_name: "fz\u0000x", vector_size: 4 }, "NUL in a collection name"),
    get("/v1/vector/collections/a%00b", "NUL in a collection name in the path"),
    post("/v1/vector/points", { collection_name: fx.collection, points: [{ id: "a\u0000b", vector }] }, "NUL in a point id"),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, points: [{ id: "p1", vector, payload: { "k\u0000": 1 } }] },
      "NUL in a payload key",
    ),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, points: [{ id: "p1", vector, payload: { k: "a\u0000" } }] },
      "NUL in a payload value",
    ),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, points: [{ id: "p1", vector, payload: { k: "\ud800" } }] },
      "a lone surrogate in a payload",
    ),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, points: [{ id: "p1", vector, payload: { deep: nested(10_000, "object") } }] },
      "a payload nested 10,000 deep",
    ),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, points: [{ id: "p1", vector: vector.map((x, i) => (i ? x : 1e39)) }] },
      "a vector value beyond float32",
    ),
    post(
      "/v1/vector/search",
      { collection_name: fx.collection, query_vector: vector.map((x, i) => (i ? x : -1e39)) },
      "a query vector value beyond float32",
    ),
    post(
      "/v1/vector/search",
      { collection_name: fx.collection, query_vector: vector, filter: { must: [{ key: "a\u0000", match: { value: "x" } }] } },
      "NUL in a filter key",
    ),
    post(
      "/v1/vector/search",
      { collection_name: fx.collection, query_vector: vector, filter: { must: [{ key: "a", match: { value: "\u0000" } }] } },
      "NUL in a filter value",
    ),
    post(
      "/v1/vector/search",
      { collection_name: fx.collection, query_vector: vector, filter: nested(5_000, "filter") },
      "a filter nested 5,000 deep",
    ),
    post(
      "/v1/vector/points",
      { collection_name: fx.collection, filter: nested(5_000, "filter") },
      "a delete filter nested 5,000 deep",
      "DELETE",
    ),
    post(
      "/v1/llm/generate",
      { model: fx.chatModels[0], messages: [{ role: "user", content: "hi \ud800 there" }] },
      "a lone surrogate in a message",
    ),
    post(
      "/v1/llm/generate",
      { model: fx.chatModels[0], messages: [{ role: "user", content: "hi \u0000 there" }], user: "u\u0000" },
      "NUL in a message and the user",
    ),
    get("/v1/models/%", "malformed %-encoding in a path parameter"),
    get("/v1/models/%E0%A4%A", "a truncated %-encoded character in a path parameter"),
    get("/v1/llm/usage?start_date=0000-01-01", "start_date=0000-01-01"),
    get("/v1/llm/usage?start_date=9999-12-31&end_date=9999-12-31", "the last day JS and PostgreSQL both have"),
    get("/v1/llm/usage?model=a%00b&user_id=%00&api_key_id=%00&provider=%00&tz=%00", "NUL in every query parameter"),
    get("/v1/llm/savings?start_date=%&tz=%zz", "malformed %-encoding in query parameters"),
    trpcPost("keys.create", { name: "a\u0000b" }, "NUL in a key name"),
    trpcPost("keys.create", { name: "dated", expiresAt: "275760-09-13T00:00:00.000Z" }, "a key expiring in year 275760 (superjson Date)", {
      values: { expiresAt: ["Date"] },
    }),
    trpcPost("keys.create", { name: "dated", expiresAt: "0000-01-01T00:00:00.000Z" }, "a key expiring in year 0 (superjson Date)", {
      values: { expiresAt: ["Date"] },
    }),
    trpcPost("keys.create", { name: "dated", expiresAt: "1" }, "a key expiring at Date.parse('1')"),
    trpcGet("usage.recent", { cursor: cursor("1|x") }, "a cursor whose date is Date.parse('1')"),
    trpcGet("usage.recent", { cursor: cursor("275760-09-13|x") }, "a cursor in year 275760"),
    trpcGet("usage.recent", { cursor: cursor("2026-01-01T00:00:00.000Z|a\u0000") }, "a cursor with NUL in its id"),
    trpcGet("usage.stats", { start: "0000-01-01", end: "0000-01-30" }, "stats in year 0"),
    trpcPost("vectors.upsert", { name: fx.collection, points: [{ id: "\ud800", vector }] }, "a lone surrogate in a point id (tRPC)"),
    trpcPost("vectors.search", { name: fx.collection, vector, filter: nested(5_000, "filter") }, "a filter nested 5,000 deep (tRPC)"),
    trpcPost(
      "vectors.upsert",
      { name: fx.collection, points: [{ id: 1, vector: vector.map(() => 1e39) }] },
      "vector values beyond float32 (tRPC)",
    ),
    get("/v1/auth/whoami", "NUL in a JWT sub", { authorization: `Bearer ${nulSub}` }),
    get("/v1/auth/whoami", "a lone surrogate in a JWT sub", { authorization: `Bearer ${surrogateSub}` }),
    get("/api/trpc/auth.me", "a Host header that names another procedure", { host: "x/api/trpc/keys.list?" }),
    get("/v1/llm/models", "a malformed Host header", { host: "a b" }),
    get("/v1/llm/models", "a Host header with a path", { host: "example.com/x?y" }),
    {
      label: "OPTIONS runs no handler",
      request: {
        method: "OPTIONS",
        path: "/v1/vector/collections",
        headers: { ...caller.headers, ...JSON_TYPE },
        body: JSON.stringify({ collection_name: `opt-${caller.name}`, vector_size: 4 }),
      },
    },
    {
      label: "OPTIONS on a billed generation",
      request: {
        method: "OPTIONS",
        path: "/v1/llm/generate",
        headers: { ...caller.headers, ...JSON_TYPE },
        body: JSON.stringify({ model: fx.chatModels[0], messages: [{ role: "user", content: "hi" }] }),
      },
    },
    { label: "an undeclared method", request: { method: "PROPFIND", path: "/v1/vector/collections", headers: caller.headers } },
    { label: "TRACE", request: { method: "TRACE", path: "/v1/llm/generate", headers: caller.headers } },
    {
      label: "a tRPC batch of 200",
      request: {
        method: "GET",
        path: `/api/trpc/${Array.from({ length: 200 }, () => "usage.stats").join(",")}?batch=1`,
        headers: caller.headers,
      },
    },
    {
      label: "a tRPC body of 11 MB",
      request: {
        method: "POST",
        path: "/api/trpc/vectors.upsert",
        headers: { ...caller.headers, ...JSON_TYPE },
        body: Buffer.alloc(11 * 1024 * 1024, "a"),
      },
    },
    { label: "a tRPC path that is not %-encoding", request: { method: "GET", path: "/api/trpc/%", headers: caller.headers } },
  ];
}
