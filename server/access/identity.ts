import "server-only";
// The shapes of a caller: roles, tiers, scopes and the Identity union that REST handlers, tRPC
// procedures and services receive. (Apart from auth.ts so that the key and user services can use
// them without an import cycle.)

export type Role = "admin" | "user";
export type Tier = "basic" | "standard" | "premium";
export const TIERS: readonly Tier[] = ["basic", "standard", "premium"];

/** What a key may be limited to. A key created without scopes has every scope but `admin`. */
export const SCOPES = ["generate", "embeddings", "vectors", "usage:read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];
/** Every scope a non-admin caller can hold. */
export const USER_SCOPES: readonly Scope[] = SCOPES.filter((s) => s !== "admin");

type Caller = {
  /** Set for API keys; null for sessions and JWTs. */
  apiKeyId: string | null;
  /** The owning user; null for a key created without one. */
  userId: string | null;
  role: Role;
  tier: Tier;
  /** The effective scopes (an admin holds all of them). */
  scopes: Scope[];
};

export type Identity =
  | { kind: "anonymous" }
  | ({ kind: "apiKey"; apiKeyId: string } & Caller)
  | ({ kind: "session"; userId: string; email: string | null } & Caller)
  | ({ kind: "jwt"; userId: string; subject: string } & Caller);

export type AuthenticatedIdentity = Exclude<Identity, { kind: "anonymous" }>;

export const ANONYMOUS: Identity = { kind: "anonymous" };

/** The CLI acts with an operator's rights: it runs on the server with the database's credentials. */
export const CLI_ACTOR = { kind: "cli" } as const;
export type Actor = AuthenticatedIdentity | typeof CLI_ACTOR;

export function isAdminActor(actor: Actor): boolean {
  return actor.kind === "cli" || actor.role === "admin";
}

/** Effective scopes: an admin holds all; an empty list means every non-admin scope. */
export function scopesFor(role: Role, stored: readonly string[]): Scope[] {
  if (role === "admin") return [...SCOPES];
  if (stored.length === 0) return [...USER_SCOPES];
  return stored.filter((s): s is Scope => (USER_SCOPES as readonly string[]).includes(s));
}
