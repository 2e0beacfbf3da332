import "server-only";
// The shared Redis connection, when REDIS_URL is set (rate limits, caches, cache invalidation and
// budget reservations across instances), and the one circuit every Redis user in the process goes
// through, so that a Redis that is down or hung costs a request at most one short deadline:
//   - every command runs under a deadline (`redisCommand`; REDIS_COMMAND_TIMEOUT_MS, tens of ms, on
//     the request path), and fails at once while the client is not connected (no offline queue);
//   - after CIRCUIT_FAILURES failures in a row the circuit opens: `redisUsable()` is false and
//     `redisCommand` throws RedisUnavailable without trying, so callers take their fallback
//     (in-process rate limits, in-memory caches, short auth-cache lifetimes) at no cost;
//   - while open, a PING is tried every PROBE_EVERY_MS (never a caller's request); the first that
//     answers closes it again. A connection that stops answering is also dropped and redialled by
//     ioredis itself (socketTimeout), since a hung socket may never report an error.
import { createHash } from "node:crypto";
import { Redis } from "ioredis";
import { loadEnv } from "./env.ts";
import { onShutdown } from "./lifecycle.ts";
import { getLogger } from "./logger.ts";

/** Failures in a row (timeouts, connection errors) that open the circuit. */
export const CIRCUIT_FAILURES = 3;
/** How often an open circuit tries Redis again. */
export const PROBE_EVERY_MS = 1_000;
/** Deadline of work off the request path (publishing, batched cache writes, probes). */
export const BACKGROUND_TIMEOUT_MS = 1_000;
/** A connection that has had no answer for this long after a write is dropped and redialled. */
const SOCKET_TIMEOUT_MS = 2_000;
/** How long the first commands of a new process wait for the first connection (start-up only). */
const FIRST_CONNECT_WAIT_MS = 2_000;

/** Thrown instead of sending a command while Redis is not usable; callers fall back. */
export class RedisUnavailable extends Error {
  constructor(reason: string) {
    super(`Redis is unavailable: ${reason}`);
    this.name = "RedisUnavailable";
  }
}

type Circuit = {
  client: Redis;
  createdAt: number;
  /** Settles on the first `ready` (or never); `everReady` says whether it did. */
  firstReady: Promise<void>;
  everReady: boolean;
  failures: number;
  open: boolean;
  openedAt: number;
  lastError: string | undefined;
  probe?: NodeJS.Timeout;
  /** What listeners were last told. */
  usable: boolean;
};

type Listener = (usable: boolean) => void;
const g = globalThis as unknown as {
  __modelServiceRedis?: Redis | null;
  __modelServiceRedisCircuit?: Circuit;
  __modelServiceRedisListeners?: Set<Listener>;
};
const listeners: Set<Listener> = (g.__modelServiceRedisListeners ??= new Set());

/** Deadline of a command on the request path (REDIS_COMMAND_TIMEOUT_MS). */
export function redisCommandTimeoutMs(): number {
  return loadEnv().REDIS_COMMAND_TIMEOUT_MS;
}

/** The process's Redis client, or null when REDIS_URL is unset. Commands should go through `redisCommand`. */
export function getRedis(): Redis | null {
  if (g.__modelServiceRedis !== undefined) return g.__modelServiceRedis;
  const url = loadEnv().REDIS_URL;
  if (!url) return (g.__modelServiceRedis = null);
  const timeout = redisCommandTimeoutMs();
  const client = new Redis(url, {
    lazyConnect: false,
    // Not connected: fail at once (the caller falls back) instead of queueing behind a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    // A backstop for commands sent around redisCommand (rate-limiter-flexible's own calls).
    commandTimeout: Math.max(timeout, BACKGROUND_TIMEOUT_MS),
    socketTimeout: SOCKET_TIMEOUT_MS,
    connectTimeout: SOCKET_TIMEOUT_MS,
    // Two counters of one rate-limit check, issued in the same tick, share one write and one round trip.
    enableAutoPipelining: true,
  });
  const circuit: Circuit = {
    client,
    createdAt: performance.now(),
    firstReady: new Promise<void>((resolve) => client.once("ready", () => resolve())),
    everReady: false,
    failures: 0,
    open: false,
    openedAt: 0,
    lastError: undefined,
    usable: false,
  };
  // ioredis reports connection trouble as 'error' events; /health reports the state instead of crashing.
  client.on("error", (err: Error) => {
    circuit.lastError = err.message;
  });
  client.on("ready", () => {
    circuit.everReady = true;
    notify(circuit);
  });
  client.on("close", () => notify(circuit));
  onShutdown("redis", async () => {
    if (circuit.probe) clearInterval(circuit.probe);
    await client.quit().catch(() => client.disconnect());
  });
  g.__modelServiceRedisCircuit = circuit;
  return (g.__modelServiceRedis = client);
}

function circuit(): Circuit | undefined {
  return getRedis() ? g.__modelServiceRedisCircuit : undefined;
}

function notify(c: Circuit): void {
  const usable = !c.open && c.client.status === "ready";
  if (usable === c.usable) return;
  c.usable = usable;
  for (const listener of listeners) {
    try {
      listener(usable);
    } catch (err) {
      getLogger().error({ err }, "a Redis state listener failed");
    }
  }
}

/** Whether Redis is configured, connected and its circuit closed: a command may be sent now. */
export function redisUsable(): boolean {
  const c = circuit();
  return c !== undefined && !c.open && c.client.status === "ready";
}

/** Calls `listener(usable)` whenever Redis becomes usable or stops being usable (idempotent per function). */
export function onRedisStateChange(listener: Listener): void {
  listeners.add(listener);
}

/**
 * Waits (at most until FIRST_CONNECT_WAIT_MS after the client was made) for the first connection
 * of a new process, so that the first requests after start-up count in Redis rather than in
 * memory. Returns at once once connected, and at once for ever after that window.
 */
export async function redisConnected(): Promise<void> {
  const c = circuit();
  if (!c || c.everReady) return;
  const left = FIRST_CONNECT_WAIT_MS - (performance.now() - c.createdAt);
  if (left <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([c.firstReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, left)))]);
  clearTimeout(timer);
}

function why(c: Circuit): string {
  if (c.open) return `${c.failures} failures in a row (last: ${c.lastError ?? "unknown"}); retrying every ${PROBE_EVERY_MS / 1000} s`;
  return `not connected (${c.client.status}${c.lastError ? `: ${c.lastError}` : ""})`;
}

/**
 * Runs one Redis call under a deadline (REDIS_COMMAND_TIMEOUT_MS unless `timeoutMs` says
 * otherwise) and counts its outcome in the circuit. Throws RedisUnavailable at once while Redis is
 * not usable, and when the deadline passes. `run` must settle only on Redis's answer or failure
 * (a domain "no", such as an exhausted rate limit, is an answer: resolve it as a value).
 */
export async function redisCommand<T>(run: (client: Redis) => Promise<T>, options: { timeoutMs?: number } = {}): Promise<T> {
  const c = circuit();
  if (!c) throw new RedisUnavailable("REDIS_URL is not set");
  if (!c.everReady) await redisConnected();
  if (c.open || c.client.status !== "ready") throw new RedisUnavailable(why(c));
  const timeoutMs = options.timeoutMs ?? redisCommandTimeoutMs();
  let timer: NodeJS.Timeout | undefined;
  try {
    const value = await Promise.race([
      run(c.client),
      new Promise<never>((_, reject) => {
        // Past the deadline, an answer that already arrived while the event loop was busy is read
        // first (I/O before setImmediate): a slow process is not taken for a hung Redis.
        timer = setTimeout(() => setImmediate(() => reject(new RedisUnavailable(`no answer within ${timeoutMs} ms`))), timeoutMs);
      }),
    ]);
    c.failures = 0;
    return value;
  } catch (err) {
    failed(c, err);
    throw err instanceof RedisUnavailable ? err : new RedisUnavailable((err as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function failed(c: Circuit, err: unknown): void {
  c.failures++;
  c.lastError = err instanceof RedisUnavailable ? err.message.replace(/^Redis is unavailable: /, "") : (err as Error).message;
  if (c.open || c.failures < CIRCUIT_FAILURES) return;
  c.open = true;
  c.openedAt = Date.now();
  getLogger().warn({ failures: c.failures, err: c.lastError }, "Redis is not answering: falling back to in-process state until it does");
  notify(c);
  c.probe ??= setInterval(() => void probe(c), PROBE_EVERY_MS);
  c.probe.unref();
}

async function probe(c: Circuit): Promise<void> {
  if (c.client.status !== "ready") return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      c.client.ping(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("no answer to PING")), BACKGROUND_TIMEOUT_MS))),
    ]);
  } catch (err) {
    c.lastError = (err as Error).message;
    return;
  } finally {
    clearTimeout(timer);
  }
  if (!c.open) return;
  c.open = false;
  c.failures = 0;
  if (c.probe) clearInterval(c.probe);
  c.probe = undefined;
  getLogger().info({ downForMs: Date.now() - c.openedAt }, "Redis answers again");
  notify(c);
}

/** Redis's state for /health: from the circuit at once when it is not usable, else a PING under a deadline. */
export async function checkRedis(timeoutMs = BACKGROUND_TIMEOUT_MS): Promise<{ ok: boolean; latencyMs: number; error?: string }> {
  const c = circuit();
  if (!c) return { ok: true, latencyMs: 0 };
  if (!redisUsable()) return { ok: false, latencyMs: 0, error: why(c) };
  const started = performance.now();
  try {
    await redisCommand((r) => r.ping(), { timeoutMs });
    return { ok: true, latencyMs: Math.round(performance.now() - started) };
  } catch (e) {
    return { ok: false, latencyMs: Math.round(performance.now() - started), error: (e as Error).message };
  }
}

/** Forgets the client and its circuit, so that the next use reads REDIS_URL again (tests). */
export function resetRedisForTests(): void {
  const c = g.__modelServiceRedisCircuit;
  if (c?.probe) clearInterval(c.probe);
  g.__modelServiceRedis?.disconnect();
  g.__modelServiceRedis = undefined;
  g.__modelServiceRedisCircuit = undefined;
}

/** A Lua script and its SHA-1, for EVALSHA. */
export type RedisScript = { text: string; sha: string };
export const redisScript = (text: string): RedisScript => ({ text, sha: createHash("sha1").update(text).digest("hex") });

/** EVALSHA, loading the script on the first NOSCRIPT (a new or restarted Redis). */
export async function runScript(redis: Redis, s: RedisScript, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
    return redis.eval(s.text, keys.length, ...keys, ...args);
  }
}
