import "server-only";
// The dashboard's list of budget alerts, with what each caller may see of their deliveries.
import { getDb } from "../../db/index.ts";
import { periodStart } from "./budgets.ts";
import { isAdminActor, type Actor } from "../../access/identity.ts";
import { trimDecimal } from "../../../lib/money.ts";
import { type AlertSubjectKind } from "./budget-alert-settings.ts";

// ---------------------------------------------------------------------------------------------
// The dashboard's list

export type BudgetAlertView = {
  id: string;
  scope: AlertSubjectKind;
  subjectId: string;
  /** The key's name, or the user's email. */
  subjectName: string | null;
  thresholdPercent: number;
  budgetUsd: string;
  spentUsd: string;
  period: string;
  createdAt: Date;
  /** `lastError` is shown to admins only (null for others): a network error tells an open port from a closed one. */
  deliveries: { target: string; status: string; attempts: number; lastError: string | null }[];
};

/** Alerts the caller may see, newest first: an admin's all, a user's their own and their keys'. */
export async function listBudgetAlerts(
  actor: Actor,
  options: { currentPeriodOnly?: boolean; limit?: number } = {},
): Promise<BudgetAlertView[]> {
  const where: Record<string, unknown> = {};
  const admin = isAdminActor(actor);
  if (!admin) {
    if (actor.kind === "cli") throw new Error("unreachable");
    if (actor.userId) where.userId = actor.userId;
    else if (actor.apiKeyId) Object.assign(where, { subjectKind: "api_key", subjectId: actor.apiKeyId });
    else return [];
  }
  if (options.currentPeriodOnly) {
    // Budgets count over a day, a week or a month: from the earliest start of a period still running.
    const month = periodStart("month").date;
    const week = periodStart("week").date;
    where.period = { gte: week < month ? week : month };
  }
  const db = await getDb();
  const rows = await db.budgetAlert.findMany({
    where,
    orderBy: [{ createdAt: "desc" }, { thresholdPercent: "desc" }],
    take: Math.min(options.limit ?? 50, 500),
    include: { deliveries: { select: { target: true, status: true, attempts: true, lastError: true }, orderBy: { target: "asc" } } },
  });
  const keyIds = [...new Set(rows.filter((r) => r.subjectKind === "api_key").map((r) => r.subjectId))];
  const userIds = [...new Set(rows.filter((r) => r.subjectKind === "user").map((r) => r.subjectId))];
  const [keys, users] = await Promise.all([
    keyIds.length ? db.apiKey.findMany({ where: { id: { in: keyIds } }, select: { id: true, name: true } }) : [],
    userIds.length ? db.user.findMany({ where: { id: { in: userIds } }, select: { id: true, email: true } }) : [],
  ]);
  const names = new Map<string, string | null>([
    ...keys.map((k) => [k.id, k.name] as const),
    ...users.map((u) => [u.id, u.email] as const),
  ]);
  return rows.map((r) => ({
    id: r.id,
    scope: r.subjectKind === "user" ? "user" : "api_key",
    subjectId: r.subjectId,
    subjectName: names.get(r.subjectId) ?? null,
    thresholdPercent: r.thresholdPercent,
    budgetUsd: trimDecimal(r.budgetUsd.toFixed(6)),
    spentUsd: trimDecimal(r.spentUsd.toFixed(12)),
    period: r.period.toISOString().slice(0, 7),
    createdAt: r.createdAt,
    deliveries: admin ? r.deliveries : r.deliveries.map((d) => ({ ...d, lastError: null })),
  }));
}
