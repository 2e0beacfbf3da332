// The keys page's limits editor and the Audit page, in the browser as the signed-in admin: a key's
// own limits (allowed models, requests and tokens per minute, requests in flight, budget and its
// period) are edited in place and hold at once (the key's model list shows only its models); a
// limit the service refuses shows its message; each change leaves exactly one audit row, which the
// Audit page finds by action and target and opens to a field-by-field diff.
import { expect, test } from "@playwright/test";

test("edit a key's limits in place, see them hold, and find the change in the audit log", async ({ page, playwright }) => {
  const name = `limits-${Date.now()}`;
  await page.goto("/keys");
  const form = page.getByRole("form", { name: "Create an API key" });
  await form.getByLabel("Name").fill(name);
  await form.getByRole("button", { name: "Create key" }).click();
  const shown = page.getByTestId("new-key");
  const key = (await shown.locator("code").textContent())?.trim() ?? "";
  expect(key).toMatch(/^ms_/);
  await shown.getByRole("button", { name: "Done" }).click();

  const row = page.getByTestId("key-row").filter({ hasText: name });
  const keyId = (await row.getAttribute("data-key-id")) ?? "";
  expect(keyId).not.toBe("");

  // A limit the service refuses: its message, and nothing changes.
  await row.getByRole("button", { name: "Limits" }).click();
  let editor = page.getByRole("form", { name: `Limits of ${name}` });
  await editor.getByLabel("Requests / minute").fill("0");
  await editor.getByRole("button", { name: "Save limits" }).click();
  await expect(editor.getByRole("alert")).toContainText("at least 1 request per minute");
  await editor.getByRole("button", { name: "Cancel" }).click();
  await expect(row).toContainText("no budget");
  await expect(row).toContainText("no other limits");

  // The real change.
  await row.getByRole("button", { name: "Limits" }).click();
  editor = page.getByRole("form", { name: `Limits of ${name}` });
  await editor.getByLabel("Budget (USD per period; empty: none)").fill("5");
  await editor.getByLabel("Budget period").selectOption("day");
  await editor.getByLabel("Allowed models (comma-separated; empty: all)").fill("claude-haiku-4-5");
  await editor.getByLabel("Requests / minute").fill("30");
  await editor.getByLabel("Tokens / minute").fill("5000");
  await editor.getByLabel("Max in flight").fill("2");
  await editor.getByRole("button", { name: "Save limits" }).click();
  await expect(editor).toHaveCount(0);
  await expect(row).toContainText("$5 / day");
  // The alias is stored as the catalogue id it names (claude-haiku-4-5-<date>).
  await expect(row).toContainText(/claude-haiku-4-5[\w-]*; 30 rpm; 5000 tpm; 2 in flight/);

  // They hold at once: the key's model list is its allow-list.
  const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
  const models = await api.get("/v1/models", { headers: { authorization: `Bearer ${key}` } });
  expect(models.status()).toBe(200);
  const ids = ((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id);
  expect(ids).toHaveLength(1);
  expect(ids[0]).toMatch(/^claude-haiku-4-5/);
  // Exactly one key.update row for the key (the refused change wrote none).
  const admin = await page.request.get(`/v1/admin/audit?action=key.update&target=${keyId}`);
  expect(((await admin.json()) as { events: unknown[] }).events).toHaveLength(1);
  await api.dispose();

  // The Audit page finds it by action and target, and shows what changed.
  await page.getByRole("link", { name: "Audit" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Audit log" })).toBeVisible();
  const filter = page.getByRole("form", { name: "Filter the audit log" });
  await filter.getByLabel("Action").fill("key.update");
  await filter.getByLabel("Target id").fill(keyId);
  await filter.getByRole("button", { name: "Filter" }).click();
  const rows = page.getByTestId("audit-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-action", "key.update");
  await rows.first().getByRole("button", { name: "Changes" }).click();
  const diff = page.getByRole("table", { name: /^Changes of event / });
  const rpm = diff.getByRole("row").filter({ has: page.locator("code", { hasText: /^rpmLimit$/ }) });
  await expect(rpm).toHaveAttribute("data-changed", "true");
  await expect(rpm.getByRole("cell").nth(1)).toHaveText("null");
  await expect(rpm.getByRole("cell").nth(2)).toHaveText("30");
  const models2 = diff.getByRole("row").filter({ has: page.locator("code", { hasText: /^allowedModels$/ }) });
  await expect(models2.getByRole("cell").nth(1)).toHaveText("[]");
  await expect(models2.getByRole("cell").nth(2)).toHaveText(`["${ids[0]}"]`);
  // An unchanged field is shown as such.
  await expect(diff.getByRole("row").filter({ has: page.locator("code", { hasText: /^name$/ }) })).toHaveAttribute("data-changed", "false");

  // The key's creation is its own one row; a family filter (key.*) lists both, newest first.
  await filter.getByLabel("Action").fill("key.*");
  await filter.getByRole("button", { name: "Filter" }).click();
  await expect(rows).toHaveCount(2);
  await expect(rows.nth(0)).toHaveAttribute("data-action", "key.update");
  await expect(rows.nth(1)).toHaveAttribute("data-action", "key.create");
  // A filter the service refuses says why.
  await filter.getByLabel("Action").fill("not an action!");
  await filter.getByRole("button", { name: "Filter" }).click();
  // (Next's route announcer is an alert too: the form's message is the one that says it.)
  await expect(page.getByRole("alert").filter({ hasText: "Invalid input" })).toContainText(
    "Invalid input: action: an action such as key.create or key.*",
  );

  // Revoke the key, so the specs after this one find the keys page as they left it (shell.spec's empty state).
  await page.goto("/keys");
  const own = page.getByTestId("key-row").filter({ hasText: name });
  await own.getByRole("button", { name: "Revoke" }).click();
  await own.getByRole("button", { name: "Confirm revoke" }).click();
  await expect(page.getByTestId("key-row").filter({ hasText: name })).toHaveCount(0);
});
