// Budget alerts end to end: on the keys page, set your webhook (a local node:http server of this
// test; its signing secret is shown once) and create a key with a tiny monthly budget; spend it
// with calls through the API (Anthropic is the emulator) until the budget refuses one (402: each
// call reserves its largest cost first); the webhook receives the 50, 80 and 100 % alerts, signed
// with that secret, and the usage page shows them in its alerts banner.
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "@playwright/test";

test("a key's budget alerts reach the webhook signed and show on the dashboard", async ({ page, playwright }, testInfo) => {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString("utf8")));
    req.on("end", () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/budget`;
    const name = `alerts-e2e-${Date.now()}`;

    await page.goto("/keys");
    // Wait for the page to hydrate (the badge asks the server once it runs in the browser): a value
    // typed before that is reset by hydration, and the form would then save an empty webhook.
    await expect(page.getByTestId("system-badge")).toHaveAttribute("data-state", "ok");
    const settings = page.getByRole("form", { name: "Budget alert settings" });
    // Only http(s) webhooks.
    await settings.getByLabel("Webhook URL (http or https)").fill("ftp://example.com/hook");
    await expect(settings.getByLabel("Webhook URL (http or https)")).toHaveValue("ftp://example.com/hook");
    await settings.getByRole("button", { name: "Save alert settings" }).click();
    await expect(settings.getByRole("alert")).toContainText("http(s) URL");
    await settings.getByLabel("Webhook URL (http or https)").fill(hook);
    await settings.getByRole("button", { name: "Save alert settings" }).click();
    const secret = (await page.getByTestId("webhook-secret").locator("code").textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);

    const create = page.getByRole("form", { name: "Create an API key" });
    await create.getByLabel("Name").fill(name);
    await create.getByLabel("Budget (USD per period, optional)").fill("0.00004");
    await create.getByRole("button", { name: "Create key" }).click();
    const key = (await page.getByTestId("new-key").locator("code").textContent())!.trim();
    expect(key).toMatch(/^ms_/);

    // A call reserves about $0.00003 (its prompt and 20 output tokens at claude-3-haiku's prices)
    // and costs about $0.0000085: two fit in $0.00004, then the budget refuses the next.
    const api = await playwright.request.newContext({ baseURL: testInfo.project.use.baseURL, storageState: { cookies: [], origins: [] } });
    const statuses: number[] = [];
    for (let i = 0; i < 10 && !statuses.includes(402); i++) {
      const response = await api.post("/v1/llm/generate", {
        headers: { authorization: `Bearer ${key}` },
        data: { model: "claude-3-haiku", max_tokens: 20, messages: [{ role: "user", content: "spend the budget please" }] },
      });
      expect([200, 402], await response.text()).toContain(response.status());
      statuses.push(response.status());
    }
    expect(statuses[0]).toBe(200);
    expect(statuses.at(-1)).toBe(402);
    await api.dispose();

    await expect.poll(() => received.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    const bodies = received.map((r) => JSON.parse(r.body) as { scope: string; threshold_percent: number; api_key: { name: string } });
    expect(bodies.map((b) => b.threshold_percent).sort((a, b) => a - b)).toEqual([50, 80, 100]);
    expect(bodies.every((b) => b.scope === "api_key" && b.api_key.name === name)).toBe(true);
    for (const r of received) {
      expect(r.headers["x-model-service-signature"]).toBe(`sha256=${createHmac("sha256", secret).update(r.body).digest("hex")}`);
    }

    await page.goto("/");
    const banner = page.getByTestId("budget-alerts");
    await expect(banner).toContainText(`API key “${name}” reached 100% of its $0.00004 monthly budget`);
    await expect(banner).toContainText(`API key “${name}” reached 50%`);

    // Revoke the key, so the specs after this one find the keys page as they left it.
    await page.goto("/keys");
    await expect(page.getByTestId("system-badge")).toHaveAttribute("data-state", "ok");
    const row = page.getByTestId("key-row").filter({ hasText: name });
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("button", { name: "Confirm revoke" }).click();
    await expect(page.getByTestId("key-row").filter({ hasText: name })).toHaveCount(0);
  } finally {
    await new Promise((resolve) => receiver.close(resolve));
  }
});
