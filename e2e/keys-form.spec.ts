// The keys page (#20 item 4): a refused create keeps what was typed and names the refused field
// beside it; the tier list offers the tiers the user may choose; a revoked key stays listed apart,
// greyed, with when it was revoked.
import { expect, test } from "@playwright/test";

test("a refused key keeps the form and shows the error beside the field; a revoked key is listed apart", async ({ page }) => {
  const name = `form-${Date.now()}`;
  await page.goto("/keys");
  const form = page.getByRole("form", { name: "Create an API key" });
  // The e2e user is an admin: every tier.
  await expect(form.getByLabel("Tier").locator("option")).toHaveText(["basic", "standard", "premium"]);

  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Tier").selectOption("premium");
  await form.getByLabel(/^Allowed models/).fill("claude-3-haiku, no-such-model");
  await form.getByLabel("Requests / minute").fill("42");
  await form.getByRole("button", { name: "Create key" }).click();

  const error = form.getByTestId("field-error-models");
  await expect(error).toContainText('Unknown model "no-such-model"');
  await expect(form.getByLabel(/^Allowed models/)).toHaveAttribute("aria-invalid", "true");
  // Nothing typed was lost.
  await expect(form.getByLabel("Name")).toHaveValue(name);
  await expect(form.getByLabel("Tier")).toHaveValue("premium");
  await expect(form.getByLabel(/^Allowed models/)).toHaveValue("claude-3-haiku, no-such-model");
  await expect(form.getByLabel("Requests / minute")).toHaveValue("42");
  await expect(page.getByTestId("new-key")).toHaveCount(0);

  // Corrected, the key is made and the form is cleared.
  await form.getByLabel(/^Allowed models/).fill("claude-3-haiku");
  await form.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByTestId("new-key")).toContainText(`Copy the key for “${name}” now`);
  await expect(form.getByTestId("field-error-models")).toHaveCount(0);
  await expect(form.getByLabel("Name")).toHaveValue("");
  const row = page.getByTestId("key-row").filter({ hasText: name });
  await expect(row).toContainText("premium");
  await expect(row).toContainText("42 rpm");

  // Revoked: gone from the active keys, listed greyed among the revoked with when.
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText(`Revoke “${name}”?`);
  await row.getByRole("button", { name: "Confirm revoke" }).click();
  await expect(page.getByTestId("key-row").filter({ hasText: name })).toHaveCount(0);
  const revoked = page.getByRole("table", { name: "Revoked API keys" }).getByTestId("revoked-key-row").filter({ hasText: name });
  await expect(revoked).toHaveAttribute("data-revoked", "true");
  await expect(revoked.locator("td").nth(2)).toContainText(String(new Date().getFullYear()));
  await page.reload();
  await expect(page.getByTestId("revoked-key-row").filter({ hasText: name })).toBeVisible();
});
