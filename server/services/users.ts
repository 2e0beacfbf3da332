import "server-only";
// Users: dashboard accounts (email + password, role admin or user) and platform identities first
// seen in a JWT (`external_id` = the token's `sub`). Lookups on the request path go through an
// in-process cache that the invalidation bus keeps honest across instances.
import { z } from "zod";
import { getDatabase, getDb } from "../db/index.ts";
import { AppError } from "../errors.ts";
import { AuthCache } from "./auth-cache.ts";
import type { Role } from "./identity.ts";
import { onInvalidation, publishInvalidation } from "./invalidation.ts";
import { dummyPasswordHash, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./passwords.ts";

export type UserRecord = {
  id: string;
  email: string | null;
  name: string | null;
  role: Role;
  externalId: string | null;
  /** Monthly budget in USD as an exact decimal string; null: none. */
  monthlyBudgetUsd: string | null;
  /** A disabled account cannot sign in; its sessions, JWTs and keys are refused. */
  disabledAt: Date | null;
  createdAt: Date;
  /** What a dashboard session must match (see sessionIsCurrent): the epoch it was issued under, and the ids of sessions signed out one by one. */
  sessions: { epoch: number; revokedIds: ReadonlySet<string> };
};

const SELECT = {
  id: true,
  email: true,
  name: true,
  role: true,
  externalId: true,
  monthlyBudgetUsd: true,
  disabledAt: true,
  createdAt: true,
  sessionEpoch: true,
  revokedSessions: true,
} as const;

type Row = {
  id: string;
  email: string | null;
  name: string | null;
  role: Role;
  externalId: string | null;
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  disabledAt: Date | null;
  createdAt: Date;
  sessionEpoch: number;
  revokedSessions: string[];
};

function toRecord(row: Row): UserRecord {
  const { sessionEpoch, revokedSessions, ...rest } = row;
  return {
    ...rest,
    monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null,
    sessions: { epoch: sessionEpoch, revokedIds: new Set((revokedSessions ?? []).map((entry) => entry.slice(entry.indexOf(":") + 1))) },
  };
}

export function trimDecimal(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

export const emailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ error: "an email address such as ada@example.com" }).max(254));
export const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { error: `at least ${MIN_PASSWORD_LENGTH} characters` })
  .max(1024, { error: "at most 1024 characters" });
/** A USD amount: up to 6 decimals, as the budget columns hold. */
export const usdSchema = z
  .union([z.number(), z.string()])
  .transform((v) => (typeof v === "number" ? String(v) : v.trim()))
  .pipe(z.string().regex(/^\d{1,14}(\.\d{1,6})?$/, { error: "a USD amount such as 25 or 12.50 (at most 6 decimals)" }));

function field<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new AppError("invalid_request", `Invalid ${name}: must be ${r.error.issues[0]?.message ?? "valid"}`, { field: name });
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Cached lookups (the request path)

type CacheState = { byId: AuthCache<UserRecord | null>; bySubject: AuthCache<UserRecord>; anyUser?: boolean };
const g = globalThis as unknown as { __modelServiceUserCache?: CacheState };
const caches: CacheState = (g.__modelServiceUserCache ??= {
  byId: new AuthCache("users", async (id) => {
    const row = await (await getDb()).user.findUnique({ where: { id }, select: SELECT });
    return row ? toRecord(row) : null;
  }),
  bySubject: new AuthCache("jwt-subjects", async (subject) => {
    // Created on first sight; the upsert makes two instances seeing a new subject at once agree.
    const row = await (await getDb()).user.upsert({ where: { externalId: subject }, create: { externalId: subject }, update: {}, select: SELECT });
    return toRecord(row);
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

/** Whether any dashboard account exists (once true, it stays true for this process). */
export async function hasDashboardUser(): Promise<boolean> {
  if (caches.anyUser) return true;
  const count = await (await getDb()).user.count({ where: { passwordHash: { not: null } } });
  if (count > 0) caches.anyUser = true;
  return count > 0;
}

// ---------------------------------------------------------------------------------------------
// Accounts

export type CreateUserInput = { email: string; password: string; role?: Role; name?: string | null; monthlyBudgetUsd?: string | number | null };

/** Creates a dashboard account; 409 when the email is taken. */
export async function createUser(input: CreateUserInput): Promise<UserRecord> {
  const email = field(emailSchema, input.email, "email");
  const password = field(passwordSchema, input.password, "password");
  const budget = input.monthlyBudgetUsd == null ? null : field(usdSchema, input.monthlyBudgetUsd, "budget");
  const db = await getDb();
  const passwordHash = await hashPassword(password);
  try {
    const row = await db.user.create({
      data: { email, passwordHash, role: input.role ?? "user", name: input.name ?? null, monthlyBudgetUsd: budget },
      select: SELECT,
    });
    caches.anyUser = true;
    return toRecord(row);
  } catch (e) {
    if ((e as { code?: string }).code === "P2002") throw new AppError("conflict", `A user with the email ${email} already exists`);
    throw e;
  }
}

/**
 * The one-time setup: creates the first account, as an admin, only while no dashboard account
 * exists. Serialised with an advisory lock so that two submissions cannot both succeed.
 */
export async function createFirstAdmin(input: { email: string; password: string }): Promise<UserRecord> {
  const email = field(emailSchema, input.email, "email");
  const password = field(passwordSchema, input.password, "password");
  const passwordHash = await hashPassword(password);
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    await tx.$executeRawUnsafe("SELECT pg_advisory_xact_lock(727001)");
    const existing = await tx.user.count({ where: { passwordHash: { not: null } } });
    if (existing > 0) throw new AppError("conflict", "Setup is already done: sign in with an existing account");
    return tx.user.create({ data: { email, passwordHash, role: "admin" }, select: SELECT });
  });
  caches.anyUser = true;
  return toRecord(row);
}

/**
 * The account for an email and password, or null. Takes as long for an unknown email as for a
 * wrong password, so the answer's timing does not tell which emails exist.
 */
export async function verifyCredentials(email: string, password: string): Promise<UserRecord | null> {
  const parsedEmail = emailSchema.safeParse(email);
  if (!parsedEmail.success || typeof password !== "string" || password.length > 1024) return null;
  const row = await (await getDb()).user.findUnique({ where: { email: parsedEmail.data }, select: { ...SELECT, passwordHash: true } });
  const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyPasswordHash()));
  if (!row || !row.passwordHash || !ok || row.disabledAt) return null;
  const { passwordHash: _secret, ...rest } = row;
  return toRecord(rest);
}

export async function findUserByEmail(email: string): Promise<UserRecord | null> {
  const parsed = emailSchema.safeParse(email);
  if (!parsed.success) return null;
  const row = await (await getDb()).user.findUnique({ where: { email: parsed.data }, select: SELECT });
  return row ? toRecord(row) : null;
}

export async function listUsers(): Promise<UserRecord[]> {
  const rows = await (await getDb()).user.findMany({ select: SELECT, orderBy: { createdAt: "asc" } });
  return rows.map(toRecord);
}

/**
 * Changes a user's role, budget or password, or disables or enables the account; every
 * instance's cache hears of it. A new password or disabling ends every session of the user.
 */
export async function updateUser(
  id: string,
  change: { role?: Role; monthlyBudgetUsd?: string | number | null; password?: string; disabled?: boolean },
): Promise<UserRecord> {
  const data: {
    role?: Role;
    monthlyBudgetUsd?: string | null;
    passwordHash?: string;
    disabledAt?: Date | null;
    sessionEpoch?: { increment: number };
    revokedSessions?: string[];
  } = {};
  if (change.role) data.role = change.role;
  if (change.monthlyBudgetUsd !== undefined) {
    data.monthlyBudgetUsd = change.monthlyBudgetUsd === null ? null : field(usdSchema, change.monthlyBudgetUsd, "budget");
  }
  if (change.password !== undefined) data.passwordHash = await hashPassword(field(passwordSchema, change.password, "password"));
  if (change.disabled !== undefined) data.disabledAt = change.disabled ? new Date() : null;
  if (change.password !== undefined || change.disabled === true) Object.assign(data, ENDS_EVERY_SESSION);
  const db = await getDb();
  const row = await db.user.update({ where: { id }, data, select: SELECT }).catch((e: unknown) => {
    if ((e as { code?: string }).code === "P2025") throw new AppError("not_found", `No user ${id}`);
    throw e;
  });
  await publishInvalidation({ kind: "user", id });
  return toRecord(row);
}

// ---------------------------------------------------------------------------------------------
// Dashboard sessions: a session (next-auth's JWT cookie) carries the user's session epoch and its
// own id. It counts only while the epoch is still the user's and its id was not signed out, both
// read from the cached user record, so checking costs nothing beyond the user lookup that
// authentication does anyway; a change reaches every instance through the invalidation bus.

/** What a session cookie says about itself (services/session-token.ts). */
export type SessionClaims = { userId: string; epoch: number; sessionId: string | null; expiresAt: number | null };

const ENDS_EVERY_SESSION = { sessionEpoch: { increment: 1 }, revokedSessions: [] as string[] };
/** Sessions signed out one by one that are remembered; past that, signing out one ends them all. */
const MAX_REVOKED_SESSIONS = 100;

/** Whether a session still counts for `user`: not disabled, issued under the current epoch, not signed out. */
export function sessionIsCurrent(user: UserRecord, session: SessionClaims): boolean {
  if (user.disabledAt) return false;
  if (session.epoch !== user.sessions.epoch) return false;
  return session.sessionId === null || !user.sessions.revokedIds.has(session.sessionId);
}

/** Ends every session of the user (sign out everywhere; also a password change and disabling). */
export async function endAllSessions(userId: string): Promise<void> {
  await (await getDb()).user
    .update({ where: { id: userId }, data: ENDS_EVERY_SESSION, select: { id: true } })
    .catch((e: unknown) => {
      if ((e as { code?: string }).code === "P2025") throw new AppError("not_found", `No user ${userId}`);
      throw e;
    });
  await publishInvalidation({ kind: "user", id: userId });
}

/** Ends one session (signing out): remembered until it would have expired anyway. */
export async function endSession(session: SessionClaims): Promise<void> {
  if (!session.sessionId) {
    // Issued before sessions had ids: only ending them all can end it.
    await endAllSessions(session.userId);
    return;
  }
  const now = Math.floor(Date.now() / 1000);
  const expires = session.expiresAt ?? now + 30 * 24 * 3600;
  const db = await getDatabase();
  // Drops the entries that have expired, adds this one; in one statement, so concurrent sign-outs keep each other's.
  const rows = await db.rawQuery<{ n: number }>(
    `UPDATE users SET revoked_sessions = array_append(
        ARRAY(SELECT e FROM unnest(coalesce(revoked_sessions, '{}')) AS e WHERE split_part(e, ':', 1)::bigint > $2),
        $3)
     WHERE id = $1 AND session_epoch = $4
     RETURNING coalesce(array_length(revoked_sessions, 1), 0)::int AS n`,
    [session.userId, now, `${expires}:${session.sessionId}`, session.epoch],
  );
  if ((rows[0]?.n ?? 0) > MAX_REVOKED_SESSIONS) await endAllSessions(session.userId);
  else await publishInvalidation({ kind: "user", id: session.userId });
}
