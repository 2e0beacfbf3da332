// The store behind the caches: the in-process LRU (bytes bound, expiry, recency), the database
// table (batched writes, the last write of a key wins, expired rows never served) and Redis
// (TEST_REDIS_URL) as the shared store.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import {
  cacheBackendName,
  cacheGetMany,
  cacheSetMany,
  clearCacheMemoryForTests,
  flushCacheWrites,
  MemoryLru,
  resetCacheStoreForTests,
} from "@/server/features/inference/cache-store.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { useServiceDatabase } from "@/tests/support/service-db.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-cache-store-"));
Object.assign(process.env, { DATA_DIR: dataDir, LOG_LEVEL: "silent" });
delete process.env.DATABASE_URL;
delete process.env.REDIS_URL;
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function useRedis(url: string | undefined, prefix: string) {
  const g = globalThis as { __modelServiceRedis?: { disconnect(): void } | null };
  if (url) process.env.REDIS_URL = url;
  else delete process.env.REDIS_URL;
  process.env.REDIS_KEY_PREFIX = prefix;
  resetEnvForTests();
  g.__modelServiceRedis?.disconnect();
  g.__modelServiceRedis = undefined;
  resetCacheStoreForTests();
}

describe("MemoryLru", () => {
  it("evicts the least recently used entries past its byte bound and never serves an expired one", () => {
    const lru = new MemoryLru(3 * (2 * (2 + 100) + 64));
    const v = "x".repeat(100);
    lru.set("k1", { value: v, expiresAt: 1_000 });
    lru.set("k2", { value: v, expiresAt: 1_000 });
    lru.set("k3", { value: v, expiresAt: 1_000 });
    expect(lru.get("k1", 0)?.value).toBe(v); // k1 is now the most recent
    lru.set("k4", { value: v, expiresAt: 1_000 });
    expect(lru.get("k2", 0)).toBeUndefined();
    expect(lru.get("k1", 0)?.value).toBe(v);
    expect(lru.get("k4", 999)?.value).toBe(v);
    expect(lru.get("k4", 1_000)).toBeUndefined();
    expect(lru.entries).toBe(2);
  });
});

describe.each(testDatabases())("the database as the shared store on $kind", ({ kind }) => {
  useServiceDatabase(kind);
  beforeAll(() => useRedis(undefined, "ms:"));

  it("writes in one batch, keeps the last value of a key, and serves only unexpired entries", async () => {
    expect(cacheBackendName()).toBe("postgres");
    cacheSetMany([{ key: `t:${kind}:a`, value: "first" }], 60_000);
    cacheSetMany(
      [
        { key: `t:${kind}:a`, value: "second" },
        { key: `t:${kind}:b`, value: "b" },
      ],
      60_000,
    );
    cacheSetMany([{ key: `t:${kind}:short`, value: "gone soon" }], 300);
    await flushCacheWrites();
    clearCacheMemoryForTests();
    expect(await cacheGetMany([`t:${kind}:b`, `t:${kind}:none`, `t:${kind}:a`, `t:${kind}:short`])).toEqual([
      "b",
      null,
      "second",
      "gone soon",
    ]);
    await new Promise((r) => setTimeout(r, 350));
    clearCacheMemoryForTests();
    expect(await cacheGetMany([`t:${kind}:short`, `t:${kind}:a`])).toEqual([null, "second"]);
  });
});

const redisUrl = process.env.TEST_REDIS_URL;
describe.runIf(redisUrl)("Redis as the shared store (TEST_REDIS_URL)", () => {
  const prefix = `mstest:${randomBytes(4).toString("hex")}:`;
  beforeAll(() => useRedis(redisUrl, prefix));
  afterAll(async () => {
    const { Redis } = await import("ioredis");
    const r = new Redis(redisUrl!);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    await r.quit();
    useRedis(undefined, "ms:");
  });

  it("keeps entries under REDIS_KEY_PREFIX with Redis's own expiry", async () => {
    expect(cacheBackendName()).toBe("redis");
    cacheSetMany(
      [
        { key: "r:one", value: "uno" },
        { key: "r:two", value: "dos|with a bar" },
      ],
      60_000,
    );
    cacheSetMany([{ key: "r:short", value: "brief" }], 300);
    await flushCacheWrites();
    clearCacheMemoryForTests();
    expect(await cacheGetMany(["r:two", "r:missing", "r:one", "r:short"])).toEqual(["dos|with a bar", null, "uno", "brief"]);
    const { Redis } = await import("ioredis");
    const r = new Redis(redisUrl!);
    try {
      const ttl = await r.pttl(`${prefix}cache:r:one`);
      expect(ttl).toBeGreaterThan(55_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      await r.quit();
    }
    await new Promise((res) => setTimeout(res, 350));
    clearCacheMemoryForTests();
    expect(await cacheGetMany(["r:short", "r:one"])).toEqual([null, "uno"]);
  });
});
