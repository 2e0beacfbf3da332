// Sign-in limits in the browser, through Next's server action: a guesser's wrong passwords lock
// the account for that client only, while the owner on another client signs in with the right
// password. The e2e server runs with TRUST_PROXY=1, so each "client" here is told apart by the
// X-Forwarded-For its requests carry, as a proxy in front would write it; that the lean host's
// stamp reaches next-auth through the server action is what this checks. The account is made
// with the CLI against the e2e server's database (E2E_DATA_DIR), so other specs' sign-ins are
// not affected.
import { cli } from "./support/cli";
import { expect, test, type Browser, type Page } from "@playwright/test";

test.use({ storageState: { cookies: [], origins: [] } });

const EMAIL = `limits-e2e-${Date.now()}@example.com`;
const PASSWORD = `limits-e2e-${Math.random().toString(36).slice(2)}`;

/** A browser of its own whose requests come "from" `address`. */
async function clientAt(browser: Browser, address: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: test.info().project.use.baseURL, extraHTTPHeaders: { "x-forwarded-for": address } });
  return context.newPage();
}

async function trySignIn(page: Page, password: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

test("a guesser locks the account for themselves, not for the owner signing in elsewhere", async ({ browser }) => {
  test.setTimeout(120_000);
  await cli(["users", "create", "--email", EMAIL, "--password", PASSWORD]);

  const guesser = await clientAt(browser, "203.0.113.50");
  for (let i = 0; i < 10; i++) {
    await trySignIn(guesser, `wrong-guess-${i}`);
    await expect(guesser.getByRole("alert").filter({ hasText: "Wrong email or password" })).toBeVisible();
  }
  // Now even the right password is refused to the guesser...
  await trySignIn(guesser, PASSWORD);
  await expect(guesser.getByRole("alert").filter({ hasText: "Wrong email or password, or too many attempts" })).toBeVisible();
  await expect(guesser).toHaveURL(/\/login/);

  // ...while the owner, on a client that has not failed, signs in.
  const owner = await clientAt(browser, "203.0.113.51");
  await trySignIn(owner, PASSWORD);
  await expect(owner.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  await expect(owner.getByTestId("user-menu")).toContainText(EMAIL);
  await guesser.context().close();
  await owner.context().close();
});
