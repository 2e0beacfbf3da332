import "server-only";
// The in-process cache behind API-key and user lookups, so that the hot path does no database
// round trip once warm. Entries live `cacheTtlMs()` (1 s, or 10 s while Redis invalidations
// arrive); a hot entry is reloaded in the background once past half its life, so callers rarely
// wait. A load that overlaps an invalidation is returned but not stored, so a revoke can never be
// overwritten by an older read.
//
// During a database outage the cache keeps the service answering for everyone it knows: an entry
// past its life stays until its reload has answered, and when the database cannot (down, hung past
// STALE_WAIT_MS, its circuit open) the last known value is served. Invalidations still delete
// entries at once, so a key revoked through Redis stops working even then (it answers 503 until the
// database can say more). A lookup with nothing known answers 503 `unavailable`, never 500.
//
// Unknown credentials are remembered too (as null), in a map of their own with its own bound, so
// that a flood of made-up keys neither reaches the database again nor pushes real keys out.
import { databaseUsable, DatabaseUnavailable, isDatabaseUnavailable } from "../db/index.ts";
import { getLogger } from "../kernel/logger.ts";
import { cacheTtlMs, invalidationEpoch, onInvalidation } from "./invalidation.ts";

type Entry<V> = { value: V; loadedAt: number; refreshing: boolean };

/** How long a caller waits for the reload of an expired entry before the last known value is served instead. */
export const STALE_WAIT_MS = 250;

export class AuthCache<V> {
  /** Known subjects (keys, users): what the hot path must never lose to a flood. */
  private readonly entries = new Map<string, Entry<V>>();
  /** Lookups that found nothing (null), bounded apart. */
  private readonly misses = new Map<string, Entry<V>>();
  private readonly loading = new Map<string, Promise<V>>();
  private readonly maxEntries: number;
  private readonly maxMisses: number;

  constructor(
    private readonly name: string,
    private readonly load: (key: string) => Promise<V>,
    options: { maxEntries?: number; maxMisses?: number } = {},
  ) {
    this.maxEntries = options.maxEntries ?? 10_000;
    this.maxMisses = options.maxMisses ?? 10_000;
    onInvalidation((m) => {
      if (m.kind === "recheck") this.expireAll();
    });
  }

  async get(key: string): Promise<V> {
    const entry = this.entries.get(key) ?? this.misses.get(key);
    const ttl = cacheTtlMs();
    if (entry) {
      const age = performance.now() - entry.loadedAt;
      if (age < ttl) {
        if (age > ttl / 2 && !entry.refreshing && databaseUsable()) {
          entry.refreshing = true;
          void this.fetch(key).catch((err: unknown) => {
            entry.refreshing = false;
            if (!isDatabaseUnavailable(err))
              getLogger().warn({ err, cache: this.name }, "background refresh of an auth cache entry failed");
          });
        }
        return entry.value;
      }
      return this.reloadOrStale(key, entry);
    }
    try {
      return await this.fetch(key);
    } catch (err) {
      throw isDatabaseUnavailable(err) ? unavailable(err) : err;
    }
  }

  /**
   * An expired entry: its reload's answer when the database gives one in time, else (down, hung,
   * slow, circuit open) the entry as it was, so long as no invalidation has removed it meanwhile.
   */
  private async reloadOrStale(key: string, entry: Entry<V>): Promise<V> {
    if (!databaseUsable()) return entry.value;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      this.fetch(key).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      new Promise<{ late: true }>((resolve) => {
        timer = setTimeout(() => resolve({ late: true }), STALE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    if ("value" in outcome) return outcome.value;
    if ("error" in outcome && !isDatabaseUnavailable(outcome.error)) throw outcome.error;
    // Deleted since (an invalidation): what was known is no longer to be served. Replaced: newer.
    const current = this.entries.get(key) ?? this.misses.get(key);
    if (!current) throw unavailable("error" in outcome ? outcome.error : undefined);
    return current.value;
  }

  /** Loads `key` (one load at a time per key) and stores it unless an invalidation came meanwhile. */
  private fetch(key: string): Promise<V> {
    const running = this.loading.get(key);
    if (running) return running;
    const epoch = invalidationEpoch();
    const p = this.load(key)
      .then((value) => {
        if (invalidationEpoch() === epoch) this.set(key, value);
        return value;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, p);
    return p;
  }

  private set(key: string, value: V): void {
    this.entries.delete(key);
    this.misses.delete(key);
    const [map, max] = value === null ? [this.misses, this.maxMisses] : [this.entries, this.maxEntries];
    if (map.size >= max) {
      // Maps iterate in insertion order: drop the oldest entry of the same kind.
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    map.set(key, { value, loadedAt: performance.now(), refreshing: false });
  }

  /** Whether anything (a value, or "none") is held for `key`, fresh or not. */
  has(key: string): boolean {
    return this.entries.has(key) || this.misses.has(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
    this.misses.delete(key);
  }

  deleteWhere(predicate: (value: V, key: string) => boolean): void {
    for (const map of [this.entries, this.misses]) {
      for (const [key, entry] of map) if (predicate(entry.value, key)) map.delete(key);
    }
  }

  clear(): void {
    this.entries.clear();
    this.misses.clear();
  }

  /** Every entry is reloaded before it is trusted again, but kept to be served while the database cannot answer. */
  expireAll(): void {
    for (const map of [this.entries, this.misses]) for (const entry of map.values()) entry.loadedAt = Number.NEGATIVE_INFINITY;
  }

  get size(): number {
    return this.entries.size + this.misses.size;
  }
}

function unavailable(cause: unknown): DatabaseUnavailable {
  const error = new DatabaseUnavailable("The database is not answering, so this credential cannot be checked now; try again shortly");
  if (cause !== undefined) (error as { cause?: unknown }).cause = cause;
  return error;
}
