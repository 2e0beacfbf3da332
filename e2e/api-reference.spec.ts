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

test("GET /v1/openapi.json answers without a credential", async ({ baseURL }) => {
  const anonymous = await playwrightRequest.newContext({ baseURL, storageState: { cookies: [], origins: [] } });
  const response = await anonymous.get("/v1/openapi.json");
  expect(response.status()).toBe(200);
  const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  expect(doc.openapi).toMatch(/^3\.1\./);
  expect(Object.keys(doc.paths["/v1/vector/collections/{name}"] ?? {})).toEqual(expect.arrayContaining(["get", "delete"]));
  await anonymous.dispose();
});
