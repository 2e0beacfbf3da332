// The models page: the catalogue with prices per 1M and per 1K tokens and availability, filters,
// search and sorting; an admin (the e2e user is one) changes a price, which holds from then on
// with its history kept.
import { expect, test } from "@playwright/test";
import catalogue from "../prisma/catalogue/models.json" with { type: "json" };

const EMBEDDING_MODELS = catalogue.models.filter((m) => m.type === "embedding").map((m) => m.id);

test("lists the catalogue with exact prices, context sizes and why a model is unavailable", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  const link = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Models", exact: true });
  await link.click();
  await expect(page).toHaveURL("/models");
  await expect(link).toHaveAttribute("aria-current", "page");
  await expect(page.getByRole("heading", { level: 1, name: "Models" })).toBeVisible();
  const table = page.getByRole("table", { name: "Models" });
  const gpt4 = table.locator('tr[data-model="gpt-4"]');
  await expect(gpt4).toContainText("GPT-4");
  await expect(gpt4).toContainText("8,192");
  await expect(gpt4).toContainText("$30.00");
  await expect(gpt4).toContainText("$0.03 / 1K");
  await expect(gpt4).toContainText("$60.00");
  await expect(gpt4).toContainText("$0.06 / 1K");
  // No provider key is configured for the e2e server.
  await expect(gpt4).toContainText("Unavailable");
  await expect(gpt4).toContainText("OPENAI_API_KEY is not set");
  await expect(table.locator('tr[data-model="claude-3-sonnet-20240229"]')).toContainText("also claude-3-sonnet");
  await expect(page.getByTestId("models-summary")).toContainText(/^\d+ models, \d+ available/);
  expect(errors).toEqual([]);
});

test("filters by provider and type, searches, and sorts by price", async ({ page }) => {
  await page.goto("/models");
  const rows = page.getByRole("table", { name: "Models" }).locator("tbody tr[data-model]");
  await page.getByLabel("Provider").selectOption("anthropic");
  await page.getByLabel("Search models").fill("haiku");
  await expect(rows.first()).toBeVisible();
  for (const id of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-model")))) expect(id).toMatch(/^claude-.*haiku/);
  await expect(page.getByTestId("models-summary")).toContainText(/^\d+ of \d+ models/);

  await page.getByLabel("Provider").selectOption("all");
  await page.getByLabel("Search models").fill("");
  await page.getByLabel("Type").selectOption("embedding");
  // Every embedding model of the shipped catalogue (the cloud providers' too), and nothing else.
  await expect(rows).toHaveCount(EMBEDDING_MODELS.length);
  for (const id of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-model")))) expect(EMBEDDING_MODELS).toContain(id);
  await page.getByLabel("Provider").selectOption("openai");
  await expect(rows).toHaveCount(3);
  await page.getByRole("button", { name: "Input / 1M" }).click();
  // Cheapest first: text-embedding-3-small at $0.02, then ada-002 at $0.10, 3-large at $0.13.
  await expect(rows.nth(0)).toHaveAttribute("data-model", "text-embedding-3-small");
  await expect(rows.nth(1)).toHaveAttribute("data-model", "text-embedding-ada-002");
  await page.getByRole("button", { name: "Input / 1M" }).click();
  await expect(rows.nth(0)).toHaveAttribute("data-model", "text-embedding-3-large");
});

test("an admin changes a price: it holds from now on and the history keeps the old one", async ({ page }) => {
  await page.goto("/models");
  const row = page.locator('tr[data-model="gpt-4o-2024-05-13"]');
  await expect(row).toContainText("$5.00");
  await row.getByRole("button", { name: "Edit" }).click();
  const form = page.getByRole("form", { name: "Edit gpt-4o-2024-05-13" });
  await form.getByLabel("Input", { exact: true }).fill("4.5");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(form).toBeHidden();
  await expect(row).toContainText("$4.50");
  await expect(row).toContainText("$0.0045 / 1K");
  await expect(row).toContainText("edited by an admin");

  await row.getByRole("button", { name: "Edit" }).click();
  const history = page.getByRole("form", { name: "Edit gpt-4o-2024-05-13" }).getByRole("listitem");
  await expect(history).toHaveCount(2);
  await expect(history.nth(0)).toContainText("input $4.50");
  await expect(history.nth(1)).toContainText("input $5.00");
  await expect(history.nth(1)).toContainText("(catalogue)");

  // A bad fallback is refused with the reason, and nothing changes.
  const form2 = page.getByRole("form", { name: "Edit gpt-4o-2024-05-13" });
  await form2.getByLabel("Fallbacks (model ids, in order)").fill("gpt-4oo");
  await form2.getByRole("button", { name: "Save" }).click();
  await expect(form2.getByRole("alert")).toContainText('Unknown model "gpt-4oo". Did you mean "gpt-4o"');
});

test("the REST list needs credentials", async ({ request }) => {
  const response = await request.get("/v1/llm/models", { headers: { cookie: "" } });
  expect(response.status()).toBe(401);
  expect(((await response.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
});

test("an admin adds a deployment, sees it in the Deployments table with its health, is told what to fix, and removes it", async ({
  page,
}) => {
  await page.goto("/models");
  const section = page.getByTestId("deployments");
  await section.getByTestId("add-deployment").click();
  const form = page.getByRole("form", { name: "Add a deployment" });
  await form.getByLabel("Model", { exact: true }).fill("claude-3-haiku-20240307");
  await form.getByLabel("Provider", { exact: true }).fill("nowhere");
  await form.getByLabel("Id", { exact: true }).fill("e2e-haiku");
  await form.getByLabel("Weight").fill("2");
  await form.getByRole("button", { name: "Add deployment" }).click();
  // Refused, with what to fix; what was typed is still there.
  await expect(page.getByTestId("deployment-error")).toContainText("nowhere is not configured");
  await expect(form.getByLabel("Id", { exact: true })).toHaveValue("e2e-haiku");
  await form.getByLabel("Provider", { exact: true }).fill("anthropic");
  await form.getByRole("button", { name: "Add deployment" }).click();
  await expect(form).toHaveCount(0);

  const row = section.getByTestId("deployment-e2e-haiku");
  await expect(row).toContainText("claude-3-haiku-20240307");
  await expect(row).toContainText("anthropic / claude-3-haiku-20240307");
  await expect(row.getByTestId("deployment-source")).toContainText("dashboard");
  await expect(row.getByTestId("deployment-health")).toContainText("Taking traffic");
  await expect(row.locator("td").nth(3)).toHaveText("2");

  page.once("dialog", (d) => void d.accept());
  await row.getByRole("button", { name: "Remove" }).click();
  await expect(row).toHaveCount(0);
});
