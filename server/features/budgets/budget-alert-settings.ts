import "server-only";
// Budget alert settings per key or user: thresholds and a webhook (its address checked public when
// saved, its signing secret generated), cached for a few seconds, and the state the evaluation and
// delivery share in this process. The whole feature is described in budget-alerts.ts.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { getDb } from "../../db/index.ts";
import { writeAudit } from "../../db/audit.ts";
import { loadEnv } from "../../kernel/env.ts";
import { AppError } from "../../kernel/errors.ts";
import { checkOutboundUrl, OutboundPolicy, OutboundRefusedError, webhookPolicy } from "../../kernel/outbound.ts";
import { isAdminActor, type Actor } from "../../access/identity.ts";
import { getUser } from "../../access/user-lookup.ts";
import type { AlertDelivery } from "./budget-alert-delivery.ts";

export const DEFAULT_THRESHOLDS: readonly number[] = [50, 80, 100];
export const SIGNATURE_HEADER = "x-model-service-signature";
export const DELIVERY_HEADER = "x-model-service-delivery";
export const EVENT_HEADER = "x-model-service-event";
export const ALERT_EVENT = "budget.threshold_reached";

export type AlertSubjectKind = "api_key" | "user";
export type AlertSubject = { kind: AlertSubjectKind; id: string };

/** Percentages of the budget, 1 to 1000, at most 10; stored sorted and without repeats. */
export const thresholdsSchema = z
  .array(
    z
      .number({ error: "a whole percentage" })
      .int({ error: "a whole percentage" })
      .min(1, { error: "at least 1 (%)" })
      .max(1000, { error: "at most 1000 (%)" }),
  )
  .max(10, { error: "at most 10 thresholds" })
  .transform((list) => [...new Set(list)].sort((a, b) => a - b));

/** A webhook: http or https only. */
export const webhookUrlSchema = z
  .string()
  .trim()
  .max(2000, { error: "at most 2000 characters" })
  .pipe(z.url({ protocol: /^https?$/, error: "an http(s) URL such as https://example.com/hooks/budget" }));

export const alertSettingsPatchSchema = z
  .object({
    /** null or []: the defaults (50, 80, 100). */
    thresholds: thresholdsSchema.nullable().optional(),
    /** Users only; null removes it. */
    webhookUrl: webhookUrlSchema.nullable().optional(),
    /** A new signing secret (shown once in the answer). */
    rotateSecret: z.boolean().optional(),
  })
  .strict();
export type AlertSettingsPatch = z.input<typeof alertSettingsPatchSchema>;

export type AlertSettingsView = {
  subject: AlertSubject;
  thresholds: number[];
  usesDefaultThresholds: boolean;
  webhookUrl: string | null;
  hasWebhookSecret: boolean;
  globalWebhook: boolean;
};

type SettingsRow = { thresholds: number[]; webhookUrl: string | null; webhookSecret: string | null };

// ---------------------------------------------------------------------------------------------
// Settings

const SETTINGS_CACHE_MS = 5_000;
type CachedSettings = { row: SettingsRow | null; at: number };
type State = {
  settings: Map<string, CachedSettings>;
  /** (subject, period, threshold) known to be in the table: no insert is tried again. */
  fired: Set<string>;
  pending: Map<string, AlertSubject>;
  /** Subjects whose budget refused a call since their last evaluation: used up (see noteRefused). */
  exhausted: Set<string>;
  evaluating?: Promise<void>;
  unsubscribe?: () => void;
  delivery?: AlertDelivery;
};
const g = globalThis as unknown as { __modelServiceBudgetAlerts?: State };
export const state: State = (g.__modelServiceBudgetAlerts ??= {
  settings: new Map(),
  fired: new Set(),
  pending: new Map(),
  exhausted: new Set(),
});

export const subjectKey = (s: AlertSubject) => `${s.kind}:${s.id}`;

export async function readSettings(subject: AlertSubject): Promise<SettingsRow | null> {
  const hit = state.settings.get(subjectKey(subject));
  if (hit && performance.now() - hit.at < SETTINGS_CACHE_MS) return hit.row;
  const row = await (
    await getDb()
  ).budgetAlertSetting.findUnique({
    where: { subjectKind_subjectId: { subjectKind: subject.kind, subjectId: subject.id } },
    select: { thresholds: true, webhookUrl: true, webhookSecret: true },
  });
  if (state.settings.size > 50_000) state.settings.clear();
  state.settings.set(subjectKey(subject), { row, at: performance.now() });
  return row;
}

/** Who may read and change a subject's alert settings: an admin, or the owning user (not with a user's API key). */
async function authorise(actor: Actor, subject: AlertSubject): Promise<{ ownerUserId: string | null }> {
  if (actor.kind === "apiKey" && actor.role !== "admin") {
    throw new AppError(
      "forbidden",
      "Manage budget alerts from the dashboard, with a platform JWT or with an admin key, not with a user key",
    );
  }
  const admin = isAdminActor(actor);
  const me = actor.kind === "cli" ? null : actor.userId;
  if (subject.kind === "user") {
    const user = await getUser(subject.id);
    if (!user || (!admin && user.id !== me)) throw new AppError("not_found", `No user ${subject.id}`);
    return { ownerUserId: user.id };
  }
  const key = await (await getDb()).apiKey.findUnique({ where: { id: subject.id }, select: { id: true, userId: true } });
  if (!key || (!admin && (key.userId === null || key.userId !== me))) throw new AppError("not_found", `No API key ${subject.id}`);
  return { ownerUserId: key.userId };
}

function toView(subject: AlertSubject, row: SettingsRow | null): AlertSettingsView {
  const custom = row?.thresholds.length ? row.thresholds : null;
  return {
    subject,
    thresholds: custom ?? [...DEFAULT_THRESHOLDS],
    usesDefaultThresholds: custom === null,
    webhookUrl: row?.webhookUrl ?? null,
    hasWebhookSecret: Boolean(row?.webhookSecret),
    globalWebhook: Boolean(loadEnv().BUDGET_ALERT_WEBHOOK_URL),
  };
}

export async function getAlertSettings(actor: Actor, subject: AlertSubject): Promise<AlertSettingsView> {
  await authorise(actor, subject);
  state.settings.delete(subjectKey(subject));
  return toView(subject, await readSettings(subject));
}

/** 400 unless a user's webhook resolves only to addresses webhooks may reach. */
async function assertWebhookReachable(url: string): Promise<void> {
  try {
    await checkOutboundUrl(url, userWebhookPolicy());
  } catch (err) {
    if (!(err instanceof OutboundRefusedError)) throw err;
    throw new AppError("invalid_request", `Invalid webhookUrl: must reach only public addresses, but ${err.message}`, {
      field: "webhookUrl",
    });
  }
}

/** Where users' webhooks may go: public addresses and WEBHOOK_ALLOW_PRIVATE. */
export function userWebhookPolicy(): OutboundPolicy {
  return webhookPolicy(loadEnv().WEBHOOK_ALLOW_PRIVATE);
}

/** BUDGET_ALERT_WEBHOOK_URL is the operator's own configuration, not a user's: any address but cloud metadata. */
export const OPERATOR_POLICY = new OutboundPolicy(["0.0.0.0/0", "::/0"], "");

function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString("base64url")}`;
}

/**
 * Changes a key's or user's thresholds, or a user's webhook. Setting a webhook for the first time
 * (or `rotateSecret`) generates its signing secret, returned here once and never again.
 */
export async function updateAlertSettings(
  actor: Actor,
  subject: AlertSubject,
  raw: AlertSettingsPatch,
): Promise<{ settings: AlertSettingsView; webhookSecret: string | null }> {
  const parsed = alertSettingsPatchSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = issue.path.join(".") || "input";
    throw new AppError("invalid_request", `Invalid ${name}: must be ${issue.message}`, { field: name });
  }
  const patch = parsed.data;
  await authorise(actor, subject);
  if (subject.kind === "api_key" && (patch.webhookUrl !== undefined || patch.rotateSecret)) {
    throw new AppError(
      "invalid_request",
      "A webhook belongs to a user: a key's alerts go to its owner's webhook (and BUDGET_ALERT_WEBHOOK_URL)",
      { field: "webhookUrl" },
    );
  }
  if (typeof patch.webhookUrl === "string") await assertWebhookReachable(patch.webhookUrl);
  const db = await getDb();
  const where = { subjectKind_subjectId: { subjectKind: subject.kind, subjectId: subject.id } };
  const current = await db.budgetAlertSetting.findUnique({ where });
  const webhookUrl = patch.webhookUrl === undefined ? (current?.webhookUrl ?? null) : patch.webhookUrl;
  let secret: string | null = null;
  if (webhookUrl && (patch.rotateSecret || !current?.webhookSecret)) secret = generateWebhookSecret();
  const data = {
    thresholds: patch.thresholds === undefined ? (current?.thresholds ?? []) : (patch.thresholds ?? []),
    webhookUrl,
    webhookSecret: webhookUrl ? (secret ?? current?.webhookSecret ?? null) : null,
  };
  const row = await db.$transaction(async (tx) => {
    const saved = await tx.budgetAlertSetting.upsert({
      where,
      create: { subjectKind: subject.kind, subjectId: subject.id, ...data },
      update: data,
    });
    // Never the signing secret itself: whether there is one, and whether this change issued a new one.
    const shown = (s: typeof current) => s && { thresholds: s.thresholds, webhookUrl: s.webhookUrl, signed: s.webhookSecret !== null };
    await writeAudit(tx, {
      actor,
      action: "budget_alerts.update",
      target: { kind: "budget_alert_settings", id: `${subject.kind}:${subject.id}` },
      before: shown(current),
      after: { ...shown(saved), newSigningSecretIssued: secret !== null },
    });
    return saved;
  });
  state.settings.delete(subjectKey(subject));
  return { settings: toView(subject, row), webhookSecret: secret };
}
