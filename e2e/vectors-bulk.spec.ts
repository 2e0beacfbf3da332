// The vectors page (#20 item 5): several documents added at once (one per line, one embedding call,
// numbered ids), then points deleted by id; the collection's count follows each step.
import { expect, test } from "@playwright/test";

test("add several documents at once, then delete points by id", async ({ page }) => {
  const name = `e2e_bulk_${Date.now()}`;
  await page.goto("/vectors");
  const create = page.getByRole("form", { name: "Create a collection" });
  await create.getByLabel("Name", { exact: true }).fill(name);
  await create.getByRole("button", { name: "Create collection" }).click();
  const row = page.getByRole("table", { name: "Collections" }).locator(`tr[data-collection="${name}"]`);
  await expect(row.getByTestId("points-count")).toHaveText("0");

  const add = page.getByRole("form", { name: "Add a document" });
  await add.getByLabel("Collection").selectOption(name);
  await add.getByLabel("ID", { exact: true }).fill("faq");
  await add.getByLabel("Text", { exact: true }).fill("How do I reset my password?\n\nWhere are my invoices?\nCan I change my plan?\n");
  await add.getByLabel(/One document per line/).check();
  await add.getByRole("button", { name: "Add document" }).click();
  await expect(add.getByRole("status")).toContainText("Stored 3 documents (faq-1, faq-2, faq-3)");
  await expect(row.getByTestId("points-count")).toHaveText("3");

  const remove = page.getByRole("form", { name: "Delete points" });
  await remove.getByLabel("Collection").selectOption(name);
  await remove.getByLabel("IDs (comma-separated)").fill("faq-1, faq-3, no-such-point");
  await remove.getByRole("button", { name: "Delete points" }).click();
  await expect(remove.getByRole("status")).toContainText("Deleted");
  await expect(row.getByTestId("points-count")).toHaveText("1");

  await row.getByRole("button", { name: "Delete" }).click();
  await row.getByRole("button", { name: "Confirm delete" }).click();
  await expect(row).toHaveCount(0);
});
