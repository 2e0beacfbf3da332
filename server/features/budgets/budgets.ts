import "server-only";
// Budgets in USD per day, ISO week or month (UTC), on an API key, its user and its team: which budgets apply to a caller, what
// each has spent, and reserving a paid call's largest possible cost against all of them before
// the call (budget-ledger.ts holds it, atomically, across instances), settled with the real cost
// after it. A call that does not fit answers 402 `budget_exceeded` naming the budget and what is
// left; free models (price 0) reserve nothing, and a caller without a budget pays nothing extra
// (its key and user come from the in-process caches).
//
// Spend, for the ledger's start and for GET /v1/auth/whoami and the budget alerts: the daily
// roll-up rows (usage_daily) plus the events still in this process's usage writer queue. The
// roll-up sum is cached per subject for up to SPEND_CACHE_MS, and re-read as soon as this
// process's writer has flushed (so the queue and the cached sum never miss an event between them).
import { getDatabase } from "../../db/index.ts";
import { AppError } from "../../kernel/errors.ts";
import { hold, isRefusal, NO_HOLD, type Account, type Hold, type Refusal } from "./budget-ledger.ts";
import type { BudgetPeriod, Identity } from "../../access/identity.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import { formatUsd, parseUsd, type Pico } from "../catalogue/index.ts";
import { usageWriter } from "../usage/index.ts";
import { getUser } from "../../access/user-lookup.ts";
import { getTeam } from "../../access/teams.ts";

export const SPEND_CACHE_MS = 2_000;

export type BudgetScope = "api_key" | "user" | "team";
type Subject = { kind: "apiKey"; id: string } | { kind: "user"; id: string } | { kind: "team"; id: string };
type CachedSpend = { since: string; pico: Pico; at: number; written: number };

const g = globalThis as unknown as { __modelServiceSpendCache?: Map<string, CachedSpend> };
const spendCache: Map<string, CachedSpend> = (g.__modelServiceSpendCache ??= new Map());

/** The first day of the current UTC month, as YYYY-MM-DD, and as a Date. */
export function monthStart(now = new Date()): { day: string; date: Date } {
  return periodStart("month", now);
}

/** The first day of the UTC day, ISO week (Monday) or month that holds `now`, as YYYY-MM-DD and as a Date. */
export function periodStart(period: BudgetPeriod, now = new Date()): { day: string; date: Date } {
  const y = now.getUTCFullYear();
  const m = now.getUTCMonth();
  const d = now.getUTCDate();
  const date =
    period === "month"
      ? new Date(Date.UTC(y, m, 1))
      : period === "week"
        ? new Date(Date.UTC(y, m, d - ((now.getUTCDay() + 6) % 7)))
        : new Date(Date.UTC(y, m, d));
  return { day: date.toISOString().slice(0, 10), date };
}

/** How a period names itself in messages: "daily", "weekly", "monthly". */
export const PERIOD_ADJECTIVE: Record<BudgetPeriod, string> = { day: "daily", week: "weekly", month: "monthly" };

async function storedSpend(subject: Subject, since: { day: string }): Promise<Pico> {
  const written = usageWriter().getStats().written;
  const cacheKey = `${subject.kind}:${subject.id}:${since.day}`;
  const hit = spendCache.get(cacheKey);
  if (hit && hit.since === since.day && hit.written === written && performance.now() - hit.at < SPEND_CACHE_MS) return hit.pico;
  const db = await getDatabase();
  // A team's spend is its attribution roll-up (usage_daily_attr, dim 'team'): the team is not a key of usage_daily.
  const sql =
    subject.kind === "team"
      ? `SELECT sum(cost)::text AS total FROM usage_daily_attr WHERE dim = 'team' AND value = $1 AND day >= $2::date`
      : `SELECT sum(cost)::text AS total FROM usage_daily WHERE ${subject.kind === "apiKey" ? "api_key_id" : "user_id"} = $1 AND day >= $2::date`;
  const rows = await db.rawQuery<{ total: string | null }>(sql, [subject.id, since.day]);
  const pico = parseUsd(rows[0]?.total ?? "0");
  if (spendCache.size > 50_000) spendCache.clear();
  spendCache.set(cacheKey, { since: since.day, pico, at: performance.now(), written });
  return pico;
}

function queuedSpend(subject: Subject, since: Date): Pico {
  let sum = 0n;
  for (const e of usageWriter().pending()) {
    const mine =
      subject.kind === "apiKey" ? e.apiKeyId === subject.id : subject.kind === "team" ? e.teamId === subject.id : e.userId === subject.id;
    if (mine && e.createdAt >= since) sum += e.totalCost;
  }
  return sum;
}

/** Month-to-date spend of a key or user, in picodollars, from the usage events. */
export function monthToDateSpend(subject: Subject, now = new Date()): Promise<Pico> {
  return periodSpend(subject, "month", now);
}

/** A key's or user's spend in the period (day, week, month) that holds `now`, in picodollars, from the usage events. */
export async function periodSpend(subject: Subject, period: BudgetPeriod, now = new Date()): Promise<Pico> {
  const start = periodStart(period, now);
  return (await storedSpend(subject, start)) + queuedSpend(subject, start.date);
}

/** A team's spend in the current period (day, week, month), in picodollars: what its budget counts. */
export function teamPeriodSpend(teamId: string, period: BudgetPeriod, now = new Date()): Promise<Pico> {
  return periodSpend({ kind: "team", id: teamId }, period, now);
}

/** A budget that applies to a call: whose, for which period, and how much. */
export type Budget = {
  scope: BudgetScope;
  subjectId: string;
  period: BudgetPeriod;
  /** The first day of the period it counts (UTC). */
  periodStart: string;
  limit: Pico;
};

/** The budgets that apply to the caller now: the key's, the user's and the key's team's, where set. Cached lookups only. */
export async function budgetsFor(identity: Identity, now = new Date()): Promise<Budget[]> {
  if (identity.kind === "anonymous") return [];
  const [key, user, team] = await Promise.all([
    identity.apiKeyId ? getApiKeyById(identity.apiKeyId) : null,
    identity.userId ? getUser(identity.userId) : null,
    identity.teamId ? getTeam(identity.teamId) : null,
  ]);
  const budgets: Budget[] = [];
  for (const [scope, owner] of [
    ["api_key", key],
    ["user", user],
    ["team", team],
  ] as const) {
    if (!owner?.monthlyBudgetUsd) continue;
    const period = owner.budgetPeriod;
    budgets.push({
      scope,
      subjectId: owner.id,
      period,
      periodStart: periodStart(period, now).day,
      limit: parseUsd(owner.monthlyBudgetUsd),
    });
  }
  return budgets;
}

const subjectOf = (b: Budget): Subject =>
  b.scope === "api_key"
    ? { kind: "apiKey", id: b.subjectId }
    : b.scope === "team"
      ? { kind: "team", id: b.subjectId }
      : { kind: "user", id: b.subjectId };

type BudgetAccount = Account & { budget: Budget };

/** The ledger's account of a budget: `api_key:<id>:month:2026-12`, `user:<id>:week:2026-11-30`, `team:<id>:day:2026-12-04`. */
export function ledgerAccountKey(b: Pick<Budget, "scope" | "subjectId" | "period" | "periodStart">): string {
  return `${b.scope}:${b.subjectId}:${b.period}:${b.period === "month" ? b.periodStart.slice(0, 7) : b.periodStart}`;
}

/** A budget's account in the ledger: one per subject and period, starting from the usage events. */
function accountOf(b: Budget): BudgetAccount {
  return {
    key: ledgerAccountKey(b),
    limit: b.limit,
    seed: () => periodSpend(subjectOf(b), b.period, new Date(`${b.periodStart}T00:00:00Z`)),
    budget: b,
  };
}

export type BudgetState = { scope: BudgetScope; period: BudgetPeriod; budgetUsd: string; spentUsd: string; exceeded: boolean };

/** The budgets that apply to the caller, with what has been spent against each. */
export async function budgetStates(identity: Identity): Promise<BudgetState[]> {
  return Promise.all(
    (await budgetsFor(identity)).map(async (b) => {
      const spent = await periodSpend(subjectOf(b), b.period);
      return { scope: b.scope, period: b.period, budgetUsd: formatUsd(b.limit), spentUsd: formatUsd(spent), exceeded: spent >= b.limit };
    }),
  );
}

/** A call's reservation: settle it once with what the call cost (0n when nothing was paid). */
export type Reservation = Pick<Hold, "amount" | "settle">;

/** What a call that reserves nothing settles. */
export const NO_RESERVATION: Reservation = NO_HOLD;

/**
 * Reserves what the call can cost at most (`largestCost`, asked only when a budget applies: for a
 * caller without one it is never computed) against every budget that applies to the caller,
 * before the call, all or none. `leaseMs`: how long the call can take; a reservation that is never
 * settled stops counting then. Throws 402 `budget_exceeded` when it does not fit one of them,
 * 503 when the ledger does not answer.
 */
export async function reserveBudgets(identity: Identity, largestCost: () => Pico, options: { leaseMs: number }): Promise<Reservation> {
  const budgets = await budgetsFor(identity);
  if (budgets.length === 0) return NO_RESERVATION;
  const amount = largestCost();
  if (amount <= 0n) return NO_RESERVATION;
  const held = await hold(budgets.map(accountOf), amount, options.leaseMs);
  if (isRefusal(held)) {
    for (const listener of refusedListeners) listener(held.account.budget);
    throw budgetExceeded(held, amount);
  }
  return held;
}

type RefusedListener = (budget: Budget) => void;
const gl = globalThis as unknown as { __modelServiceBudgetRefused?: Set<RefusedListener> };
const refusedListeners: Set<RefusedListener> = (gl.__modelServiceBudgetRefused ??= new Set());

/**
 * Told of every budget that refuses a call (the budget alerts: a budget that refuses calls is
 * used up, though reservations keep its spend short of it). Returns the unsubscribe.
 */
export function onBudgetRefused(listener: RefusedListener): () => void {
  refusedListeners.add(listener);
  return () => refusedListeners.delete(listener);
}

function budgetExceeded(refusal: Refusal<BudgetAccount>, required: Pico): AppError {
  const { budget } = refusal.account;
  const left = budget.limit - refusal.spent - refusal.held;
  const remaining = left > 0n ? left : 0n;
  const whose = budget.scope === "api_key" ? "this API key" : budget.scope === "team" ? "this key's team" : "your account";
  const reserved = refusal.held > 0n ? `, $${formatUsd(refusal.held)} reserved by calls in progress` : "";
  return new AppError(
    "budget_exceeded",
    `The ${PERIOD_ADJECTIVE[budget.period]} budget of $${formatUsd(budget.limit)} for ${whose} has $${formatUsd(remaining)} left ($${formatUsd(refusal.spent)} spent since ${budget.periodStart} UTC${reserved}); ` +
      `this call may cost up to $${formatUsd(required)}. Lower max_tokens, use a free model, or raise the budget; paid calls that fit still work until the ${budget.period} ends.`,
    {
      scope: budget.scope,
      period: budget.period,
      budget_usd: formatUsd(budget.limit),
      spent_usd: formatUsd(refusal.spent),
      reserved_usd: formatUsd(refusal.held),
      remaining_usd: formatUsd(remaining),
      required_usd: formatUsd(required),
      period_start: budget.periodStart,
    },
  );
}

/** Forgets cached sums (tests). */
export function clearSpendCacheForTests(): void {
  spendCache.clear();
}
