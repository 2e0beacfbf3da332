// Signs in through the login page as the user scripts/e2e.mjs created, and saves the session
// cookie for the specs (playwright.config.ts: the "setup" project).
import { expect, test as setup } from "@playwright/test";

setup("sign in as the e2e user", async ({ page }) => {
  const email = process.env.E2E_USER_EMAIL;
  const password = process.env.E2E_USER_PASSWORD;
  if (!email || !password) throw new Error("E2E_USER_EMAIL and E2E_USER_PASSWORD are set by `npm run test:e2e` (scripts/e2e.mjs)");
  await page.goto("/");
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  await page.context().storageState({ path: "e2e/.auth/signed-in.json" });
});
