import "server-only";
// The budget ledger: holds a call's largest possible cost against accounts (one per budget that
// applies) before the call, all or none, atomically, and settles each hold with the real cost
// after it. An account is an opaque key and a limit: the ledger knows nothing of keys, users or
// periods (budgets.ts decides which accounts a call touches and what each starts from).
//
// What an account holds: `spent` (what settled calls cost) and its live holds. A hold fits when
// spent + held + amount <= limit on every account; otherwise nothing is held and the caller learns
// which account refused and what it had. A hold lapses after its lease (a crashed instance never
// settles): it stops counting, and a settle that still arrives adds its cost to `spent`.
//
// An account starts at a seed, the spend its budget already has (the usage events): the first
// reserve of an unknown account asks for it, and the next one starts the account with it. An
// account idle for IDLE_MS (no reserve, no settle, no live hold) is forgotten and starts again
// from the usage events, so spend that did not pass through the ledger (a budget set mid-month,
// calls made before it) is picked up within IDLE_MS of quiet.
//
// The store is Redis when REDIS_URL is set (one Lua script per operation: budget-ledger-redis.ts),
// so every instance shares one ledger; otherwise the database (one PL/pgSQL function call per
// operation: budget-ledger-sql.ts), atomic across instances on PostgreSQL. The store fails
// closed: when it does not answer in time (Redis: its command deadline and circuit; the database:
// LEDGER_TIMEOUT_MS) a reserve throws 503 `unavailable`
// (a budget that cannot be checked is not spent); a settle that fails is retried in the
// background, and a hold that never settles lapses with its lease.
import { randomUUID } from "node:crypto";
import { getDatabase } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { AppError } from "../../kernel/errors.ts";
import { onShutdown } from "../../kernel/lifecycle.ts";
import { getLogger } from "../../kernel/logger.ts";
import { getRedis, redisCommand } from "../../kernel/redis.ts";
import { createRedisLedgerStore } from "./budget-ledger-redis.ts";
import { createSqlLedgerStore } from "./budget-ledger-sql.ts";
import type { Pico } from "../catalogue/index.ts";

/** How long an account may sit unused before the ledger forgets it and starts it again from the usage events. */
export const IDLE_MS = 15 * 60_000;
/** The longest a reserve or settle may wait for the store. */
export const LEDGER_TIMEOUT_MS = 3_000;

/** One account of a reserve, in the store's terms: `seed` when the ledger asked for it. */
export type StoreAccount = { key: string; limit: Pico; seed?: Pico };

export type StoreReserve =
  | { status: "ok" }
  | { status: "refused"; index: number; spent: Pico; held: Pico }
  /** These accounts (indexes into the request) are unknown or forgotten: reserve again with their seeds. */
  | { status: "seed"; indexes: number[] };

/** A ledger store: both operations are atomic, and safe to repeat (a settle of a settled hold does nothing). */
export interface LedgerStore {
  readonly name: "redis" | "database";
  /** Accounts sorted by key (every operation then takes them in one order). */
  reserve(holdId: string, accounts: readonly StoreAccount[], amount: Pico, leaseMs: number, idleMs: number): Promise<StoreReserve>;
  /** Ends a hold on `keys`: its amount no longer held, `actual` added to what they spent (a lapsed hold: added all the same). */
  settle(holdId: string, keys: readonly string[], actual: Pico, idleMs: number): Promise<void>;
  /** An account's spent and live held amounts; null when the ledger does not know it (tests, diagnostics). */
  balance(key: string): Promise<{ spent: Pico; held: Pico } | null>;
}

/** An account to hold against: its key, its limit, and how to learn what it has spent when the ledger asks. */
export type Account = { key: string; limit: Pico; seed: () => Promise<Pico> };

export type Refusal<A extends Account = Account> = { account: A; spent: Pico; held: Pico };

/** A hold on the ledger, ended exactly once by `settle` (the real cost; 0n releases it). */
export type Hold = {
  readonly id: string;
  readonly amount: Pico;
  settle(actual: Pico): void;
};

/** What a call that holds nothing (a free model, a caller without a budget) settles: nothing. */
export const NO_HOLD: Hold = Object.freeze({ id: "", amount: 0n, settle() {} });

type LedgerState = {
  store?: LedgerStore;
  /** Holds not yet settled: released on shutdown if their calls never end. */
  open: Set<Hold>;
  /** Settles on their way to the store: awaited on shutdown. */
  settling: Set<Promise<void>>;
  hooked?: boolean;
};
const g = globalThis as unknown as { __modelServiceBudgetLedger?: LedgerState };
const state: LedgerState = (g.__modelServiceBudgetLedger ??= { open: new Set(), settling: new Set() });

/** The process's ledger store: Redis when configured, else the database. */
export function ledgerStore(): LedgerStore {
  if (state.store) return state.store;
  const redis = getRedis();
  state.store = redis
    ? behindRedisCircuit(createRedisLedgerStore(redis, `${loadEnv().REDIS_KEY_PREFIX}budget:`))
    : createSqlLedgerStore(async () => (await getDatabase()).rawQuery);
  return state.store;
}

/**
 * The Redis store's calls under the process's one Redis deadline and circuit (server/kernel/redis.ts):
 * a hung Redis refuses a budgeted call within REDIS_COMMAND_TIMEOUT_MS, and at once while the
 * circuit is open, instead of making it wait LEDGER_TIMEOUT_MS.
 */
function behindRedisCircuit(store: LedgerStore): LedgerStore {
  return {
    name: store.name,
    reserve: (...args) => redisCommand(() => store.reserve(...args)),
    settle: (...args) => redisCommand(() => store.settle(...args)),
    balance: (key) => redisCommand(() => store.balance(key)),
  };
}

/** Uses `store` instead of the configured one (tests); undefined goes back to the configured one. */
export function setLedgerStoreForTests(store: LedgerStore | undefined): void {
  state.store = store;
}

function withDeadline<T>(work: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not answer within ${LEDGER_TIMEOUT_MS} ms`)), LEDGER_TIMEOUT_MS);
    work.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e: unknown) => (clearTimeout(timer), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

function unavailable(store: LedgerStore, err: unknown): AppError {
  getLogger().error({ err, store: store.name }, "the budget ledger did not answer; refusing a call that a budget covers");
  return new AppError(
    "unavailable",
    `The budget ledger (${store.name === "redis" ? "Redis" : "the database"}) is not answering, so calls that a budget covers are refused until it is back; free models and callers without a budget are not affected`,
    { reason: "budget_ledger_unavailable" },
    { "Retry-After": "5" },
  );
}

/**
 * Holds `amount` against every account, all or none. Resolves with the hold, or with the account
 * that refused it and what that account had; throws 503 when the store does not answer.
 */
export async function hold<A extends Account>(accounts: readonly A[], amount: Pico, leaseMs: number): Promise<Hold | Refusal<A>> {
  if (accounts.length === 0 || amount <= 0n) return NO_HOLD;
  const store = ledgerStore();
  const sorted = [...accounts].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const seeds = new Map<number, Pico>();
  const id = randomUUID();
  const lease = Math.max(1, Math.ceil(leaseMs));
  let asked: number[] = [];
  // Two rounds in practice: the first may ask for the seeds of accounts the ledger does not know.
  for (let round = 0; round < 3; round++) {
    let r: StoreReserve;
    try {
      // A seed is a database read: only for the accounts the ledger asked about.
      await Promise.all(asked.map(async (i) => seeds.set(i, await sorted[i]!.seed())));
      const request = sorted.map((a, i) => ({ key: a.key, limit: a.limit, ...(seeds.has(i) ? { seed: seeds.get(i)! } : {}) }));
      r = await withDeadline(store.reserve(id, request, amount, lease, IDLE_MS), "the budget ledger");
    } catch (err) {
      throw unavailable(store, err);
    }
    if (r.status === "ok")
      return openHold(
        store,
        id,
        sorted.map((a) => a.key),
        amount,
      );
    if (r.status === "refused") return { account: sorted[r.index]!, spent: r.spent, held: r.held };
    asked = r.indexes;
  }
  throw unavailable(store, new Error("the budget ledger kept asking for the accounts' starting spend"));
}

export function isRefusal<A extends Account>(h: Hold | Refusal<A>): h is Refusal<A> {
  return "account" in h;
}

function openHold(store: LedgerStore, id: string, keys: string[], amount: Pico): Hold {
  if (!state.hooked) {
    // Registered at the first hold, after the store's connection (getRedis in ledgerStore), so it
    // runs before that connection closes (hooks run in reverse order).
    onShutdown("budget-ledger", () => settleAllForShutdown());
    state.hooked = true;
  }
  let settled = false;
  const h: Hold = {
    id,
    amount,
    settle(actual: Pico) {
      if (settled) return;
      settled = true;
      state.open.delete(h);
      const p = settleWithRetries(store, id, keys, actual < 0n ? 0n : actual).finally(() => state.settling.delete(p));
      state.settling.add(p);
    },
  };
  state.open.add(h);
  return h;
}

const SETTLE_ATTEMPTS = 5;

/** Off the request path: the call has answered; the ledger learns what it cost as soon as it can. */
async function settleWithRetries(store: LedgerStore, id: string, keys: string[], actual: Pico): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await withDeadline(store.settle(id, keys, actual, IDLE_MS), "the budget ledger");
      return;
    } catch (err) {
      if (attempt >= SETTLE_ATTEMPTS) {
        // The hold lapses with its lease; the call's cost is in its usage event, which the account
        // starts from again once it has been idle.
        getLogger().error({ err, holdId: id, attempts: attempt }, "could not settle a budget hold; it lapses with its lease");
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }
}

/**
 * On shutdown: calls still open had their connections closed by the host and settle as they end;
 * give them a moment, release whatever is left (their calls never finished), and wait for every
 * settle to reach the store.
 */
async function settleAllForShutdown(): Promise<void> {
  const until = Date.now() + 2_000;
  while (state.open.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  for (const h of [...state.open]) h.settle(0n);
  while (state.settling.size > 0) await Promise.allSettled([...state.settling]);
}

/** Waits for the settles under way (tests: the ledger is then up to date). */
export async function settledForTests(): Promise<void> {
  while (state.settling.size > 0) await Promise.allSettled([...state.settling]);
}
