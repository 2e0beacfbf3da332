import "server-only";
// Bearer JWTs from the platform's other services, verified with a shared secret (JWT_SECRET, the
// HS algorithm pinned to JWT_ALGORITHM) or with the public keys of a JSON Web Key Set
// (JWT_JWKS_URL: RS256 or ES256, the key picked by the token's `kid`), or both. The token's header
// picks the path, and each path accepts only its own algorithms (a token naming another one,
// `none` included, is refused; an RS256 token is never checked against the shared secret). `exp`
// and `sub` are required, `iss` and `aud` too when JWT_ISSUER / JWT_AUDIENCE are set, and 30
// seconds of clock skew are tolerated. The optional `tier` claim (basic | standard | premium) sets
// the caller's rate-limit tier; anything else there is ignored.
//
// The key set is fetched with a deadline (JWKS_TIMEOUT_MS), kept for JWKS_CACHE_MS, and fetched
// again early only for a `kid` it does not hold, at most once per JWKS_COOLDOWN_MS (jose's remote
// key set). A key set that cannot be fetched answers 503, not 401: the token may be fine. The URL
// is the operator's configuration, never a caller's, so it may name a private address.
import { createRemoteJWKSet, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyOptions } from "jose";
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { textProblem } from "../kernel/validation.ts";
import { TIERS, type Tier } from "./identity.ts";

export const JWT_CLOCK_TOLERANCE_SECONDS = 30;
/** The claim that carries the caller's tier. */
export const TIER_CLAIM = "tier";
/** The asymmetric algorithms a JWKS-verified token may use. */
export const JWKS_ALGORITHMS = ["RS256", "ES256"] as const;
/** How long one fetch of the key set may take. */
export const JWKS_TIMEOUT_MS = 3_000;
/** How long a fetched key set is used before it is fetched again. */
export const JWKS_CACHE_MS = 10 * 60_000;
/** The shortest time between two fetches (an unknown `kid` triggers one early). */
export const JWKS_COOLDOWN_MS = 30_000;

/** Three base64url segments (the last may be empty, as in an unsigned `alg: none` token). */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/.test(value);
}

export type PlatformClaims = { subject: string; tier: Tier | undefined };

type KeySet = ReturnType<typeof createRemoteJWKSet>;
const g = globalThis as unknown as { __modelServiceJwtKeys?: { secret?: string; key?: Uint8Array; jwksUrl?: string; jwks?: KeySet } };
const cached = (g.__modelServiceJwtKeys ??= {});

function secretKey(secret: string): Uint8Array {
  if (cached.secret !== secret || !cached.key) {
    cached.secret = secret;
    cached.key = new TextEncoder().encode(secret);
  }
  return cached.key;
}

function keySet(url: string): KeySet {
  if (cached.jwksUrl !== url || !cached.jwks) {
    cached.jwksUrl = url;
    cached.jwks = createRemoteJWKSet(new URL(url), {
      timeoutDuration: JWKS_TIMEOUT_MS,
      cacheMaxAge: JWKS_CACHE_MS,
      cooldownDuration: JWKS_COOLDOWN_MS,
    });
  }
  return cached.jwks;
}

/** Forgets the fetched key set (tests, and a changed JWT_JWKS_URL). */
export function resetJwtKeysForTests(): void {
  delete cached.jwks;
  delete cached.jwksUrl;
}

/** What this service accepts, in words, for refusals. */
function accepted(): string {
  const env = loadEnv();
  const parts = [env.JWT_SECRET ? env.JWT_ALGORITHM : "", env.JWT_JWKS_URL ? JWKS_ALGORITHMS.join(", ") : ""].filter(Boolean);
  return parts.join(", ");
}

/** The verified subject and tier of a platform JWT; a 401 AppError naming the reason otherwise (503 when the key set cannot be fetched). */
export async function verifyPlatformJwt(token: string): Promise<PlatformClaims> {
  const env = loadEnv();
  if (!env.JWT_SECRET && !env.JWT_JWKS_URL) {
    throw new AppError("unauthorized", "Invalid JWT: this service accepts no JWTs (JWT_SECRET is not configured, nor JWT_JWKS_URL)");
  }
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw new AppError("unauthorized", "Invalid JWT: it is malformed");
  }
  const options: JWTVerifyOptions = {
    clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ["exp", "sub"],
    ...(env.JWT_ISSUER ? { issuer: env.JWT_ISSUER } : {}),
    ...(env.JWT_AUDIENCE ? { audience: env.JWT_AUDIENCE } : {}),
  };
  const viaJwks = typeof alg === "string" && (JWKS_ALGORITHMS as readonly string[]).includes(alg);
  if (viaJwks && !env.JWT_JWKS_URL) {
    throw new AppError(
      "unauthorized",
      `Invalid JWT: its algorithm ${alg} needs JWT_JWKS_URL, which is not configured (this service accepts ${accepted()})`,
    );
  }
  if (!viaJwks && !env.JWT_SECRET) {
    throw new AppError("unauthorized", `Invalid JWT: its algorithm is not allowed (this service accepts ${accepted()} only)`);
  }
  let payload;
  try {
    ({ payload } = viaJwks
      ? await jwtVerify(token, keySet(env.JWT_JWKS_URL!), { ...options, algorithms: [...JWKS_ALGORITHMS] })
      : await jwtVerify(token, secretKey(env.JWT_SECRET!), { ...options, algorithms: [env.JWT_ALGORITHM] }));
  } catch (e) {
    if (isKeySetUnavailable(e)) {
      throw new AppError(
        "unavailable",
        "Cannot verify the JWT now: the key set at JWT_JWKS_URL did not answer with keys in time; retry shortly",
      );
    }
    throw new AppError("unauthorized", `Invalid JWT: ${reason(e)}`);
  }
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0 || subject.length > 255) {
    throw new AppError("unauthorized", "Invalid JWT: `sub` must be a non-empty string of at most 255 characters");
  }
  // The subject is looked up (and stored) as a user's external id.
  const problem = textProblem(subject);
  if (problem) throw new AppError("unauthorized", `Invalid JWT: \`sub\` ${problem}`);
  const tierClaim = payload[TIER_CLAIM];
  const tier = typeof tierClaim === "string" && (TIERS as readonly string[]).includes(tierClaim) ? (tierClaim as Tier) : undefined;
  return { subject, tier };
}

/** A key set that timed out, failed to fetch, or answered something that is not one. */
function isKeySetUnavailable(e: unknown): boolean {
  if (e instanceof errors.JWKSTimeout || e instanceof errors.JWKSInvalid) return true;
  // fetch's own failures (refused connection, DNS), and jose's for a non-200 answer or one that is not JSON.
  if (e instanceof TypeError) return true;
  return e instanceof errors.JOSEError && e.code === "ERR_JOSE_GENERIC" && /JSON Web Key Set/.test(e.message);
}

/** Why a token was refused, in words that carry nothing of the token or the secret. */
function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return "it has expired";
  if (e instanceof errors.JOSEAlgNotAllowed) return `its algorithm is not allowed (this service accepts ${accepted()} only)`;
  if (e instanceof errors.JWKSNoMatchingKey) return "no key of the key set at JWT_JWKS_URL matches it (its kid and algorithm)";
  if (e instanceof errors.JWKSMultipleMatchingKeys) return "several keys of the key set match it: give it a kid";
  if (e instanceof errors.JWSSignatureVerificationFailed) return "the signature does not verify";
  if (e instanceof errors.JWTClaimValidationFailed) return `claim check failed (${e.claim}: ${e.reason})`;
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid) return "it is malformed";
  if (e instanceof errors.JOSENotSupported) return "it uses an unsupported algorithm";
  return "it could not be verified";
}
