import "server-only";
// API keys on the request path: `ms_` + 32 random base62 characters, shown once and stored only as
// a SHA-256 hash; people see the prefix. A key is resolved from an in-process cache (no database
// round trip once warm) that revocations clear on every instance (invalidation.ts), and its
// last-used time is written in batches, not once per request. Managing keys (create, list,
// revoke, rotate) is features/accounts/keys.ts.
import { hash, randomBytes } from "node:crypto";
import { getDatabase, getDb } from "../db/index.ts";
import { onShutdown } from "../kernel/lifecycle.ts";
import { getLogger } from "../kernel/logger.ts";
import { AuthCache } from "./auth-cache.ts";
import type { BudgetPeriod, KeyControls, Tier } from "./identity.ts";
import { onInvalidation } from "./invalidation.ts";
import { trimDecimal } from "../../lib/money.ts";

export const KEY_PREFIX = "ms_";
const KEY_BODY_LENGTH = 32;
/** Characters of the key people see: `ms_` and the first 8 of the random part. */
export const SHOWN_PREFIX_LENGTH = KEY_PREFIX.length + 8;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** SHA-256 hex of an API key: what the database stores. */
export function hashApiKey(key: string): string {
  return hash("sha256", key, "hex"); // one-shot: no Hash object per request (Node 20.12+)
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
  /** The team the key belongs to, or null. */
  teamId: string | null;
  tier: Tier;
  scopes: string[];
  isAdmin: boolean;
  revoked: boolean;
  /** Epoch ms, or null. */
  expiresAt: number | null;
  /** Exact decimal string, or null: no budget on the key. */
  monthlyBudgetUsd: string | null;
  /** The period the budget counts over. */
  budgetPeriod: BudgetPeriod;
  /** The key's own controls (features/accounts/keys.ts): checked on every call. */
  controls: KeyControls;
  /** Generations are answered from the response cache unless a request says otherwise (response-cache.ts). */
  cacheResponses: boolean;
  /** Its calls' bodies: true logged, false never, null as the service says (features/usage/request-bodies.ts). */
  logBodies: boolean | null;
};

const RESOLVED_SELECT = {
  id: true,
  userId: true,
  teamId: true,
  tier: true,
  scopes: true,
  isAdmin: true,
  revokedAt: true,
  expiresAt: true,
  monthlyBudgetUsd: true,
  budgetPeriod: true,
  allowedModels: true,
  rpmLimit: true,
  tpmLimit: true,
  maxParallel: true,
  cacheResponses: true,
  logBodies: true,
} as const;

type KeyCaches = { byHash: AuthCache<ResolvedKey | null>; byId: AuthCache<ResolvedKey | null> };
const g = globalThis as unknown as { __modelServiceKeyCache?: KeyCaches; __modelServiceLastUsed?: LastUsedWriter };

function toResolved(row: {
  id: string;
  userId: string | null;
  teamId: string | null;
  tier: Tier;
  scopes: string[];
  isAdmin: boolean;
  revokedAt: Date | null;
  expiresAt: Date | null;
  monthlyBudgetUsd: { toFixed(n: number): string } | null;
  budgetPeriod: BudgetPeriod;
  allowedModels: string[];
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxParallel: number | null;
  cacheResponses: boolean;
  logBodies: boolean | null;
}): ResolvedKey {
  return {
    id: row.id,
    userId: row.userId,
    teamId: row.teamId,
    tier: row.tier,
    scopes: row.scopes,
    isAdmin: row.isAdmin,
    revoked: row.revokedAt !== null,
    expiresAt: row.expiresAt ? row.expiresAt.getTime() : null,
    monthlyBudgetUsd: row.monthlyBudgetUsd ? trimDecimal(row.monthlyBudgetUsd.toFixed(6)) : null,
    budgetPeriod: row.budgetPeriod,
    controls: { allowedModels: row.allowedModels, rpm: row.rpmLimit, tpm: row.tpmLimit, maxParallel: row.maxParallel },
    cacheResponses: row.cacheResponses,
    logBodies: row.logBodies,
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

/** A last-used time noted but not written yet, if any (listings show it before the batch lands). */
export function pendingLastUsed(id: string): Date | undefined {
  return lastUsed().peek(id);
}
