import "server-only";
// The budget ledger in the database (budget-ledger.ts), when REDIS_URL is unset: the tables
// budget_ledgers (an account's spent, what its live holds add up to, when it was last used) and
// budget_holds (one row per hold and account, with its lease), and two PL/pgSQL functions of the
// budget_ledger migration that do a reserve and a settle in one round trip each. Each function
// first locks the accounts' rows in key order (FOR UPDATE), and in READ COMMITTED every later
// statement of the function reads what other transactions committed up to that lock; so on
// PostgreSQL two instances reserving against one account take turns and neither misses the
// other's holds. PGlite runs one statement at a time for its one process.
import type { LedgerStore, StoreAccount, StoreReserve } from "./budget-ledger.ts";
import { formatUsd, parseUsd, type Pico } from "../catalogue/index.ts";

type RawQuery = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

type ReserveRow = {
  outcome: "ok" | "refused" | "seed";
  account_index: number | null;
  account_spent: string | null;
  account_held: string | null;
};

export function createSqlLedgerStore(db: () => Promise<RawQuery>): LedgerStore {
  return {
    name: "database",

    async reserve(holdId: string, accounts: readonly StoreAccount[], amount: Pico, leaseMs: number, idleMs: number): Promise<StoreReserve> {
      const rows = await (
        await db()
      )<ReserveRow>(
        `SELECT outcome, account_index, account_spent::text, account_held::text FROM budget_reserve($1, $2::text[], $3::numeric[], $4::numeric[], $5::numeric, $6::int, $7::int)`,
        [
          holdId,
          accounts.map((a) => a.key),
          accounts.map((a) => formatUsd(a.limit)),
          accounts.map((a) => (a.seed === undefined ? null : formatUsd(a.seed))),
          formatUsd(amount),
          Math.min(leaseMs, 2 ** 31 - 1),
          idleMs,
        ],
      );
      const first = rows[0];
      if (!first) throw new Error("budget_reserve returned nothing");
      if (first.outcome === "ok") return { status: "ok" };
      // The function numbers accounts from 1, as SQL arrays do.
      if (first.outcome === "seed") return { status: "seed", indexes: rows.map((r) => r.account_index! - 1) };
      return {
        status: "refused",
        index: first.account_index! - 1,
        spent: parseUsd(first.account_spent!),
        held: parseUsd(first.account_held!),
      };
    },

    async settle(holdId: string, _keys: readonly string[], actual: Pico): Promise<void> {
      await (
        await db()
      )(`SELECT budget_settle($1, $2::numeric)`, [holdId, formatUsd(actual)]);
    },

    async balance(key: string) {
      // Live holds only: one that lapsed since the last reserve is still in `held` until the next sweeps it.
      const rows = await (
        await db()
      )<{ spent: string; held: string }>(
        `SELECT l.spent::text,
           coalesce((SELECT sum(h.amount) FROM budget_holds h WHERE h.account = l.account AND NOT h.lapsed AND h.expires_at > now()), 0)::text AS held
         FROM budget_ledgers l WHERE l.account = $1`,
        [key],
      );
      const r = rows[0];
      return r ? { spent: parseUsd(r.spent), held: parseUsd(r.held) } : null;
    },
  };
}
