// An admin changes an Anthropic model's price on the models page: a call made afterwards costs the
// new price, a call made before keeps the cost it was charged (recent requests on the usage page),
// and the models page shows the range's usage of the model. The e2e server's Anthropic provider is
// the emulator (scripts/e2e.mjs); the signed-in admin's session calls the REST API too.
import { expect, test, type APIRequestContext } from "@playwright/test";

const MODEL = "claude-3-5-haiku-20241022";

type Generated = { usage: { prompt_tokens: number; completion_tokens: number }; cost: { total_cost: number } };

async function generate(request: APIRequestContext, prompt: string): Promise<Generated> {
  const response = await request.post("/v1/llm/generate", { data: { model: MODEL, messages: [{ role: "user", content: prompt }] } });
  expect(response.status(), await response.text()).toBe(200);
  return (await response.json()) as Generated;
}

/** Picodollars as the exact decimal string the service shows (formatUsd). */
function usd(pico: bigint): string {
  const whole = pico / 1_000_000_000_000n;
  const frac = (pico % 1_000_000_000_000n).toString().padStart(12, "0").replace(/0+$/, "");
  return frac ? `${whole}.${frac}` : `${whole}`;
}

/** A call's exact cost at prices in µUSD per 1M tokens: one token at 1 µUSD per 1M costs 1 picodollar. */
function costAt(g: Generated, inputMicros: bigint, outputMicros: bigint): bigint {
  return BigInt(g.usage.prompt_tokens) * inputMicros + BigInt(g.usage.completion_tokens) * outputMicros;
}

test("a new price holds from now on; the earlier call keeps its cost", async ({ page }) => {
  // Before: the catalogue's $0.80 in / $4 out per 1M tokens.
  const before = await generate(page.request, "one two three four five before the change");
  const oldCost = costAt(before, 800_000n, 4_000_000n);
  expect(before.cost.total_cost).toBeCloseTo(Number(usd(oldCost)), 12);

  await page.goto("/models");
  const row = page.locator(`tr[data-model="${MODEL}"]`);
  await expect(row).toContainText("$0.80");
  await row.getByRole("button", { name: "Edit" }).click();
  const form = page.getByRole("form", { name: `Edit ${MODEL}` });
  await form.getByLabel("Input", { exact: true }).fill("8");
  await form.getByLabel("Output", { exact: true }).fill("40");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  await expect(row).toContainText("$8.00");
  await expect(row).toContainText("$0.008 / 1K");
  await expect(row).toContainText("$40.00");

  const after = await generate(page.request, "six seven eight nine after the change");
  const newCost = costAt(after, 8_000_000n, 40_000_000n);
  expect(after.cost.total_cost).toBeCloseTo(Number(usd(newCost)), 12);

  // The usage page's recent requests: the new call at the new price, the earlier one unchanged.
  await expect
    .poll(
      async () => {
        await page.goto("/");
        // The recent requests load after the page: wait for the table before reading it.
        const table = page.getByRole("table", { name: "Recent requests" });
        await table.waitFor({ timeout: 10_000 }).catch(() => {});
        const costs = table.locator("tbody tr").filter({ hasText: MODEL }).locator("td[title]");
        return costs.evaluateAll((tds) => tds.map((td) => td.getAttribute("title")));
      },
      { timeout: 40_000, intervals: [500, 1000] },
    )
    .toEqual([usd(newCost), usd(oldCost)]);

  // The models page shows the model's usage over the range: both calls, their summed cost.
  await page.goto("/models");
  const usage = page.locator(`tr[data-model="${MODEL}"]`).getByTestId("model-usage");
  await expect(usage).toContainText("2 requests");
  await expect(usage.locator("span[title]")).toHaveAttribute("title", usd(newCost + oldCost));
});
