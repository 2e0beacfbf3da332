import "server-only";
// API keys, managed: create, list, revoke and rotate for the CLI, the `keys` tRPC router and the
// keys page. A key belongs to a user or to a team (then it has no user, and the team access
// policy of access/teams.ts says who may create, list and change it). How a key is resolved on the request path (the cache, the hash, last-used times) is
// access/key-lookup.ts.
import { z } from "zod";
import { boundedDate, safeString } from "../../kernel/validation.ts";
import { getDb } from "../../db/index.ts";
import { writeAudit } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { BUDGET_PERIODS, isAdminActor, SCOPES, TIERS, type Actor, type BudgetPeriod, type Tier } from "../../access/identity.ts";
import { catalogueReady, resolveModel } from "../catalogue/index.ts";
import { publishInvalidation } from "../../access/invalidation.ts";
import { generateApiKey, hashApiKey, SHOWN_PREFIX_LENGTH, pendingLastUsed } from "../../access/key-lookup.ts";
import { trimDecimal } from "../../../lib/money.ts";
import { findUserByEmail, usdSchema } from "./users.ts";
import { membershipsOf, requireTeamAbility } from "../../access/teams.ts";
import { teamFor, teamRefSchema } from "./teams.ts";

// ---------------------------------------------------------------------------------------------
// Management (CLI, tRPC, keys page)

export type ApiKeyView = {
  id: string;
  name: string;
  /** The first characters of the key, e.g. `ms_Ab3xY9Qk`: enough to recognise it, useless to use. */
  prefix: string;
  tier: Tier;
  /** As stored: an empty list means every scope but admin. */
  scopes: string[];
  isAdmin: boolean;
  userId: string | null;
  userEmail: string | null;
  /** The team the key belongs to (then it has no user), or null. */
  teamId: string | null;
  teamName: string | null;
  /** The budget's amount per `budgetPeriod`; null: no budget. */
  monthlyBudgetUsd: string | null;
  budgetPeriod: BudgetPeriod;
  /** Catalogue ids the key may use; empty: every model. */
  allowedModels: string[];
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallel: number | null;
  cacheResponses: boolean;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
};

const VIEW_SELECT = {
  id: true,
  name: true,
  prefix: true,
  tier: true,
  scopes: true,
  isAdmin: true,
  userId: true,
  teamId: true,
  monthlyBudgetUsd: true,
  budgetPeriod: true,
  allowedModels: true,
  rpmLimit: true,
  tpmLimit: true,
  maxParallel: true,
  cacheResponses: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
  createdAt: true,
  user: { select: { email: true } },
  team: { select: { name: true } },
} as const;

type ViewRow = Omit<ApiKeyView, "userEmail" | "teamName" | "monthlyBudgetUsd"> & {
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  user: { email: string | null } | null;
  team: { name: string } | null;
};

function toView(row: ViewRow): ApiKeyView {
  const { user, team, monthlyBudgetUsd, ...rest } = row;
  const pendingUse = pendingLastUsed(row.id);
  return {
    ...rest,
    userEmail: user?.email ?? null,
    teamName: team?.name ?? null,
    monthlyBudgetUsd: monthlyBudgetUsd ? trimDecimal(monthlyBudgetUsd.toFixed(6)) : null,
    lastUsedAt: pendingUse && (!rest.lastUsedAt || pendingUse > rest.lastUsedAt) ? pendingUse : rest.lastUsedAt,
  };
}

const keyName = safeString.trim().min(1, { error: "a name (1 to 100 characters)" }).max(100, { error: "at most 100 characters" });
const perMinute = (what: string, max: number) =>
  z
    .number({ error: `a whole number of ${what} per minute` })
    .int({ error: `a whole number of ${what} per minute` })
    .min(1, { error: `at least 1 ${what.replace(/s$/, "")} per minute (null removes the limit)` })
    .max(max, { error: `at most ${max} ${what} per minute` });

/** A key's own controls, as create and update take them (null removes one). */
const keyControlsInput = {
  /** Catalogue ids or aliases the key may use (stored as ids); empty: every model. */
  allowedModels: z
    .array(safeString.trim().min(1, { error: "a model id" }).max(200, { error: "at most 200 characters" }))
    .max(200, { error: "at most 200 models" })
    .optional(),
  rpmLimit: perMinute("requests", 1_000_000).nullable().optional(),
  tpmLimit: perMinute("tokens", 1_000_000_000).nullable().optional(),
  maxParallel: z
    .number({ error: "a whole number of requests in flight" })
    .int({ error: "a whole number of requests in flight" })
    .min(1, { error: "at least 1 (null removes the cap)" })
    .max(10_000, { error: "at most 10000" })
    .nullable()
    .optional(),
  budgetPeriod: z.enum(BUDGET_PERIODS, { error: `one of ${BUDGET_PERIODS.join(", ")}` }).optional(),
};

/** A key as its audit rows show it: its listing without the last-used time (which is no change of anyone's). */
function audited(row: ViewRow): Omit<ApiKeyView, "lastUsedAt"> {
  const { lastUsedAt: _lastUsed, ...view } = toView(row);
  return view;
}

export const createKeyInput = z.object({
  name: keyName,
  ...keyControlsInput,
  tier: z.enum(TIERS, { error: `one of ${TIERS.join(", ")}` }).optional(),
  scopes: z
    .array(z.enum(SCOPES, { error: `each one of ${SCOPES.join(", ")}` }))
    .max(SCOPES.length)
    .optional(),
  isAdmin: z.boolean().optional(),
  /** Owner by email (admins only); default: the caller's own user. */
  userEmail: safeString.optional(),
  /** The team (name or id) the key belongs to instead of a user: its owners and members may create one, viewers not. */
  team: teamRefSchema.optional(),
  monthlyBudgetUsd: usdSchema.nullable().optional(),
  expiresAt: boundedDate.optional(),
  /** Answer this key's generations from the response cache (temperature 0) unless a request says otherwise. */
  cacheResponses: z.boolean().optional(),
});
export type CreateKeyInput = z.input<typeof createKeyInput>;

export const updateKeyInput = z.object({
  name: keyName.optional(),
  ...keyControlsInput,
  monthlyBudgetUsd: usdSchema.nullable().optional(),
  /** null: never expires. */
  expiresAt: boundedDate.nullable().optional(),
  cacheResponses: z.boolean().optional(),
});
export type UpdateKeyInput = z.input<typeof updateKeyInput>;

function parsed<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const name = issue.path.join(".") || "input";
    throw new AppError("invalid_request", `Invalid ${name}: must be ${issue.message}`, { field: name });
  }
  return r.data;
}

/** The allow-list as catalogue ids, each checked against the catalogue (400 naming one it does not know). */
async function allowedModelIds(names: readonly string[]): Promise<string[]> {
  await catalogueReady();
  const ids: string[] = [];
  for (const name of names) {
    let id: string;
    try {
      id = resolveModel(name).id;
    } catch (e) {
      if (e instanceof AppError && e.code === "not_found") {
        throw new AppError("invalid_request", `Invalid allowedModels: ${e.message}`, { field: "allowedModels", model: name });
      }
      throw e;
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function refusePast(expiresAt: Date | null | undefined): void {
  if (expiresAt && expiresAt.getTime() <= Date.now()) {
    throw new AppError("invalid_request", `Invalid expiresAt: must be in the future (it is ${expiresAt.toISOString()})`, {
      field: "expiresAt",
    });
  }
}

const TIER_RANK: Record<Tier, number> = { basic: 0, standard: 1, premium: 2 };

function ownUserId(actor: Actor): string | null {
  return actor.kind === "cli" ? null : actor.userId;
}

/**
 * Keys are managed from the dashboard (session), by a platform JWT's user, by an admin key or by
 * the CLI. A non-admin API key cannot mint or revoke keys: a narrowly scoped key could otherwise
 * create a broader one.
 */
function requireKeyManager(actor: Actor): void {
  if (actor.kind === "apiKey" && actor.role !== "admin") {
    throw new AppError("forbidden", "Manage API keys from the dashboard, with a platform JWT or with an admin key, not with a user key");
  }
}

/** Creates a key and returns its secret (shown once) with its listing. */
export async function createApiKey(actor: Actor, raw: CreateKeyInput): Promise<{ key: string; apiKey: ApiKeyView }> {
  requireKeyManager(actor);
  const input = parsed(createKeyInput, raw);
  refusePast(input.expiresAt);
  const allowedModels = input.allowedModels ? await allowedModelIds(input.allowedModels) : [];
  const admin = isAdminActor(actor);
  const scopes = [...new Set(input.scopes ?? [])];
  const isAdmin = Boolean(input.isAdmin) || scopes.includes("admin");
  const tier = input.tier ?? "standard";
  if (!admin) {
    if (isAdmin) throw new AppError("forbidden", "Only an admin can create an admin key");
    if (actor.kind !== "cli" && TIER_RANK[tier] > TIER_RANK[actor.tier]) {
      throw new AppError("forbidden", `Your own tier is ${actor.tier}: a key you create can be at most that`);
    }
  }

  let userId = ownUserId(actor);
  let teamId: string | null = null;
  if (input.team !== undefined) {
    if (input.userEmail !== undefined) {
      throw new AppError("invalid_request", "Invalid team: a key belongs to a user or to a team, not both; leave out userEmail", {
        field: "team",
      });
    }
    if (isAdmin) throw new AppError("invalid_request", "Invalid team: a team's key cannot be an admin key", { field: "team" });
    teamId = (await teamFor(actor, input.team, "use_keys")).id;
    userId = null;
  }
  if (input.userEmail !== undefined) {
    const user = await findUserByEmail(input.userEmail);
    if (!user) throw new AppError("not_found", `No user with the email ${input.userEmail.trim().toLowerCase()}`, { field: "userEmail" });
    if (!admin && user.id !== userId) throw new AppError("forbidden", "Only an admin can create a key for another user");
    userId = user.id;
  }
  if (!admin && !userId && !teamId) throw new AppError("forbidden", "This caller has no user to own a key");

  const key = generateApiKey();
  const db = await getDb();
  const row = await db.$transaction(async (tx) => {
    const created = await tx.apiKey.create({
      data: {
        name: input.name,
        prefix: key.slice(0, SHOWN_PREFIX_LENGTH),
        keyHash: hashApiKey(key),
        tier,
        scopes: scopes.filter((s) => s !== "admin"),
        isAdmin,
        userId,
        teamId,
        monthlyBudgetUsd: input.monthlyBudgetUsd ?? null,
        budgetPeriod: input.budgetPeriod ?? "month",
        allowedModels,
        rpmLimit: input.rpmLimit ?? null,
        tpmLimit: input.tpmLimit ?? null,
        maxParallel: input.maxParallel ?? null,
        expiresAt: input.expiresAt ?? null,
        cacheResponses: input.cacheResponses ?? false,
      },
      select: VIEW_SELECT,
    });
    await writeAudit(tx, { actor, action: "key.create", target: { kind: "api_key", id: created.id }, after: audited(created) });
    return created;
  });
  return { key, apiKey: toView(row) };
}

/**
 * The keys the caller may see, newest first: all (admin, CLI), or their own user's and those of
 * the teams they belong to (any role); `team`: only that team's (which they must be in).
 */
export async function listApiKeys(
  actor: Actor,
  options: { includeRevoked?: boolean; userEmail?: string; team?: string } = {},
): Promise<ApiKeyView[]> {
  const db = await getDb();
  const where: { revokedAt?: null; userId?: string | null; id?: string; teamId?: string; OR?: object[] } = {};
  if (!options.includeRevoked) where.revokedAt = null;
  if (options.team !== undefined) {
    where.teamId = (await teamFor(actor, options.team, "view")).id;
  } else if (!isAdminActor(actor)) {
    if (actor.kind === "cli") throw new Error("unreachable");
    // A key with no user sees only itself.
    if (actor.userId) {
      const teams = (await membershipsOf(actor.userId)).map((m) => m.teamId);
      where.OR = [{ userId: actor.userId }, ...(teams.length ? [{ teamId: { in: teams } }] : [])];
    } else if (actor.apiKeyId) where.id = actor.apiKeyId;
    else return [];
  } else if (options.userEmail) {
    const user = await findUserByEmail(options.userEmail);
    if (!user) throw new AppError("not_found", `No user with the email ${options.userEmail.trim().toLowerCase()}`);
    where.userId = user.id;
  }
  const rows = await db.apiKey.findMany({ where, select: VIEW_SELECT, orderBy: [{ createdAt: "desc" }, { id: "asc" }] });
  return rows.map(toView);
}

/** A key the caller may manage; another user's key is "not found", so its existence does not leak. */
async function manageableKey(actor: Actor, id: string): Promise<ViewRow> {
  requireKeyManager(actor);
  const row = await (await getDb()).apiKey.findUnique({ where: { id }, select: VIEW_SELECT });
  if (row?.teamId && !isAdminActor(actor)) {
    // A team's key: its owners and members change it; a viewer is told why not, anyone else that there is no such key.
    await requireTeamAbility(actor, row.teamId, "manage_keys").catch((e: unknown) => {
      throw e instanceof AppError && e.code === "not_found" ? new AppError("not_found", `No API key ${id}`) : e;
    });
    return row;
  }
  const mine = row && (isAdminActor(actor) || (row.userId !== null && row.userId === ownUserId(actor)));
  if (!row || !mine) throw new AppError("not_found", `No API key ${id}`);
  return row;
}

/** Revokes a key; it stops working on every instance within a second. Revoking twice is harmless. */
export async function revokeApiKey(actor: Actor, id: string): Promise<ApiKeyView> {
  const existing = await manageableKey(actor, id);
  const db = await getDb();
  // Revoking a revoked key changes nothing, and is not audited again.
  const row = existing.revokedAt
    ? existing
    : await db.$transaction(async (tx) => {
        const revoked = await tx.apiKey.update({ where: { id }, data: { revokedAt: new Date() }, select: VIEW_SELECT });
        await writeAudit(tx, {
          actor,
          action: "key.revoke",
          target: { kind: "api_key", id },
          before: audited(existing),
          after: audited(revoked),
        });
        return revoked;
      });
  await publishInvalidation({ kind: "key", id });
  return toView(row);
}

/**
 * Gives a key a new secret; the old secret stops working at once (on other instances within a
 * second, as a revoke). The key stays the same row, so it keeps everything that is owned by its
 * id: its settings, and for a key without a user its vector collections, its usage history, its
 * month-to-date spend against its budget and its budget alerts (a new row would have started
 * with none of them, and with an empty month: rotating would have reset the budget).
 */
export async function rotateApiKey(actor: Actor, id: string): Promise<{ key: string; apiKey: ApiKeyView; previousPrefix: string }> {
  const old = await manageableKey(actor, id);
  if (old.revokedAt) throw new AppError("conflict", `API key ${id} is revoked; create a new one instead`);
  const key = generateApiKey();
  const prefix = key.slice(0, SHOWN_PREFIX_LENGTH);
  // Only a key that is still the one read above and not revoked meanwhile is changed.
  const changed = await (
    await getDb()
  ).$transaction(async (tx) => {
    const updated = await tx.apiKey.updateMany({
      where: { id, prefix: old.prefix, revokedAt: null },
      data: { prefix, keyHash: hashApiKey(key) },
    });
    if (updated.count > 0) {
      await writeAudit(tx, {
        actor,
        action: "key.rotate",
        target: { kind: "api_key", id },
        before: { prefix: old.prefix },
        after: { prefix },
      });
    }
    return updated;
  });
  await publishInvalidation({ kind: "key", id });
  if (changed.count === 0)
    throw new AppError(
      "conflict",
      `API key ${id} changed while it was being rotated (revoked or rotated again); list the keys and try again`,
    );
  const row = await (await getDb()).apiKey.findUniqueOrThrow({ where: { id }, select: VIEW_SELECT });
  return { key, apiKey: toView(row), previousPrefix: old.prefix };
}

/**
 * Changes a key's name, budget (amount and period), expiry, response caching and its own
 * controls (allowed models, requests and tokens per minute, requests in flight); a field left out
 * stays, null removes it. Every instance sees the change within a second.
 */
export async function updateApiKey(actor: Actor, id: string, raw: UpdateKeyInput): Promise<ApiKeyView> {
  const existing = await manageableKey(actor, id);
  if (existing.revokedAt) throw new AppError("conflict", `API key ${id} is revoked; create a new one instead`);
  const input = parsed(updateKeyInput, raw);
  refusePast(input.expiresAt);
  const data: Record<string, unknown> = {};
  for (const field of [
    "name",
    "monthlyBudgetUsd",
    "budgetPeriod",
    "rpmLimit",
    "tpmLimit",
    "maxParallel",
    "expiresAt",
    "cacheResponses",
  ] as const) {
    if (input[field] !== undefined) data[field] = input[field];
  }
  if (input.allowedModels !== undefined) data.allowedModels = await allowedModelIds(input.allowedModels);
  const row = await changeKey(actor, existing, data);
  await publishInvalidation({ kind: "key", id });
  return toView(row);
}

/** Writes a change to a key and its audit row (before and after) in one transaction. */
async function changeKey(actor: Actor, existing: ViewRow, data: Record<string, unknown>): Promise<ViewRow> {
  return (await getDb()).$transaction(async (tx) => {
    const row = await tx.apiKey.update({ where: { id: existing.id }, data, select: VIEW_SELECT });
    await writeAudit(tx, {
      actor,
      action: "key.update",
      target: { kind: "api_key", id: existing.id },
      before: audited(existing),
      after: audited(row),
    });
    return row;
  });
}

/** Turns the key's response caching on or off (response-cache.ts); every instance sees it within a second. */
export async function setApiKeyResponseCache(actor: Actor, id: string, cacheResponses: boolean): Promise<ApiKeyView> {
  const existing = await manageableKey(actor, id);
  const row = await changeKey(actor, existing, { cacheResponses });
  await publishInvalidation({ kind: "key", id });
  return toView(row);
}
