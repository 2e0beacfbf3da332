// Budget alerts through the real server: many concurrent POST /v1/llm/generate calls (Anthropic
// served by the emulator) spend a user's monthly budget; each threshold (50, 80, 100 %) reaches the
// user's webhook and the global one exactly once, signed. (Each call reserves its largest cost
// before it runs, so the spend stops short of the budget by less than one call's reservation: 100 %
// is reached when the budget refuses a call, the moment it is used up.) With TEST_DATABASE_URL the calls are
// spread over two server instances sharing one PostgreSQL database, so the "exactly once" holds
// across instances too; on the embedded database, one instance.
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { openDatabase } from "@/server/db/index.ts";
import { hashApiKey } from "@/server/access/key-lookup.ts";
import { startProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { createScratchPostgres, testDatabaseUrl } from "@/tests/support/db.ts";
import { startServerProcess, type ServerProcess } from "@/tests/support/server-process.ts";

const dataDirs: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
});

const KEY = "ms_budget_alert_test_key_0123456789ab";
const USER_SECRET = "whsec_user-secret-for-the-server-test";
const GLOBAL_SECRET = "global-secret-for-the-server-test-0123";

it("fires each threshold once, to both webhooks, under concurrent requests (across instances on PostgreSQL)", async () => {
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      received.push({ path: req.url ?? "/", headers: req.headers, body });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise((resolve) => receiver.close(resolve)));
  const hooks = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  const emulator = await startProviderEmulator();
  cleanups.push(() => emulator.close());

  // One database: a scratch PostgreSQL one (two instances) or an embedded one (one instance).
  const pgServer = testDatabaseUrl();
  const scratch = pgServer ? await createScratchPostgres() : undefined;
  if (scratch) cleanups.push(() => scratch.drop());
  const instances = scratch ? 2 : 1;
  const dirs = Array.from({ length: instances }, () => mkdtempSync(path.join(tmpdir(), "model-service-alerts-server-")));
  dataDirs.push(...dirs);

  const setup = await openDatabase(scratch ? { databaseUrl: scratch.url, dataDir: "" } : { dataDir: dirs[0]! });
  try {
    // A $0.0004 monthly budget: claude-3-haiku calls here cost about $0.00001 each.
    const user = await setup.prisma.user.create({ data: { email: "alerts@example.com", monthlyBudgetUsd: "0.0004" } });
    await setup.prisma.apiKey.create({
      data: { name: "alerts", prefix: KEY.slice(0, 10), keyHash: hashApiKey(KEY), scopes: ["generate"], userId: user.id },
    });
    await setup.prisma.budgetAlertSetting.create({
      data: { subjectKind: "user", subjectId: user.id, thresholds: [50, 80, 100], webhookUrl: `${hooks}/user`, webhookSecret: USER_SECRET },
    });
  } finally {
    await setup.close();
  }

  const servers: ServerProcess[] = [];
  for (const dir of dirs) {
    const server = await startServerProcess({
      DATA_DIR: dir,
      DATABASE_URL: scratch?.url ?? "",
      REDIS_URL: "",
      RATE_LIMITS: '{"generate":"off","tier:standard":"off"}',
      OPENAI_API_KEY: "",
      ANTHROPIC_API_KEY: emulator.anthropicKey!,
      ANTHROPIC_BASE_URL: emulator.anthropicBaseUrl,
      BUDGET_ALERT_WEBHOOK_URL: `${hooks}/global`,
      BUDGET_ALERT_WEBHOOK_SECRET: GLOBAL_SECRET,
      // The receiver listens on this machine: users' webhooks may reach only public addresses unless allowed.
      WEBHOOK_ALLOW_PRIVATE: "127.0.0.1/32",
    });
    servers.push(server);
    cleanups.push(() => server.stop());
  }

  // 80 calls, 16 at a time, round-robin over the instances, until the budget refuses them (402).
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < 80) {
        const i = next++;
        const res = await fetch(`${servers[i % servers.length]!.url}/v1/llm/generate`, {
          method: "POST",
          headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
          body: JSON.stringify({
            model: "claude-3-haiku",
            max_tokens: 20,
            messages: [{ role: "user", content: `call number ${i} with a few words` }],
          }),
        });
        statuses.push(res.status);
        await res.arrayBuffer();
        // Let the writers flush now and then, so thresholds are crossed in separate batches too.
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 1_200));
      }
    }),
  );
  // Calls in flight hold the budget's last part: then one at a time until it refuses one.
  for (let i = 80; i < 200; i++) {
    const res = await fetch(`${servers[i % servers.length]!.url}/v1/llm/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "claude-3-haiku",
        max_tokens: 20,
        messages: [{ role: "user", content: `call number ${i} with a few words` }],
      }),
    });
    statuses.push(res.status);
    await res.arrayBuffer();
    if (res.status === 402) break;
    await new Promise((r) => setTimeout(r, 20)); // its settle reaches the ledger
  }
  expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(20);
  expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);

  const deadline = Date.now() + 30_000;
  while (received.length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // Time for any duplicate to show up (flushes run every second).
  await new Promise((r) => setTimeout(r, 3_000));

  const sign = (body: string, secret: string) => `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
  const thresholds = (p: string) =>
    received
      .filter((r) => r.path === p)
      .map((r) => (JSON.parse(r.body) as { threshold_percent: number }).threshold_percent)
      .sort((a, b) => a - b);
  expect(thresholds("/user")).toEqual([50, 80, 100]);
  expect(thresholds("/global")).toEqual([50, 80, 100]);
  for (const r of received) {
    expect(r.headers["x-model-service-signature"]).toBe(sign(r.body, r.path === "/user" ? USER_SECRET : GLOBAL_SECRET));
    expect(JSON.parse(r.body)).toMatchObject({ type: "budget.threshold_reached", scope: "user", budget_usd: "0.0004" });
  }
}, 180_000);
