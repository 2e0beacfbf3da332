// Nothing is cut off at the widths people use (#20 item 1): at 1280×800 and 1440×900 no page's
// tables, cards or panels are wider than their box (a table that scrolls sideways hides columns and
// actions), and the page itself never scrolls sideways. Runs after the other specs (files run in
// name order, and this one sorts last), so the pages hold what they made: usage, requests, keys,
// audit events. A screenshot of each page at each width is written to test-results/pages/.
import { expect, test } from "@playwright/test";

const PAGES = ["/", "/requests", "/playground", "/models", "/keys", "/vectors", "/api-reference", "/providers", "/audit"] as const;
const SIZES = [
  { width: 1280, height: 800 },
  { width: 1440, height: 900 },
] as const;

for (const size of SIZES) {
  test(`no page overflows at ${size.width}×${size.height}`, async ({ page }) => {
    await page.setViewportSize(size);
    const problems: string[] = [];
    for (const path of PAGES) {
      await page.goto(path);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
      await page.waitForLoadState("networkidle");
      const overflowing = await page.evaluate(() => {
        const out: string[] = [];
        const describe = (el: Element) =>
          `${el.tagName.toLowerCase()}${el.getAttribute("aria-label") ? `[${el.getAttribute("aria-label")}]` : ""}.${[...el.classList].join(".")}`;
        for (const el of document.querySelectorAll(".table-wrap, .card, .panel, table, pre")) {
          const box = el as HTMLElement;
          // A code block may scroll (long commands); everything else must fit.
          if (box.tagName === "PRE") continue;
          if (box.scrollWidth > box.clientWidth + 1) out.push(`${describe(el)}: ${box.scrollWidth} > ${box.clientWidth}`);
        }
        if (document.documentElement.scrollWidth > window.innerWidth)
          out.push(`the page: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
        return out;
      });
      problems.push(...overflowing.map((o) => `${path}: ${o}`));
      await page.screenshot({
        path: `test-results/pages/${size.width}${path === "/" ? "-usage" : path.replaceAll("/", "-")}.png`,
        fullPage: true,
      });
    }
    expect(problems).toEqual([]);
  });
}
