import "server-only";
// Who is calling. One function serves REST and tRPC alike: `authenticate(headers)`.
import { createHash } from "node:crypto";
import { getDb } from "../db/index.ts";
import { AppError } from "../errors.ts";

export type Role = "admin" | "user";
export type Tier = "basic" | "standard" | "premium";

export type Identity =
  | { kind: "anonymous" }
  | {
      kind: "apiKey";
      apiKeyId: string;
      userId: string | null;
      role: Role;
      tier: Tier;
      scopes: string[];
    };

export type AuthenticatedIdentity = Exclude<Identity, { kind: "anonymous" }>;

export const ANONYMOUS: Identity = { kind: "anonymous" };

/** SHA-256 hex of an API key: what the database stores. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** The credential a request carries: `Authorization: Bearer <key>` or `x-api-key: <key>`. */
export function credentialFrom(headers: Headers): string | undefined {
  const auth = headers.get("authorization");
  if (auth) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new AppError("unauthorized", "Malformed Authorization header: expected `Bearer <api key>`");
    return m[1];
  }
  const key = headers.get("x-api-key");
  return key?.trim() || undefined;
}

/**
 * Resolves the caller. No credential gives the anonymous identity; a credential that does not
 * check out is an error (401), never a silent downgrade to anonymous.
 */
export async function authenticate(headers: Headers): Promise<Identity> {
  const credential = credentialFrom(headers);
  if (!credential) return ANONYMOUS;
  const db = await getDb();
  const key = await db.apiKey.findUnique({
    where: { keyHash: hashApiKey(credential) },
    include: { user: { select: { role: true } } },
  });
  const now = new Date();
  if (!key || key.revokedAt || (key.expiresAt && key.expiresAt <= now)) {
    throw new AppError("unauthorized", "Invalid API key: it is unknown, revoked or expired");
  }
  return {
    kind: "apiKey",
    apiKeyId: key.id,
    userId: key.userId,
    role: key.isAdmin || key.user?.role === "admin" ? "admin" : "user",
    tier: key.tier,
    scopes: key.scopes,
  };
}

export function requireAuthenticated(identity: Identity): AuthenticatedIdentity {
  if (identity.kind === "anonymous") {
    throw new AppError("unauthorized", "Authentication required: send an API key as `Authorization: Bearer <key>` or `x-api-key`");
  }
  return identity;
}

export function requireAdmin(identity: Identity): AuthenticatedIdentity {
  const who = requireAuthenticated(identity);
  if (who.role !== "admin") throw new AppError("forbidden", "This needs an admin key or an admin account");
  return who;
}
