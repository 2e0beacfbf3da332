// The usage home page, as a new (non-admin) user: first the empty state with how to make a first
// request; then, after `npm run cli -- seed-demo` wrote 30 days of demo usage for them, the cards,
// charts, filters, recent requests and a CSV export whose totals equal the cards to the last decimal.
// Runs the CLI against the e2e server's database (E2E_DATA_DIR, set by scripts/e2e.mjs).
import { cli } from "./support/cli";
import { readFile } from "node:fs/promises";
import { expect, test, type Page } from "@playwright/test";

const EMAIL = `usage-e2e-${Date.now()}@example.com`;
const PASSWORD = `usage-e2e-${Math.random().toString(36).slice(2)}`;

/** An exact decimal string as picodollars, so sums are exact. */
function pico(text: string): bigint {
  const [whole, frac = ""] = text.split(".");
  return BigInt(whole!) * 1_000_000_000_000n + BigInt(frac.padEnd(12, "0").slice(0, 12));
}

async function signIn(page: Page) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Usage" })).toBeVisible();
}

async function exportCsv(page: Page): Promise<string[][]> {
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  expect(download.suggestedFilename()).toMatch(/^usage-\d{4}-\d{2}-\d{2}-to-\d{4}-\d{2}-\d{2}\.csv$/);
  const text = await readFile((await download.path())!, "utf8");
  return text
    .trim()
    .split(/\r?\n/)
    .map((l) => l.split(","));
}

const exact = (page: Page, card: string) => page.getByTestId(card).getAttribute("data-exact");

test.describe.configure({ mode: "serial", timeout: 120_000 });
// This spec signs in as its own user rather than the e2e admin.
test.use({ storageState: { cookies: [], origins: [] } });

test.beforeAll(async () => {
  await cli(["users", "create", "--email", EMAIL, "--password", PASSWORD]);
});

test("a new user sees how to make a first request", async ({ page }) => {
  await signIn(page);
  const empty = page.getByTestId("empty-state");
  await expect(empty.getByRole("heading", { level: 2, name: "No requests yet" })).toBeVisible();
  await expect(empty).toContainText(`curl -X POST ${new URL(page.url()).origin}/v1/llm/generate`);
  // A browser user is pointed to the Keys page, not to a shell; demo data is an admin's button (e2e/usage-view.spec.ts).
  await expect(empty.getByRole("link", { name: "Keys page" })).toHaveAttribute("href", "/keys");
  await expect(empty).toContainText("An admin can fill this page with demo usage");
  await expect(empty.getByRole("button", { name: /demo data/ })).toHaveCount(0);
});

test("with demo data: cards, charts, filters, recent requests, and a CSV with the cards' totals", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  const out = await cli(["seed-demo", "--user", EMAIL, "--days", "30", "--per-day", "60"]);
  expect(out).toMatch(/Wrote \d+ of \d+ demo events/);
  await signIn(page);

  const dashboard = page.getByTestId("usage-dashboard");
  await expect(dashboard).toBeVisible();
  await expect(page.getByTestId("card-spend")).toContainText("$");
  const requests = Number(await exact(page, "card-requests"));
  const spend = (await exact(page, "card-spend"))!;
  expect(requests).toBeGreaterThan(100);
  expect(pico(spend)).toBeGreaterThan(0n);

  // The charts draw bars: a stacked bar per day and model, one bar per model.
  const costBars = page.getByTestId("chart-daily-cost").locator(".recharts-bar-rectangle");
  await expect.poll(() => costBars.count()).toBeGreaterThan(30);
  const modelBars = page.getByTestId("chart-requests-by-model").locator(".recharts-bar-rectangle");
  const models = await page.getByLabel("Model", { exact: true }).locator("option").count();
  await expect(modelBars).toHaveCount(models - 1);
  await expect(page.getByTestId("chart-tokens").locator(".recharts-bar-rectangle").first()).toBeVisible();
  await expect(page.getByTestId("chart-latency").locator(".recharts-line-curve").first()).toBeVisible();
  await expect(page.getByRole("table", { name: "Recent requests" }).locator("tbody tr")).toHaveCount(20);

  // The CSV of the range holds the same totals as the cards, exactly.
  const [header, ...rows] = await exportCsv(page);
  expect(header).toEqual([
    "date",
    "model",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cost_usd",
  ]);
  expect(rows.reduce((a, r) => a + Number(r[2]), 0)).toBe(requests);
  expect(rows.reduce((a, r) => a + pico(r[9]!), 0n)).toBe(pico(spend));
  expect(rows.reduce((a, r) => a + Number(r[8]), 0)).toBe(Number(await exact(page, "card-tokens")));

  // A filter changes the cards and the charts; the CSV follows it.
  await page.getByLabel("Model", { exact: true }).selectOption("gpt-4o-mini");
  await expect(page.getByTestId("card-requests")).not.toHaveAttribute("data-exact", String(requests));
  await expect(dashboard).toHaveAttribute("aria-busy", "false");
  const filtered = Number(await exact(page, "card-requests"));
  expect(filtered).toBeGreaterThan(0);
  expect(filtered).toBeLessThan(requests);
  await expect(modelBars).toHaveCount(1);
  const filteredRows = (await exportCsv(page)).slice(1);
  expect(new Set(filteredRows.map((r) => r[1]))).toEqual(new Set(["gpt-4o-mini"]));
  expect(filteredRows.reduce((a, r) => a + pico(r[9]!), 0n)).toBe(pico((await exact(page, "card-spend"))!));

  // A shorter range: fewer requests than 30 days.
  await page.getByLabel("Model", { exact: true }).selectOption("");
  await page.getByRole("button", { name: "7 days" }).click();
  await expect(dashboard).toHaveAttribute("aria-busy", "false");
  await expect.poll(async () => Number(await exact(page, "card-requests"))).toBeLessThan(requests);
  expect(errors).toEqual([]);
});

test("savings: what the caches saved, and cheaper models for the same traffic in a sortable table", async ({ page }) => {
  await signIn(page);
  const savings = page.getByTestId("usage-savings");
  await expect(savings.getByTestId("card-cache-savings")).toBeVisible();
  const saved = (await savings.getByTestId("card-cache-savings").getAttribute("data-exact"))!;
  expect(pico(saved)).toBeGreaterThan(0n); // the demo data has answers from the caches
  // The same sum as the REST endpoint (the session cookie is a credential there too).
  const rest = (await (await page.request.get("/v1/llm/savings")).json()) as { cache_saved_cost: number };
  expect(rest.cache_saved_cost).toBe(Number(saved));

  const table = savings.getByRole("table", { name: "Cheaper models for the same traffic" });
  const rows = table.locator("tbody tr");
  await expect.poll(() => rows.count()).toBeGreaterThan(1);
  const column = async (index: number) =>
    (
      await rows.evaluateAll((trs, i) => trs.map((tr) => tr.children[i]?.getAttribute("title") ?? tr.children[i]?.textContent ?? ""), index)
    ).filter((v) => v !== "—");
  const numbers = (values: string[]) => values.map((v) => Number(v.replace(/[$,%]/g, "")));
  const isSorted = (xs: number[], desc: boolean) => xs.every((x, i) => i === 0 || (desc ? xs[i - 1]! >= x : xs[i - 1]! <= x));

  // By saving, largest first, by default; a click on a header sorts by it, a second click reverses.
  expect(isSorted(numbers(await column(4)), true)).toBe(true);
  const bySavingPercent = table.getByRole("button", { name: /Saving %/ });
  const header = table.locator("th", { has: page.getByRole("button", { name: /Saving %/ }) });
  await bySavingPercent.click();
  await expect(header).toHaveAttribute("aria-sort", "descending");
  expect(isSorted(numbers(await column(5)), true)).toBe(true);
  await bySavingPercent.click();
  await expect(header).toHaveAttribute("aria-sort", "ascending");
  expect(isSorted(numbers(await column(5)), false)).toBe(true);
});
