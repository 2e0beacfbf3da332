// The dashboard shell: navigation, the empty states, the version badge, /health and the 404 page.
// Runs signed in (the "setup" project in playwright.config.ts logs in first; e2e/auth.setup.ts).
import { expect, test } from "@playwright/test";

const PAGES = [
  // The usage page shows its empty state only until the first call (other specs make calls first);
  // e2e/usage.spec.ts tests it as a new user.
  { nav: "Usage", path: "/", heading: "Usage", empty: "", hint: "" },
  // The requests list (e2e/usage.spec.ts's calls may be in it).
  { nav: "Requests", path: "/requests", heading: "Requests", empty: "", hint: "" },
  // The playground shows its model picker (e2e/playground.spec.ts tests it).
  { nav: "Playground", path: "/playground", heading: "Playground", empty: "", hint: "" },
  { nav: "Keys", path: "/keys", heading: "API keys", empty: "No API keys yet", hint: "npm run cli -- keys create" },
  { nav: "Vectors", path: "/vectors", heading: "Vectors", empty: "No collections yet", hint: "/v1/vector/collections" },
] as const;

test("the home page loads", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle("Model Service");
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  expect(errors).toEqual([]);
});

test("the navigation reaches every page, each with its heading and empty state", async ({ page }) => {
  await page.goto("/");
  const nav = page.getByRole("navigation", { name: "Main" });
  for (const p of PAGES) {
    const link = nav.getByRole("link", { name: p.nav, exact: true });
    await link.click();
    await expect(page).toHaveURL(p.path);
    await expect(page.getByRole("heading", { level: 1, name: p.heading })).toBeVisible();
    if (p.empty) {
      const empty = page.getByTestId("empty-state");
      await expect(empty.getByRole("heading", { level: 2, name: p.empty })).toBeVisible();
      await expect(empty).toContainText(p.hint);
    }
    await expect(link).toHaveAttribute("aria-current", "page");
    await expect(nav.locator('[aria-current="page"]')).toHaveCount(1);
  }
});

test("each page also loads directly", async ({ request }) => {
  for (const p of PAGES) {
    const response = await request.get(p.path);
    expect(response.status(), p.path).toBe(200);
    expect(await response.text(), p.path).toContain(p.empty || p.heading);
  }
});

test("the version badge shows the version and the database kind", async ({ page, request }) => {
  const health = await request.get("/health");
  const report = (await health.json()) as { version: string; dependencies: { database: { backend: string } } };
  const label = report.dependencies.database.backend === "pglite" ? /^PGlite/ : /^PostgreSQL$/;

  await page.goto("/keys");
  const badge = page.getByTestId("system-badge");
  await expect(badge).toHaveAttribute("data-state", "ok");
  await expect(badge).toContainText(`v${report.version}`);
  await expect(badge.getByTestId("database-kind")).toHaveText(label);
});

test("/health answers 200 with the database ok", async ({ request }) => {
  const response = await request.get("/health");
  expect(response.status()).toBe(200);
  const body = (await response.json()) as { status: string; dependencies: { database: { status: string } } };
  expect(body.status).toBe("ok");
  expect(body.dependencies.database.status).toBe("ok");
});

test("an unknown page shows the not-found page", async ({ page }) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1, name: "Page not found" })).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Main" })).toBeVisible();
  await page.getByRole("link", { name: "Back to Usage" }).click();
  await expect(page).toHaveURL("/");
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
});
