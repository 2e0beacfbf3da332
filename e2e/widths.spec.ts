// Nothing is cut off at the widths people use (#20 item 1): at 1280×800 and 1440×900 no page's
// tables, cards or panels are wider than their box (a table that scrolls sideways hides columns and
// actions), no text in the content column is cut off with an ellipsis (a card's "2.23 s / …"), and
// the page itself never scrolls sideways; the same holds with a model's edit form and a key's
// rotate confirmation open. Runs after the other specs (files run in name order, and this one sorts
// last), so the pages hold what they made: usage, requests, keys, audit events. A screenshot of
// each page at each width is written to test-results/pages/.
import { expect, test, type Page } from "@playwright/test";

const PAGES = [
  "/",
  "/requests",
  "/playground",
  "/models",
  "/keys",
  "/vectors",
  "/api-reference",
  "/providers",
  "/users",
  "/audit",
] as const;
const SIZES = [
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
] as const;

/** What overflows its box or is cut off on the page as it is now. */
function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const describe = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.getAttribute("aria-label") ? `[${el.getAttribute("aria-label")}]` : ""}${
        el.getAttribute("data-testid") ? `[data-testid=${el.getAttribute("data-testid")}]` : ""
      }.${[...el.classList].join(".")}`;
    const boxes = document.querySelectorAll(".table-wrap, .card, .panel, table, pre, main.content article, main.content section");
    for (const el of boxes) {
      const box = el as HTMLElement;
      // A code block may scroll (long commands); everything else must fit.
      if (box.tagName === "PRE") continue;
      if (box.scrollWidth > box.clientWidth + 1) out.push(`${describe(el)}: ${box.scrollWidth} > ${box.clientWidth}`);
    }
    // Text cut off with an ellipsis hides a figure or a name.
    for (const el of document.querySelectorAll("main.content *")) {
      const box = el as HTMLElement;
      if (getComputedStyle(box).textOverflow === "ellipsis" && box.scrollWidth > box.clientWidth + 1)
        out.push(`${describe(el)} cut off: "${box.textContent?.slice(0, 40)}"`);
    }
    if (document.documentElement.scrollWidth > window.innerWidth)
      out.push(`the page: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
    return out;
  });
}

for (const size of SIZES) {
  test(`no page overflows at ${size.width}×${size.height}`, async ({ page }) => {
    test.setTimeout(90_000);
    await page.setViewportSize(size);
    const problems: string[] = [];
    for (const path of PAGES) {
      await page.goto(path);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await page.waitForLoadState("networkidle");
      problems.push(...(await overflowing(page)).map((o) => `${path}: ${o}`));
      await page.screenshot({
        path: `test-results/pages/${size.width}${path === "/" ? "-usage" : path.replaceAll("/", "-")}.png`,
        fullPage: true,
      });
    }

    // A model's edit form open in its row.
    await page.goto("/models");
    await page
      .getByRole("row")
      .filter({ has: page.getByRole("button", { name: "Edit" }) })
      .first()
      .getByRole("button", { name: "Edit" })
      .click();
    await expect(page.getByRole("form", { name: /^Edit / })).toBeVisible();
    problems.push(...(await overflowing(page)).map((o) => `/models, editing: ${o}`));

    // A key's rotate confirmation, which names the key and keeps its buttons in view.
    await page.goto("/keys");
    const row = page
      .getByTestId("key-row")
      .filter({ has: page.getByRole("button", { name: "Rotate" }) })
      .first();
    await row.scrollIntoViewIfNeeded();
    await row.getByRole("button", { name: "Rotate" }).click();
    await expect(row.getByRole("button", { name: "Confirm rotate" })).toBeInViewport();
    await expect(row.getByRole("button", { name: "Cancel" })).toBeInViewport();
    await expect(row).toContainText(/Rotate “.+”\?/);
    problems.push(...(await overflowing(page)).map((o) => `/keys, confirming: ${o}`));
    await row.getByRole("button", { name: "Cancel" }).click();

    expect(problems).toEqual([]);
  });
}
