// Who a caller is, as both the server (server/access/identity.ts) and the dashboard know it: roles,
// rate-limit tiers and the scopes a key may be limited to.

export const ROLES = ["admin", "user"] as const;
export type Role = (typeof ROLES)[number];

/** Rate-limit tiers, lowest first. */
export const TIERS = ["basic", "standard", "premium"] as const;
export type Tier = (typeof TIERS)[number];

/** The periods a budget can count over (UTC): a day, an ISO week from Monday, a calendar month. */
/** The tiers a user may give a key they create: an admin any, anyone else up to their own (the server refuses the rest). */
export function tiersFor(role: Role, own: Tier): Tier[] {
  return role === "admin" ? [...TIERS] : TIERS.slice(0, TIERS.indexOf(own) + 1);
}

export const BUDGET_PERIODS = ["day", "week", "month"] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** A member's role in a team, most rights first: owners manage it, members use it, viewers look. */
export const TEAM_ROLES = ["owner", "member", "viewer"] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];

/** What a key may be limited to. A key created without scopes has every scope but `admin`. */
export const SCOPES = ["generate", "embeddings", "vectors", "usage:read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];
/** Every scope a non-admin caller can hold. */
export const USER_SCOPES: readonly Scope[] = SCOPES.filter((s) => s !== "admin");

/** Effective scopes: an admin holds all; an empty list means every non-admin scope. */
export function scopesFor(role: Role, stored: readonly string[]): Scope[] {
  if (role === "admin") return [...SCOPES];
  if (stored.length === 0) return [...USER_SCOPES];
  return stored.filter((s): s is Scope => (USER_SCOPES as readonly string[]).includes(s));
}
