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
//
// The parts: budget-alert-settings.ts, budget-alert-evaluation.ts, budget-alert-delivery.ts,
// budget-alert-list.ts; this file wires them into the process.
import { onShutdown } from "../../kernel/lifecycle.ts";
import { closeOutboundAgents } from "../../kernel/outbound.ts";
import { onBudgetRefused } from "./budgets.ts";
import { onUsageWritten } from "../usage/index.ts";
import { state } from "./budget-alert-settings.ts";
import { budgetAlertsIdle, noteRefused, noteWritten } from "./budget-alert-evaluation.ts";
import { AlertDelivery, type AlertDeliveryOptions } from "./budget-alert-delivery.ts";
export {
  DEFAULT_THRESHOLDS,
  SIGNATURE_HEADER,
  DELIVERY_HEADER,
  EVENT_HEADER,
  ALERT_EVENT,
  type AlertSubjectKind,
  type AlertSubject,
  thresholdsSchema,
  webhookUrlSchema,
  alertSettingsPatchSchema,
  type AlertSettingsPatch,
  type AlertSettingsView,
  getAlertSettings,
  updateAlertSettings,
} from "./budget-alert-settings.ts";
export { type FiredAlert, budgetAlertsIdle, evaluateBudgetAlerts } from "./budget-alert-evaluation.ts";
export { signBody, type AlertDeliveryOptions, AlertDelivery } from "./budget-alert-delivery.ts";
export { type BudgetAlertView, listBudgetAlerts } from "./budget-alert-list.ts";

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
