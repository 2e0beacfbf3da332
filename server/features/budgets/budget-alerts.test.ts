// Budget alerts: thresholds of a key's and a user's monthly budget fire once per period, after the
// usage writer's flush; webhooks are received on a local node:http server, their HMAC-SHA256
// signatures checked, a 500 retried with backoff, and pending deliveries survive a "restart".
import { createHmac, timingSafeEqual } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../../kernel/env.ts";
import { OutboundRefusedError, setOutboundResolverForTests } from "../../kernel/outbound.ts";
import { testDatabases } from "../../../tests/support/db.ts";
import { useServiceDatabase } from "../../../tests/support/service-db.ts";
import { AppError } from "../../kernel/errors.ts";
import {
  budgetAlertsIdle,
  clearBudgetAlertCachesForTests,
  evaluateBudgetAlerts,
  getAlertSettings,
  listBudgetAlerts,
  SIGNATURE_HEADER,
  startBudgetAlerts,
  stopBudgetAlerts,
  updateAlertSettings,
  type AlertDelivery,
} from "./budget-alerts.ts";
import { CLI_ACTOR, type AuthenticatedIdentity } from "../../access/identity.ts";
import { createApiKey } from "../accounts/keys.ts";
import { usageWriter } from "../usage/usage.ts";
import { createUser } from "../accounts/users.ts";
import { recordTestCall } from "../../../tests/support/usage-events.ts";

const GLOBAL_SECRET = "global-secret-for-the-test-0123456789";

type Received = { path: string; headers: IncomingHttpHeaders; body: string; at: number };
const received: Received[] = [];
/** Per path: how many requests still get a 500 before it answers 200. */
const failFirst = new Map<string, number>();
let receiver: Server;
let base = "";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-budget-alerts-"));
beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const p = req.url ?? "/";
      received.push({ path: p, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), at: Date.now() });
      const left = failFirst.get(p) ?? 0;
      if (left > 0) {
        failFirst.set(p, left - 1);
        res.writeHead(500).end("try again");
      } else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  Object.assign(process.env, {
    DATA_DIR: dataDir,
    LOG_LEVEL: "silent",
    BUDGET_ALERT_WEBHOOK_URL: `${base}/global`,
    BUDGET_ALERT_WEBHOOK_SECRET: GLOBAL_SECRET,
    // The receiver is on this machine: an admin's allowance, as a deployment with an internal receiver would set it.
    WEBHOOK_ALLOW_PRIVATE: "127.0.0.1/32",
  });
  delete process.env.REDIS_URL;
  resetEnvForTests();
  // No DNS here: names are answered by this table (the address checks around it are the real ones).
  setOutboundResolverForTests(async (host) => {
    const known: Record<string, string[]> = { "example.com": ["93.184.215.14"], "intranet.example.com": ["10.1.2.3"] };
    if (known[host]) return known[host];
    throw new OutboundRefusedError(`${host} does not resolve (ENOTFOUND)`);
  });
});

/** Runs `fn` with users' webhooks limited to public addresses (no WEBHOOK_ALLOW_PRIVATE). */
async function withoutPrivateAllowance<T>(fn: () => Promise<T>): Promise<T> {
  const saved = process.env.WEBHOOK_ALLOW_PRIVATE;
  delete process.env.WEBHOOK_ALLOW_PRIVATE;
  resetEnvForTests();
  try {
    return await fn();
  } finally {
    process.env.WEBHOOK_ALLOW_PRIVATE = saved;
    resetEnvForTests();
  }
}
afterAll(async () => {
  await stopBudgetAlerts();
  await usageWriter().stop();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  delete process.env.BUDGET_ALERT_WEBHOOK_URL;
  delete process.env.BUDGET_ALERT_WEBHOOK_SECRET;
  delete process.env.WEBHOOK_ALLOW_PRIVATE;
  resetEnvForTests();
  setOutboundResolverForTests(undefined);
  rmSync(dataDir, { recursive: true, force: true });
});

function verified(r: Received, secret: string): boolean {
  const header = String(r.headers[SIGNATURE_HEADER] ?? "");
  const expected = `sha256=${createHmac("sha256", secret).update(r.body).digest("hex")}`;
  return header.length === expected.length && timingSafeEqual(Buffer.from(header), Buffer.from(expected));
}

type Payload = {
  type: string;
  alert_id: string;
  scope: string;
  threshold_percent: number;
  budget_usd: string;
  spent_usd: string;
  period: string;
  api_key: { id: string } | null;
  user: { id: string } | null;
};
const payload = (r: Received) => JSON.parse(r.body) as Payload;

/** Queues one call's usage costing `usd`, as recordCall does. */
function spend(who: { apiKeyId: string | null; userId: string | null }, usd: string) {
  recordTestCall({ apiKeyId: who.apiKeyId, userId: who.userId, costUsd: usd });
}

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const sessionOf = (userId: string): AuthenticatedIdentity => ({
  kind: "session",
  userId,
  email: null,
  apiKeyId: null,
  role: "user",
  tier: "standard",
  scopes: [],
});

describe.each(testDatabases())("budget alerts on $kind", ({ kind }) => {
  const { db } = useServiceDatabase(kind);
  let delivery: AlertDelivery;
  beforeAll(() => {
    delivery = startBudgetAlerts({ baseDelayMs: 150, pollMs: 100 });
  });
  afterAll(async () => {
    await usageWriter().flush();
    await stopBudgetAlerts();
  });

  it("validates settings: http(s) webhooks only, whole-percent thresholds, webhooks on users only", async () => {
    const user = await createUser({ email: `validate-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    const me = sessionOf(user.id);
    for (const webhookUrl of ["ftp://example.com/hook", "javascript:alert(1)", "not a url"]) {
      await expect(updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl })).rejects.toMatchObject({
        code: "invalid_request",
        details: { field: "webhookUrl" },
      });
    }
    await expect(updateAlertSettings(me, { kind: "user", id: user.id }, { thresholds: [0] })).rejects.toMatchObject({
      code: "invalid_request",
    });
    await expect(updateAlertSettings(me, { kind: "user", id: user.id }, { thresholds: [12.5] })).rejects.toMatchObject({
      code: "invalid_request",
    });
    const other = await createUser({ email: `other-${kind}@example.com`, password: "a-long-password-1" });
    await expect(updateAlertSettings(sessionOf(other.id), { kind: "user", id: user.id }, { thresholds: [90] })).rejects.toMatchObject({
      code: "not_found",
    });
    const { apiKey } = await createApiKey(me, { name: "k" });
    await expect(
      updateAlertSettings(me, { kind: "api_key", id: apiKey.id }, { webhookUrl: "https://example.com/x" }),
    ).rejects.toMatchObject({ code: "invalid_request" });
    const set = await updateAlertSettings(me, { kind: "api_key", id: apiKey.id }, { thresholds: [90, 25, 90] });
    expect(set.settings).toMatchObject({ thresholds: [25, 90], usesDefaultThresholds: false });
    // The secret is generated with the first webhook, shown once, and never listed.
    const hooked = await updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl: "https://example.com/hooks/budget" });
    expect(hooked.webhookSecret).toMatch(/^whsec_/);
    expect(hooked.settings).toMatchObject({
      webhookUrl: "https://example.com/hooks/budget",
      hasWebhookSecret: true,
      thresholds: [50, 80, 100],
      usesDefaultThresholds: true,
    });
    expect(JSON.stringify(hooked.settings)).not.toContain(hooked.webhookSecret!);
    const again = await updateAlertSettings(me, { kind: "user", id: user.id }, { thresholds: [75] });
    expect(again.webhookSecret).toBeNull();
  });

  it("refuses a webhook to a loopback, private, link-local or metadata address when it is saved, with a 400 naming it", async () => {
    const user = await createUser({ email: `ssrf-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    const me = sessionOf(user.id);
    const refused: [string, RegExp][] = [
      ["http://127.0.0.1:6379/", /127\.0\.0\.1 is a loopback address/],
      ["http://[::1]:8003/v1", /::1 is a loopback address/],
      ["http://2130706433/", /127\.0\.0\.1 is a loopback address/],
      ["http://0x7f.1/", /127\.0\.0\.1 is a loopback address/],
      ["http://10.0.0.1/hook", /10\.0\.0\.1 is a private address/],
      ["http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254 is a cloud metadata address/],
      ["http://metadata.google.internal/computeMetadata/v1/", /metadata\.google\.internal is a cloud metadata host/],
      ["https://intranet.example.com/hook", /intranet\.example\.com resolves to 10\.1\.2\.3, which is a private address/],
      ["http://[fd00::1]/hook", /unique local/],
      ["http://[fe80::1]/hook", /link-local/],
      ["http://[::ffff:127.0.0.1]/hook", /loopback/],
    ];
    await withoutPrivateAllowance(async () => {
      for (const [webhookUrl, message] of refused) {
        const err = await updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl }).then(
          () => undefined,
          (e: unknown) => e as AppError,
        );
        expect(err, webhookUrl).toMatchObject({ code: "invalid_request", status: 400, details: { field: "webhookUrl" } });
        expect(err!.message, webhookUrl).toMatch(/^Invalid webhookUrl: must reach only public addresses, but /);
        expect(err!.message, webhookUrl).toMatch(message);
      }
      expect((await getAlertSettings(me, { kind: "user", id: user.id })).webhookUrl).toBeNull();
      // A public one is fine.
      await expect(
        updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl: "https://example.com/hooks/budget" }),
      ).resolves.toBeTruthy();
    });
    // With the admin's allowance, the allowed range is accepted; metadata never is.
    await expect(updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl: `${base}/allowed` })).resolves.toBeTruthy();
    await expect(updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl: "http://169.254.169.254/" })).rejects.toMatchObject({
      code: "invalid_request",
    });
  });

  it("refuses to deliver to a non-public address stored before the check; the user sees 'failed' and not the network error", async () => {
    const user = await createUser({ email: `stored-ssrf-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    const hook = `/stored-${kind}`;
    // As saved by an older version (or by hand): straight into the table, past the save-time check.
    await db().prisma.budgetAlertSetting.create({
      data: { subjectKind: "user", subjectId: user.id, webhookUrl: `${base}${hook}`, webhookSecret: "whsec_stored", thresholds: [50] },
    });
    clearBudgetAlertCachesForTests();
    await withoutPrivateAllowance(async () => {
      spend({ apiKeyId: null, userId: user.id }, "0.6");
      await usageWriter().flush();
      await budgetAlertsIdle();
      const toGlobal = () => received.filter((r) => r.path === "/global" && payload(r).user?.id === user.id).length;
      await until(() => toGlobal() === 1, "the global delivery");
      await delivery.idle();
      const [row] = await db().rawQuery<{ status: string; attempts: number; last_error: string }>(
        `select d.status, d.attempts, d.last_error from budget_alert_deliveries d join budget_alerts a on a.id = d.alert_id where a.user_id = $1 and d.target = 'user'`,
        [user.id],
      );
      // Refused at once, not retried: a policy refusal is not a passing failure.
      expect(row).toMatchObject({ status: "failed", attempts: 1 });
      expect(row!.last_error).toMatch(/^refused: 127\.0\.0\.1 is a loopback address/);
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(received.filter((r) => r.path === hook)).toEqual([]);
    const mine = await listBudgetAlerts(sessionOf(user.id), { currentPeriodOnly: true });
    expect(mine[0]!.deliveries).toEqual([
      { target: "global", status: "delivered", attempts: 1, lastError: null },
      { target: "user", status: "failed", attempts: 1, lastError: null },
    ]);
    const asAdmin = (await listBudgetAlerts(CLI_ACTOR, { currentPeriodOnly: true })).find((a) => a.id === mine[0]!.id)!;
    expect(asAdmin.deliveries.find((d) => d.target === "user")!.lastError).toMatch(/loopback/);
  });

  it("shows users a failed delivery's status only; the error text is for admins", async () => {
    const user = await createUser({ email: `closed-port-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    // An allowed address with nothing listening: the error (connection refused) is what told open ports from closed ones.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await updateAlertSettings(
      sessionOf(user.id),
      { kind: "user", id: user.id },
      { webhookUrl: `http://127.0.0.1:${closedPort}/x`, thresholds: [50] },
    );
    spend({ apiKeyId: null, userId: user.id }, "0.6");
    await usageWriter().flush();
    await budgetAlertsIdle();
    const lastError = async () =>
      (
        await db().rawQuery<{ last_error: string | null }>(
          `select d.last_error from budget_alert_deliveries d join budget_alerts a on a.id = d.alert_id where a.user_id = $1 and d.target = 'user'`,
          [user.id],
        )
      )[0]?.last_error ?? null;
    const deadline = Date.now() + 10_000;
    while ((await lastError()) === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await lastError()).toMatch(/ECONNREFUSED|connect/i);
    const [alert] = await listBudgetAlerts(sessionOf(user.id), { currentPeriodOnly: true });
    expect(alert!.deliveries.every((d) => d.lastError === null)).toBe(true);
    const asAdmin = (await listBudgetAlerts(CLI_ACTOR, { currentPeriodOnly: true })).find((a) => a.id === alert!.id)!;
    expect(asAdmin.deliveries.find((d) => d.target === "user")!.lastError).toMatch(/ECONNREFUSED|connect/i);
  });

  it("fires 50, 80 and 100 % exactly once each per period, signed, under many concurrent requests and evaluations", async () => {
    const user = await createUser({ email: `alerts-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    const me = sessionOf(user.id);
    const { webhookSecret } = await updateAlertSettings(me, { kind: "user", id: user.id }, { webhookUrl: `${base}/user-${kind}` });
    const { apiKey } = await createApiKey(CLI_ACTOR, { name: "alerts key", userEmail: user.email!, monthlyBudgetUsd: "10" });
    await updateAlertSettings(me, { kind: "api_key", id: apiKey.id }, { thresholds: [10] });
    const who = { apiKeyId: apiKey.id, userId: user.id };
    const before = received.length;

    // 60 calls of $0.02 ($1.20: past 50, 80 and 100 % of the user's $1, past 10 % of the key's $10),
    // flushed in many batches while other "instances" (no in-process memory of fired alerts)
    // evaluate the same subjects at the same time.
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      spend(who, "0.02");
      if (i % 4 === 0) work.push(usageWriter().flush());
      if (i % 10 === 0) {
        clearBudgetAlertCachesForTests();
        for (let j = 0; j < 3; j++)
          work.push(
            evaluateBudgetAlerts([
              { kind: "user", id: user.id },
              { kind: "api_key", id: apiKey.id },
            ]),
          );
      }
    }
    await Promise.all(work);
    await usageWriter().flush();
    await budgetAlertsIdle();
    clearBudgetAlertCachesForTests();
    await Promise.all(
      Array.from({ length: 5 }, () =>
        evaluateBudgetAlerts([
          { kind: "user", id: user.id },
          { kind: "api_key", id: apiKey.id },
        ]),
      ),
    );

    // The user's three thresholds and the key's one, each to the owner's webhook and the global one.
    await until(() => received.length - before >= 8, "8 deliveries");
    await delivery.idle();
    await new Promise((r) => setTimeout(r, 300));
    const mine = received
      .slice(before)
      .filter((r) => r.path === `/user-${kind}` || (r.path === "/global" && payload(r).user?.id === user.id));
    expect(mine).toHaveLength(8);
    const toUser = mine.filter((r) => r.path === `/user-${kind}`);
    const toGlobal = mine.filter((r) => r.path === "/global");
    for (const r of toUser) expect(verified(r, webhookSecret!)).toBe(true);
    for (const r of toGlobal) expect(verified(r, GLOBAL_SECRET)).toBe(true);
    expect(verified(toUser[0]!, GLOBAL_SECRET)).toBe(false);
    for (const list of [toUser, toGlobal]) {
      const fired = list.map((r) => `${payload(r).scope}:${payload(r).threshold_percent}`).sort();
      expect(fired).toEqual(["api_key:10", "user:100", "user:50", "user:80"]);
    }
    const hundred = payload(toUser.find((r) => payload(r).threshold_percent === 100)!);
    expect(hundred).toMatchObject({
      type: "budget.threshold_reached",
      scope: "user",
      budget_usd: "1",
      period: new Date().toISOString().slice(0, 7),
      user: { id: user.id },
    });
    expect(Number(hundred.spent_usd)).toBeGreaterThanOrEqual(1);
    expect(toUser[0]!.headers["x-model-service-delivery"]).toMatch(/:user$/);

    // More spending in the same period fires nothing new.
    const count = received.length;
    for (let i = 0; i < 10; i++) spend(who, "0.05");
    await usageWriter().flush();
    await budgetAlertsIdle();
    await delivery.idle();
    await new Promise((r) => setTimeout(r, 300));
    expect(received.length).toBe(count);

    // The dashboard's list: the user sees their own alerts and their key's.
    const alerts = await listBudgetAlerts(me, { currentPeriodOnly: true });
    expect(alerts.map((a) => `${a.scope}:${a.thresholdPercent}`).sort()).toEqual(["api_key:10", "user:100", "user:50", "user:80"]);
    expect(alerts.find((a) => a.scope === "api_key")).toMatchObject({ subjectName: "alerts key", budgetUsd: "10" });
    expect(alerts.every((a) => a.deliveries.every((d) => d.status === "delivered" && d.attempts === 1))).toBe(true);
    expect(
      await listBudgetAlerts(sessionOf((await createUser({ email: `nobody-${kind}@example.com`, password: "a-long-password-1" })).id)),
    ).toEqual([]);
    const rows = await db().rawQuery<{ n: number }>(`select count(*)::int as n from budget_alerts where user_id = $1`, [user.id]);
    expect(rows[0]!.n).toBe(4);
  });

  it("retries a delivery the receiver first answers with 500, with backoff, the same body and delivery id", async () => {
    const user = await createUser({ email: `flaky-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "0.1" });
    const me = sessionOf(user.id);
    const hook = `/flaky-${kind}`;
    failFirst.set(hook, 1);
    const { webhookSecret } = await updateAlertSettings(
      me,
      { kind: "user", id: user.id },
      { webhookUrl: `${base}${hook}`, thresholds: [100] },
    );
    spend({ apiKeyId: null, userId: user.id }, "0.1");
    await usageWriter().flush();
    await budgetAlertsIdle();
    await until(() => received.filter((r) => r.path === hook).length >= 2, "the retry");
    const attempts = received.filter((r) => r.path === hook);
    expect(attempts).toHaveLength(2);
    expect(attempts.map((r) => r.headers["x-model-service-attempt"])).toEqual(["1", "2"]);
    expect(attempts[1]!.headers["x-model-service-delivery"]).toBe(attempts[0]!.headers["x-model-service-delivery"]);
    expect(attempts[1]!.body).toBe(attempts[0]!.body);
    expect(attempts.every((r) => verified(r, webhookSecret!))).toBe(true);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(140);
    await delivery.idle();
    const [row] = await db().rawQuery<{ status: string; attempts: number; last_status: number }>(
      `select d.status, d.attempts, d.last_status from budget_alert_deliveries d join budget_alerts a on a.id = d.alert_id where a.user_id = $1 and d.target = 'user'`,
      [user.id],
    );
    expect(row).toEqual({ status: "delivered", attempts: 2, last_status: 204 });
  });

  it("keeps pending deliveries across a restart and sends each once", async () => {
    await stopBudgetAlerts();
    const user = await createUser({ email: `restart-${kind}@example.com`, password: "a-long-password-1", monthlyBudgetUsd: "1" });
    const hook = `/restart-${kind}`;
    await updateAlertSettings(sessionOf(user.id), { kind: "user", id: user.id }, { webhookUrl: `${base}${hook}`, thresholds: [50] });
    spend({ apiKeyId: null, userId: user.id }, "0.6");
    await usageWriter().flush();
    // No delivery is running (the process "stopped"): the alert and its deliveries wait in the table.
    const fired = await evaluateBudgetAlerts([{ kind: "user", id: user.id }]);
    expect(fired).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(received.filter((r) => r.path === hook)).toHaveLength(0);
    const pending = await db().rawQuery<{ n: number }>(
      `select count(*)::int as n from budget_alert_deliveries where alert_id = $1 and status = 'pending'`,
      [fired[0]!.id],
    );
    expect(pending[0]!.n).toBe(2);

    // "Restarted": a new delivery worker finds them.
    delivery = startBudgetAlerts({ baseDelayMs: 150, pollMs: 100 });
    await until(() => received.filter((r) => r.path === hook).length >= 1, "the delivery after the restart");
    await new Promise((r) => setTimeout(r, 400));
    await delivery.idle();
    expect(received.filter((r) => r.path === hook)).toHaveLength(1);
    const done = await db().rawQuery<{ n: number }>(
      `select count(*)::int as n from budget_alert_deliveries where alert_id = $1 and status = 'delivered'`,
      [fired[0]!.id],
    );
    expect(done[0]!.n).toBe(2);
  });
});
