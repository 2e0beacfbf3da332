import "server-only";
// Who is calling. One function serves REST and tRPC alike: `authenticate(headers)`. It accepts,
// in this order:
//   1. `Authorization: Bearer <credential>` or `x-api-key: <key>`: a value shaped like a JWT goes to
//      platform-JWT verification, one starting with our key prefix (`ms_`) to the API-key cache;
//   2. the dashboard's session cookie (next-auth), when no explicit credential is sent.
// A credential that does not check out is a 401, never a silent downgrade to anonymous.
import { AppError } from "../kernel/errors.ts";
import { authFailureRefusal, noteAuthFailure } from "./auth-failures.ts";
import { ANONYMOUS, scopesFor, type AuthenticatedIdentity, type Identity, type Role, type Scope } from "./identity.ts";
import { KEY_PREFIX, noteKeyUsed, resolveApiKey } from "./key-lookup.ts";
import { looksLikeJwt, verifyPlatformJwt } from "./platform-jwt.ts";
import { sessionFrom } from "./session-token.ts";
import { getUser, sessionIsCurrent, userForSubject } from "./user-lookup.ts";

export {
  ANONYMOUS,
  CLI_ACTOR,
  isAdminActor,
  SCOPES,
  scopesFor,
  TIERS,
  USER_SCOPES,
  type Actor,
  type AuthenticatedIdentity,
  type Identity,
  type Role,
  type Scope,
  type Tier,
} from "./identity.ts";
/** SHA-256 hex of an API key: what the database stores. */
export { hashApiKey } from "./key-lookup.ts";

const EXPECTED =
  "send an API key as `Authorization: Bearer <key>` or `x-api-key: <key>`, or a platform JWT as `Authorization: Bearer <jwt>`";

/** The explicit credential a request carries: `Authorization: Bearer <value>` or `x-api-key: <key>`. */
export function credentialFrom(headers: Headers): { value: string; from: "authorization" | "x-api-key" } | undefined {
  const auth = headers.get("authorization");
  if (auth !== null) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (!m) throw new AppError("unauthorized", `Malformed Authorization header: expected \`Bearer <credential>\`; ${EXPECTED}`);
    return { value: m[1]!, from: "authorization" };
  }
  const key = headers.get("x-api-key")?.trim();
  return key ? { value: key, from: "x-api-key" } : undefined;
}

/**
 * Resolves the caller; see the top of this file for what is accepted. With the client's address,
 * failed credentials are counted against it (auth-failures.ts): past the limit, only keys this
 * instance already knows are looked at, and anything else answers 429 without a database lookup.
 */
export async function authenticate(headers: Headers, options: { clientAddress?: string } = {}): Promise<Identity> {
  const credential = credentialFrom(headers);
  if (credential) {
    const address = options.clientAddress;
    try {
      if (credential.from === "authorization" && looksLikeJwt(credential.value)) return await authenticateJwt(credential.value);
      if (credential.value.startsWith(KEY_PREFIX)) return await authenticateKey(credential.value, authFailureRefusal(address));
      throw new AppError("unauthorized", `Unrecognised credential: neither an API key (${KEY_PREFIX}…) nor a JWT; ${EXPECTED}`);
    } catch (e) {
      if (e instanceof AppError && e.code === "unauthorized") noteAuthFailure(address);
      throw e;
    }
  }
  const session = await sessionFrom(headers);
  if (!session) return ANONYMOUS;
  const user = await getUser(session.userId);
  // A session whose user has since been deleted or disabled, or that was ended (signed out, a new
  // password, sign out everywhere), is no session. The user record is cached: no extra query.
  if (!user || !sessionIsCurrent(user, session)) return ANONYMOUS;
  return {
    kind: "session",
    apiKeyId: null,
    userId: user.id,
    email: user.email,
    role: user.role,
    tier: "standard",
    scopes: scopesFor(user.role, []),
  };
}

async function authenticateKey(secret: string, refusal: AppError | undefined): Promise<Identity> {
  const key = refusal ? await resolveApiKey(secret, { knownOnly: true }) : await resolveApiKey(secret);
  if (key === undefined) throw refusal!;
  if (!key || key.revoked) throw new AppError("unauthorized", "Invalid API key: it is unknown or revoked");
  // Only the key's holder reaches this: telling them it expired (and when) tells no one else anything.
  if (key.expiresAt !== null && key.expiresAt <= Date.now()) {
    throw new AppError(
      "unauthorized",
      `This API key expired at ${new Date(key.expiresAt).toISOString()}; ask its owner to extend it (keys update --expires) or create a new one`,
      { reason: "key_expired" },
    );
  }
  // The owner's record is the cached one that budgets and sessions read too: no query once warm.
  if (key.userId && (await getUser(key.userId))?.disabledAt)
    throw new AppError("unauthorized", "Invalid API key: its owner's account is disabled");
  noteKeyUsed(key.id);
  const role: Role = key.isAdmin ? "admin" : "user";
  const c = key.controls;
  const controlled = c.allowedModels.length > 0 || c.rpm !== null || c.tpm !== null || c.maxParallel !== null;
  return {
    kind: "apiKey",
    apiKeyId: key.id,
    userId: key.userId,
    ...(key.teamId ? { teamId: key.teamId } : {}),
    role,
    tier: key.tier,
    scopes: scopesFor(role, key.scopes),
    ...(controlled ? { controls: c } : {}),
  };
}

async function authenticateJwt(token: string): Promise<Identity> {
  const claims = await verifyPlatformJwt(token);
  const user = await userForSubject(claims.subject);
  if (user.disabledAt) throw new AppError("unauthorized", "This account is disabled");
  return {
    kind: "jwt",
    apiKeyId: null,
    userId: user.id,
    subject: claims.subject,
    role: user.role,
    tier: claims.tier ?? "standard",
    scopes: scopesFor(user.role, []),
  };
}

export function requireAuthenticated(identity: Identity): AuthenticatedIdentity {
  if (identity.kind === "anonymous") {
    throw new AppError("unauthorized", `Authentication required: ${EXPECTED}`);
  }
  return identity;
}

export function requireAdmin(identity: Identity): AuthenticatedIdentity {
  const who = requireAuthenticated(identity);
  if (who.role !== "admin") throw new AppError("forbidden", "This needs an admin key or an admin account");
  return who;
}

export function hasScope(identity: Identity, scope: Scope): boolean {
  return identity.kind !== "anonymous" && (identity.role === "admin" || identity.scopes.includes(scope));
}

/** 403 unless the caller holds `scope`. */
export function requireScope(identity: Identity, scope: Scope): AuthenticatedIdentity {
  const who = requireAuthenticated(identity);
  if (!hasScope(who, scope)) {
    throw new AppError("forbidden", `This API key lacks the \`${scope}\` scope (it has: ${who.scopes.join(", ") || "none"})`, {
      required_scope: scope,
    });
  }
  return who;
}

/**
 * Whose data the caller may see: everything (admin), one user's, or — for a key created without a
 * user — that key's own. Services filter usage, keys and collections with it.
 */
export type Ownership = { all: true } | { all: false; userId: string } | { all: false; apiKeyId: string };

export function ownershipOf(identity: AuthenticatedIdentity): Ownership {
  if (identity.role === "admin") return { all: true };
  if (identity.userId) return { all: false, userId: identity.userId };
  return { all: false, apiKeyId: identity.apiKeyId! };
}

/** Whether a row owned by (`userId`, `apiKeyId`) is visible to the caller. */
export function canSee(identity: AuthenticatedIdentity, owner: { userId?: string | null; apiKeyId?: string | null }): boolean {
  const o = ownershipOf(identity);
  if (o.all) return true;
  if ("userId" in o) return owner.userId === o.userId;
  return owner.apiKeyId === o.apiKeyId;
}
