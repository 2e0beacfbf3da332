// The vectors page in a real browser, signed in, with no provider key: create a collection, add
// documents by text (the built-in local model embeds them), search by text and see the nearest
// one first with its score and payload, then delete the collection.
import { expect, test } from "@playwright/test";

test("create a collection, add documents, search them by text, delete it", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto("/vectors");
  await expect(page.getByRole("heading", { level: 1, name: "Vectors" })).toBeVisible();

  const create = page.getByRole("form", { name: "Create a collection" });
  await create.getByLabel("Name", { exact: true }).fill("e2e_docs");
  await expect(create.getByLabel("Vector size", { exact: true })).toHaveValue("384");
  await create.getByLabel("Distance").selectOption("Cosine");
  await create.getByRole("button", { name: "Create collection" }).click();

  const row = page.getByRole("table", { name: "Collections" }).locator('tr[data-collection="e2e_docs"]');
  await expect(row).toContainText("384");
  await expect(row).toContainText("Cosine");
  await expect(row).toContainText("pgvector");
  await expect(row.getByTestId("points-count")).toHaveText("0");

  const add = page.getByRole("form", { name: "Add a document" });
  await expect(add.getByLabel("Embedding model")).toHaveValue("local-hash-384");
  for (const [id, text] of [
    ["doc_reset", "How to reset your password from the account settings page"],
    ["doc_weather", "The weather in Lisbon is sunny and warm today"],
    ["42", "Invoices and billing history are under the billing tab"],
  ]) {
    await add.getByLabel("ID", { exact: true }).fill(id!);
    await add.getByLabel("Text", { exact: true }).fill(text!);
    await add.getByRole("button", { name: "Add document" }).click();
    await expect(add.getByRole("status")).toContainText(`Stored ${id}`);
  }
  await expect(row.getByTestId("points-count")).toHaveText("3");

  const search = page.getByRole("search", { name: "Search a collection" });
  await search.getByLabel("Query", { exact: true }).fill("I forgot my password");
  await search.getByRole("button", { name: "Search" }).click();
  const results = page.getByRole("list", { name: "Results" }).getByTestId("search-result");
  await expect(results).toHaveCount(3);
  await expect(results.first()).toHaveAttribute("data-point-id", "doc_reset");
  await expect(results.first()).toContainText(/score 0\.\d{4}/);
  await expect(results.first()).toContainText('"text": "How to reset your password from the account settings page"');
  // The integer id comes back as a number, the string ids as strings.
  await expect(page.getByRole("list", { name: "Results" })).toContainText('"doc_weather"');
  await expect(page.locator('[data-point-id="42"] code')).toHaveText("42");

  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Confirm delete" }).click();
  await expect(row).toHaveCount(0);
  await expect(page.getByTestId("empty-state")).toContainText("No collections yet");
  expect(errors).toEqual([]);
});

test("a collection of another size: the local model adapts to it, and the REST API needs a credential", async ({ page, playwright }) => {
  await page.goto("/vectors");
  const create = page.getByRole("form", { name: "Create a collection" });
  await create.getByLabel("Name", { exact: true }).fill("e2e_small");
  await create.getByLabel("Vector size", { exact: true }).fill("8");
  await create.getByRole("button", { name: "Create collection" }).click();
  const row = page.locator('tr[data-collection="e2e_small"]');
  await expect(row).toContainText("8");

  // The local model embeds into 384 dimensions by default but adapts to the collection's size.
  const add = page.getByRole("form", { name: "Add a document" });
  await add.getByLabel("Collection").selectOption("e2e_small");
  // Only the models that can make 8-dimension vectors are offered (text-embedding-3 can be shortened; ada-002 cannot).
  const offered = await add
    .getByLabel("Embedding model")
    .locator("option")
    .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  expect(offered).toContain("local-hash-384");
  expect(offered).toContain("text-embedding-3-small");
  expect(offered).not.toContain("text-embedding-ada-002");
  await expect(add.getByLabel("Embedding model")).toHaveValue("local-hash-384");
  await add.getByLabel("ID", { exact: true }).fill("a");
  await add.getByLabel("Text", { exact: true }).fill("short text");
  await add.getByRole("button", { name: "Add document" }).click();
  await expect(add.getByRole("status")).toContainText("Stored a");
  await expect(row.getByTestId("points-count")).toHaveText("1");

  // The REST API without a credential: 401 (the fixture would bring the session cookie along).
  const anonymous = await playwright.request.newContext({
    baseURL: test.info().project.use.baseURL,
    storageState: { cookies: [], origins: [] },
  });
  const res = await anonymous.post("/v1/vector/search", { data: { collection_name: "e2e_small", query_vector: [1] } });
  expect(res.status(), await res.text()).toBe(401);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
  await anonymous.dispose();

  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Confirm delete" }).click();
  await expect(row).toHaveCount(0);
});
