// Stored prompts and answers in the Requests page (#21 items 2 and 3): a key made with
// `keys create --log-bodies on` calls /v1/messages; its request's detail shows the prompt and the
// answer as a chat, with a secret in the prompt redacted. A key without the setting makes the same
// call; its detail says nothing was stored. Runs the CLI against the e2e server's database
// (E2E_DATA_DIR, set by scripts/e2e.mjs), as e2e/usage.spec.ts does.
import { cli } from "./support/cli";
import { expect, test, type APIRequestContext } from "@playwright/test";

const TAG = `bodies-${Date.now().toString(36)}`;

async function ask(request: APIRequestContext, key: string, prompt: string): Promise<string> {
  const res = await request.post("/v1/messages", {
    headers: { "x-api-key": key, "anthropic-version": "2023-06-01", "x-model-service-tags": TAG },
    data: { model: "claude-3-haiku-20240307", max_tokens: 64, messages: [{ role: "user", content: prompt }] },
  });
  expect(res.status(), await res.text()).toBe(200);
  const body = (await res.json()) as { content: { type: string; text: string }[] };
  return body.content.map((c) => c.text).join("");
}

test("a logging key's request shows its prompt and answer as a chat; a key without it shows none stored", async ({ page, request }) => {
  const logging = JSON.parse(await cli(["keys", "create", "--name", `${TAG}-on`, "--log-bodies", "on", "--json"])) as {
    id: string;
    key: string;
  };
  const plain = JSON.parse(await cli(["keys", "create", "--name", `${TAG}-plain`, "--json"])) as { id: string; key: string };

  const secret = "sk-ant-e2e-secret-0123456789abcdef";
  const answer = await ask(request, logging.key, `What is a haiku? My key is ${secret}`);
  expect(answer.length).toBeGreaterThan(0);
  // The plain key's call first, so that the logging key's is the newest.
  await ask(request, plain.key, "Not stored, this one");

  await page.goto("/requests");
  await page.getByRole("searchbox", { name: "Tag" }).fill(TAG);
  const rows = page.getByRole("table", { name: "Requests" }).locator("tbody tr");
  // The usage writer flushes every second: reload until both calls are listed.
  await expect(async () => {
    await page.reload();
    await page.getByRole("searchbox", { name: "Tag" }).fill(TAG);
    await expect(rows).toHaveCount(2, { timeout: 2_000 });
  }).toPass({ timeout: 20_000 });

  // Newest first: the plain key's call, then the logging key's.
  await rows
    .nth(1)
    .getByRole("button", { name: /^Open request/ })
    .click();
  const detail = page.getByRole("region", { name: "Request detail" });
  const chat = detail.getByRole("list", { name: "Conversation" });
  await expect(chat.getByRole("listitem", { name: "user message" })).toContainText("What is a haiku? My key is sk-[redacted]");
  await expect(chat).not.toContainText(secret);
  await expect(chat.getByRole("listitem", { name: "Answer" })).toBeVisible();
  const shownAnswer = await chat.getByRole("listitem", { name: "Answer" }).locator("pre").first().textContent();
  // The emulator echoes the prompt, so its answer is redacted in storage too.
  expect(shownAnswer).toBe(answer.replace(secret, "sk-[redacted]"));

  await detail.getByRole("button", { name: "Close" }).click();
  await rows
    .nth(0)
    .getByRole("button", { name: /^Open request/ })
    .click();
  await expect(page.getByRole("region", { name: "Request detail" })).toContainText("Not stored");

  // Revoke both keys, so the specs after this one find the keys page as they left it (shell.spec's empty state).
  for (const k of [logging, plain]) await cli(["keys", "revoke", k.id]);
});
