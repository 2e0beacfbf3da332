// Dashboard sign-in and API keys in the browser: signing in and out, pages behind the login, and
// a key's life: created on the keys page (shown once), used against the API, revoked.
import { expect, test } from "@playwright/test";

const email = process.env.E2E_USER_EMAIL ?? "";
const password = process.env.E2E_USER_PASSWORD ?? "";

test.describe("signed out", () => {
  test.use({ storageState: { cookies: [], origins: [] } });

  test("a page needs a session: it sends you to /login and back after signing in", async ({ page }) => {
    await page.goto("/keys");
    await expect(page).toHaveURL(/\/login\?callbackUrl=%2Fkeys$/);
    await expect(page).toHaveTitle("Sign in · Model Service");
    await expect(page.getByRole("navigation", { name: "Main" })).toHaveCount(0);

    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("alert").filter({ hasText: "Wrong email or password" })).toBeVisible();
    await expect(page).toHaveURL(/\/login/);

    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL("/keys");
    await expect(page.getByRole("heading", { level: 1, name: "API keys" })).toBeVisible();
    const menu = page.getByTestId("user-menu");
    await expect(menu).toContainText(email);
    await expect(menu).toContainText("admin");

    await menu.getByRole("button", { name: "Sign out", exact: true }).click();
    await expect(page).toHaveURL(/\/login/);
    await page.goto("/");
    await expect(page).toHaveURL(/\/login$/);
  });

  test("signing out ends that session: a copy of its cookie no longer works", async ({ page, playwright }) => {
    await page.goto("/login");
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
    const menu = page.getByTestId("user-menu");
    await expect(menu.getByRole("button", { name: "Sign out everywhere" })).toBeVisible();
    const cookies = (await page.context().cookies()).filter((c) => c.name.startsWith("authjs.session-token"));
    expect(cookies.length).toBeGreaterThan(0);
    const copied = cookies.map((c) => `${c.name}=${c.value}`).join("; ");
    const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
    expect((await api.get("/v1/auth/whoami", { headers: { cookie: copied } })).status()).toBe(200);

    await menu.getByRole("button", { name: "Sign out", exact: true }).click();
    await expect(page).toHaveURL(/\/login/);
    const after = await api.get("/v1/auth/whoami", { headers: { cookie: copied } });
    expect(after.status()).toBe(401);
    await api.dispose();
  });

  test("the sign-in page sends you only to paths of this site (a tab in the callback does not leave it)", async ({ page }) => {
    await page.goto(`/login?callbackUrl=${encodeURIComponent("/\t/evil.example/x")}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
    expect(new URL(page.url()).origin).toBe(new URL(test.info().project.use.baseURL!).origin);
    // Signed in, the page redirects at once: still to this site.
    await page.goto(`/login?callbackUrl=${encodeURIComponent("/\t/evil.example/x")}`);
    await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
    expect(new URL(page.url()).origin).toBe(new URL(test.info().project.use.baseURL!).origin);
  });

  test("the setup page is closed once an account exists, and the APIs answer 401 without a credential", async ({ page, request }) => {
    await page.goto("/setup");
    await expect(page).toHaveURL(/\/login$/);
    const res = await request.get("/v1/auth/whoami");
    expect(res.status()).toBe(401);
    expect((await res.json()) as unknown).toMatchObject({ error: { code: "unauthorized" } });
  });
});

test("create a key (shown once), use it, revoke it", async ({ page, playwright }) => {
  const name = `e2e-${Date.now()}`;
  await page.goto("/keys");
  const form = page.getByRole("form", { name: "Create an API key" });
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Tier").selectOption("premium");
  await form.getByRole("button", { name: "Create key" }).click();

  const shown = page.getByTestId("new-key");
  await expect(shown).toContainText(`Copy the key for “${name}” now`);
  const key = (await shown.locator("code").textContent())?.trim() ?? "";
  expect(key).toMatch(/^ms_[0-9A-Za-z]{32}$/);
  const row = page.getByTestId("key-row").filter({ hasText: name });
  await expect(row).toContainText(key.slice(0, 11));
  await expect(row).toContainText("premium");

  // Shown once: after a reload only the prefix is left.
  await page.reload();
  await expect(page.getByTestId("new-key")).toHaveCount(0);
  expect(await page.content()).not.toContain(key);
  await expect(page.getByTestId("key-row").filter({ hasText: name })).toContainText(key.slice(0, 11));

  // Use it from a client with no session: the key alone authenticates.
  const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
  const used = await api.get("/v1/auth/whoami", { headers: { authorization: `Bearer ${key}` } });
  expect(used.status()).toBe(200);
  expect(used.headers()["x-ratelimit-limit"]).toBeTruthy();
  expect(await used.json()).toMatchObject({ kind: "apiKey", tier: "premium" });

  // Revoke it on the page (a second click confirms).
  const again = page.getByTestId("key-row").filter({ hasText: name });
  await again.getByRole("button", { name: "Revoke" }).click();
  await again.getByRole("button", { name: "Confirm revoke" }).click();
  await expect(page.getByTestId("key-row").filter({ hasText: name })).toHaveCount(0);

  const refused = await api.get("/v1/auth/whoami", { headers: { "x-api-key": key } });
  expect(refused.status()).toBe(401);
  expect(await refused.json()).toMatchObject({ error: { code: "unauthorized" } });
  await api.dispose();
});
