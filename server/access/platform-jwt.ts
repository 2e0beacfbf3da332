import "server-only";
// Bearer JWTs from the platform's other services, verified with JWT_SECRET and JWT_ALGORITHM.
// The algorithm is pinned (a token naming another one, `none` included, is refused), `exp` and
// `sub` are required, and 30 seconds of clock skew are tolerated. The optional `tier` claim
// (basic | standard | premium) sets the caller's rate-limit tier; anything else there is ignored.
import { errors, jwtVerify } from "jose";
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import { textProblem } from "../kernel/validation.ts";
import { TIERS, type Tier } from "./identity.ts";

export const JWT_CLOCK_TOLERANCE_SECONDS = 30;
/** The claim that carries the caller's tier. */
export const TIER_CLAIM = "tier";

/** Three base64url segments (the last may be empty, as in an unsigned `alg: none` token). */
export function looksLikeJwt(value: string): boolean {
  return /^[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*$/.test(value);
}

export type PlatformClaims = { subject: string; tier: Tier | undefined };

let cachedKey: { secret: string; key: Uint8Array } | undefined;

function secretKey(): Uint8Array {
  const secret = loadEnv().JWT_SECRET;
  if (!secret) throw new AppError("unauthorized", "Invalid JWT: this service accepts no JWTs (JWT_SECRET is not configured)");
  if (cachedKey?.secret !== secret) cachedKey = { secret, key: new TextEncoder().encode(secret) };
  return cachedKey.key;
}

/** The verified subject and tier of a platform JWT; a 401 AppError naming the reason otherwise. */
export async function verifyPlatformJwt(token: string): Promise<PlatformClaims> {
  const key = secretKey();
  let payload;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [loadEnv().JWT_ALGORITHM],
      clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "sub"],
    }));
  } catch (e) {
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

/** Why a token was refused, in words that carry nothing of the token or the secret. */
function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return "it has expired";
  if (e instanceof errors.JOSEAlgNotAllowed) return `its algorithm is not allowed (this service accepts ${loadEnv().JWT_ALGORITHM} only)`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return "the signature does not verify";
  if (e instanceof errors.JWTClaimValidationFailed) return `claim check failed (${e.claim}: ${e.reason})`;
  if (e instanceof errors.JWTInvalid || e instanceof errors.JWSInvalid) return "it is malformed";
  if (e instanceof errors.JOSENotSupported) return "it uses an unsupported algorithm";
  return "it could not be verified";
}
