import "server-only";
// The key-value store behind the response cache and the embedding cache: an in-process LRU
// (bounded by CACHE_MEMORY_MB) in front of Redis when REDIS_URL is set, else the cache_entries
// table of the service's database. Entries are JSON text with an absolute expiry; an entry is
// never served after it. A write lands in memory at once and reaches the shared store in the
// background (the request does not wait for it); reads go to the shared store only for keys the
// memory does not hold. Expired rows are deleted from the table at most every ten minutes. Redis
// is asked under its command deadline and not at all while its circuit is open (server/kernel/redis.ts):
// then reads are misses and writes stay in this instance's memory.
import { getDatabase } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { onShutdown } from "../../kernel/lifecycle.ts";
import { getLogger } from "../../kernel/logger.ts";
import { BACKGROUND_TIMEOUT_MS, redisCommand, RedisUnavailable } from "../../kernel/redis.ts";

export type CacheEntry = { value: string; expiresAt: number };

/** Where entries are shared between instances (and survive a restart). */
export interface CacheBackend {
  readonly name: "postgres" | "redis";
  /** The unexpired entries of these keys, in the same order (null: none). */
  getMany(keys: readonly string[], now: number): Promise<(CacheEntry | null)[]>;
  setMany(entries: readonly ({ key: string } & CacheEntry)[]): Promise<void>;
}

/** A least-recently-used map bounded by the approximate bytes of its keys and values. */
export class MemoryLru {
  private readonly map = new Map<string, CacheEntry>();
  private bytes = 0;
  constructor(private readonly maxBytes: number) {}

  get(key: string, now: number): CacheEntry | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    if (e.expiresAt <= now) {
      this.bytes -= size(key, e);
      return undefined;
    }
    this.map.set(key, e); // most recently used last
    return e;
  }

  set(key: string, entry: CacheEntry): void {
    const old = this.map.get(key);
    if (old) {
      this.map.delete(key);
      this.bytes -= size(key, old);
    }
    const s = size(key, entry);
    if (s > this.maxBytes) return;
    this.map.set(key, entry);
    this.bytes += s;
    for (const [k, v] of this.map) {
      if (this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= size(k, v);
    }
  }

  clear(): void {
    this.map.clear();
    this.bytes = 0;
  }

  get entries(): number {
    return this.map.size;
  }
}

// JavaScript strings are UTF-16: two bytes a character, plus a little for the entry itself.
const size = (key: string, e: CacheEntry) => 2 * (key.length + e.value.length) + 64;

const CLEANUP_EVERY_MS = 10 * 60_000;

class PostgresBackend implements CacheBackend {
  readonly name = "postgres" as const;
  private lastCleanup = 0;

  async getMany(keys: readonly string[], now: number): Promise<(CacheEntry | null)[]> {
    const db = await getDatabase();
    const rows = await db.rawQuery<{ key: string; value: string; expires_ms: string }>(
      `SELECT key, value, (extract(epoch FROM expires_at) * 1000)::bigint::text AS expires_ms
         FROM cache_entries WHERE key = ANY($1::text[]) AND expires_at > $2::timestamptz`,
      [keys, new Date(now).toISOString()],
    );
    const byKey = new Map(rows.map((r) => [r.key, { value: r.value, expiresAt: Number(r.expires_ms) }]));
    return keys.map((k) => byKey.get(k) ?? null);
  }

  async setMany(batch: readonly ({ key: string } & CacheEntry)[]): Promise<void> {
    // One statement may not update a row twice: the last write of a key wins.
    const entries = [...new Map(batch.map((e) => [e.key, e])).values()];
    const db = await getDatabase();
    await db.rawQuery(
      `INSERT INTO cache_entries (key, value, expires_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at`,
      [entries.map((e) => e.key), entries.map((e) => e.value), entries.map((e) => new Date(e.expiresAt).toISOString())],
    );
    const now = Date.now();
    if (now - this.lastCleanup > CLEANUP_EVERY_MS) {
      this.lastCleanup = now;
      await db.rawQuery("DELETE FROM cache_entries WHERE expires_at <= $1::timestamptz", [new Date(now).toISOString()]);
    }
  }
}

class RedisBackend implements CacheBackend {
  readonly name = "redis" as const;
  private readonly prefix = `${loadEnv().REDIS_KEY_PREFIX}cache:`;

  async getMany(keys: readonly string[], now: number): Promise<(CacheEntry | null)[]> {
    const values = await redisCommand((r) => r.mget(keys.map((k) => this.prefix + k)));
    return values.map((v) => {
      if (v === null) return null;
      // Stored as "<expiry ms>|<value>": Redis expires the key itself, the number feeds the memory copy.
      const bar = v.indexOf("|");
      const expiresAt = Number(v.slice(0, bar));
      return bar > 0 && expiresAt > now ? { value: v.slice(bar + 1), expiresAt } : null;
    });
  }

  async setMany(entries: readonly ({ key: string } & CacheEntry)[]): Promise<void> {
    const results = await redisCommand(
      (redis) => {
        const pipeline = redis.pipeline();
        const now = Date.now();
        for (const e of entries) {
          const ttl = Math.max(1, e.expiresAt - now);
          pipeline.set(this.prefix + e.key, `${e.expiresAt}|${e.value}`, "PX", ttl);
        }
        return pipeline.exec();
      },
      { timeoutMs: BACKGROUND_TIMEOUT_MS },
    );
    const failed = (results ?? []).find(([err]) => err);
    if (failed) throw failed[0];
  }
}

type Row = { key: string } & CacheEntry;
type StoreState = {
  memory: MemoryLru;
  backend: CacheBackend;
  /** Writes started and not yet finished. */
  pending: Set<Promise<void>>;
  /** Entries waiting for the next batched write, and its timer. */
  queue: Row[];
  timer?: NodeJS.Timeout;
};

/** Writes to the shared store are gathered for this long and sent as one statement (one commit, not one per miss). */
const WRITE_DELAY_MS = 20;
const WRITE_BATCH = 500;
const g = globalThis as unknown as { __modelServiceCacheStore?: StoreState };

function state(): StoreState {
  if (g.__modelServiceCacheStore) return g.__modelServiceCacheStore;
  const env = loadEnv();
  const s: StoreState = {
    memory: new MemoryLru(env.CACHE_MEMORY_MB * 1024 * 1024),
    backend: env.REDIS_URL ? new RedisBackend() : new PostgresBackend(),
    pending: new Set(),
    queue: [],
  };
  onShutdown("cache-store", () => flushCacheWrites());
  return (g.__modelServiceCacheStore = s);
}

/** Which shared store holds the entries. */
export function cacheBackendName(): CacheBackend["name"] {
  return state().backend.name;
}

/**
 * The unexpired values of these keys, in order (null: a miss). The memory answers first; the
 * others are read from the shared store in one round trip and remembered. A store that fails
 * is treated as a miss (logged): the caller then pays the provider rather than failing.
 */
export async function cacheGetMany(keys: readonly string[]): Promise<(string | null)[]> {
  const s = state();
  const now = Date.now();
  const out: (string | null)[] = keys.map((k) => s.memory.get(k, now)?.value ?? null);
  const missing = keys.flatMap((k, i) => (out[i] === null ? [i] : []));
  if (missing.length === 0) return out;
  try {
    const found = await s.backend.getMany(
      missing.map((i) => keys[i]!),
      now,
    );
    found.forEach((e, j) => {
      if (!e) return;
      const i = missing[j]!;
      out[i] = e.value;
      s.memory.set(keys[i]!, e);
    });
  } catch (err) {
    // Redis unusable is already logged once by its circuit; a read then is a miss at no cost.
    if (!(err instanceof RedisUnavailable)) getLogger().warn({ err, backend: s.backend.name }, "cache read failed; answering as a miss");
  }
  return out;
}

export async function cacheGet(key: string): Promise<string | null> {
  return (await cacheGetMany([key]))[0] ?? null;
}

/** Keeps values for `ttlMs`: in memory at once, in the shared store in the background (batched). */
export function cacheSetMany(entries: readonly { key: string; value: string }[], ttlMs: number): void {
  if (entries.length === 0) return;
  const s = state();
  const expiresAt = Date.now() + ttlMs;
  for (const e of entries) {
    const row = { ...e, expiresAt };
    s.memory.set(row.key, row);
    s.queue.push(row);
  }
  if (s.queue.length >= WRITE_BATCH) writeQueued(s);
  else if (!s.timer) {
    s.timer = setTimeout(() => writeQueued(s), WRITE_DELAY_MS);
    s.timer.unref();
  }
}

function writeQueued(s: StoreState): void {
  if (s.timer) clearTimeout(s.timer);
  s.timer = undefined;
  while (s.queue.length) {
    const rows = s.queue.splice(0, WRITE_BATCH);
    const write = s.backend.setMany(rows).catch((err: unknown) => {
      if (err instanceof RedisUnavailable) return;
      getLogger().warn(
        { err, backend: s.backend.name, entries: rows.length },
        "cache write failed; the entries stay in this instance's memory only",
      );
    });
    s.pending.add(write);
    void write.finally(() => s.pending.delete(write));
  }
}

/** Writes what is queued now and waits for every background write (shutdown, tests, benchmarks). */
export async function flushCacheWrites(): Promise<void> {
  const s = g.__modelServiceCacheStore;
  if (!s) return;
  writeQueued(s);
  await Promise.all([...s.pending]);
}

/** Forgets the in-process copy (tests: a second instance, or a cold start, reads the shared store). */
export function clearCacheMemoryForTests(): void {
  g.__modelServiceCacheStore?.memory.clear();
}

/** Drops the store so that the next use picks the backend from the environment again (tests). */
export function resetCacheStoreForTests(): void {
  g.__modelServiceCacheStore = undefined;
}
