import "server-only";
// Writing the audit log (the audit_events table, append-only by a trigger of its migration): one
// row per audited action, through the transaction client of the change itself, so the row and the
// change commit or roll back together. Here, below the features, because every feature that changes
// something an admin cares about writes it (catalogue: models and providers; budgets: alert
// settings; accounts: users, teams and keys); reading it is features/accounts/audit.ts.
//
// Secrets never reach the table: before and after pass through `maskSecrets`, which replaces the
// value of every field whose name says it holds one (hashes, passwords, secrets, tokens, provider
// keys, headers) at any depth, whatever the caller handed in.
import type { PrismaClient } from "./generated/prisma/client.ts";

/** What writes a row: the PrismaClient or the transaction client of `$transaction(async (tx) => …)`. */
export type AuditWriter = Pick<PrismaClient, "auditEvent">;

/** Who acted, as the access layer knows a caller (an Identity, or the CLI), seen structurally. */
export type AuditActorLike =
  | { kind: "cli" }
  | { kind: "anonymous" }
  | { kind: "apiKey" | "session" | "jwt"; userId: string | null; apiKeyId: string | null; email?: string | null; subject?: string };

export type AuditAction =
  | "key.create"
  | "key.update"
  | "key.rotate"
  | "key.revoke"
  | "user.create"
  | "user.update"
  | "user.role_change"
  | "user.sessions_end"
  | "team.create"
  | "team.update"
  | "team.member_add"
  | "team.member_update"
  | "team.member_remove"
  | "provider.save"
  | "provider.remove"
  | "deployment.save"
  | "deployment.remove"
  | "model.create"
  | "model.update"
  | "budget_alerts.update"
  | "login.success"
  | "login.failure";

export const AUDIT_ACTIONS: readonly AuditAction[] = [
  "key.create",
  "key.update",
  "key.rotate",
  "key.revoke",
  "user.create",
  "user.update",
  "user.role_change",
  "user.sessions_end",
  "team.create",
  "team.update",
  "team.member_add",
  "team.member_update",
  "team.member_remove",
  "provider.save",
  "provider.remove",
  "deployment.save",
  "deployment.remove",
  "model.create",
  "model.update",
  "budget_alerts.update",
  "login.success",
  "login.failure",
];

export type AuditTargetKind = "api_key" | "user" | "team" | "provider" | "deployment" | "model" | "budget_alert_settings";

export type AuditEntry = {
  actor: AuditActorLike;
  action: AuditAction;
  target: { kind: AuditTargetKind; id: string | null };
  before?: unknown;
  after?: unknown;
};

/** Field names that hold a secret, or something a secret can be rebuilt or guessed from. */
const SECRET_NAME =
  /(hash|password|passwd|secrets?|secret_?tail|credentials?|authorization|cookie|headers|private_?key|access_?token|refresh_?token|session_?token|_token)$|^(api_?key|key|token)$/i;

export const MASKED = "[masked]";

/** A JSON copy of `value` with every secret field's value replaced by "[masked]" (dates as ISO strings). */
export function maskSecrets(value: unknown): unknown {
  if (value === undefined) return undefined;
  return JSON.parse(
    JSON.stringify(value, (name, v: unknown) => {
      if (name && SECRET_NAME.test(name) && v !== null && v !== undefined) return MASKED;
      return typeof v === "bigint" ? v.toString() : v;
    }),
  ) as unknown;
}

/** The actor's columns: kind, the id to filter by, and a label people recognise. */
export function auditActorColumns(actor: AuditActorLike): { actorKind: string; actorId: string | null; actorLabel: string | null } {
  switch (actor.kind) {
    case "cli":
      return { actorKind: "cli", actorId: null, actorLabel: "cli" };
    case "anonymous":
      return { actorKind: "anonymous", actorId: null, actorLabel: null };
    case "apiKey":
      return { actorKind: "api_key", actorId: actor.userId ?? actor.apiKeyId, actorLabel: `key ${actor.apiKeyId}` };
    case "session":
      return { actorKind: "user", actorId: actor.userId, actorLabel: actor.email ?? null };
    case "jwt":
      return { actorKind: "jwt", actorId: actor.userId, actorLabel: actor.subject ? `jwt ${actor.subject}` : null };
  }
}

const json = (v: unknown) => (v === undefined || v === null ? undefined : (maskSecrets(v) as object));

/** Writes one audit row through `db` (the change's own transaction client). */
export async function writeAudit(db: AuditWriter, entry: AuditEntry): Promise<void> {
  await db.auditEvent.create({
    data: {
      ...auditActorColumns(entry.actor),
      action: entry.action,
      targetKind: entry.target.kind,
      targetId: entry.target.id,
      before: json(entry.before),
      after: json(entry.after),
    },
    select: { id: true },
  });
}
