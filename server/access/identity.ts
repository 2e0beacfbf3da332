import "server-only";
// The shapes of a caller: roles, tiers, scopes and the Identity union that REST handlers, tRPC
// procedures and services receive. (Apart from auth.ts so that the key and user services can use
// them without an import cycle.)

import type { Role, Scope, Tier } from "../../lib/access.ts";

// The roles, tiers and scopes are the dashboard's too: lib/access.ts spells them once.
export {
  BUDGET_PERIODS,
  type BudgetPeriod,
  ROLES,
  SCOPES,
  scopesFor,
  TIERS,
  USER_SCOPES,
  type Role,
  type Scope,
  TEAM_ROLES,
  type TeamRole,
  type Tier,
} from "../../lib/access.ts";

/**
 * A key's own limits, beside its tier's and the endpoint's: the models it may use (empty: all),
 * requests and tokens per minute, and requests in flight at once; null: no such limit.
 */
export type KeyControls = {
  allowedModels: readonly string[];
  rpm: number | null;
  tpm: number | null;
  maxParallel: number | null;
};

type Caller = {
  /** Set for API keys; null for sessions and JWTs. */
  apiKeyId: string | null;
  /** The owning user; null for a key created without one (a team's key among them). */
  userId: string | null;
  /** The team an API key belongs to; absent or null for every other caller. */
  teamId?: string | null;
  role: Role;
  tier: Tier;
  /** The effective scopes (an admin holds all of them). */
  scopes: Scope[];
};

export type Identity =
  | { kind: "anonymous" }
  | ({ kind: "apiKey"; apiKeyId: string; controls?: KeyControls } & Caller)
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
