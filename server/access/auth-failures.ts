import "server-only";
// Failed authentication, limited per client address. An unknown API key costs a database lookup
// (its "unknown" answer is cached, but a flood sends a new made-up key each time), so an address
// that has failed `auth-failures` times (RATE_LIMITS; 20 per minute by default) in a window is
// refused with 429 before any lookup until the window ends, except for keys this instance already
// knows to be valid (answered from its cache at no cost): a client behind the same address with a
// real key keeps working. Counted in this process (each instance brakes its own share of a flood;
// the point is the database behind it, which each instance only reaches through its own lookups).
import { loadEnv, type RateLimitSpec } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { recordRateLimitRejection } from "../kernel/metrics.ts";

export const AUTH_FAILURES_DEFAULT: NonNullable<RateLimitSpec> = { requests: 20, windowSeconds: 60 };
/** Addresses remembered at most; past it the oldest window is forgotten. */
const MAX_ADDRESSES = 100_000;

type Window = { failures: number; endsAt: number };
const g = globalThis as unknown as { __modelServiceAuthFailures?: Map<string, Window> };
const windows: Map<string, Window> = (g.__modelServiceAuthFailures ??= new Map());

/** The limit: RATE_LIMITS' `auth-failures` entry (or `off`), else AUTH_FAILURES_DEFAULT. */
export function authFailureLimit(): RateLimitSpec {
  const overrides = loadEnv().RATE_LIMITS;
  return "auth-failures" in overrides ? overrides["auth-failures"]! : AUTH_FAILURES_DEFAULT;
}

function current(address: string, now: number): Window | undefined {
  const w = windows.get(address);
  if (w && w.endsAt <= now) {
    windows.delete(address);
    return undefined;
  }
  return w;
}

/** The 429 to answer an address that has used up its failures (undefined: it may try). */
export function authFailureRefusal(address: string | undefined): AppError | undefined {
  const spec = authFailureLimit();
  if (!address || !spec) return undefined;
  const now = Date.now();
  const w = current(address, now);
  if (!w || w.failures < spec.requests) return undefined;
  recordRateLimitRejection("auth-failures");
  const retryAfter = Math.max(1, Math.ceil((w.endsAt - now) / 1000));
  return new AppError(
    "rate_limited",
    `Too many failed authentication attempts from this address; try again in ${retryAfter} s`,
    { limit: spec.requests, retry_after_seconds: retryAfter, limit_name: "auth-failures" },
    {
      "Retry-After": String(retryAfter),
      "X-RateLimit-Limit": String(spec.requests),
      "X-RateLimit-Remaining": "0",
      "X-RateLimit-Reset": String(Math.ceil(w.endsAt / 1000)),
    },
  );
}

/** Counts one failed authentication (unknown, revoked or expired key; a bad JWT) for the address. */
export function noteAuthFailure(address: string | undefined): void {
  const spec = authFailureLimit();
  if (!address || !spec) return;
  const now = Date.now();
  const w = current(address, now);
  if (w) {
    w.failures++;
    return;
  }
  if (windows.size >= MAX_ADDRESSES) {
    const oldest = windows.keys().next().value;
    if (oldest !== undefined) windows.delete(oldest);
  }
  windows.set(address, { failures: 1, endsAt: now + spec.windowSeconds * 1000 });
}

/** Forgets every address (tests). */
export function resetAuthFailuresForTests(): void {
  windows.clear();
}
