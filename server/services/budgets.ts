import "server-only";
// Monthly budgets in USD, on an API key and/or its user. Once the month-to-date spend (UTC month)
// reaches a budget, paid calls answer 402 `budget_exceeded`; free models (price 0) keep working.
// The spend is the daily roll-up rows (usage_daily) plus the events still in this process's usage
// writer queue. The roll-up sum is cached per subject for up to SPEND_CACHE_MS, and re-read as soon
// as this process's writer has flushed (so the queue and the cached sum never miss an event
// between them); other instances' spend shows up within SPEND_CACHE_MS.
import { getDatabase } from "../db/index.ts";
import { AppError } from "../errors.ts";
import type { Identity } from "./identity.ts";
import { getApiKeyById } from "./keys.ts";
import { formatUsd, parseUsd, type Pico } from "./pricing.ts";
import { usageWriter } from "./usage.ts";
import { getUser } from "./users.ts";

export const SPEND_CACHE_MS = 2_000;

type Subject = { kind: "apiKey"; id: string } | { kind: "user"; id: string };
type CachedSpend = { month: string; pico: Pico; at: number; written: number };

const g = globalThis as unknown as { __modelServiceSpendCache?: Map<string, CachedSpend> };
const spendCache: Map<string, CachedSpend> = (g.__modelServiceSpendCache ??= new Map());

/** The first day of the current UTC month, as YYYY-MM-DD, and as a Date. */
export function monthStart(now = new Date()): { day: string; date: Date } {
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  return { day: date.toISOString().slice(0, 10), date };
}

async function storedSpend(subject: Subject, month: { day: string }): Promise<Pico> {
  const written = usageWriter().getStats().written;
  const cacheKey = `${subject.kind}:${subject.id}`;
  const hit = spendCache.get(cacheKey);
  if (hit && hit.month === month.day && hit.written === written && performance.now() - hit.at < SPEND_CACHE_MS) return hit.pico;
  const column = subject.kind === "apiKey" ? "api_key_id" : "user_id";
  const db = await getDatabase();
  const rows = await db.rawQuery<{ total: string | null }>(
    `SELECT sum(cost)::text AS total FROM usage_daily WHERE ${column} = $1 AND day >= $2::date`,
    [subject.id, month.day],
  );
  const pico = parseUsd(rows[0]?.total ?? "0");
  if (spendCache.size > 50_000) spendCache.clear();
  spendCache.set(cacheKey, { month: month.day, pico, at: performance.now(), written });
  return pico;
}

function queuedSpend(subject: Subject, since: Date): Pico {
  let sum = 0n;
  for (const e of usageWriter().pending()) {
    const mine = subject.kind === "apiKey" ? e.apiKeyId === subject.id : e.userId === subject.id;
    if (mine && e.createdAt >= since) sum += e.totalCost;
  }
  return sum;
}

/** Month-to-date spend of a key or user, in picodollars. */
export async function monthToDateSpend(subject: Subject, now = new Date()): Promise<Pico> {
  const month = monthStart(now);
  return (await storedSpend(subject, month)) + queuedSpend(subject, month.date);
}

export type BudgetState = { scope: "api_key" | "user"; budgetUsd: string; spentUsd: string; exceeded: boolean };

/** The budgets that apply to the caller, with what has been spent against each. */
export async function budgetStates(identity: Identity): Promise<BudgetState[]> {
  if (identity.kind === "anonymous") return [];
  const [key, user] = await Promise.all([
    identity.apiKeyId ? getApiKeyById(identity.apiKeyId) : null,
    identity.userId ? getUser(identity.userId) : null,
  ]);
  const checks: { scope: BudgetState["scope"]; budget: string; subject: Subject }[] = [];
  if (key?.monthlyBudgetUsd) checks.push({ scope: "api_key", budget: key.monthlyBudgetUsd, subject: { kind: "apiKey", id: key.id } });
  if (user?.monthlyBudgetUsd) checks.push({ scope: "user", budget: user.monthlyBudgetUsd, subject: { kind: "user", id: user.id } });
  return Promise.all(
    checks.map(async (c) => {
      const spent = await monthToDateSpend(c.subject);
      const budget = parseUsd(c.budget);
      return { scope: c.scope, budgetUsd: formatUsd(budget), spentUsd: formatUsd(spent), exceeded: spent >= budget };
    }),
  );
}

/**
 * Throws 402 `budget_exceeded` when a paid call would go over the caller's key or user budget.
 * Free calls (`paid: false`) always pass. Cheap: cached lookups and a scan of the (short) queue.
 */
export async function assertWithinBudget(identity: Identity, options: { paid: boolean }): Promise<void> {
  if (!options.paid) return;
  const over = (await budgetStates(identity)).find((b) => b.exceeded);
  if (!over) return;
  const whose = over.scope === "api_key" ? "this API key" : "your account";
  throw new AppError(
    "budget_exceeded",
    `The monthly budget of $${over.budgetUsd} for ${whose} is spent ($${over.spentUsd} since ${monthStart().day} UTC). Paid models are refused until the month ends or the budget is raised; free models keep working.`,
    { scope: over.scope, budget_usd: over.budgetUsd, spent_usd: over.spentUsd },
  );
}

/** Forgets cached sums (tests). */
export function clearSpendCacheForTests(): void {
  spendCache.clear();
}
