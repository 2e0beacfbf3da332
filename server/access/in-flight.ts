import "server-only";
// A key's cap on requests in flight at once (its `maxParallel`): a slot is taken before a model call
// and given back when it ends; beyond the cap the call answers 429 at once. With REDIS_URL the slots
// of every instance are counted together: a sorted set per key of slot ids scored by when each
// lapses, taken and counted in one Lua script, so an instance that crashes mid-call does not leak
// its slots: they stop counting at their lease (the call's deadline and a grace). Without Redis (or
// while it is unusable: server/kernel/redis.ts) this process counts its own.
import { randomUUID } from "node:crypto";
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { recordRateLimitRejection } from "../kernel/metrics.ts";
import { getRedis, redisCommand, redisConnected, RedisUnavailable, redisScript, redisUsable, runScript } from "../kernel/redis.ts";
import type { AuthenticatedIdentity } from "./identity.ts";

/** How long past its lease a slot may be held before it stops counting (a crashed instance's). */
const LEASE_GRACE_MS = 30_000;

// KEYS[1]: the key's set. ARGV: slot id, cap, lease ms. Lapsed slots are dropped first.
const TAKE = redisScript(`
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
local n = redis.call("ZCARD", KEYS[1])
if n >= tonumber(ARGV[2]) then return {0, n} end
local until_ms = now + tonumber(ARGV[3])
redis.call("ZADD", KEYS[1], until_ms, ARGV[1])
local last = redis.call("ZRANGE", KEYS[1], -1, -1, "WITHSCORES")
redis.call("PEXPIREAT", KEYS[1], math.max(until_ms, tonumber(last[2])))
return {1, n + 1}
`);

/** A slot: give it back once when the call ends (again is harmless). */
export type Slot = { release(): void };
const NO_SLOT: Slot = Object.freeze({ release() {} });

const g = globalThis as unknown as { __modelServiceInFlight?: Map<string, number> };
const local: Map<string, number> = (g.__modelServiceInFlight ??= new Map());

function tooMany(max: number): AppError {
  recordRateLimitRejection("key:max-parallel");
  return new AppError(
    "rate_limited",
    `Too many requests in flight: this API key may have at most ${max} at once; wait for one to finish and retry`,
    { limit: max, limit_name: "key:max-parallel", retry_after_seconds: 1 },
    { "Retry-After": "1", "X-RateLimit-Limit": String(max), "X-RateLimit-Remaining": "0" },
  );
}

function takeLocal(subject: string, max: number): Slot {
  const n = local.get(subject) ?? 0;
  if (n >= max) throw tooMany(max);
  local.set(subject, n + 1);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      const left = (local.get(subject) ?? 1) - 1;
      if (left <= 0) local.delete(subject);
      else local.set(subject, left);
    },
  };
}

/**
 * Takes one of the key's in-flight slots for a call that may last `leaseMs`, or throws 429 when the
 * key has `maxParallel` calls in flight already. A caller without a cap takes nothing.
 */
export async function takeInFlightSlot(identity: AuthenticatedIdentity, leaseMs: number): Promise<Slot> {
  const max = identity.kind === "apiKey" ? identity.controls?.maxParallel : null;
  if (!max) return NO_SLOT;
  const subject = identity.apiKeyId!;
  const redis = getRedis();
  if (redis) {
    await redisConnected();
    if (redisUsable()) {
      const key = `${loadEnv().REDIS_KEY_PREFIX}inflight:{${subject}}`;
      const id = randomUUID();
      const lease = Math.max(1, Math.ceil(leaseMs)) + LEASE_GRACE_MS;
      try {
        const [ok] = (await redisCommand(() => runScript(redis, TAKE, [key], [id, max, lease]))) as [number, number];
        if (!ok) throw tooMany(max);
        let released = false;
        return {
          release() {
            if (released) return;
            released = true;
            // Off the call's path; a release that does not arrive lapses with its lease.
            void redisCommand(() => redis.zrem(key, id)).catch(() => {});
          },
        };
      } catch (e) {
        if (!(e instanceof RedisUnavailable)) throw e;
      }
    }
  }
  return takeLocal(subject, max);
}

/** Calls this process holds slots for, per key (tests). */
export function localInFlightForTests(): ReadonlyMap<string, number> {
  return local;
}
