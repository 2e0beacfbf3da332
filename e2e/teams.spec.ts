// The Teams pages in the browser, as the signed-in admin: create a team on the page, open it, add a
// member (an account the CLI made) and change their role, set the team's budget and limit, create
// a team key (its secret shown once, the key listed with the team) and use it; the team's calls
// show on its page and under the usage page's Team filter. Runs the CLI against the e2e server's
// database (E2E_DATA_DIR, set by scripts/e2e.mjs) for the member's account.
import { cli } from "./support/cli";
import { expect, test } from "@playwright/test";

const MEMBER = `teams-e2e-${Date.now()}@example.com`;

test("create a team, manage its members, budget and keys, and see its usage", async ({ page, playwright }) => {
  const team = `e2e-team-${Date.now().toString(36)}`;
  await cli(["users", "create", "--email", MEMBER], "a-long-password\n");

  await page.goto("/");
  await page.getByRole("link", { name: "Teams" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Teams" })).toBeVisible();
  const create = page.getByRole("form", { name: "Create a team" });
  await create.getByLabel("Name").fill(team);
  await create.getByLabel("Budget (USD per period; empty: none)").fill("20");
  await create.getByRole("button", { name: "Create team" }).click();
  const row = page.getByTestId("team-row").filter({ hasText: team });
  await expect(row).toContainText("$20 / month");
  // A name the service refuses says why.
  await create.getByLabel("Name").fill("bad.name!");
  await create.getByLabel("Name").evaluate((el: HTMLInputElement) => el.removeAttribute("pattern"));
  await create.getByRole("button", { name: "Create team" }).click();
  await expect(create.getByRole("alert")).toHaveText(
    "Invalid input: name: 1 to 63 lower-case letters, digits, dots, dashes or underscores, such as search-team",
  );

  await row.getByRole("link", { name: team }).click();
  await expect(page.getByRole("heading", { level: 1, name: `Team ${team}` })).toBeVisible();
  await expect(page.getByTestId("team-role")).toHaveText("admin");

  // Members: add one as a viewer, then make them a member.
  const add = page.getByRole("form", { name: "Add a member" });
  await add.getByLabel("Email").fill(MEMBER);
  await add.getByLabel("Role").selectOption("viewer");
  await add.getByRole("button", { name: "Add member" }).click();
  const member = page.getByTestId("member-row").filter({ hasText: MEMBER });
  await expect(member.getByLabel(`Role of ${MEMBER}`)).toHaveValue("viewer");
  await member.getByLabel(`Role of ${MEMBER}`).selectOption("owner");
  await expect(member.getByLabel(`Role of ${MEMBER}`)).toHaveValue("owner");
  await add.getByLabel("Email").fill("nobody-here@example.com");
  await add.getByRole("button", { name: "Add member" }).click();
  await expect(add.getByRole("alert")).toContainText("No user with the email nobody-here@example.com");

  // Budget and limit.
  const settings = page.getByRole("form", { name: "Team settings" });
  await settings.getByLabel("Budget (USD per period; empty: none)").fill("7.5");
  await settings.getByLabel("Budget period").selectOption("week");
  await settings.getByLabel("Requests / minute (all its keys)").fill("120");
  await settings.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("region", { name: "Team summary" })).toContainText("$7.5 / week");
  await expect(page.getByRole("region", { name: "Team summary" })).toContainText("120");

  // A team key: the secret shown once, listed with the team.
  const keys = page.getByRole("region", { name: "Team keys" });
  await keys.getByLabel("Key name").fill("team-backend");
  await keys.getByRole("button", { name: "Create team key" }).click();
  const secret = (await keys.getByTestId("new-key").locator("code").textContent())?.trim() ?? "";
  expect(secret).toMatch(/^ms_/);
  await expect(keys.getByTestId("key-row").filter({ hasText: "team-backend" })).toBeVisible();

  // Use it: the call is the team's, on its page and under the usage page's Team filter.
  const api = await playwright.request.newContext({ baseURL: test.info().project.use.baseURL });
  const call = await api.post("/v1/llm/generate", {
    headers: { authorization: `Bearer ${secret}` },
    data: { model: "claude-haiku-4-5", max_tokens: 8, messages: [{ role: "user", content: "hello [[emulator words=3]]" }] },
  });
  expect(call.status(), await call.text()).toBe(200);
  const whoami = await api.get("/v1/auth/whoami", { headers: { authorization: `Bearer ${secret}` } });
  expect(((await whoami.json()) as { budgets: { scope: string; period: string }[] }).budgets).toContainEqual(
    expect.objectContaining({ scope: "team", period: "week", budget_usd: "7.5" }),
  );
  await api.dispose();
  await expect
    .poll(
      async () => {
        await page.reload();
        return page.getByTestId("team-usage-totals").textContent();
      },
      { timeout: 15_000 },
    )
    .toMatch(/^1 requests/);

  await page.goto("/");
  await page.getByLabel("Team", { exact: true }).selectOption({ label: team });
  await expect(page.getByTestId("usage-dashboard")).toBeVisible();
  await expect(page.getByRole("table", { name: "By key" })).toContainText("team-backend");
});
