// The dashboard shell: navigation, the empty states, the version badge, /health and the 404 page.
import { expect, test } from "@playwright/test";

const PAGES = [
  { nav: "Usage", path: "/", heading: "Usage", empty: "No requests yet", hint: "/v1/llm/generate" },
  { nav: "Playground", path: "/playground", heading: "Playground", empty: "No provider to try yet", hint: "OPENAI_API_KEY" },
  { nav: "Models", path: "/models", heading: "Models", empty: "No models listed yet", hint: "/v1/models" },
  { nav: "Keys", path: "/keys", heading: "API keys", empty: "No API keys yet", hint: "npm run cli -- keys create" },
  { nav: "Vectors", path: "/vectors", heading: "Vectors", empty: "No collections yet", hint: "/v1/vector/collections" },
] as const;

test("the home page loads with the usage empty state", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await expect(page).toHaveTitle("Model Service");
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
  const empty = page.getByTestId("empty-state");
  await expect(empty).toContainText("No requests yet");
  // The copy-paste command names the address the page was served from (after hydration).
  await expect(empty).toContainText(`curl -X POST ${new URL(page.url()).origin}/v1/llm/generate`);
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
    const empty = page.getByTestId("empty-state");
    await expect(empty.getByRole("heading", { level: 2, name: p.empty })).toBeVisible();
    await expect(empty).toContainText(p.hint);
    await expect(link).toHaveAttribute("aria-current", "page");
    await expect(nav.locator('[aria-current="page"]')).toHaveCount(1);
  }
});

test("each page also loads directly", async ({ request }) => {
  for (const p of PAGES) {
    const response = await request.get(p.path);
    expect(response.status(), p.path).toBe(200);
    expect(await response.text(), p.path).toContain(p.empty);
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
