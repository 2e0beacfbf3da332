// The admin Users page (#20 item 4): create an account, change its role and budget, disable it (it
// can no longer sign in) and enable it again, with no CLI; the admin cannot disable themselves.
import { expect, test } from "@playwright/test";

test("an admin creates, changes and disables a user from the Users page", async ({ page, browser }) => {
  const email = `user-${Date.now()}@example.com`;
  const password = `pw-${Math.random().toString(36).slice(2)}-users`;
  await page.goto("/");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Users", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Users" })).toBeVisible();

  const form = page.getByRole("form", { name: "Create a user" });
  await form.getByLabel("Email").fill(email);
  await form.getByLabel(/^Initial password/).fill(password);
  await form.getByLabel("Budget (USD per period, optional)").fill("12.5");
  await form.getByRole("button", { name: "Create user" }).click();
  await expect(form.getByRole("status")).toContainText(`Created ${email}`);

  const row = page.getByTestId("user-row").filter({ hasText: email });
  await expect(row.getByLabel(`Role of ${email}`)).toHaveValue("user");
  await expect(row.getByLabel(`Budget of ${email} (USD per month)`)).toHaveValue("12.5");
  await row.getByLabel(`Role of ${email}`).selectOption("admin");
  await expect(row.getByLabel(`Role of ${email}`)).toHaveValue("admin");
  await row.getByLabel(`Role of ${email}`).selectOption("user");
  await row.getByLabel(`Budget of ${email} (USD per month)`).fill("30");
  // Saved before the reload (the reload would otherwise cut the request short).
  await Promise.all([
    // The budget's own update: the role changes above answer users.update too, and may come back later.
    page.waitForResponse((r) => r.url().includes("users.update") && r.ok() && (r.request().postData() ?? "").includes("monthlyBudgetUsd")),
    row.getByRole("button", { name: "Save" }).click(),
  ]);
  await page.reload();
  await expect(page.getByTestId("user-row").filter({ hasText: email }).getByLabel(`Budget of ${email} (USD per month)`)).toHaveValue("30");

  // The admin's own row offers no way to lock themselves out.
  const own = page.getByTestId("user-row").filter({ has: page.locator(".pill", { hasText: "you" }) });
  await expect(own.getByRole("button", { name: "Disable" })).toHaveCount(0);
  await expect(own.getByRole("combobox")).toBeDisabled();

  // Disabled, the account cannot sign in; enabled again, it can.
  const signIn = async () => {
    const context = await browser.newContext({ storageState: { cookies: [], origins: [] } });
    const p = await context.newPage();
    await p.goto("/login");
    await p.getByLabel("Email").fill(email);
    await p.getByLabel("Password").fill(password);
    await p.getByRole("button", { name: "Sign in" }).click();
    const ok = await p
      .getByRole("heading", { level: 1, name: "Usage" })
      .waitFor({ timeout: 10_000 })
      .then(() => true)
      .catch(() => false);
    await context.close();
    return ok;
  };
  const current = page.getByTestId("user-row").filter({ hasText: email });
  await current.getByRole("button", { name: "Disable" }).click();
  await expect(current).toContainText("disabled");
  expect(await signIn()).toBe(false);
  await current.getByRole("button", { name: "Enable" }).click();
  await expect(current).toContainText("active");
  expect(await signIn()).toBe(true);
});
