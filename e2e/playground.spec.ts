// The playground: a streamed answer appears token by token, with tokens, cost and latency after
// the run; a model whose provider is not configured shows why. The e2e server's Anthropic provider
// is the wire-level emulator (scripts/e2e.mjs); OpenAI has no key there.
import { expect, test } from "@playwright/test";

test("streams an answer token by token, then shows tokens, cost and latency", async ({ page }) => {
  await page.goto("/playground");
  await page.getByTestId("model-picker").selectOption("claude-3-haiku-20240307");
  await expect(page.getByTestId("unavailable-reason")).toHaveCount(0);
  await page.getByLabel("System prompt").fill("");
  // The emulator answers "You said: <words>", one word per chunk, 150 ms apart.
  await page.getByTestId("prompt").fill("alpha beta gamma delta epsilon zeta [[emulator chunk_delay=150]]");
  await page.getByRole("button", { name: "Run" }).click();

  const output = page.getByTestId("output");
  const seen = new Set<string>();
  await expect
    .poll(
      async () => {
        const text = (await output.textContent()) ?? "";
        if (text.startsWith("You said")) seen.add(text);
        return text;
      },
      { intervals: [50], timeout: 15_000 },
    )
    .toBe("You said: alpha beta gamma delta epsilon zeta");
  // Several partial answers were on screen before the whole one: it streamed.
  expect([...seen].filter((t) => t !== "You said: alpha beta gamma delta epsilon zeta").length).toBeGreaterThanOrEqual(2);

  const stats = page.getByTestId("run-stats");
  await expect(stats).toBeVisible();
  // 6 words in, 8 out at claude-3-haiku's $0.25 / $1.25 per 1M: 0.0000015 + 0.00001 = $0.0000115.
  await expect(stats).toContainText("6 in");
  await expect(stats).toContainText("8 out");
  await expect(page.getByTestId("run-cost")).toHaveText("$0.0000115");
  await expect(stats).toContainText("anthropic");
});

test("shows why a model is unavailable and does not run it", async ({ page }) => {
  await page.goto("/playground");
  await page.getByTestId("model-picker").selectOption("gpt-4o-mini");
  await expect(page.getByTestId("unavailable-reason")).toContainText("OPENAI_API_KEY is not set");
  await page.getByTestId("prompt").fill("hello");
  await expect(page.getByRole("button", { name: "Run" })).toBeDisabled();
});
