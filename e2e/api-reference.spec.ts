// The API reference page renders the OpenAPI document, and /v1/openapi.json is public.
import { expect, request as playwrightRequest, test } from "@playwright/test";

test("the API reference page lists the endpoints with their parameters and bodies", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/");
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "API reference", exact: true }).click();
  await expect(page).toHaveURL("/api-reference");
  await expect(page.getByRole("heading", { level: 1, name: "API reference" })).toBeVisible();

  const search = page.locator("#postV1VectorSearch");
  await expect(search).toContainText("/v1/vector/search");
  await expect(search).toContainText("scope vectors");
  await expect(search.getByRole("cell", { name: /^query_vector/ })).toBeVisible();
  const usage = page.locator("#getV1LlmUsage");
  await expect(usage.getByRole("cell", { name: "start_date" })).toBeVisible();
  // The document itself, linked from the page's introduction (the table of contents links to its entry).
  await expect(page.locator('main a[href="/v1/openapi.json"]')).toHaveText("GET /v1/openapi.json");
  expect(errors).toEqual([]);
});

test("descriptions read as text, limits as people write them, and every operation has a real example to try", async ({ page }) => {
  await page.goto("/api-reference");
  const main = page.locator("main");
  await expect(page.locator("#postV1LlmCost")).toBeVisible();
  // Before: "`generate` scope" and "1–9007199254740991" showed literally.
  expect(await main.innerText()).not.toContain("`");
  expect(await main.innerText()).not.toContain("9007199254740991");
  await expect(page.locator("#postV1VectorSearch").getByText("vectors", { exact: true }).first()).toBeVisible();
  const operations = await page.locator("article[id]").count();
  await expect(page.getByTestId("example-request")).toHaveCount(operations);

  const cost = page.locator("#postV1LlmCost");
  await expect(cost.getByTestId("example-request")).toContainText('"model": "gpt-4o-mini"');
  await cost.getByTestId("example-answer").locator("..").locator("summary").click();
  await expect(cost.getByTestId("example-answer")).toContainText('"total_cost": 0.000285');
  // "Try it" sends the example with the signed-in session: 1,200 input tokens, 1,000 of them cached, 300 out.
  await cost.getByRole("button", { name: "Try it" }).click();
  const form = cost.getByRole("form", { name: "Try POST /v1/llm/cost" });
  await form.getByLabel("Body (JSON)").fill('{"model": "gpt-4o-mini", "input_tokens": 1000000, "output_tokens": 0}');
  await form.getByRole("button", { name: "Send" }).click();
  await expect(form.getByTestId("try-status")).toHaveText("200");
  await expect(form.getByTestId("try-answer")).toContainText('"total_cost": 0.15');
  // A mistake answers as the API does, and the page shows it.
  await form.getByLabel("Body (JSON)").fill('{"model": "gpt-4o-mini"}');
  await form.getByRole("button", { name: "Send" }).click();
  await expect(form.getByTestId("try-status")).toHaveText("400");
  await expect(form.getByTestId("try-answer")).toContainText("input_tokens");
  await form.getByLabel("Body (JSON)").fill("{not json");
  await form.getByRole("button", { name: "Send" }).click();
  await expect(form.getByRole("alert")).toHaveText("The body is not valid JSON");

  const whoami = page.locator("#getV1AuthWhoami");
  await whoami.getByRole("button", { name: "Try it" }).click();
  await whoami.getByRole("button", { name: "Send" }).click();
  await expect(whoami.getByTestId("try-status")).toHaveText("200");
  await expect(whoami.getByTestId("try-answer")).toContainText('"kind": "session"');
});

test("GET /v1/openapi.json answers without a credential", async ({ baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
  const response = await anonymous.get("/v1/openapi.json");
  expect(response.status()).toBe(200);
  const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  expect(doc.openapi).toMatch(/^3\.1\./);
  expect(Object.keys(doc.paths["/v1/vector/collections/{name}"] ?? {})).toEqual(expect.arrayContaining(["get", "delete"]));
  await anonymous.dispose();
});

test("descriptions read as text and limits as people write them (#20 item 6)", async ({ page }) => {
  await page.goto("/api-reference");
  const main = page.locator("main");
  await expect(main.getByRole("heading", { level: 1, name: "API reference" })).toBeVisible();
  const text = await main.innerText(); // a closed <details> (the raw JSON Schema) is not in it
  // zod's unbounded integers printed as limits, and Markdown backticks shown as such.
  expect(text).not.toContain("9007199254740991");
  const shown = await main.evaluate((el) => {
    const out: string[] = [];
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n.parentElement?.closest("pre, details")) continue; // the raw JSON Schema may hold anything
      if (/`[^`]+`/.test(n.textContent ?? "")) out.push(n.textContent!.slice(0, 80));
    }
    return out;
  });
  expect(shown).toEqual([]);
  // Large limits with thousands separators.
  await expect(main).toContainText(/\d{1,3},\d{3}/);
});
