import "server-only";
// Budget alerts: when a key's or a user's month-to-date spend (UTC month, the same sum budgets.ts
// checks: daily roll-ups plus this process's queued events) reaches a threshold of its monthly
// budget (50, 80 and 100 % unless set otherwise per key or user), one alert fires for that
// threshold and period, shown on the dashboard and sent to webhooks.
//
// Where: after the usage writer has written a batch (its `onWritten` hook), for the keys and users
// in that batch — never on the request path. "Exactly once per threshold per period" holds across
// concurrent flushes and instances because an alert is a row with a unique (subject, period,
// threshold) key, inserted with ON CONFLICT DO NOTHING together with its delivery rows in one
// statement: only the statement that inserted the row creates deliveries.
//
// Deliveries are rows too (budget_alert_deliveries): an instance leases due rows (FOR UPDATE SKIP
// LOCKED, next_attempt_at moved past the lease), POSTs the signed JSON body, and marks them
// delivered, or schedules the next attempt with exponential backoff (failed after MAX_ATTEMPTS).
// A restart loses nothing: pending rows are picked up by the poller of any instance. A crash
// between the receiver's 2xx and the update repeats that one delivery once the lease ends, with
// the same `x-model-service-delivery` id, so receivers can drop repeats.
//
// A user's webhook may reach only public addresses (server/kernel/outbound.ts): checked when it is saved
// (a 400 naming the address) and again when each delivery connects, redirects not followed, each
// attempt within its deadline; WEBHOOK_ALLOW_PRIVATE lets an admin allow private ranges. A refused
// address fails the delivery at once. Users see whether a delivery was delivered or failed, never
// the network error (which would tell an open port from a closed one); admins see it.
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { getDatabase, getDb } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { AppError } from "../../kernel/errors.ts";
import { onShutdown } from "../../kernel/lifecycle.ts";
import { getLogger } from "../../kernel/logger.ts";
import {
  checkOutboundUrl,
  closeOutboundAgents,
  OutboundPolicy,
  OutboundRefusedError,
  outboundRequest,
  webhookPolicy,
} from "../../kernel/outbound.ts";
import { monthStart, monthToDateSpend, onBudgetRefused, type Budget } from "./budgets.ts";
import { isAdminActor, type Actor } from "../../access/identity.ts";
import { getApiKeyById } from "../../access/key-lookup.ts";
import { formatUsd, parseUsd, type Pico } from "../catalogue/index.ts";
import { onUsageWritten } from "../usage/index.ts";
import type { UsageEventInput } from "../usage/index.ts";
import { getUser } from "../../access/user-lookup.ts";
import { trimDecimal } from "../../../lib/money.ts";

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
const state: State = (g.__modelServiceBudgetAlerts ??= { settings: new Map(), fired: new Set(), pending: new Map(), exhausted: new Set() });

const subjectKey = (s: AlertSubject) => `${s.kind}:${s.id}`;

async function readSettings(subject: AlertSubject): Promise<SettingsRow | null> {
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
function userWebhookPolicy(): OutboundPolicy {
  return webhookPolicy(loadEnv().WEBHOOK_ALLOW_PRIVATE);
}

/** BUDGET_ALERT_WEBHOOK_URL is the operator's own configuration, not a user's: any address but cloud metadata. */
const OPERATOR_POLICY = new OutboundPolicy(["0.0.0.0/0", "::/0"], "");

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
  const row = await db.budgetAlertSetting.upsert({
    where,
    create: { subjectKind: subject.kind, subjectId: subject.id, ...data },
    update: data,
  });
  state.settings.delete(subjectKey(subject));
  return { settings: toView(subject, row), webhookSecret: secret };
}

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
function noteWritten(batch: readonly UsageEventInput[]): void {
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
function noteRefused(budget: Budget): void {
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
  const month = monthStart(now);
  for (const subject of subjects) {
    const owner = subject.kind === "api_key" ? await getApiKeyById(subject.id) : await getUser(subject.id);
    if (!owner?.monthlyBudgetUsd) continue;
    const budget = parseUsd(owner.monthlyBudgetUsd);
    const settings = await readSettings(subject);
    const thresholds = settings?.thresholds.length ? settings.thresholds : DEFAULT_THRESHOLDS;
    const spent: Pico = await monthToDateSpend({ kind: subject.kind === "api_key" ? "apiKey" : "user", id: subject.id }, now);
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
        period: month.day.slice(0, 7),
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

// ---------------------------------------------------------------------------------------------
// Webhook delivery

export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export type AlertDeliveryOptions = {
  /** First retry after this long; doubles each attempt. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Then the delivery is marked failed. */
  maxAttempts?: number;
  /** How long a claimed delivery is reserved for the instance sending it. */
  leaseMs?: number;
  /** How often due deliveries are looked for (retries of other instances, after a restart). */
  pollMs?: number;
  timeoutMs?: number;
};

type ClaimedRow = {
  id: string;
  alert_id: string;
  target: string;
  url: string;
  attempts: number;
  subject_kind: AlertSubjectKind;
  subject_id: string;
  period: Date | string;
  threshold_percent: number;
  budget_usd: string;
  spent_usd: string;
  user_id: string | null;
  created_at: Date;
};

const CLAIM_SQL = `
WITH claimed AS (
  UPDATE budget_alert_deliveries SET attempts = attempts + 1, next_attempt_at = now() + $1::int * interval '1 millisecond'
  WHERE id IN (
    SELECT id FROM budget_alert_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT 20 FOR UPDATE SKIP LOCKED
  )
  RETURNING id, alert_id, target, url, attempts
)
SELECT c.*, a.subject_kind, a.subject_id, a.period::text AS period, a.threshold_percent, a.budget_usd::text AS budget_usd,
  a.spent_usd::text AS spent_usd, a.user_id, a.created_at
FROM claimed c JOIN budget_alerts a ON a.id = c.alert_id`;

export class AlertDelivery {
  private readonly o: Required<AlertDeliveryOptions>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(options: AlertDeliveryOptions = {}) {
    this.o = {
      baseDelayMs: options.baseDelayMs ?? 5_000,
      maxDelayMs: options.maxDelayMs ?? 3_600_000,
      maxAttempts: options.maxAttempts ?? 10,
      leaseMs: options.leaseMs ?? 60_000,
      pollMs: options.pollMs ?? 10_000,
      timeoutMs: options.timeoutMs ?? 10_000,
    };
  }

  start(): void {
    this.stopped = false;
    this.timer ??= setInterval(() => this.poke(), this.o.pollMs);
    this.timer.unref();
    this.poke();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }

  /** Looks for due deliveries now (coalesced with a run in progress). */
  poke(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.runDue()
      .then(() => undefined)
      .catch((err: unknown) => getLogger().warn({ err }, "budget alert delivery failed to run; the poller tries again"))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.poke();
        }
      });
  }

  /** Waits until no run is in progress (tests). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Claims and sends every due delivery; returns how many were attempted. */
  async runDue(): Promise<number> {
    let attempted = 0;
    for (;;) {
      if (this.stopped) return attempted;
      const db = await getDatabase();
      const rows = await db.rawQuery<ClaimedRow>(CLAIM_SQL, [this.o.leaseMs]);
      if (rows.length === 0) return attempted;
      await Promise.all(rows.map((r) => this.deliver(r)));
      attempted += rows.length;
    }
  }

  private async deliver(row: ClaimedRow): Promise<void> {
    const log = getLogger().child({ component: "budget-alerts", delivery: row.id, target: row.target, attempt: row.attempts });
    let status: number | null = null;
    let error: string | null = null;
    let refused = false;
    try {
      const secret = await this.secretFor(row);
      const body = JSON.stringify(await payloadOf(row));
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": "model-service-budget-alerts",
        [EVENT_HEADER]: ALERT_EVENT,
        [DELIVERY_HEADER]: row.id,
        "x-model-service-attempt": String(row.attempts),
      };
      if (secret) headers[SIGNATURE_HEADER] = signBody(body, secret);
      // Redirects are not followed: a 3xx is an answer that is not a 2xx.
      const policy = row.target === "global" ? OPERATOR_POLICY : userWebhookPolicy();
      const response = await outboundRequest(row.url, { method: "POST", headers, body, timeoutMs: this.o.timeoutMs }, policy);
      status = response.status;
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (err) {
      refused = err instanceof OutboundRefusedError;
      error = refused
        ? `refused: ${(err as Error).message}`.slice(0, 500)
        : err instanceof Error
          ? `${err.name}: ${err.message}`.slice(0, 500)
          : "request failed";
    }
    const db = await getDatabase();
    if (error === null) {
      await db.rawQuery(
        `UPDATE budget_alert_deliveries SET status = 'delivered', delivered_at = now(), last_status = $2, last_error = NULL WHERE id = $1`,
        [row.id, status],
      );
      log.info({ status }, "budget alert delivered");
      return;
    }
    // An address the policy refuses is not a passing failure: no retries.
    if (refused || row.attempts >= this.o.maxAttempts) {
      await db.rawQuery(`UPDATE budget_alert_deliveries SET status = 'failed', last_status = $2, last_error = $3 WHERE id = $1`, [
        row.id,
        status,
        error,
      ]);
      log.warn({ status, error }, "budget alert delivery failed for good");
      return;
    }
    const delay = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** (row.attempts - 1));
    await db.rawQuery(
      `UPDATE budget_alert_deliveries SET next_attempt_at = now() + $2::int * interval '1 millisecond', last_status = $3, last_error = $4 WHERE id = $1`,
      [row.id, delay, status, error],
    );
    log.warn({ status, error, retryInMs: delay }, "budget alert delivery failed; will retry");
    setTimeout(() => this.poke(), delay + 10).unref();
  }

  private async secretFor(row: ClaimedRow): Promise<string | null> {
    if (row.target === "global") return loadEnv().BUDGET_ALERT_WEBHOOK_SECRET ?? null;
    if (!row.user_id) return null;
    const settings = await (
      await getDb()
    ).budgetAlertSetting.findUnique({
      where: { subjectKind_subjectId: { subjectKind: "user", subjectId: row.user_id } },
      select: { webhookSecret: true },
    });
    return settings?.webhookSecret ?? null;
  }
}

/** The webhook's JSON body. */
async function payloadOf(row: ClaimedRow) {
  const period = typeof row.period === "string" ? row.period.slice(0, 10) : row.period.toISOString().slice(0, 10);
  let apiKey: { id: string; name: string; prefix: string } | null = null;
  if (row.subject_kind === "api_key") {
    apiKey = await (await getDb()).apiKey.findUnique({ where: { id: row.subject_id }, select: { id: true, name: true, prefix: true } });
  }
  const user = row.user_id ? await getUser(row.user_id) : null;
  return {
    type: ALERT_EVENT,
    alert_id: row.alert_id,
    scope: row.subject_kind,
    api_key: apiKey ?? (row.subject_kind === "api_key" ? { id: row.subject_id, name: null, prefix: null } : null),
    user: user ? { id: user.id, email: user.email } : null,
    threshold_percent: row.threshold_percent,
    budget_usd: trimDecimal(row.budget_usd),
    spent_usd: trimDecimal(row.spent_usd),
    period: period.slice(0, 7),
    period_start: period,
    fired_at: new Date(row.created_at).toISOString(),
  };
}

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
  if (options.currentPeriodOnly) where.period = monthStart().date;
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

// ---------------------------------------------------------------------------------------------
// Process wiring

/**
 * Evaluates alerts after every written usage batch and delivers webhooks (polling for due
 * deliveries, so that retries and a restart's leftovers are sent). Called by the host at start;
 * idempotent. `options` are for tests (short backoff).
 */
export function startBudgetAlerts(options: AlertDeliveryOptions = {}): AlertDelivery {
  if (!state.unsubscribe) {
    const unwritten = onUsageWritten(noteWritten);
    const unrefused = onBudgetRefused(noteRefused);
    state.unsubscribe = () => (unwritten(), unrefused());
  }
  if (!state.delivery) {
    const delivery = new AlertDelivery(options);
    state.delivery = delivery;
    delivery.start();
    onShutdown("budget-alerts", () => stopBudgetAlerts());
  }
  return state.delivery;
}

export async function stopBudgetAlerts(): Promise<void> {
  state.unsubscribe?.();
  state.unsubscribe = undefined;
  const delivery = state.delivery;
  state.delivery = undefined;
  await budgetAlertsIdle();
  await delivery?.stop();
  await closeOutboundAgents();
}

/** Tests: forgets the in-process caches, as a second instance would start without them. */
export function clearBudgetAlertCachesForTests(): void {
  state.settings.clear();
  state.fired.clear();
}
