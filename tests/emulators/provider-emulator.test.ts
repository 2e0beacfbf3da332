// The emulator's wire format, checked at byte level (the adapter tests check it through the SDKs).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { countTokens, emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "./provider-emulator.ts";

let emu: ProviderEmulator;
beforeAll(async () => {
  emu = await startProviderEmulator();
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const openaiHeaders = () => ({ "content-type": "application/json", authorization: `Bearer ${emu.openaiKey}` });
const anthropicHeaders = (version = "2023-06-01") => ({
  "content-type": "application/json",
  "x-api-key": emu.anthropicKey!,
  "anthropic-version": version,
});
const post = (path: string, headers: Record<string, string>, body: unknown) =>
  fetch(`${emu.url}${path}`, { method: "POST", headers, body: typeof body === "string" ? body : JSON.stringify(body) });

describe("countTokens", () => {
  it("counts whitespace-separated words", () => {
    expect(countTokens("")).toBe(0);
    expect(countTokens("  ")).toBe(0);
    expect(countTokens(" a  b\nc ")).toBe(3);
  });
});

describe("OpenAI wire format", () => {
  it("streams data: chunks, a usage chunk with choices: [] and data: [DONE]", async () => {
    const res = await post("/v1/chat/completions", openaiHeaders(), {
      model: "gpt-4o",
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: "user", content: "hi you" }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await res.text();
    const events = text.split("\n\n").filter(Boolean);
    expect(events.every((e) => e.startsWith("data: "))).toBe(true);
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(chunks[0].choices[0].delta).toMatchObject({ role: "assistant", content: "" });
    expect(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("You said: hi you");
    expect(chunks.at(-2).choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 } });
  });

  it("sends no usage in a stream without include_usage", async () => {
    const res = await post("/v1/chat/completions", openaiHeaders(), {
      model: "gpt-4o",
      stream: true,
      messages: [{ role: "user", content: "x" }],
    });
    const text = await res.text();
    expect(text).not.toContain('"usage"');
  });

  it("answers embeddings in little-endian float32 base64 and honours dimensions", async () => {
    const res = await post("/v1/embeddings", openaiHeaders(), {
      model: "text-embedding-3-small",
      input: ["a", "b"],
      encoding_format: "base64",
      dimensions: 8,
    });
    const body = (await res.json()) as { data: { index: number; embedding: string }[]; usage: unknown };
    const buf = Buffer.from(body.data[1]!.embedding, "base64");
    const floats = Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
    expect(floats).toEqual(emulatorEmbedding("b", "text-embedding-3-small", 8));
    expect(body.usage).toEqual({ prompt_tokens: 2, total_tokens: 2 });
    const unit = floats.reduce((s, x) => s + x * x, 0);
    expect(unit).toBeCloseTo(1, 5);
  });

  it("refuses dimensions for ada-002 and too many inputs, as OpenAI does", async () => {
    const small = await startProviderEmulator({ maxEmbeddingInputs: 2 });
    try {
      const h = { "content-type": "application/json", authorization: `Bearer ${small.openaiKey}` };
      const tooMany = await fetch(`${small.openaiBaseUrl}/embeddings`, {
        method: "POST",
        headers: h,
        body: JSON.stringify({ model: "text-embedding-3-small", input: ["a", "b", "c"] }),
      });
      expect(tooMany.status).toBe(400);
      const ada = await fetch(`${small.openaiBaseUrl}/embeddings`, {
        method: "POST",
        headers: h,
        body: JSON.stringify({ model: "text-embedding-ada-002", input: "a", dimensions: 8 }),
      });
      expect(ada.status).toBe(400);
      expect(await ada.json()).toEqual({
        error: {
          message: "This model does not support specifying dimensions.",
          type: "invalid_request_error",
          param: "dimensions",
          code: null,
        },
      });
    } finally {
      await small.close();
    }
  });

  it("answers a missing or wrong key with 401 in OpenAI's shape, masking the key", async () => {
    const missing = await post("/v1/chat/completions", { "content-type": "application/json" }, { model: "gpt-4o", messages: [] });
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ error: { type: "invalid_request_error", param: null, code: null } });
    const wrong = await post(
      "/v1/chat/completions",
      { "content-type": "application/json", authorization: "Bearer sk-proj-wrongwrongwrong1234" },
      {},
    );
    expect(wrong.status).toBe(401);
    const body = (await wrong.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe("invalid_api_key");
    expect(body.error.message).toContain("sk-proj-");
    expect(body.error.message).toContain("1234");
    expect(body.error.message).not.toContain("wrongwrongwrong");
  });

  it("takes directives from the x-emulator header: 429 with Retry-After", async () => {
    const res = await post(
      "/v1/chat/completions",
      { ...openaiHeaders(), "x-emulator": "fault=rate_limit retry_after=9" },
      { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
    );
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("9");
    expect(res.headers.get("x-request-id")).toBeNull();
    expect(await res.json()).toMatchObject({ error: { type: "requests", code: "rate_limit_exceeded", param: null } });
  });

  it("fails the first N attempts per x-emulator-request-id, then succeeds", async () => {
    const send = (rid: string) =>
      post(
        "/v1/chat/completions",
        { ...openaiHeaders(), "x-emulator": "fail_first=2", "x-emulator-request-id": rid },
        { model: "gpt-4o", messages: [{ role: "user", content: "x" }] },
      );
    expect((await send("r1")).status).toBe(500);
    expect((await send("r2")).status).toBe(500);
    expect((await send("r1")).status).toBe(500);
    expect((await send("r1")).status).toBe(200);
  });

  it("answers a body that is not JSON with 400", async () => {
    const res = await post("/v1/chat/completions", openaiHeaders(), "{nope");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { type: "invalid_request_error" } });
  });
});

describe("Anthropic wire format", () => {
  it("streams the full event sequence, each as event: + data:", async () => {
    const res = await post("/v1/messages", anthropicHeaders(), {
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      stream: true,
      messages: [{ role: "user", content: "hi you" }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    const events = (await res.text())
      .split("\n\n")
      .filter(Boolean)
      .map((block) => {
        const [eventLine, dataLine] = block.split("\n");
        expect(eventLine).toMatch(/^event: /);
        expect(dataLine).toMatch(/^data: /);
        const data = JSON.parse(dataLine!.slice(6));
        expect(data.type).toBe(eventLine!.slice(7));
        return data;
      });
    expect(events.map((e) => e.type)).toEqual([
      "message_start",
      "content_block_start",
      "ping",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_delta",
      "content_block_stop",
      "message_delta",
      "message_stop",
    ]);
    expect(events[0].message.usage).toMatchObject({ input_tokens: 2, output_tokens: 1 });
    expect(events[8]).toMatchObject({ delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 4 } });
  });

  it("answers in Anthropic's error shape with a request-id header", async () => {
    const wrong = await post("/v1/messages", { ...anthropicHeaders(), "x-api-key": "sk-ant-wrong" }, {});
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("request-id")).toMatch(/^req_/);
    expect(await wrong.json()).toMatchObject({ type: "error", error: { type: "authentication_error", message: "invalid x-api-key" } });
    const overloaded = await post(
      "/v1/messages",
      { ...anthropicHeaders(), "x-emulator": "fault=overloaded" },
      { model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] },
    );
    expect(overloaded.status).toBe(529);
    expect(await overloaded.json()).toMatchObject({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } });
  });

  it("validates like the API: system role, max_tokens, version header, sampling parameters on 2026-10-21", async () => {
    const base = { model: "m", max_tokens: 5, messages: [{ role: "user", content: "x" }] };
    const system = await post("/v1/messages", anthropicHeaders(), {
      ...base,
      messages: [{ role: "system", content: "s" }, ...base.messages],
    });
    expect(system.status).toBe(400);
    expect(((await system.json()) as { error: { message: string } }).error.message).toContain('Unexpected role "system"');
    const noMax = await post("/v1/messages", anthropicHeaders(), { ...base, max_tokens: undefined });
    expect(((await noMax.json()) as { error: { message: string } }).error.message).toBe("max_tokens: Field required");
    const { "anthropic-version": _v, ...noVersion } = anthropicHeaders();
    expect((await post("/v1/messages", noVersion, base)).status).toBe(400);
    expect((await post("/v1/messages", anthropicHeaders("2026-10-21"), { ...base, temperature: 1 })).status).toBe(400);
    expect((await post("/v1/messages", anthropicHeaders("2023-06-01"), { ...base, temperature: 1 })).status).toBe(200);
  });

  it("lists models in Anthropic's shape when asked with anthropic-version", async () => {
    const res = await fetch(`${emu.url}/v1/models`, { headers: anthropicHeaders() });
    const body = (await res.json()) as { data: { type: string; id: string }[]; has_more: boolean };
    expect(body.has_more).toBe(false);
    expect(body.data.every((m) => m.type === "model" && m.id.startsWith("claude"))).toBe(true);
  });
});

describe("tools", () => {
  const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object" } } }];

  it("calls a tool the request offers, and refuses one it does not", async () => {
    const ok = await post("/v1/chat/completions", openaiHeaders(), {
      model: "gpt-4o",
      tools,
      messages: [{ role: "user", content: '[[emulator tool=lookup args={"q":1}]]' }],
    });
    const body = (await ok.json()) as { choices: { message: { content: unknown; tool_calls: unknown[] }; finish_reason: string }[] };
    expect(body.choices[0]).toMatchObject({
      finish_reason: "tool_calls",
      message: { content: null, tool_calls: [{ type: "function", function: { name: "lookup", arguments: '{"q":1}' } }] },
    });
    const refused = await post("/v1/chat/completions", openaiHeaders(), {
      model: "gpt-4o",
      messages: [{ role: "user", content: "[[emulator tool=lookup]]" }],
    });
    expect(refused.status).toBe(400);
  });

  it("streams Anthropic tool_use as content_block_start and input_json_delta events", async () => {
    const res = await post("/v1/messages", anthropicHeaders(), {
      model: "m",
      max_tokens: 50,
      stream: true,
      tools: [{ name: "lookup", input_schema: { type: "object" } }],
      tool_choice: { type: "tool", name: "lookup" },
      messages: [{ role: "user", content: "x" }],
    });
    const text = await res.text();
    expect(text).toContain('"content_block":{"type":"tool_use"');
    expect(text).toContain('"type":"input_json_delta","partial_json":"{}"');
    expect(text).toContain('"stop_reason":"tool_use"');
    expect(text).not.toContain('"type":"text_delta"');
  });

  it("answers a conversation that ends with tool results by reporting them", async () => {
    const res = await post("/v1/chat/completions", openaiHeaders(), {
      model: "gpt-4o",
      messages: [
        { role: "user", content: "q" },
        { role: "assistant", content: null, tool_calls: [{ id: "c9", type: "function", function: { name: "lookup", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c9", content: "forty two" },
      ],
    });
    expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content).toBe(
      "Tool c9 returned: forty two",
    );
  });
});
