import "server-only";
// Rate limits: one per endpoint (generate 10/minute, generate-embeddings 20/minute, vector-search
// 100/minute, RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW seconds for every other endpoint) and one
// per tier (basic 10/hour, standard 100/hour, premium 1000/hour; API keys and JWTs), both counted
// per caller (API key, or user for sessions and JWTs). RATE_LIMITS overrides any of them without code.
// A key may carry its own requests per minute (`key:rpm`, counted here beside the two others; the
// tightest wins) and tokens per minute (`key:tpm`: `chargeKeyTokens`, called by features/inference
// with the input's estimate before a call and settled with the real usage after it). A team's key
// also counts against its team's requests per minute (`team:rpm`, one counter for all its keys).
//
// The counters live in this process, or in Redis when REDIS_URL is set so that every instance
// shares one budget. Both counters of a request are sent to Redis in the same tick over a client
// with auto-pipelining: one round trip per check. A caller already over a limit is answered from
// memory until the window ends, and while Redis is unusable (down, hung past the command deadline,
// its circuit open: server/kernel/redis.ts) the process's own counters take over at once.
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { loadEnv, type RateLimitSpec } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { getRedis, redisCommand, redisConnected, RedisUnavailable, redisUsable } from "../kernel/redis.ts";
import type { AuthenticatedIdentity, Tier } from "./identity.ts";
import { recordRateLimitRejection } from "../kernel/metrics.ts";
import { getTeam } from "./teams.ts";

/** The original service's per-endpoint defaults. */
export const ENDPOINT_LIMIT_DEFAULTS: Readonly<Record<string, RateLimitSpec>> = {
  generate: { requests: 10, windowSeconds: 60 },
  "generate-embeddings": { requests: 20, windowSeconds: 60 },
  "vector-search": { requests: 100, windowSeconds: 60 },
  /**
   * Generation by a person signed in to the dashboard (the playground), in place of `generate`'s
   * 10 a minute, which a compare of three models would use up in three runs.
   */
  playground: { requests: 60, windowSeconds: 60 },
  /** Failed dashboard sign-ins per account (email), from anywhere; see login-limits.ts. */
  login: { requests: 10, windowSeconds: 300 },
  /** Failed dashboard sign-ins per client address, over all accounts; see login-limits.ts. */
  "login-client": { requests: 20, windowSeconds: 900 },
};

export const TIER_LIMIT_DEFAULTS: Readonly<Record<Tier, RateLimitSpec>> = {
  basic: { requests: 10, windowSeconds: 3600 },
  standard: { requests: 100, windowSeconds: 3600 },
  premium: { requests: 1000, windowSeconds: 3600 },
};

/** The limit for an endpoint name (`generate`, or "default" for one without its own). */
export function endpointLimit(name: string): RateLimitSpec {
  const env = loadEnv();
  if (name in env.RATE_LIMITS) return env.RATE_LIMITS[name]!;
  if (name in ENDPOINT_LIMIT_DEFAULTS) return ENDPOINT_LIMIT_DEFAULTS[name]!;
  return { requests: env.RATE_LIMIT_REQUESTS, windowSeconds: env.RATE_LIMIT_WINDOW };
}

export function tierLimit(tier: Tier): RateLimitSpec {
  const overrides = loadEnv().RATE_LIMITS;
  const name = `tier:${tier}`;
  return name in overrides ? overrides[name]! : TIER_LIMIT_DEFAULTS[tier];
}

export type RateLimitState = {
  /** The limit that is closest to running out (or has). */
  limit: number;
  remaining: number;
  /** Epoch seconds when that limit's window ends. */
  resetAt: number;
  /** Seconds until the caller may try again (0 when allowed). */
  retryAfter: number;
  allowed: boolean;
  /** Which limit it is: `generate`, `default`, `tier:premium`, … */
  name: string;
  windowSeconds: number;
};

/** X-RateLimit-Limit, -Remaining and -Reset (epoch seconds), and Retry-After on a refusal. */
export function rateLimitHeaders(state: RateLimitState): Record<string, string> {
  const headers: Record<string, string> = {
    "X-RateLimit-Limit": String(state.limit),
    "X-RateLimit-Remaining": String(state.remaining),
    "X-RateLimit-Reset": String(state.resetAt),
  };
  if (!state.allowed) headers["Retry-After"] = String(state.retryAfter);
  return headers;
}

// ---------------------------------------------------------------------------------------------

/** One limit's counters: in Redis when configured (`shared`), and this process's own (`local`). */
type Limiter = { shared?: RateLimiterRedis; local: RateLimiterMemory };
type Limiters = { byConfig: Map<string, Limiter> };
const g = globalThis as unknown as { __modelServiceRateLimiters?: Limiters };
const limiters: Limiters = (g.__modelServiceRateLimiters ??= { byConfig: new Map() });

/**
 * `blockInMemory`: a caller over the limit is refused from memory until the window ends. Not for
 * token limits, where a large call that does not fit says nothing about a small one that does.
 */
function limiterFor(name: string, spec: NonNullable<RateLimitSpec>, blockInMemory = true): Limiter {
  const id = `${name}|${spec.requests}|${spec.windowSeconds}`;
  const existing = limiters.byConfig.get(id);
  if (existing) return existing;
  const base = { points: spec.requests, duration: spec.windowSeconds };
  const keyPrefix = `${loadEnv().REDIS_KEY_PREFIX}rl:${name}:${spec.requests}:${spec.windowSeconds}`;
  const redis = getRedis();
  const limiter: Limiter = {
    // Redis unusable (down, hung, circuit open): this process's own counters hold the line rather than letting all through.
    local: new RateLimiterMemory({ ...base, keyPrefix }),
    ...(redis
      ? {
          shared: new RateLimiterRedis({
            ...base,
            storeClient: redis,
            keyPrefix,
            rejectIfRedisNotReady: true,
            // Over the limit: refuse from memory until the window ends, without asking Redis again.
            ...(blockInMemory ? { inMemoryBlockOnConsumed: spec.requests + 1 } : {}),
          }),
        }
      : {}),
  };
  limiters.byConfig.set(id, limiter);
  return limiter;
}

function subjectOf(identity: AuthenticatedIdentity): string {
  return identity.apiKeyId ? `key:${identity.apiKeyId}` : `user:${identity.userId}`;
}

export type Consumed = { res: RateLimiterRes; allowed: boolean };

/**
 * A limiter's refusal (its RateLimiterRes). Checked by shape, not instanceof: the limiters are
 * shared process-wide, and the lean host's copy of rate-limiter-flexible and the one bundled into
 * Next's server code have different classes, so a refusal from a limiter the other copy made
 * looked like an unexpected error (a 500 on a dashboard page once its caller was over a limit).
 */
function isRefusal(e: unknown): e is RateLimiterRes {
  return (
    e instanceof RateLimiterRes ||
    (typeof e === "object" && e !== null && !(e instanceof Error) && "msBeforeNext" in e && "remainingPoints" in e)
  );
}

/** A limiter's answer: a refusal (a RateLimiterRes rejection) is an answer too, not a failure. */
function consumed(p: Promise<RateLimiterRes>): Promise<Consumed> {
  return p.then(
    (res) => ({ res, allowed: true }),
    (e: unknown) => {
      if (isRefusal(e)) return { res: e, allowed: false };
      throw e;
    },
  );
}

type Store = "shared" | "local";

/** Counts in Redis while it is usable (one round trip, under the command deadline), else in this process. */
async function consumeOne(limiter: Limiter, subject: string, points = 1): Promise<Consumed & { store: Store }> {
  const shared = limiter.shared;
  if (shared) {
    await redisConnected();
    if (redisUsable()) {
      try {
        return { ...(await redisCommand(() => consumed(shared.consume(subject, points)))), store: "shared" };
      } catch (e) {
        if (!(e instanceof RedisUnavailable)) throw e;
      }
    }
  }
  return { ...(await consumed(limiter.local.consume(subject, points))), store: "local" };
}

/**
 * Gives points back to the counters that took them (Redis unusable by then: this process's); a
 * negative number takes more (a call that used more tokens than estimated), never refused.
 */
async function rewardOne(limiter: Limiter, subject: string, store: Store, points = 1): Promise<void> {
  const shared = limiter.shared;
  if (store === "shared" && shared && redisUsable()) {
    try {
      await redisCommand(() => (points >= 0 ? shared.reward(subject, points) : shared.penalty(subject, -points)));
      return;
    } catch (e) {
      if (!(e instanceof RedisUnavailable)) throw e;
    }
  }
  await (points >= 0 ? limiter.local.reward(subject, points) : limiter.local.penalty(subject, -points));
}

type Counted = RateLimitState & {
  /** Gives the point back (the request was refused by another limit). */
  refund: () => Promise<void>;
};

async function consume(name: string, spec: RateLimitSpec, subject: string): Promise<Counted | undefined> {
  if (!spec) return undefined;
  const limiter = limiterFor(name, spec);
  const { res, allowed, store } = await consumeOne(limiter, subject);
  const msBeforeNext = Math.max(0, res.msBeforeNext);
  return {
    name,
    windowSeconds: spec.windowSeconds,
    limit: spec.requests,
    remaining: allowed ? res.remainingPoints : 0,
    resetAt: Math.ceil((Date.now() + msBeforeNext) / 1000),
    retryAfter: allowed ? 0 : Math.max(1, Math.ceil(msBeforeNext / 1000)),
    allowed,
    // A refund that fails (Redis just went away) costs the caller one point at most: never the request.
    refund: () => rewardOne(limiter, subject, store).catch(() => {}),
  };
}

/**
 * Counts one request of `endpoint` against the caller's endpoint and tier limits. Returns the
 * state to report in headers (undefined when no limit applies); throws a 429 AppError carrying
 * Retry-After and the X-RateLimit-* headers when either limit is used up.
 */
export async function checkRateLimit(identity: AuthenticatedIdentity, name: string): Promise<RateLimitState | undefined> {
  const subject = subjectOf(identity);
  const endpoint = identity.kind === "session" && name === "generate" ? "playground" : name;
  // Tiers are what API keys and platform JWTs carry. A person signed in to the dashboard (whose
  // every tRPC call is limited) counts against the endpoint limits only: a tier's hundred requests
  // an hour would be a few minutes of browsing.
  const tier = identity.kind === "session" ? undefined : consume(`tier:${identity.tier}`, tierLimit(identity.tier), subject);
  const rpm = identity.kind === "apiKey" ? identity.controls?.rpm : null;
  const own = rpm ? consume("key:rpm", { requests: rpm, windowSeconds: 60 }, subject) : undefined;
  const team = identity.teamId ? teamLimit(identity.teamId) : undefined;
  const states = (await Promise.all([consume(endpoint, endpointLimit(endpoint), subject), tier, own, team])).filter(
    (s): s is Counted => s !== undefined,
  );
  if (states.length === 0) return undefined;
  const refused = states.filter((s) => !s.allowed).sort((a, b) => b.retryAfter - a.retryAfter)[0];
  if (refused) {
    // A refused request is not served, so it uses up none of the limits that let it through (an
    // endpoint's 429s would otherwise eat the tier's hourly quota).
    await Promise.all(states.filter((s) => s.allowed).map((s) => s.refund()));
    recordRateLimitRejection(refused.name);
    throw rateLimited(refused, "requests");
  }
  // Report the limit closest to running out.
  const { refund: _, ...closest } = states.sort((a, b) => a.remaining - b.remaining || b.resetAt - a.resetAt)[0]!;
  return closest;
}

/** A team key's count against the team's requests per minute, shared by all its keys; none without a limit. */
async function teamLimit(teamId: string): Promise<Counted | undefined> {
  const rpm = (await getTeam(teamId))?.rpmLimit;
  return rpm ? consume("team:rpm", { requests: rpm, windowSeconds: 60 }, `team:${teamId}`) : undefined;
}

function rateLimited(refused: RateLimitState, unit: "requests" | "tokens", extra?: string): AppError {
  const what = refused.name.startsWith("tier:")
    ? `your ${refused.name.slice(5)} tier's limit`
    : refused.name.startsWith("key:")
      ? "this API key's own limit"
      : refused.name.startsWith("team:")
        ? "the limit of this key's team"
        : `the limit of the ${refused.name} endpoint`;
  return new AppError(
    "rate_limited",
    `Rate limit exceeded: ${what} is ${refused.limit} ${unit} per ${describeWindow(refused.windowSeconds)}${extra ?? ""}; retry in ${refused.retryAfter} s`,
    { limit: refused.limit, retry_after_seconds: refused.retryAfter, limit_name: refused.name },
    rateLimitHeaders(refused),
  );
}

/** A call's tokens counted against its key's tokens-per-minute limit: settle it once with what the call used. */
export type TokenCharge = { readonly estimated: number; settle(actualTokens: number): void };

const NO_CHARGE: TokenCharge = Object.freeze({ estimated: 0, settle() {} });

/**
 * Counts a call's estimated tokens (`estimate`, asked only when the key has a tokens-per-minute
 * limit) against the key's limit before the call: a 429 with Retry-After and X-RateLimit-* when they
 * do not fit in this minute's window. `settle` then moves the count to what the call really used
 * (more is taken without refusal, less is given back); 0 for a call that failed without using any.
 */
export async function chargeKeyTokens(identity: AuthenticatedIdentity, estimate: () => number): Promise<TokenCharge> {
  const tpm = identity.kind === "apiKey" ? identity.controls?.tpm : null;
  if (!tpm) return NO_CHARGE;
  const spec = { requests: tpm, windowSeconds: 60 };
  const estimated = Math.max(1, Math.ceil(estimate()));
  const subject = subjectOf(identity);
  const limiter = limiterFor("key:tpm", spec, false);
  const { res, allowed, store } = await consumeOne(limiter, subject, estimated);
  if (!allowed) {
    // The refused points were counted by the limiter: give them back, the call is not made.
    await rewardOne(limiter, subject, store, estimated).catch(() => {});
    const msBeforeNext = Math.max(0, res.msBeforeNext);
    const state: RateLimitState = {
      name: "key:tpm",
      windowSeconds: 60,
      limit: tpm,
      remaining: Math.max(0, res.remainingPoints),
      resetAt: Math.ceil((Date.now() + msBeforeNext) / 1000),
      retryAfter: Math.max(1, Math.ceil(msBeforeNext / 1000)),
      allowed: false,
    };
    recordRateLimitRejection(state.name);
    const never = estimated > tpm ? ` and this call's input alone is about ${estimated} tokens, so it never fits: shorten it` : "";
    throw rateLimited(state, "tokens", `, this call is estimated at ${estimated}${never}`);
  }
  let settled = false;
  return {
    estimated,
    settle(actualTokens: number) {
      if (settled) return;
      settled = true;
      const back = estimated - Math.max(0, Math.round(actualTokens));
      if (back !== 0) void rewardOne(limiter, subject, store, back).catch(() => {});
    },
  };
}

/** A named limit's counter, for callers that count and give back points themselves (the sign-in limits). */
export type PointCounter = {
  /** Adds one point for `key`: allowed, or refused (over the limit), with the counter's state. */
  consume(key: string): Promise<Consumed>;
  /** Takes one point back. */
  reward(key: string): Promise<void>;
};

/**
 * The counter of a named limit (`login`, `login-client`), or undefined when the limit is off:
 * in Redis while it is usable, else in this process, like every other limit.
 */
export async function namedLimiter(name: string): Promise<{ limiter: PointCounter; spec: NonNullable<RateLimitSpec> } | undefined> {
  const spec = endpointLimit(name);
  if (!spec) return undefined;
  const limiter = limiterFor(name, spec);
  return {
    spec,
    limiter: {
      consume: (key) => consumeOne(limiter, key),
      // Where the point was counted is not tracked here: Redis while it is usable, as it was counted.
      reward: (key) => rewardOne(limiter, key, "shared"),
    },
  };
}

function describeWindow(s: number): string {
  if (s === 1) return "second";
  if (s === 60) return "minute";
  if (s === 3600) return "hour";
  if (s === 86400) return "day";
  return `${s} seconds`;
}

/** Forgets the limiters (tests that change REDIS_URL or RATE_LIMITS between cases). */
export function resetRateLimitersForTests(): void {
  limiters.byConfig.clear();
}
