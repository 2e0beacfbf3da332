// Errors of the OpenAI-compatible API as the `openai` SDK surfaces them: OpenAI's error shape
// {"error": {"message", "type", "param", "code"}} with our statuses and headers, so the SDK raises
// NotFoundError, AuthenticationError, RateLimitError, BadRequestError... as it does against OpenAI.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { CLI_ACTOR } from "@/server/access/auth.ts";
import { createApiKey } from "@/server/features/accounts/keys.ts";
import { updateModel } from "@/server/features/catalogue/models.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { sseFrames, useCompatServer } from "./harness.ts";

async function caught(promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(OpenAI.APIError);
    return e as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error("expected the call to fail");
}

describe.each(testDatabases())("OpenAI-compatible errors on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  const client = (apiKey = server.key, maxRetries = 0) => new OpenAI({ apiKey, baseURL: `${server.url}/v1`, maxRetries });
  const hello = [{ role: "user" as const, content: "hi" }];

  it("an unknown model is NotFoundError with code model_not_found and param model", async () => {
    const err = await caught(client().chat.completions.create({ model: "gpt-4-turbo-previewz", messages: hello }));
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.status).toBe(404);
    expect(err.error).toEqual({
      message: expect.stringContaining('"gpt-4-turbo-preview"'),
      type: "invalid_request_error",
      param: "model",
      code: "model_not_found",
    });
    expect(err.requestID ?? err.headers?.get("x-request-id")).toBeTruthy();
  });

  it("a model an admin disabled is PermissionDeniedError (403, model_disabled), which the SDK does not retry", async () => {
    await updateModel("gpt-4.1-mini", { enabled: false }, "test-admin");
    try {
      const before = server.emulator.requests.length;
      const err = await caught(client(server.key, 2).chat.completions.create({ model: "gpt-4.1-mini", messages: hello }));
      expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
      expect(err.status).toBe(403);
      expect(err.error).toMatchObject({
        type: "invalid_request_error",
        code: "model_disabled",
        message: "Model gpt-4.1-mini is disabled by an admin",
      });
      expect(server.emulator.requests.length).toBe(before);
      await updateModel("text-embedding-3-large", { enabled: false }, "test-admin");
      const embed = await caught(client().embeddings.create({ model: "text-embedding-3-large", input: "y" }));
      expect(embed.status).toBe(403);
      expect(embed.error).toMatchObject({ code: "model_disabled" });
    } finally {
      await updateModel("gpt-4.1-mini", { enabled: true }, "test-admin");
      await updateModel("text-embedding-3-large", { enabled: true }, "test-admin");
    }
  });

  it("a bad key is AuthenticationError with code invalid_api_key", async () => {
    for (const key of ["ms_not_a_real_key_0123456789abcdef", "sk-someone-elses-openai-key"]) {
      const err = await caught(client(key).chat.completions.create({ model: "gpt-4o", messages: hello }));
      expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(err.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key", param: null });
      expect(JSON.stringify(err.error)).not.toContain(key);
    }
  });

  it("a used-up rate limit is RateLimitError with Retry-After and X-RateLimit-* (and the allowed calls carry them too)", async () => {
    const c = client(server.basicKey); // 2 requests a minute
    const first = await c.chat.completions.create({ model: "gpt-4o-mini", messages: hello }).withResponse();
    expect(first.response.headers.get("x-ratelimit-limit")).toBe("2");
    expect(first.response.headers.get("x-ratelimit-remaining")).toBe("1");
    await c.chat.completions.create({ model: "gpt-4o-mini", messages: hello });
    const err = await caught(c.chat.completions.create({ model: "gpt-4o-mini", messages: hello }));
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.error).toMatchObject({
      type: "requests",
      code: "rate_limit_exceeded",
      message: expect.stringMatching(/Rate limit exceeded/),
    });
    expect(Number(err.headers?.get("retry-after"))).toBeGreaterThan(0);
    expect(err.headers?.get("x-ratelimit-limit")).toBe("2");
    expect(err.headers?.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(err.headers?.get("x-ratelimit-reset"))).toBeGreaterThan(Date.now() / 1000);
  });

  it("bad input is BadRequestError naming the param", async () => {
    const role = await caught(client().chat.completions.create({ model: "gpt-4o", messages: [{ role: "robot", content: "x" } as never] }));
    expect(role).toBeInstanceOf(OpenAI.BadRequestError);
    expect(role.error).toMatchObject({ type: "invalid_request_error", param: "messages[0].role" });
    // n is 1 to 128 (OpenAI's range; n > 1 answers n choices: native-parameters.test.ts).
    const n = await caught(client().chat.completions.create({ model: "gpt-4o", n: 0, messages: hello }));
    expect(n.error).toMatchObject({ param: "n", message: expect.stringContaining(">=1") });
    const choice = await caught(
      client().chat.completions.create({ model: "gpt-4o", messages: hello, tool_choice: { type: "function", function: { name: "nope" } } }),
    );
    expect(choice.error).toMatchObject({ param: "tool_choice", message: expect.stringContaining("tools") });
    const embeddingModel = await caught(client().chat.completions.create({ model: "text-embedding-3-small", messages: hello }));
    expect(embeddingModel).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it("a key without the generate scope is PermissionDeniedError", async () => {
    const { key } = await createApiKey(CLI_ACTOR, { name: `embed-only-${kind}`, scopes: ["embeddings"] });
    const err = await caught(client(key).chat.completions.create({ model: "gpt-4o", messages: hello }));
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.error).toMatchObject({ code: "insufficient_permissions" });
  });

  it("a provider failure after our retries is a 5xx the SDK does not retry again (x-should-retry: false)", async () => {
    const err = await caught(
      client(server.key, 2).chat.completions.create({
        model: "gpt-4o",
        messages: [{ role: "user", content: "x [[emulator fault=server_error]]" }],
      }),
    );
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.headers?.get("x-should-retry")).toBe("false");
    expect(err.error).toMatchObject({ type: "server_error", code: "provider_error" });
    // Our own three attempts (one try, two retries); none more from the SDK.
    expect(server.emulator.requests.filter((r) => r.path === "/v1/chat/completions")).toHaveLength(3);
  });

  it("a stream that fails midway ends with an OpenAI error frame and no [DONE], which the SDK raises", async () => {
    const stream = await client().chat.completions.create({
      model: "gpt-4o",
      stream: true,
      messages: [{ role: "user", content: "one two three four five six [[emulator fault=cut after=3]]" }],
    });
    const text: string[] = [];
    const err = await caught(
      (async () => {
        for await (const chunk of stream) text.push(chunk.choices[0]?.delta.content ?? "");
      })(),
    );
    expect(text.join("")).toBe("You said: one");
    expect(err.message).toMatch(/failed/);

    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4o",
        stream: true,
        messages: [{ role: "user", content: "one two three [[emulator fault=cut after=1]]" }],
      }),
    });
    const raw = await res.text();
    expect(raw).not.toContain("[DONE]");
    expect(JSON.parse(sseFrames(raw).at(-1)!.data)).toEqual({
      error: { message: expect.any(String), type: "server_error", param: null, code: "provider_error" },
    });
  });

  it("a method the path does not serve is 405 in OpenAI's shape, with Allow", async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, { headers: { authorization: `Bearer ${server.key}` } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, OPTIONS");
    expect(await res.json()).toEqual({
      error: { message: expect.any(String), type: "invalid_request_error", param: null, code: "method_not_allowed" },
    });
  });
});
