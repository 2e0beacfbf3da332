// The Providers page (admins; the e2e user is one): every provider with where it is configured and
// its status; an admin adds an OpenAI-compatible provider pointing at the provider emulator that
// scripts/e2e.mjs runs, tests its connection (a real model list through the openai SDK), sees it
// listed as from the dashboard with only a masked tail of its key, and removes it.
import { expect, test } from "@playwright/test";

const emulatorUrl = process.env.E2E_EMULATOR_URL ?? "";
const emulatorKey = process.env.E2E_EMULATOR_OPENAI_KEY ?? "";

test("an admin adds an OpenAI-compatible provider, tests its connection, sees it with a masked key, and removes it", async ({ page }) => {
  if (!emulatorUrl || !emulatorKey)
    throw new Error("E2E_EMULATOR_URL and E2E_EMULATOR_OPENAI_KEY are set by `npm run test:e2e` (scripts/e2e.mjs)");
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  const link = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Providers", exact: true });
  await link.click();
  await expect(page).toHaveURL("/providers");
  await expect(link).toHaveAttribute("aria-current", "page");
  await expect(page.getByRole("heading", { level: 1, name: "Providers" })).toBeVisible();

  const table = page.getByRole("table", { name: "Providers" });
  // The e2e server's Anthropic is the emulator; OpenAI has no key.
  const anthropic = table.locator('tr[data-provider="anthropic"]');
  await expect(anthropic.getByTestId("provider-source")).toHaveText("environment");
  await expect(anthropic.getByTestId("provider-status")).toHaveText("Available");
  const openai = table.locator('tr[data-provider="openai"]');
  await expect(openai.getByTestId("provider-status")).toContainText("OPENAI_API_KEY is not set");
  await openai.getByRole("button", { name: "Test connection to openai" }).click();
  await expect(openai.getByTestId("connection-result")).toHaveAttribute("data-ok", "false");
  await expect(openai.getByTestId("connection-result")).toContainText("OPENAI_API_KEY is not set");

  await page.getByRole("button", { name: "Add a provider" }).click();
  const form = page.getByRole("form", { name: "Add a provider" });
  await form.getByLabel("Id", { exact: true }).fill("e2e-compat");
  await expect(form.getByLabel("Provider type")).toHaveValue("openai-compatible");
  await form.getByLabel("Display name (optional)").fill("E2E emulator");
  await form.getByLabel("Base URL").fill(`${emulatorUrl}/v1`);
  await form.getByLabel("API key (optional)").fill(emulatorKey);
  await form.getByRole("button", { name: "Add provider" }).click();
  await expect(form).toBeHidden();

  const row = table.locator('tr[data-provider="e2e-compat"]');
  await expect(row).toContainText("E2E emulator");
  await expect(row).toContainText("OpenAI-compatible server");
  await expect(row.getByTestId("provider-source")).toContainText("dashboard");
  await expect(row.getByTestId("provider-key")).toHaveText(`key …${emulatorKey.slice(-4)}`);
  await expect(row.getByTestId("provider-status")).toHaveText("Available");
  await expect(row.getByTestId("provider-last-error")).toHaveText("none");
  // The key itself is nowhere on the page once saved.
  await expect(page.locator("body")).not.toContainText(emulatorKey);

  await row.getByRole("button", { name: "Test connection to e2e-compat" }).click();
  const result = row.getByTestId("connection-result");
  await expect(result).toHaveAttribute("data-ok", "true");
  await expect(result).toHaveText(/^ok · \d+ ms$/);

  // Editing keeps the stored key unless a new one is typed (the field shows only its tail).
  await row.getByRole("button", { name: "Edit e2e-compat" }).click();
  const edit = page.getByRole("form", { name: "Edit provider e2e-compat" });
  await expect(edit.getByLabel("API key (optional)")).toHaveValue("");
  await expect(edit.getByLabel("API key (optional)")).toHaveAttribute("placeholder", `unchanged (…${emulatorKey.slice(-4)})`);
  await expect(edit.getByLabel("Base URL")).toHaveValue(`${emulatorUrl}/v1`);
  await edit.getByRole("button", { name: "Cancel" }).click();

  await row.getByRole("button", { name: "Remove e2e-compat" }).click();
  await row.getByRole("button", { name: "Confirm removing e2e-compat" }).click();
  await expect(row).toHaveCount(0);
  await page.reload();
  await expect(table.locator('tr[data-provider="e2e-compat"]')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("the models page names the provider that serves each model", async ({ page }) => {
  await page.goto("/models");
  const claude = page.getByRole("table", { name: "Models" }).locator('tr[data-model="claude-3-sonnet-20240229"]');
  await expect(claude.getByTestId("model-provider")).toHaveText("Anthropic anthropic");
  const azure = page.getByRole("table", { name: "Models" }).locator('tr[data-model="azure/gpt-4o"]');
  await expect(azure.getByTestId("model-provider")).toHaveText("Azure OpenAI azure-openai");
});
