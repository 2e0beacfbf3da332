import "server-only";
// Webhook delivery of budget alerts: leased rows, signed bodies, exponential backoff, public
// addresses only (kernel/outbound.ts), users see delivered/failed and admins the error.
import { createHmac } from "node:crypto";
import { getDatabase, getDb } from "../../db/index.ts";
import { loadEnv } from "../../kernel/env.ts";
import { getLogger } from "../../kernel/logger.ts";
import { OutboundRefusedError, outboundRequest } from "../../kernel/outbound.ts";
import { getUser } from "../../access/user-lookup.ts";
import { trimDecimal } from "../../../lib/money.ts";
import {
  ALERT_EVENT,
  type AlertSubjectKind,
  DELIVERY_HEADER,
  EVENT_HEADER,
  OPERATOR_POLICY,
  SIGNATURE_HEADER,
  userWebhookPolicy,
} from "./budget-alert-settings.ts";

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
