import "server-only";
// Evaluating budget alerts after each written usage batch (and when a budget refuses a call): one
// alert row per (subject, period, threshold), inserted with its delivery rows in one statement.
import { randomUUID } from "node:crypto";
import { getDatabase } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { getLogger } from "../../kernel/logger.ts";
import { periodSpend, periodStart, type Budget } from "./budgets.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import { formatUsd, parseUsd, type Pico } from "../catalogue/index.ts";
import type { UsageEventInput } from "../usage/index.ts";
import { getUser } from "../../access/user-lookup.ts";
import { type AlertSubject, DEFAULT_THRESHOLDS, readSettings, state, subjectKey } from "./budget-alert-settings.ts";

// ---------------------------------------------------------------------------------------------
// Evaluation (after each written batch)

export type FiredAlert = {
  id: string;
  subject: AlertSubject;
  thresholdPercent: number;
  period: string;
  spentUsd: string;
  budgetUsd: string;
};

const INSERT_ALERTS_SQL = `
WITH ins AS (
  INSERT INTO budget_alerts (id, subject_kind, subject_id, period, threshold_percent, budget_usd, spent_usd, user_id)
  SELECT a.id, $2, $3, $4::date, a.threshold, $5::numeric, $6::numeric, $7
  FROM unnest($1::text[], $8::int[]) AS a(id, threshold)
  ON CONFLICT (subject_kind, subject_id, period, threshold_percent) DO NOTHING
  RETURNING id, threshold_percent
), deliveries AS (
  INSERT INTO budget_alert_deliveries (id, alert_id, target, url)
  SELECT ins.id || ':' || t.target, ins.id, t.target, t.url
  FROM ins CROSS JOIN unnest($9::text[], $10::text[]) AS t(target, url)
  ON CONFLICT DO NOTHING
)
SELECT id, threshold_percent FROM ins`;

/** Queues the keys and users of a written batch for evaluation (coalesced; one evaluation at a time per process). */
export function noteWritten(batch: readonly UsageEventInput[]): void {
  for (const e of batch) {
    if (e.totalCost <= 0n) continue;
    if (e.apiKeyId) state.pending.set(`api_key:${e.apiKeyId}`, { kind: "api_key", id: e.apiKeyId });
    if (e.userId) state.pending.set(`user:${e.userId}`, { kind: "user", id: e.userId });
  }
  evaluatePending();
}

/**
 * A budget refused a call: it is used up, though the reservations keep its spend short of the
 * budget (a call is refused when its largest possible cost does not fit what is left), so its
 * thresholds up to 100 % are reached now.
 */
export function noteRefused(budget: Budget): void {
  // Budget alerts are set per key and per user; a team's budget has no alert settings (yet).
  if (budget.scope === "team") return;
  const subject: AlertSubject = { kind: budget.scope, id: budget.subjectId };
  state.pending.set(subjectKey(subject), subject);
  state.exhausted.add(subjectKey(subject));
  evaluatePending();
}

function evaluatePending(): void {
  if (state.pending.size === 0 || state.evaluating) return;
  state.evaluating = (async () => {
    while (state.pending.size > 0) {
      const subjects = [...state.pending.values()];
      state.pending.clear();
      const exhausted = new Set(subjects.map(subjectKey).filter((k) => state.exhausted.delete(k)));
      try {
        await evaluateBudgetAlerts(subjects, new Date(), exhausted);
      } catch (err) {
        getLogger().warn({ err }, "could not evaluate budget alerts; the next written batch tries again");
      }
    }
  })().finally(() => {
    state.evaluating = undefined;
  });
}

/** Waits for the evaluation started by the last written batch (tests, shutdown). */
export async function budgetAlertsIdle(): Promise<void> {
  while (state.evaluating) await state.evaluating;
}

/**
 * Fires the alerts that `subjects` have reached this month and that are not in the table yet.
 * Safe to run concurrently, in several processes: the unique row decides.
 */
export async function evaluateBudgetAlerts(
  subjects: readonly AlertSubject[],
  now = new Date(),
  exhausted: ReadonlySet<string> = new Set(),
): Promise<FiredAlert[]> {
  const fired: FiredAlert[] = [];
  for (const subject of subjects) {
    const owner = subject.kind === "api_key" ? await getApiKeyById(subject.id) : await getUser(subject.id);
    if (!owner?.monthlyBudgetUsd) continue;
    // Each period of the budget (a day, a week, a month) has its own alerts.
    const month = periodStart(owner.budgetPeriod, now);
    const budget = parseUsd(owner.monthlyBudgetUsd);
    const settings = await readSettings(subject);
    const thresholds = settings?.thresholds.length ? settings.thresholds : DEFAULT_THRESHOLDS;
    const spent: Pico = await periodSpend(
      { kind: subject.kind === "api_key" ? "apiKey" : "user", id: subject.id },
      owner.budgetPeriod,
      now,
    );
    const usedUp = exhausted.has(subjectKey(subject));
    if (spent <= 0n && !usedUp) continue;
    const reached = thresholds.filter((t) => spent * 100n >= budget * BigInt(t) || (usedUp && t <= 100));
    const firedKey = (t: number) => `${subjectKey(subject)}:${month.day}:${t}`;
    const fresh = reached.filter((t) => !state.fired.has(firedKey(t)));
    if (fresh.length === 0) continue;

    const ownerUserId = subject.kind === "user" ? subject.id : (owner as { userId: string | null }).userId;
    const userSettings =
      ownerUserId === null ? null : subject.kind === "user" ? settings : await readSettings({ kind: "user", id: ownerUserId });
    const targets: { target: string; url: string }[] = [];
    if (userSettings?.webhookUrl) targets.push({ target: "user", url: userSettings.webhookUrl });
    const global = loadEnv().BUDGET_ALERT_WEBHOOK_URL;
    if (global) targets.push({ target: "global", url: global });

    const db = await getDatabase();
    const rows = await db.rawQuery<{ id: string; threshold_percent: number }>(INSERT_ALERTS_SQL, [
      fresh.map(() => randomUUID()),
      subject.kind,
      subject.id,
      month.day,
      formatUsd(budget),
      formatUsd(spent),
      ownerUserId,
      fresh,
      targets.map((t) => t.target),
      targets.map((t) => t.url),
    ]);
    if (state.fired.size > 100_000) state.fired.clear();
    for (const t of fresh) state.fired.add(firedKey(t));
    for (const r of rows) {
      fired.push({
        id: r.id,
        subject,
        thresholdPercent: r.threshold_percent,
        period: owner.budgetPeriod === "month" ? month.day.slice(0, 7) : month.day,
        spentUsd: formatUsd(spent),
        budgetUsd: formatUsd(budget),
      });
    }
  }
  if (fired.length > 0) {
    getLogger().info(
      { alerts: fired.map((a) => ({ subject: a.subject, threshold: a.thresholdPercent, period: a.period })) },
      "budget alerts fired",
    );
    state.delivery?.poke();
  }
  return fired;
}
