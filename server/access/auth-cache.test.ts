// The auth cache on its own, with a loader standing for the database: unknown subjects are kept
// apart from known ones (a flood of made-up keys never evicts a real one), and while the database
// cannot answer an expired entry is still served, unless an invalidation removed it.
import { beforeAll, describe, expect, it } from "vitest";
import { DatabaseUnavailable } from "../db/index.ts";
import { resetEnvForTests } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { AuthCache, STALE_WAIT_MS } from "./auth-cache.ts";
import { SHORT_TTL_MS } from "./invalidation.ts";

beforeAll(() => {
  delete process.env.REDIS_URL;
  process.env.LOG_LEVEL = "silent";
  resetEnvForTests();
});

type Db = { loads: number; mode: "up" | "down" | "hung" };

function cacheOn(db: Db, options?: { maxEntries?: number; maxMisses?: number }) {
  return new AuthCache<string | null>(
    "test",
    (key) => {
      db.loads++;
      if (db.mode === "down") return Promise.reject(new DatabaseUnavailable());
      // Hung: no answer until the query's own deadline, as the pool's read timeout gives up.
      if (db.mode === "hung") return new Promise<never>((_, reject) => setTimeout(() => reject(new DatabaseUnavailable()), 1_000));
      return Promise.resolve(key.startsWith("real") ? `${key}@${db.loads}` : null);
    },
    options,
  );
}

describe("AuthCache", () => {
  it("keeps unknown subjects apart: a flood of them never evicts a known one", async () => {
    const db: Db = { loads: 0, mode: "up" };
    const cache = cacheOn(db, { maxEntries: 3, maxMisses: 3 });
    const known = await Promise.all(["real-1", "real-2", "real-3"].map((k) => cache.get(k)));
    for (let i = 0; i < 100; i++) expect(await cache.get(`made-up-${i}`)).toBeNull();
    const loads = db.loads;
    expect(await Promise.all(["real-1", "real-2", "real-3"].map((k) => cache.get(k)))).toEqual(known);
    expect(db.loads).toBe(loads);
    expect(cache.size).toBe(6);
  });

  it("serves an expired entry while the database is down or hung, and a subject it never saw answers 503", async () => {
    const db: Db = { loads: 0, mode: "up" };
    const cache = cacheOn(db);
    const first = await cache.get("real-key");
    await new Promise((r) => setTimeout(r, SHORT_TTL_MS + 50));

    db.mode = "hung";
    const started = performance.now();
    expect(await cache.get("real-key")).toBe(first);
    expect(performance.now() - started).toBeLessThan(STALE_WAIT_MS + 200);

    db.mode = "down";
    expect(await cache.get("real-key")).toBe(first);
    const unknown = await cache.get("real-never-seen").catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(AppError);
    expect(unknown).toMatchObject({ code: "unavailable", status: 503 });

    // An invalidation (a revoke through Redis) still applies: nothing is served for it any more.
    cache.delete("real-key");
    expect(await cache.get("real-key").catch((e: AppError) => e.status)).toBe(503);

    db.mode = "up";
    expect(await cache.get("real-key")).not.toBe(first);
  });

  it("a recheck makes every entry reload before it is trusted, yet keeps it for an outage", async () => {
    const db: Db = { loads: 0, mode: "up" };
    const cache = cacheOn(db);
    const first = await cache.get("real-a");
    cache.expireAll();
    db.mode = "down";
    expect(await cache.get("real-a")).toBe(first);
    db.mode = "up";
    const again = await cache.get("real-a");
    expect(again).not.toBe(first);
    expect(await cache.get("real-a")).toBe(again);
  });
});
