import "server-only";
// Cache invalidation across instances for the auth caches (API keys, users). A change (revoke,
// rotate, role or budget edit) is applied to this process's caches at once and published on Redis
// (REDIS_URL set), where every instance's subscriber applies it within milliseconds. Without Redis,
// or while the subscriber is not connected or Redis is not usable (server/kernel/redis.ts: down, hung, its
// circuit open), entries live at most SHORT_TTL_MS (1 s), so a revoked key stops working everywhere
// within a second either way. When the subscriber is back, what was published meanwhile may be
// lost: every entry is then rechecked against the database before it is trusted again ("recheck":
// kept only to be served while the database cannot answer; see auth-cache.ts).
import type { Redis } from "ioredis";
import { loadEnv } from "../kernel/env.ts";
import { onShutdown } from "../kernel/lifecycle.ts";
import { getLogger } from "../kernel/logger.ts";
import { BACKGROUND_TIMEOUT_MS, getRedis, onRedisStateChange, redisCommand, redisUsable } from "../kernel/redis.ts";

export type Invalidation =
  { kind: "key"; id: string } | { kind: "user"; id: string } | { kind: "team"; id: string } | { kind: "all" } | { kind: "recheck" };
type Listener = (message: Invalidation) => void;

/** Entry lifetime without a working subscriber: the bound on how long a revoked key can still pass. */
export const SHORT_TTL_MS = 1_000;
/** Entry lifetime while the Redis subscriber is connected: a backstop, since invalidations arrive at once. */
export const LONG_TTL_MS = 10_000;

type State = {
  listeners: Set<Listener>;
  /** Bumped by every invalidation: a cache load that started before a bump must not be stored. */
  epoch: number;
  subscriber?: Redis;
  subscribed: boolean;
};

const g = globalThis as unknown as { __modelServiceInvalidation?: State };
const state: State = (g.__modelServiceInvalidation ??= { listeners: new Set(), epoch: 0, subscribed: false });

export function invalidationChannel(): string {
  return `${loadEnv().REDIS_KEY_PREFIX}auth:invalidate`;
}

/** Registers a cache's listener (idempotent per function). */
export function onInvalidation(listener: Listener): void {
  state.listeners.add(listener);
}

export function invalidationEpoch(): number {
  return state.epoch;
}

function apply(message: Invalidation): void {
  state.epoch++;
  for (const listener of state.listeners) {
    try {
      listener(message);
    } catch (err) {
      getLogger().error({ err }, "auth cache invalidation listener failed");
    }
  }
}

/** Applies `message` here and tells every other instance (when Redis is configured). */
export async function publishInvalidation(message: Invalidation): Promise<void> {
  apply(message);
  if (!getRedis()) return;
  try {
    await redisCommand((r) => r.publish(invalidationChannel(), JSON.stringify(message)), { timeoutMs: BACKGROUND_TIMEOUT_MS });
  } catch (err) {
    // The change is in the database; other instances pick it up when their entries expire.
    getLogger().warn({ err }, `could not publish an auth cache invalidation; other instances see it within ${LONG_TTL_MS / 1000} s`);
  }
}

/** How long a cache entry may be served: short unless invalidations are known to arrive. */
export function cacheTtlMs(): number {
  ensureSubscriber();
  return state.subscribed && redisUsable() ? LONG_TTL_MS : SHORT_TTL_MS;
}

/** Starts listening for other instances' invalidations, once per process, when Redis is configured. */
export function ensureSubscriber(): void {
  if (state.subscriber) return;
  const redis = getRedis();
  if (!redis) return;
  const sub = redis.duplicate({ enableAutoPipelining: false });
  state.subscriber = sub;
  const channel = invalidationChannel();
  const log = getLogger();
  sub.on("error", () => {});
  sub.on("ready", () => {
    void sub.subscribe(channel).then(
      () => {
        // Anything published while we were not listening is lost: recheck every entry before trusting it.
        if (!state.subscribed) apply({ kind: "recheck" });
        state.subscribed = true;
      },
      (err: unknown) => log.warn({ err }, "auth cache invalidation: subscribe failed"),
    );
  });
  sub.on("close", () => {
    state.subscribed = false;
  });
  onRedisStateChange((usable) => {
    if (usable) {
      // Messages may have waited in a Redis that hung: what was published meanwhile is not certain.
      if (state.subscribed) apply({ kind: "recheck" });
    } else if (state.subscriber === sub && sub.status === "ready") {
      // Redis stopped answering commands; a quiet subscriber socket would not notice that it hangs
      // too, so it is redialled (and subscribes again, with a recheck, once Redis answers).
      state.subscribed = false;
      sub.disconnect(true);
    }
  });
  sub.on("message", (ch: string, text: string) => {
    if (ch !== channel) return;
    const message = parseMessage(text);
    if (message) apply(message);
  });
  onShutdown("auth-invalidation-subscriber", async () => {
    state.subscribed = false;
    state.subscriber = undefined;
    await sub.quit().catch(() => sub.disconnect());
  });
}

function parseMessage(text: string): Invalidation | undefined {
  try {
    const m = JSON.parse(text) as Partial<Invalidation> & { id?: unknown };
    if (m.kind === "all") return { kind: "all" };
    if ((m.kind === "key" || m.kind === "user" || m.kind === "team") && typeof m.id === "string") return { kind: m.kind, id: m.id };
  } catch {
    // not ours
  }
  return undefined;
}
