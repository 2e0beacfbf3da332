import "server-only";
// Users: dashboard accounts (email + password, role admin or user) and platform identities first
// seen in a JWT (`external_id` = the token's `sub`): creating, changing and listing them, and
// ending their sessions. The cached lookups of the request path are access/user-lookup.ts.
import { z } from "zod";
import { getDatabase, getDb } from "../../db/index.ts";
import { writeAudit, type AuditActorLike } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { BUDGET_PERIODS, CLI_ACTOR, type BudgetPeriod, type Role } from "../../access/identity.ts";
import { publishInvalidation } from "../../access/invalidation.ts";
import { noteDashboardUser, toUserRecord, USER_SELECT, type SessionClaims, type UserRecord } from "../../access/user-lookup.ts";
import { dummyPasswordHash, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./passwords.ts";

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

/** A user as its audit rows show it: the record without its sessions (nor, as ever, any password hash). */
function audited(user: UserRecord): Omit<UserRecord, "sessions"> {
  const { sessions: _sessions, ...rest } = user;
  return rest;
}

/** The user acting on their own account (signing out everywhere from the dashboard). */
const self = (userId: string): AuditActorLike => ({ kind: "session", userId, apiKeyId: null });

function field<T>(schema: z.ZodType<T>, value: unknown, name: string): T {
  const r = schema.safeParse(value);
  if (!r.success)
    throw new AppError("invalid_request", `Invalid ${name}: must be ${r.error.issues[0]?.message ?? "valid"}`, { field: name });
  return r.data;
}

// ---------------------------------------------------------------------------------------------
// Accounts

export type CreateUserInput = {
  email: string;
  password: string;
  role?: Role;
  name?: string | null;
  monthlyBudgetUsd?: string | number | null;
  /** The period the budget counts over (default month). */
  budgetPeriod?: BudgetPeriod;
};

const budgetPeriodSchema = z.enum(BUDGET_PERIODS, { error: `one of ${BUDGET_PERIODS.join(", ")}` });

/** Creates a dashboard account; 409 when the email is taken. `actor`: who does (the CLI by default), for the audit log. */
export async function createUser(input: CreateUserInput, actor: AuditActorLike = CLI_ACTOR): Promise<UserRecord> {
  const email = field(emailSchema, input.email, "email");
  const password = field(passwordSchema, input.password, "password");
  const budget = input.monthlyBudgetUsd == null ? null : field(usdSchema, input.monthlyBudgetUsd, "budget");
  const budgetPeriod = input.budgetPeriod === undefined ? "month" : field(budgetPeriodSchema, input.budgetPeriod, "budgetPeriod");
  const db = await getDb();
  const passwordHash = await hashPassword(password);
  try {
    const row = await db.$transaction(async (tx) => {
      const created = await tx.user.create({
        data: { email, passwordHash, role: input.role ?? "user", name: input.name ?? null, monthlyBudgetUsd: budget, budgetPeriod },
        select: USER_SELECT,
      });
      await writeAudit(tx, {
        actor,
        action: "user.create",
        target: { kind: "user", id: created.id },
        after: audited(toUserRecord(created)),
      });
      return created;
    });
    noteDashboardUser();
    return toUserRecord(row);
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
    const created = await tx.user.create({ data: { email, passwordHash, role: "admin" }, select: USER_SELECT });
    // The setup page: no one is signed in yet.
    await writeAudit(tx, {
      actor: { kind: "anonymous" },
      action: "user.create",
      target: { kind: "user", id: created.id },
      after: audited(toUserRecord(created)),
    });
    return created;
  });
  noteDashboardUser();
  return toUserRecord(row);
}

/**
 * The account for an email and password, or null. Takes as long for an unknown email as for a
 * wrong password, so the answer's timing does not tell which emails exist.
 */
export async function verifyCredentials(email: string, password: string): Promise<UserRecord | null> {
  const parsedEmail = emailSchema.safeParse(email);
  if (!parsedEmail.success || typeof password !== "string" || password.length > 1024) return null;
  const row = await (await getDb()).user.findUnique({ where: { email: parsedEmail.data }, select: { ...USER_SELECT, passwordHash: true } });
  const ok = await verifyPassword(password, row?.passwordHash ?? (await dummyPasswordHash()));
  if (!row || !row.passwordHash || !ok || row.disabledAt) return null;
  const { passwordHash: _secret, ...rest } = row;
  return toUserRecord(rest);
}

export async function findUserByEmail(email: string): Promise<UserRecord | null> {
  const parsed = emailSchema.safeParse(email);
  if (!parsed.success) return null;
  const row = await (await getDb()).user.findUnique({ where: { email: parsed.data }, select: USER_SELECT });
  return row ? toUserRecord(row) : null;
}

export async function listUsers(): Promise<UserRecord[]> {
  const rows = await (await getDb()).user.findMany({ select: USER_SELECT, orderBy: { createdAt: "asc" } });
  return rows.map(toUserRecord);
}

/**
 * Changes a user's role, budget or password, or disables or enables the account; every
 * instance's cache hears of it. A new password or disabling ends every session of the user.
 */
export async function updateUser(
  id: string,
  change: { role?: Role; monthlyBudgetUsd?: string | number | null; budgetPeriod?: BudgetPeriod; password?: string; disabled?: boolean },
  actor: AuditActorLike = CLI_ACTOR,
): Promise<UserRecord> {
  const data: {
    role?: Role;
    monthlyBudgetUsd?: string | null;
    budgetPeriod?: BudgetPeriod;
    passwordHash?: string;
    disabledAt?: Date | null;
    sessionEpoch?: { increment: number };
    revokedSessions?: string[];
  } = {};
  if (change.role) data.role = change.role;
  if (change.monthlyBudgetUsd !== undefined) {
    data.monthlyBudgetUsd = change.monthlyBudgetUsd === null ? null : field(usdSchema, change.monthlyBudgetUsd, "budget");
  }
  if (change.budgetPeriod !== undefined) data.budgetPeriod = field(budgetPeriodSchema, change.budgetPeriod, "budgetPeriod");
  if (change.password !== undefined) data.passwordHash = await hashPassword(field(passwordSchema, change.password, "password"));
  if (change.disabled !== undefined) data.disabledAt = change.disabled ? new Date() : null;
  if (change.password !== undefined || change.disabled === true) Object.assign(data, ENDS_EVERY_SESSION);
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    const existing = await tx.user.findUnique({ where: { id }, select: USER_SELECT });
    if (!existing) throw new AppError("not_found", `No user ${id}`);
    const updated = await tx.user.update({ where: { id }, data, select: USER_SELECT });
    // A new password shows as that, never as its hash.
    const before = audited(toUserRecord(existing));
    const after = { ...audited(toUserRecord(updated)), ...(change.password !== undefined ? { passwordChanged: true } : {}) };
    await writeAudit(tx, {
      actor,
      action: change.role !== undefined && change.role !== existing.role ? "user.role_change" : "user.update",
      target: { kind: "user", id },
      before,
      after,
    });
    return updated;
  });
  await publishInvalidation({ kind: "user", id });
  return toUserRecord(row);
}

// ---------------------------------------------------------------------------------------------
// Ending dashboard sessions (see access/user-lookup.ts for how a session is checked)

const ENDS_EVERY_SESSION = { sessionEpoch: { increment: 1 }, revokedSessions: [] as string[] };
/** Sessions signed out one by one that are remembered; past that, signing out one ends them all. */
const MAX_REVOKED_SESSIONS = 100;

/** Ends every session of the user (sign out everywhere; also a password change and disabling). */
export async function endAllSessions(userId: string, actor: AuditActorLike = self(userId)): Promise<void> {
  await (
    await getDb()
  ).$transaction(async (tx) => {
    await tx.user.update({ where: { id: userId }, data: ENDS_EVERY_SESSION, select: { id: true } }).catch((e: unknown) => {
      if ((e as { code?: string }).code === "P2025") throw new AppError("not_found", `No user ${userId}`);
      throw e;
    });
    await writeAudit(tx, { actor, action: "user.sessions_end", target: { kind: "user", id: userId } });
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
