import "server-only";
// API keys: `ms_` + 32 random base62 characters, shown once and stored only as a SHA-256 hash;
// people see the prefix. Create, list, revoke and rotate for the CLI, the `keys` tRPC router and
// the keys page. On the request path a key is resolved from an in-process cache (no database
// round trip once warm) that revocations clear on every instance (invalidation.ts), and its
// last-used time is written in batches, not once per request.
import { createHash, randomBytes } from "node:crypto";
import { z } from "zod";
import { boundedDate, safeString } from "../validation.ts";
import { getDatabase, getDb } from "../db/index.ts";
import { AppError } from "../errors.ts";
import { onShutdown } from "../lifecycle.ts";
import { getLogger } from "../logger.ts";
import { AuthCache } from "./auth-cache.ts";
import { isAdminActor, SCOPES, TIERS, type Actor, type Tier } from "./identity.ts";
import { onInvalidation, publishInvalidation } from "./invalidation.ts";
import { findUserByEmail, trimDecimal, usdSchema } from "./users.ts";

export const KEY_PREFIX = "ms_";
const KEY_BODY_LENGTH = 32;
/** Characters of the key people see: `ms_` and the first 8 of the random part. */
const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** SHA-256 hex of an API key: what the database stores. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/** A new key: 32 base62 characters (about 190 bits) drawn without modulo bias. */
export function generateApiKey(): string {
  let body = "";
  while (body.length < KEY_BODY_LENGTH) {
    for (const byte of randomBytes(48)) {
      // 248 = 4 × 62: bytes above it would favour the first characters.
      if (byte < 248 && body.length < KEY_BODY_LENGTH) body += BASE62[byte % 62];
    }
  }
  return KEY_PREFIX + body;
}

// ---------------------------------------------------------------------------------------------
// The request path

/** What authentication needs to know about a key (never its secret or hash). */
export type ResolvedKey = {
  id: string;
  userId: string | null;
  tier: Tier;
  scopes: string[];
  isAdmin: boolean;
  revoked: boolean;
  /** Epoch ms, or null. */
  expiresAt: number | null;
  /** Exact decimal string, or null: no budget on the key. */
  monthlyBudgetUsd: string | null;
  /** Generations are answered from the response cache unless a request says otherwise (response-cache.ts). */
  cacheResponses: boolean;
};

const RESOLVED_SELECT = {
  id: true,
  userId: true,
  tier: true,
  scopes: true,
  isAdmin: true,
  revokedAt: true,
  expiresAt: true,
  monthlyBudgetUsd: true,
  cacheResponses: true,
} as const;

type KeyCaches = { byHash: AuthCache<ResolvedKey | null>; byId: AuthCache<ResolvedKey | null> };
const g = globalThis as unknown as { __modelServiceKeyCache?: KeyCaches; __modelServiceLastUsed?: LastUsedWriter };

function toResolved(row: {
  id: string;
  userId: string | null;
  tier: Tier;
  scopes: string[];
  isAdmin: boolean;
  revokedAt: Date | null;
  expiresAt: Date | null;
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  cacheResponses: boolean;
}): ResolvedKey {
  return {
    id: row.id,
    userId: row.userId,
    tier: row.tier,
    scopes: row.scopes,
    isAdmin: row.isAdmin,
    revoked: row.revokedAt !== null,
    expiresAt: row.expiresAt ? row.expiresAt.getTime() : null,
    monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null,
    cacheResponses: row.cacheResponses,
  };
}

const caches: KeyCaches = (g.__modelServiceKeyCache ??= {
  // Unknown hashes are cached too (as null), so a flood of made-up keys does not reach the database.
  byHash: new AuthCache("api-keys", async (hash) => {
    const row = await (await getDb()).apiKey.findUnique({ where: { keyHash: hash }, select: RESOLVED_SELECT });
    return row ? toResolved(row) : null;
  }),
  byId: new AuthCache("api-keys-by-id", async (id) => {
    const row = await (await getDb()).apiKey.findUnique({ where: { id }, select: RESOLVED_SELECT });
    return row ? toResolved(row) : null;
  }),
});
onInvalidation((m) => {
  if (m.kind === "all") {
    caches.byHash.clear();
    caches.byId.clear();
  } else if (m.kind === "key") {
    caches.byHash.deleteWhere((k) => k?.id === m.id);
    caches.byId.delete(m.id);
  } else if (m.kind === "user") {
    caches.byHash.deleteWhere((k) => k?.userId === m.id);
    caches.byId.deleteWhere((k) => k?.userId === m.id);
  }
});

/**
 * The key behind a secret, or null when there is none (cached; revoked keys come back marked).
 * `knownOnly`: undefined, without a lookup, for a secret this instance holds nothing about (an
 * address over its failed-authentication limit gets no database lookups).
 */
export function resolveApiKey(secret: string, options: { knownOnly: true }): Promise<ResolvedKey | null | undefined>;
export function resolveApiKey(secret: string, options?: { knownOnly?: boolean }): Promise<ResolvedKey | null>;
export function resolveApiKey(secret: string, options: { knownOnly?: boolean } = {}): Promise<ResolvedKey | null | undefined> {
  if (secret.length > 200) return Promise.resolve(null);
  const hash = hashApiKey(secret);
  if (options.knownOnly && !caches.byHash.has(hash)) return Promise.resolve(undefined);
  return caches.byHash.get(hash);
}

/** A key by id (cached): budgets read the key's limit through it. */
export function getApiKeyById(id: string): Promise<ResolvedKey | null> {
  return caches.byId.get(id);
}

// ---------------------------------------------------------------------------------------------
// Last-used time: remembered in memory, written every few seconds in one statement.

const LAST_USED_FLUSH_MS = 5_000;

class LastUsedWriter {
  private pending = new Map<string, Date>();
  private timer: NodeJS.Timeout | undefined;

  note(id: string): void {
    this.pending.set(id, new Date());
    if (!this.timer) {
      this.timer = setInterval(() => void this.flush(), LAST_USED_FLUSH_MS);
      this.timer.unref();
      onShutdown("api-key-last-used", () => this.flush());
    }
  }

  /** The newest use this process has not written yet. */
  peek(id: string): Date | undefined {
    return this.pending.get(id);
  }

  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const db = await getDatabase();
      await db.rawQuery(
        `UPDATE api_keys AS k SET last_used_at = v.t
         FROM unnest($1::text[], $2::timestamptz[]) AS v(id, t)
         WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.t)`,
        [[...batch.keys()], [...batch.values()].map((d) => d.toISOString())],
      );
    } catch (err) {
      // Keep the newest time of each key for the next attempt.
      for (const [id, at] of batch) if (!this.pending.has(id)) this.pending.set(id, at);
      getLogger().warn({ err }, "could not record API keys' last use; will retry");
    }
  }
}

function lastUsed(): LastUsedWriter {
  return (g.__modelServiceLastUsed ??= new LastUsedWriter());
}

/** Records that a key was just used; written within a few seconds, never on the request path. */
export function noteKeyUsed(id: string): void {
  lastUsed().note(id);
}

/** Writes pending last-used times now (tests, shutdown). */
export function flushKeyLastUsed(): Promise<void> {
  return lastUsed().flush();
}

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
  monthlyBudgetUsd: string | null;
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
  monthlyBudgetUsd: true,
  cacheResponses: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
  createdAt: true,
  user: { select: { email: true } },
} as const;

type ViewRow = Omit<ApiKeyView, "userEmail" | "monthlyBudgetUsd"> & {
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  user: { email: string | null } | null;
};

function toView(row: ViewRow): ApiKeyView {
  const { user, monthlyBudgetUsd, ...rest } = row;
  const pendingUse = lastUsed().peek(row.id);
  return {
    ...rest,
    userEmail: user?.email ?? null,
    monthlyBudgetUsd: monthlyBudgetUsd ? trimDecimal(monthlyBudgetUsd.toFixed(6)) : null,
    lastUsedAt: pendingUse && (!rest.lastUsedAt || pendingUse > rest.lastUsedAt) ? pendingUse : rest.lastUsedAt,
  };
}

export const createKeyInput = z.object({
  name: safeString.trim().min(1, { error: "a name (1 to 100 characters)" }).max(100, { error: "at most 100 characters" }),
  tier: z.enum(TIERS as [Tier, ...Tier[]], { error: `one of ${TIERS.join(", ")}` }).optional(),
  scopes: z.array(z.enum(SCOPES, { error: `each one of ${SCOPES.join(", ")}` })).max(SCOPES.length).optional(),
  isAdmin: z.boolean().optional(),
  /** Owner by email (admins only); default: the caller's own user. */
  userEmail: safeString.optional(),
  monthlyBudgetUsd: usdSchema.nullable().optional(),
  expiresAt: boundedDate.optional(),
  /** Answer this key's generations from the response cache (temperature 0) unless a request says otherwise. */
  cacheResponses: z.boolean().optional(),
});
export type CreateKeyInput = z.input<typeof createKeyInput>;

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
  const parsed = createKeyInput.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join(".") || "input";
    throw new AppError("invalid_request", `Invalid ${name}: must be ${issue.message}`, { field: name });
  }
  const input = parsed.data;
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
  if (input.userEmail !== undefined) {
    const user = await findUserByEmail(input.userEmail);
    if (!user) throw new AppError("not_found", `No user with the email ${input.userEmail.trim().toLowerCase()}`, { field: "userEmail" });
    if (!admin && user.id !== userId) throw new AppError("forbidden", "Only an admin can create a key for another user");
    userId = user.id;
  }
  if (!admin && !userId) throw new AppError("forbidden", "This caller has no user to own a key");

  const key = generateApiKey();
  const db = await getDb();
  const row = await db.apiKey.create({
    data: {
      name: input.name,
      prefix: key.slice(0, SHOWN_PREFIX_LENGTH),
      keyHash: hashApiKey(key),
      tier,
      scopes: scopes.filter((s) => s !== "admin"),
      isAdmin,
      userId,
      monthlyBudgetUsd: input.monthlyBudgetUsd ?? null,
      expiresAt: input.expiresAt ?? null,
      cacheResponses: input.cacheResponses ?? false,
    },
    select: VIEW_SELECT,
  });
  return { key, apiKey: toView(row) };
}

/** The keys the caller may see: all (admin, CLI) or their own user's, newest first. */
export async function listApiKeys(actor: Actor, options: { includeRevoked?: boolean; userEmail?: string } = {}): Promise<ApiKeyView[]> {
  const db = await getDb();
  const where: { revokedAt?: null; userId?: string | null; id?: string } = {};
  if (!options.includeRevoked) where.revokedAt = null;
  if (!isAdminActor(actor)) {
    if (actor.kind === "cli") throw new Error("unreachable");
    // A key with no user sees only itself.
    if (actor.userId) where.userId = actor.userId;
    else if (actor.apiKeyId) where.id = actor.apiKeyId;
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
  const mine = row && (isAdminActor(actor) || (row.userId !== null && row.userId === ownUserId(actor)));
  if (!row || !mine) throw new AppError("not_found", `No API key ${id}`);
  return row;
}

/** Revokes a key; it stops working on every instance within a second. Revoking twice is harmless. */
export async function revokeApiKey(actor: Actor, id: string): Promise<ApiKeyView> {
  const existing = await manageableKey(actor, id);
  const db = await getDb();
  const row = existing.revokedAt
    ? existing
    : await db.apiKey.update({ where: { id }, data: { revokedAt: new Date() }, select: VIEW_SELECT });
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
  // Only a key that is still the one read above and not revoked meanwhile is changed.
  const changed = await (await getDb()).apiKey.updateMany({
    where: { id, prefix: old.prefix, revokedAt: null },
    data: { prefix: key.slice(0, SHOWN_PREFIX_LENGTH), keyHash: hashApiKey(key) },
  });
  await publishInvalidation({ kind: "key", id });
  if (changed.count === 0) throw new AppError("conflict", `API key ${id} changed while it was being rotated (revoked or rotated again); list the keys and try again`);
  const row = await (await getDb()).apiKey.findUniqueOrThrow({ where: { id }, select: VIEW_SELECT });
  return { key, apiKey: toView(row), previousPrefix: old.prefix };
}

/** Turns the key's response caching on or off (response-cache.ts); every instance sees it within a second. */
export async function setApiKeyResponseCache(actor: Actor, id: string, cacheResponses: boolean): Promise<ApiKeyView> {
  await manageableKey(actor, id);
  const row = await (await getDb()).apiKey.update({ where: { id }, data: { cacheResponses }, select: VIEW_SELECT });
  await publishInvalidation({ kind: "key", id });
  return toView(row);
}
