import "server-only";
// Users: dashboard accounts (email + password, role admin or user) and platform identities first
// seen in a JWT (`external_id` = the token's `sub`). Lookups on the request path go through an
// in-process cache that the invalidation bus keeps honest across instances.
import { z } from "zod";
import { getDb } from "../db/index.ts";
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
  createdAt: Date;
};

const SELECT = { id: true, email: true, name: true, role: true, externalId: true, monthlyBudgetUsd: true, createdAt: true } as const;

type Row = { id: string; email: string | null; name: string | null; role: Role; externalId: string | null; monthlyBudgetUsd: { toFixed(n: number): string } | null; createdAt: Date };

function toRecord(row: Row): UserRecord {
  return { ...row, monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null };
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
  if (!row || !row.passwordHash || !ok) return null;
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

/** Changes a user's role, budget or password; every instance's cache hears of it. */
export async function updateUser(
  id: string,
  change: { role?: Role; monthlyBudgetUsd?: string | number | null; password?: string },
): Promise<UserRecord> {
  const data: { role?: Role; monthlyBudgetUsd?: string | null; passwordHash?: string } = {};
  if (change.role) data.role = change.role;
  if (change.monthlyBudgetUsd !== undefined) {
    data.monthlyBudgetUsd = change.monthlyBudgetUsd === null ? null : field(usdSchema, change.monthlyBudgetUsd, "budget");
  }
  if (change.password !== undefined) data.passwordHash = await hashPassword(field(passwordSchema, change.password, "password"));
  const db = await getDb();
  const row = await db.user.update({ where: { id }, data, select: SELECT }).catch((e: unknown) => {
    if ((e as { code?: string }).code === "P2025") throw new AppError("not_found", `No user ${id}`);
    throw e;
  });
  await publishInvalidation({ kind: "user", id });
  return toRecord(row);
}
