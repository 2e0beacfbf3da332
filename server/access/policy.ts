import "server-only";
// The one access policy both wrappers apply: a REST route (endpoint.ts) and a tRPC procedure
// (server/trpc/init.ts) each declare an AccessPolicy, and these functions enforce it the same way,
// in the same order: who may call (access level, then scope), then the rate limit, then the body
// limit when the body is read. A procedure with a REST twin names the twin's limit (`generate`,
// `generate-embeddings`, `vector-search`); everything else counts against the default limit, and
// the caller's tier limit counts every limited request too.
import { loadEnv } from "../kernel/env.ts";
import { AppError } from "../kernel/errors.ts";
import {
  ANONYMOUS,
  authenticate,
  requireAdmin,
  requireAuthenticated,
  requireScope,
  type AuthenticatedIdentity,
  type Identity,
  type Scope,
} from "./auth.ts";
import { isMetricsToken } from "./metrics-access.ts";
import { checkRateLimit, type RateLimitState } from "./rate-limits.ts";
import { clientAddressFrom } from "./client-address.ts";

/**
 * public: anyone (only /health and /ping); user: any authenticated caller; admin: an admin caller;
 * metrics: an admin caller or `Authorization: Bearer <METRICS_TOKEN>` (for Prometheus).
 */
export type Access = "public" | "user" | "admin" | "metrics";

export type AccessPolicy = {
  access: Access;
  /** The scope an API key needs (sessions, JWTs and admins hold every user scope). */
  scope?: Scope;
  /**
   * Which rate limit counts the call (after auth, before parsing): a name with its own limit
   * (`generate`, `generate-embeddings`, `vector-search`, or any name set in RATE_LIMITS), by
   * default the shared RATE_LIMIT_REQUESTS per RATE_LIMIT_WINDOW; false for none. Public calls
   * are never limited.
   */
  rateLimit?: string | false;
  /** Largest body accepted, in bytes; MAX_BODY_BYTES by default. */
  maxBodyBytes?: number;
};

/**
 * The caller, authenticated from the request's headers when the policy needs one. Public calls
 * never look at credentials, so a bad key cannot make them fail.
 */
export async function identify(policy: AccessPolicy, headers: Headers): Promise<Identity> {
  if (policy.access === "public") return ANONYMOUS;
  if (policy.access === "metrics" && isMetricsToken(headers)) return ANONYMOUS;
  return admit(policy, await authenticate(headers, { clientAddress: clientAddressFrom(headers) ?? undefined }));
}

/**
 * Checks an already authenticated caller against a non-public policy's access level and scope: 401, 403.
 * `authError` is the reason the credential was refused, when it was (tRPC authenticates once per
 * HTTP request, before it knows which procedures run).
 */
export function admit(policy: AccessPolicy, identity: Identity, authError?: AppError): AuthenticatedIdentity {
  if (authError) throw authError;
  const caller = policy.access === "admin" || policy.access === "metrics" ? requireAdmin(identity) : requireAuthenticated(identity);
  if (policy.scope) requireScope(caller, policy.scope);
  return caller;
}

/** Counts the call against its limits (a 429 AppError past one); undefined when none applies. */
export async function countCall(policy: AccessPolicy, identity: Identity): Promise<RateLimitState | undefined> {
  if (identity.kind === "anonymous" || policy.access === "public" || policy.rateLimit === false) return undefined;
  return checkRateLimit(identity, policy.rateLimit ?? "default");
}

/** The largest body the call may send. */
export function bodyLimit(policy: AccessPolicy | undefined): number {
  return policy?.maxBodyBytes ?? loadEnv().MAX_BODY_BYTES;
}

export function payloadTooLarge(limit: number): AppError {
  return new AppError("payload_too_large", `The request body is larger than the limit of ${limit} bytes`, { limit_bytes: limit });
}
