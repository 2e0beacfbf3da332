// The usage dashboard's view is kept in its URL, and its range is checked where it is typed (#20
// item 3): a link with a range, a status and a filter opens that view, a change rewrites the URL and
// survives a reload, an inverted range is refused beside the date fields while the last valid view
// stays on the page. Signs in as the e2e admin, whose dashboard holds the calls of the specs before
// this one. (The empty page's demo-data button is an admin's, and an admin sees everyone's usage, so
// it shows only on a database with no usage at all: tests/usage/demo-data.test.ts covers its procedure.)
import { expect, test, type Page } from "@playwright/test";

test.describe.configure({ timeout: 120_000 });

const query = (page: Page) => new URL(page.url()).searchParams;

test("a link opens the view it names, and each change is written back to the URL", async ({ page }) => {
  await page.goto("/?range=7&status=success");
  const dashboard = page.getByTestId("usage-dashboard");
  await expect(dashboard).toBeVisible();
  await expect(page.getByRole("button", { name: "7 days" })).toHaveAttribute("aria-pressed", "true");
  await expect(page.getByLabel("Status", { exact: true })).toHaveValue("success");
  const [start, end] = (await dashboard.getAttribute("data-range"))!.split("..");
  expect((Date.parse(end!) - Date.parse(start!)) / 86_400_000).toBe(6);

  await page.getByLabel("Status", { exact: true }).selectOption("error");
  await expect.poll(() => query(page).get("status")).toBe("error");
  await page.getByRole("button", { name: "90 days" }).click();
  await expect.poll(() => query(page).get("range")).toBe("90");
  await page.reload();
  await expect(page.getByLabel("Status", { exact: true })).toHaveValue("error");
  await expect(page.getByRole("button", { name: "90 days" })).toHaveAttribute("aria-pressed", "true");

  // Back to the default view: nothing left in the URL.
  await page.getByLabel("Status", { exact: true }).selectOption("");
  await page.getByRole("button", { name: "30 days" }).click();
  await expect.poll(() => page.url()).toMatch(/\/$/);
});

test("an inverted range is refused beside the date fields; the last valid view stays", async ({ page }) => {
  await page.goto("/");
  const dashboard = page.getByTestId("usage-dashboard");
  await expect(dashboard).toBeVisible();
  await page.getByRole("button", { name: "Custom" }).click();
  const filters = page.getByRole("search", { name: "Usage filters" });
  const from = filters.getByLabel("From", { exact: true });
  const to = filters.getByLabel("To", { exact: true });
  await to.fill("2026-11-10");
  await from.fill("2026-11-01");
  await expect.poll(() => query(page).get("from")).toBe("2026-11-01");
  await expect(dashboard).toHaveAttribute("data-range", "2026-11-01..2026-11-10");

  await from.fill("2026-11-20");
  const problem = page.getByTestId("usage-range-problem");
  await expect(problem).toContainText("“From” (2026-11-20) is after “To” (2026-11-10)");
  await expect(problem).toContainText("Still showing 2026-11-01 to 2026-11-10");
  await expect(from).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByTestId("usage-error")).toHaveCount(0);
  await expect(dashboard).toHaveAttribute("data-range", "2026-11-01..2026-11-10");
  expect(query(page).get("from")).toBe("2026-11-01");

  // Corrected, it is shown.
  await to.fill("2026-11-25");
  await expect(problem).toHaveCount(0);
  await expect(dashboard).toHaveAttribute("data-range", "2026-11-20..2026-11-25");

  // A link with an inverted range: the same inline refusal, not an error page.
  await page.goto("/?from=2026-11-30&to=2026-11-01");
  await expect(page.getByTestId("usage-range-problem")).toContainText("is after");
  await expect(page.getByTestId("usage-dashboard")).toBeVisible();
});
