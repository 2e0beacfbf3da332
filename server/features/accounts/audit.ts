import "server-only";
// Reading the audit log (written by server/db/audit.ts in each change's own transaction): newest
// first, filtered by actor, action, target and time, in pages of a cursor (the last row's id). The
// table is append-only; nothing here or anywhere in the app changes or removes a row.
import { z } from "zod";
import { getDb } from "../../db/index.ts";
import { AUDIT_ACTIONS } from "../../db/audit.ts";
import { AppError } from "../../kernel/errors.ts";
import { boundedDate, safeString } from "../../kernel/validation.ts";

export const auditQuery = z.object({
  /** An actor's id (a user's or key's) or label (an email, "cli"). */
  actor: safeString.trim().min(1).max(254).optional(),
  /** One action (key.create), or a family of them (key.*). */
  action: safeString
    .trim()
    .regex(/^[a-z_]+(\.([a-z_]+|\*))?$/, { error: `an action such as key.create or key.*; the actions: ${AUDIT_ACTIONS.join(", ")}` })
    .optional(),
  /** The changed thing's id (a key's, a user's, a provider's, a model's). */
  target: safeString.trim().min(1).max(254).optional(),
  /** Only rows at or after this instant (ISO 8601). */
  since: boundedDate.optional(),
  /** The `nextCursor` of the page before. */
  cursor: z
    .string()
    .regex(/^\d{1,19}$/, { error: "the nextCursor of an earlier page" })
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).optional(),
});
export type AuditQuery = z.input<typeof auditQuery>;

export type AuditEventView = {
  id: string;
  at: Date;
  actor: { kind: string; id: string | null; label: string | null };
  action: string;
  target: { kind: string; id: string | null };
  before: unknown;
  after: unknown;
};

/** A page of the audit log, newest first; `nextCursor` is null on the last page. */
export async function listAuditEvents(raw: AuditQuery): Promise<{ events: AuditEventView[]; nextCursor: string | null }> {
  const parsed = auditQuery.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join(".") || "input";
    throw new AppError("invalid_request", `Invalid ${name}: must be ${issue.message}`, { field: name });
  }
  const q = parsed.data;
  const limit = q.limit ?? 50;
  const where: Record<string, unknown> = {};
  if (q.actor) where.OR = [{ actorId: q.actor }, { actorLabel: q.actor }];
  if (q.action) where.action = q.action.endsWith(".*") ? { startsWith: q.action.slice(0, -1) } : q.action;
  if (q.target) where.targetId = q.target;
  if (q.since) where.at = { gte: q.since };
  if (q.cursor) where.id = { lt: BigInt(q.cursor) };
  const rows = await (await getDb()).auditEvent.findMany({ where, orderBy: { id: "desc" }, take: limit + 1 });
  const page = rows.slice(0, limit);
  return {
    events: page.map((r) => ({
      id: r.id.toString(),
      at: r.at,
      actor: { kind: r.actorKind, id: r.actorId, label: r.actorLabel },
      action: r.action,
      target: { kind: r.targetKind, id: r.targetId },
      before: r.before ?? null,
      after: r.after ?? null,
    })),
    nextCursor: rows.length > limit ? page[page.length - 1]!.id.toString() : null,
  };
}
