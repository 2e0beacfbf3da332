import "server-only";
// The in-process cache behind API-key and user lookups, so that the hot path does no database
// round trip once warm. Entries live `cacheTtlMs()` (1 s, or 10 s while Redis invalidations
// arrive); a hot entry is reloaded in the background once past half its life, so callers rarely
// wait. A load that overlaps an invalidation is returned but not stored, so a revoke can never be
// overwritten by an older read.
import { getLogger } from "../logger.ts";
import { cacheTtlMs, invalidationEpoch } from "./invalidation.ts";

type Entry<V> = { value: V; loadedAt: number; refreshing: boolean };

export class AuthCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly loading = new Map<string, Promise<V>>();

  constructor(
    private readonly name: string,
    private readonly load: (key: string) => Promise<V>,
    private readonly maxEntries = 10_000,
  ) {}

  async get(key: string): Promise<V> {
    const entry = this.entries.get(key);
    const ttl = cacheTtlMs();
    if (entry) {
      const age = performance.now() - entry.loadedAt;
      if (age < ttl) {
        if (age > ttl / 2 && !entry.refreshing) {
          entry.refreshing = true;
          void this.fetch(key).catch((err: unknown) => {
            entry.refreshing = false;
            getLogger().warn({ err, cache: this.name }, "background refresh of an auth cache entry failed");
          });
        }
        return entry.value;
      }
      this.entries.delete(key);
    }
    return this.fetch(key);
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
    if (this.entries.size >= this.maxEntries) {
      // Maps iterate in insertion order: drop the oldest entry.
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(key, { value, loadedAt: performance.now(), refreshing: false });
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  deleteWhere(predicate: (value: V, key: string) => boolean): void {
    for (const [key, entry] of this.entries) if (predicate(entry.value, key)) this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
