import "server-only";
// The shared Redis connection, when REDIS_URL is set (rate limits and cache invalidation across instances).
import { Redis } from "ioredis";
import { loadEnv } from "./env.ts";
import { onShutdown } from "./lifecycle.ts";

const g = globalThis as unknown as { __modelServiceRedis?: Redis | null };

/** The process's Redis client, or null when REDIS_URL is unset. */
export function getRedis(): Redis | null {
  if (g.__modelServiceRedis !== undefined) return g.__modelServiceRedis;
  const url = loadEnv().REDIS_URL;
  if (!url) return (g.__modelServiceRedis = null);
  const client = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
  // ioredis reports connection trouble as 'error' events; /health reports the state instead of crashing.
  client.on("error", () => {});
  onShutdown("redis", async () => {
    await client.quit().catch(() => client.disconnect());
  });
  return (g.__modelServiceRedis = client);
}

export async function checkRedis(timeoutMs = 1000): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const client = getRedis();
  const started = performance.now();
  if (!client) return { ok: true, latencyMs: 0 };
  try {
    await withTimeout(client.ping(), timeoutMs, "Redis did not answer PING in time");
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (e) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: (e as Error).message };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}
