// A key's own controls through the HTTP host (tests/support/host.ts) on PGlite and PostgreSQL, the
// official SDKs against the wire-level emulator: the allow-list of models (403 in each API family's
// error shape, model lists showing only its models), the key's requests and tokens per minute
// (429 with Retry-After and X-RateLimit-*; tokens settled with the real usage), its cap on requests
// in flight, budgets per day and week (402 naming the budget and what is left), expiry (401 saying
// so), and 50 concurrent calls on a key whose budget fits 10 never spending more than it.
// Redis and two instances: key-controls-redis.test.ts.
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { createModelServiceClient } from "@/client/index.ts";
import { parseUsd } from "@/server/features/catalogue/pricing.ts";
import { updateApiKey } from "@/server/features/accounts/keys.ts";
import { updateUser, createUser } from "@/server/features/accounts/users.ts";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { NO_RATE_LIMITS, useHost } from "@/tests/support/host.ts";
import { post, recordedSpend, recordSpend, usd } from "../budgets/support.ts";

process.env.LOG_LEVEL = "silent";

async function failure(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(OpenAI.APIError);
    return e as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("expected the call to fail");
}

const hello = [{ role: "user" as const, content: "hello there" }];

describe.each(testDatabases())("a key's own controls on $kind", ({ kind }) => {
  const host = useHost({ database: kind, env: NO_RATE_LIMITS });
  const openai = (apiKey: string) => new OpenAI({ apiKey, baseURL: `${host.url}/v1`, maxRetries: 0 });

  describe("the allow-list of models", () => {
    it("answers 403 naming the model and the list, in OpenAI's, Anthropic's and our error shape", async () => {
      const { key } = await host.createKey({ name: "only-mini", allowedModels: ["gpt-4o-mini", "text-embedding-3-small"] });
      const before = host.emulator.requests.length;

      const chat = await failure(openai(key).chat.completions.create({ model: "gpt-4", messages: hello }));
      expect(chat).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(chat.error).toMatchObject({
        type: "invalid_request_error",
        code: "insufficient_permissions",
        message: "This API key may not use the model gpt-4; it may use: gpt-4o-mini, text-embedding-3-small",
      });

      const emb = await failure(openai(key).embeddings.create({ model: "local-hash-384", input: "x" }));
      expect(emb.status).toBe(403);
      expect(emb.message).toContain("may not use the model local-hash-384");

      const anthropic = new Anthropic({ apiKey: key, baseURL: host.url, maxRetries: 0 });
      const msg = await anthropic.messages.create({ model: "claude-haiku-4-5", max_tokens: 10, messages: hello }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(msg).toBeInstanceOf(Anthropic.PermissionDeniedError);
      expect((msg as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({
        type: "error",
        error: { type: "permission_error", message: expect.stringContaining("may not use the model claude-haiku-4-5") },
      });

      const ours = await post(host.url, "/v1/llm/generate", key, { model: "gpt-4", messages: hello });
      expect(ours.status).toBe(403);
      expect(ours.json).toMatchObject({
        error: { code: "forbidden", details: { model: "gpt-4", allowed_models: ["gpt-4o-mini", "text-embedding-3-small"] } },
      });
      // Nothing reached a provider.
      expect(host.emulator.requests.length).toBe(before);

      // An allowed model works, by alias too.
      const ok = await openai(key).chat.completions.create({ model: "gpt-4o-mini", messages: hello });
      expect(ok.choices[0]?.message.content).toBe("You said: hello there");
    });

    it("lists only the allowed models, on every model list", async () => {
      const { key } = await host.createKey({ name: "list-mini", allowedModels: ["gpt-4o-mini"] });
      const listed = (await openai(key).models.list()).data.map((m) => m.id);
      expect(listed).toEqual(["gpt-4o-mini"]);
      const rest = (await (await fetch(`${host.url}/v1/llm/models`, { headers: { authorization: `Bearer ${key}` } })).json()) as {
        id: string;
      }[];
      expect(rest.map((m) => m.id)).toEqual(["gpt-4o-mini"]);
      const one = await fetch(`${host.url}/v1/models/gpt-4`, { headers: { authorization: `Bearer ${key}` } });
      expect(one.status).toBe(404);
      const trpc = createModelServiceClient(host.url, { apiKey: key });
      expect((await trpc.models.list.query({})).map((m) => m.id)).toEqual(["gpt-4o-mini"]);
      await expect(trpc.models.get.query({ id: "gpt-4" })).rejects.toMatchObject({ data: { httpStatus: 404 } });
      expect((await trpc.models.get.query({ id: "gpt-4o-mini" })).id).toBe("gpt-4o-mini");
      // A key without a list sees them all.
      const { key: all } = await host.createKey({ name: "list-all" });
      expect((await openai(all).models.list()).data.length).toBeGreaterThan(1);
    });

    it("refuses an unknown model in the list with a 400 naming it, and stores aliases as ids", async () => {
      await expect(host.createKey({ name: "bad-list", allowedModels: ["gpt-nonesuch"] })).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining('Unknown model "gpt-nonesuch"'),
      });
      const { apiKey } = await host.createKey({ name: "ids", allowedModels: ["gpt-4o-mini", "gpt-4o-mini"] });
      expect(apiKey.allowedModels).toEqual(["gpt-4o-mini"]);
    });
  });

  describe("requests per minute", () => {
    it("the key's own limit answers 429 with Retry-After and X-RateLimit-* past it", async () => {
      const { key } = await host.createKey({ name: "rpm", rpmLimit: 2 });
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });
        expect(r.status).toBe(200);
      }
      const refused = await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("x-ratelimit-limit")).toBe("2");
      expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      const body = (await refused.json()) as { error: { message: string; details: { limit_name: string } } };
      expect(body.error.message).toContain("this API key's own limit is 2 requests per minute");
      expect(body.error.details.limit_name).toBe("key:rpm");
    });

    it("the tightest limit wins, and a change through keys.update holds at once", async () => {
      // NO_RATE_LIMITS leaves the default endpoint limit at a million; the key's 1 is tighter.
      const { key, apiKey } = await host.createKey({ name: "rpm-tight", rpmLimit: 1000 });
      await updateApiKey(CLI_ACTOR, apiKey.id, { rpmLimit: 1 });
      expect((await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
      expect((await fetch(`${host.url}/v1/auth/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(429);
    });
  });

  describe("tokens per minute", () => {
    it("refuses a call whose estimated input does not fit, before any provider is called", async () => {
      const { key } = await host.createKey({ name: "tpm-small", tpmLimit: 20 });
      const before = host.emulator.requests.length;
      const long = "word ".repeat(200);
      const err = await failure(openai(key).chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: long }] }));
      expect(err).toBeInstanceOf(OpenAI.RateLimitError);
      expect(err.message).toContain("this API key's own limit is 20 tokens per minute");
      expect(err.message).toContain("never fits");
      expect(err.headers?.get("x-ratelimit-limit")).toBe("20");
      expect(err.headers?.get("retry-after")).toBeTruthy();
      expect(host.emulator.requests.length).toBe(before);
    });

    it("settles the estimate with the real usage: a long answer uses up the minute", async () => {
      const { key } = await host.createKey({ name: "tpm-settle", tpmLimit: 100 });
      // About 15 tokens estimated, 1 in and 95 out used: the minute then holds 96, and the next
      // call's dozen do not fit (without the settle, the minute would hold the estimate alone).
      const first = await openai(key).chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "go [[emulator words=95]]" }],
      });
      expect(first.usage?.completion_tokens).toBe(95);
      const second = await failure(openai(key).chat.completions.create({ model: "gpt-4o-mini", messages: hello }));
      expect(second.status).toBe(429);
      expect(second.message).toContain("tokens per minute");
      // A short answer leaves room for the next call.
      const { key: other } = await host.createKey({ name: "tpm-short", tpmLimit: 100 });
      await openai(other).chat.completions.create({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "go [[emulator words=2]]" }],
      });
      await openai(other).chat.completions.create({ model: "gpt-4o-mini", messages: hello });
    });
  });

  describe("requests in flight", () => {
    it("answers 429 beyond the cap, and frees the slot when a call ends", async () => {
      const { key } = await host.createKey({ name: "parallel", maxParallel: 2 });
      const slow = () =>
        post(host.url, "/v1/llm/generate", key, {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "hi [[emulator delay=400]]" }],
        });
      const results = await Promise.all([slow(), slow(), slow(), slow()]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 200, 429, 429]);
      const refused = results.find((r) => r.status === 429)!;
      expect(refused.json).toMatchObject({
        error: { code: "rate_limited", message: expect.stringContaining("at most 2 at once"), details: { limit_name: "key:max-parallel" } },
      });
      // Streams hold their slot to the end, then give it back.
      const stream = await openai(key).chat.completions.create({ model: "gpt-4o-mini", messages: hello, stream: true });
      for await (const _ of stream) void _;
      expect((await slow()).status).toBe(200);
    });
  });

  describe("budgets per period", () => {
    it("a daily key budget answers 402 naming the day's budget and what is left", async () => {
      const { key, apiKey } = await host.createKey({ name: "daily", monthlyBudgetUsd: "0.01", budgetPeriod: "day" });
      await recordSpend(host.db(), apiKey.id, "0.0099");
      const r = await post(host.url, "/v1/llm/generate", key, { model: "gpt-4", max_tokens: 100, messages: hello });
      expect(r.status).toBe(402);
      expect(r.json).toMatchObject({
        error: {
          code: "budget_exceeded",
          message: expect.stringContaining("The daily budget of $0.01 for this API key has $0.0001 left"),
          details: { period: "day", remaining_usd: "0.0001", period_start: new Date().toISOString().slice(0, 10) },
        },
      });
    });

    it("a weekly user budget counts all the user's keys since Monday", async () => {
      const user = await createUser({ email: `weekly-${kind}@example.com`, password: "a-long-password" });
      await updateUser(user.id, { monthlyBudgetUsd: "0.01", budgetPeriod: "week" });
      const { key } = await host.createKey({ name: "weekly", userEmail: user.email! });
      // gpt-4's 1,000 tokens out may cost $0.06: more than the week's $0.01.
      const r = await post(host.url, "/v1/llm/generate", key, { model: "gpt-4", max_tokens: 1000, messages: hello });
      expect(r.status).toBe(402);
      const monday = new Date();
      monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
      expect(r.json).toMatchObject({
        error: {
          message: expect.stringContaining("The weekly budget of $0.01 for your account"),
          details: { scope: "user", period: "week", period_start: monday.toISOString().slice(0, 10) },
        },
      });
    });

    it("50 concurrent calls on a key whose budget fits 10 spend no more than it", async () => {
      // gpt-4: 1 word in and 10 out cost $0.00063; the budget holds ten of them.
      const budget = parseUsd("0.0063");
      const { key, apiKey } = await host.createKey({ name: "fits-ten", monthlyBudgetUsd: "0.0063", budgetPeriod: "day" });
      const body = (i: number) => ({
        model: "gpt-4",
        max_tokens: 10,
        stream: i % 4 === 0,
        messages: [{ role: "user", content: `go [[emulator words=10 delay=50 key=fits-ten-${kind}-${i}]]` }],
      });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => post(host.url, "/v1/llm/generate", key, body(i))));
      const answered = results.filter((r) => r.status === 200).length;
      expect(answered + results.filter((r) => r.status === 402).length).toBe(50);
      expect(answered).toBeGreaterThan(0);
      expect(answered).toBeLessThanOrEqual(10);
      await host.flush();
      const { cost } = await recordedSpend(host.db(), apiKey.id);
      expect(cost).toBeLessThanOrEqual(budget);
      expect(cost).toBe(parseUsd("0.00063") * BigInt(answered));
      expect(usd(cost)).not.toBe("0");
    });
  });

  describe("expiry", () => {
    it("an expired key answers 401 saying it expired", async () => {
      const expiresAt = new Date(Date.now() + 1_500);
      const { key } = await host.createKey({ name: "short-lived", expiresAt });
      expect((await openai(key).models.list()).data.length).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, expiresAt.getTime() - Date.now() + 50));
      const err = await failure(openai(key).models.list());
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err.message).toContain(`This API key expired at ${expiresAt.toISOString()}`);
    });
  });
});
