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

test("defaults to the cheapest available model, keeps a multi-turn conversation, runs on Ctrl+Enter, and clears", async ({ page }) => {
  await page.goto("/playground");
  // Of the models the e2e server can serve (Anthropic's, through the emulator), Claude 3 Haiku is the cheapest.
  await expect(page.getByTestId("model-picker")).toHaveValue("claude-3-haiku-20240307");
  await page.getByTestId("prompt").fill("first question");
  await expect(page.getByTestId("prompt-tokens")).toContainText(/Prompt: \d+ tokens/);
  await page.getByTestId("prompt").press("Control+Enter");
  await expect(page.getByTestId("output")).toHaveText("You said: first question");
  await expect(page.getByTestId("prompt")).toHaveValue("");

  await page.getByTestId("prompt").fill("second question");
  await page.getByTestId("prompt").press("Control+Enter");
  await expect(page.getByTestId("output")).toHaveText("You said: second question");
  // The first exchange is kept above the second question.
  const turns = page.getByTestId("turn");
  await expect(turns).toHaveCount(3);
  await expect(turns.nth(0)).toContainText("first question");
  await expect(turns.nth(1)).toContainText("You said: first question");
  await expect(turns.nth(2)).toContainText("second question");
  // A kept message can be edited; the edit is what the next run sends.
  await turns.nth(0).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Edit message 1").fill("first question, edited");
  await turns.nth(0).getByRole("button", { name: "Done" }).click();
  await expect(turns.nth(0)).toContainText("first question, edited");

  await page.getByTestId("clear-conversation").click();
  await expect(turns).toHaveCount(0);
  await expect(page.getByTestId("output")).toHaveText("The answer streams here.");
});

test("compares up to three models on one prompt, each with its tokens and cost", async ({ page }) => {
  await page.goto("/playground");
  await page.getByTestId("model-picker").selectOption("claude-3-haiku-20240307");
  await page.getByTestId("add-compare").click();
  // The second picker is searchable.
  // (Not claude-3-5-haiku: e2e/model-prices.spec.ts changes its price.)
  await page.getByTestId("model-picker-2-search").fill("sonnet 4.5");
  await page.getByTestId("model-picker-2").selectOption("claude-sonnet-4-5-20250929");
  await page.getByTestId("add-compare").click();
  await expect(page.getByTestId("add-compare")).toHaveCount(0); // three is the most
  await page.getByTestId("model-picker-3").selectOption("claude-haiku-4-5-20251001");
  await page.getByLabel("System prompt").fill("");
  await page.getByTestId("prompt").fill("one two three");
  await page.getByRole("button", { name: "Run" }).click();
  for (const [i, cost] of [
    // 3 words in, 5 out: at $0.25/$1.25, $3/$15 and $1/$5 per 1M.
    [1, "$0.000007"],
    [2, "$0.000084"],
    [3, "$0.000028"],
  ] as const) {
    const column = page.getByTestId(`answer-${i}`);
    await expect(column.getByTestId(i === 1 ? "output" : `output-${i}`)).toHaveText("You said: one two three");
    await expect(column.getByTestId("run-stats")).toContainText("3 in");
    await expect(column.getByTestId("run-cost")).toHaveText(cost);
  }
});

test("Stop cuts the answer, marks it stopped and still shows what it cost", async ({ page }) => {
  await page.goto("/playground");
  await page.getByTestId("model-picker").selectOption("claude-3-haiku-20240307");
  await page.getByTestId("prompt").fill("a b c d e f g h i j k l m n o p [[emulator chunk_delay=400]]");
  await page.getByRole("button", { name: "Run" }).click();
  await expect(page.getByTestId("output")).toContainText("You said");
  await page.getByRole("button", { name: "Stop" }).click();
  await expect(page.getByTestId("run-stopped")).toBeVisible();
  await expect(page.getByTestId("run-cost")).toHaveText(/^\$0\.0000\d+$/, { timeout: 15_000 });
  expect((await page.getByTestId("output").textContent())!.length).toBeLessThan("You said: a b c d e f g h i j k l m n o p".length);
});

test("a model that takes no temperature gets none; View code shows the request as curl, Python and TypeScript", async ({ page }) => {
  await page.goto("/playground");
  await page.getByTestId("model-picker").selectOption("gpt-5-mini");
  await expect(page.getByTestId("temperature")).toBeDisabled();
  await page.getByTestId("model-picker").selectOption("claude-3-haiku-20240307");
  await expect(page.getByTestId("temperature")).toBeEnabled();
  await page.getByTestId("prompt").fill("hello there");
  // A warning before a run whose prompt costs more than the amount set.
  await expect(page.getByTestId("prompt-warning")).toHaveCount(0);
  await page.getByTestId("warn-usd").fill("0.0000001");
  await expect(page.getByTestId("prompt-warning")).toContainText("more than your $0.0000001");
  await page.getByTestId("json-mode").selectOption("json_object");
  await page.getByRole("button", { name: "View code" }).click();
  const code = page.getByTestId("view-code");
  await expect(code).toContainText("/v1/chat/completions");
  await expect(code).toContainText('"response_format"');
  await expect(code).toContainText("from openai import OpenAI");
  await expect(code).toContainText("createModelServiceClient");
  // A tools field that is not a list of functions is refused before anything runs.
  await page.getByText("Tools").click();
  await page.getByTestId("tools").fill('{"name": "x"}');
  await expect(page.getByTestId("form-error")).toContainText("JSON array");
  await expect(page.getByRole("button", { name: "Run" })).toBeDisabled();
});
