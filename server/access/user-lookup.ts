import "server-only";
// Users on the request path: a user by id or by a platform JWT's `sub` (created on first sight),
// from an in-process cache that the invalidation bus keeps honest across instances, and whether a
// dashboard session still counts. Managing accounts is features/accounts/users.ts.
import { getDb } from "../db/index.ts";
import { AuthCache } from "./auth-cache.ts";
import type { BudgetPeriod, Role } from "./identity.ts";
import { onInvalidation } from "./invalidation.ts";
import { trimDecimal } from "../../lib/money.ts";

export type UserRecord = {
  id: string;
  email: string | null;
  name: string | null;
  role: Role;
  externalId: string | null;
  /** Monthly budget in USD as an exact decimal string; null: none. */
  monthlyBudgetUsd: string | null;
  /** The period the budget counts over. */
  budgetPeriod: BudgetPeriod;
  /** A disabled account cannot sign in; its sessions, JWTs and keys are refused. */
  disabledAt: Date | null;
  createdAt: Date;
  /** What a dashboard session must match (see sessionIsCurrent): the epoch it was issued under, and the ids of sessions signed out one by one. */
  sessions: { epoch: number; revokedIds: ReadonlySet<string> };
};

export const USER_SELECT = {
  id: true,
  email: true,
  name: true,
  role: true,
  externalId: true,
  monthlyBudgetUsd: true,
  budgetPeriod: true,
  disabledAt: true,
  createdAt: true,
  sessionEpoch: true,
  revokedSessions: true,
} as const;

export type UserRow = {
  id: string;
  email: string | null;
  name: string | null;
  role: Role;
  externalId: string | null;
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  budgetPeriod: BudgetPeriod;
  disabledAt: Date | null;
  createdAt: Date;
  sessionEpoch: number;
  revokedSessions: string[];
};

export function toUserRecord(row: UserRow): UserRecord {
  const { sessionEpoch, revokedSessions, ...rest } = row;
  return {
    ...rest,
    monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null,
    sessions: { epoch: sessionEpoch, revokedIds: new Set((revokedSessions ?? []).map((entry) => entry.slice(entry.indexOf(":") + 1))) },
  };
}

// ---------------------------------------------------------------------------------------------
// Cached lookups (the request path)

type CacheState = { byId: AuthCache<UserRecord | null>; bySubject: AuthCache<UserRecord>; anyUser?: boolean };
const g = globalThis as unknown as { __modelServiceUserCache?: CacheState };
const caches: CacheState = (g.__modelServiceUserCache ??= {
  byId: new AuthCache("users", async (id) => {
    const row = await (await getDb()).user.findUnique({ where: { id }, select: USER_SELECT });
    return row ? toUserRecord(row) : null;
  }),
  bySubject: new AuthCache("jwt-subjects", async (subject) => {
    // Created on first sight; the upsert makes two instances seeing a new subject at once agree.
    const row = await (
      await getDb()
    ).user.upsert({ where: { externalId: subject }, create: { externalId: subject }, update: {}, select: USER_SELECT });
    return toUserRecord(row);
  }),
});
onInvalidation((m) => {
  if (m.kind === "all") {
    caches.byId.clear();
    caches.bySubject.clear();
    caches.anyUser = undefined;
  } else if (m.kind === "user") {
    caches.byId.delete(m.id);
    caches.bySubject.deleteWhere((u) => u.id === m.id);
  }
});

/** The user with this id, or null (cached). */
export function getUser(id: string): Promise<UserRecord | null> {
  return caches.byId.get(id);
}

/** The user behind a platform JWT's `sub`, created on first sight (cached). */
export function userForSubject(subject: string): Promise<UserRecord> {
  return caches.bySubject.get(subject);
}

/**
 * Whether any dashboard account exists (once true, it stays true for this process): one with a
 * password, or one that signs in by single sign-on (an e-mail and no password; JWT users have neither).
 */
export async function hasDashboardUser(): Promise<boolean> {
  if (caches.anyUser) return true;
  const count = await (await getDb()).user.count({ where: { OR: [{ passwordHash: { not: null } }, { email: { not: null } }] } });
  if (count > 0) caches.anyUser = true;
  return count > 0;
}

/** Remembers that a dashboard account exists (after one is created). */
export function noteDashboardUser(): void {
  caches.anyUser = true;
}

// ---------------------------------------------------------------------------------------------
// Dashboard sessions: a session (next-auth's JWT cookie) carries the user's session epoch and its
// own id. It counts only while the epoch is still the user's and its id was not signed out, both
// read from the cached user record, so checking costs nothing beyond the user lookup that
// authentication does anyway; a change reaches every instance through the invalidation bus.

/** What a session cookie says about itself (access/session-token.ts). */
export type SessionClaims = { userId: string; epoch: number; sessionId: string | null; expiresAt: number | null };

/** Whether a session still counts for `user`: not disabled, issued under the current epoch, not signed out. */
export function sessionIsCurrent(user: UserRecord, session: SessionClaims): boolean {
  if (user.disabledAt) return false;
  if (session.epoch !== user.sessions.epoch) return false;
  return session.sessionId === null || !user.sessions.revokedIds.has(session.sessionId);
}
