// POST /v1/messages driven by the official `@anthropic-ai/sdk` against our running host: Anthropic's
// Message JSON and full event sequence, answered by OpenAI and Anthropic models alike (system field,
// content blocks, tool_use / tool_result both ways, stop reasons, usage), and Anthropic's error shape.
import Anthropic from "@anthropic-ai/sdk";
import { describe, expect, it } from "vitest";
import { testDatabases } from "@/tests/support/db.ts";
import { sseFrames, useCompatServer } from "./harness.ts";

type Body = Record<string, unknown>;

const weatherTool: Anthropic.Tool = {
  name: "get_weather",
  description: "The weather in a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

async function caught(promise: Promise<unknown>): Promise<InstanceType<typeof Anthropic.APIError>> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(Anthropic.APIError);
    return e as InstanceType<typeof Anthropic.APIError>;
  }
  throw new Error("expected the call to fail");
}

describe.each(testDatabases())("POST /v1/messages on $kind", ({ kind }) => {
  const server = useCompatServer(kind);
  const client = (apiKey = server.key) => new Anthropic({ apiKey, baseURL: server.url, maxRetries: 0 });
  const rid = (id: string) => ({ headers: { "x-request-id": `${kind}-msg-${id}` } });
  const events = (id: string) => server.events(`${kind}-msg-${id}`);
  const sent = (protocol: "openai" | "anthropic") =>
    server.emulator.requests.find((r) => r.protocol === protocol && r.method === "POST")!.body as Body;

  it("answers through an OpenAI model: the system field becomes a system message, usage and stop reason come back", async () => {
    const message = await client().messages.create(
      {
        model: "gpt-4o",
        max_tokens: 100,
        system: "be brief",
        stop_sequences: ["zzz"],
        messages: [{ role: "user", content: "hello there" }],
      },
      rid("openai"),
    );
    expect(message).toMatchObject({
      type: "message",
      role: "assistant",
      model: "gpt-4o",
      content: [{ type: "text", text: "You said: hello there" }],
      stop_reason: "end_turn",
      stop_sequence: null,
      usage: { input_tokens: 4, output_tokens: 4, cache_read_input_tokens: 0 },
    });
    expect(message.id).toMatch(/^msg_/);
    expect(sent("openai")).toMatchObject({
      model: "gpt-4o",
      max_completion_tokens: 100,
      stop: ["zzz"],
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hello there" },
      ],
    });
    expect(await events("openai")).toEqual([
      expect.objectContaining({
        endpoint: "/v1/messages",
        provider: "openai",
        input_tokens: 4,
        output_tokens: 4,
        stream: false,
        status: "success",
      }),
    ]);
  });

  it("answers through an Anthropic model, with cache reads apart from input_tokens as Anthropic counts them", async () => {
    const message = await client().messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 100,
      system: [{ type: "text", text: "sys" }],
      messages: [{ role: "user", content: [{ type: "text", text: "a b c d e [[emulator cached=2 words=3]]" }] }],
    });
    // 1 system + 5 user words in, 2 of them read from the cache
    expect(message.usage).toMatchObject({ input_tokens: 4, cache_read_input_tokens: 2, output_tokens: 3 });
    expect(message.content).toEqual([{ type: "text", text: "alpha bravo charlie" }]);
    expect(sent("anthropic")).toMatchObject({ system: "sys", max_tokens: 100 });
  });

  it("tells cache writes apart from input_tokens, by lifetime, plain and streamed (they used to count as input)", async () => {
    const content = "a b c d e f g [[emulator cached=1 cache_write=2 cache_write_1h=3 words=2]]";
    const message = await client().messages.create({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content }] });
    // 7 words in: 1 read from the cache, 2 written for 5 minutes, 3 for an hour, 1 plain.
    expect(message.usage).toMatchObject({
      input_tokens: 1,
      cache_read_input_tokens: 1,
      cache_creation_input_tokens: 5,
      cache_creation: { ephemeral_5m_input_tokens: 2, ephemeral_1h_input_tokens: 3 },
      output_tokens: 2,
    });
    const stream = client().messages.stream({ model: "claude-sonnet-4-6", max_tokens: 100, messages: [{ role: "user", content }] });
    const final = await stream.finalMessage();
    expect(final.usage).toMatchObject({ input_tokens: 1, cache_read_input_tokens: 1, cache_creation_input_tokens: 5, output_tokens: 2 });
  });

  it("maps a cut-off reply to stop_reason max_tokens", async () => {
    const message = await client().messages.create({
      model: "gpt-4o-mini",
      max_tokens: 2,
      messages: [{ role: "user", content: "one two three" }],
    });
    expect(message).toMatchObject({ stop_reason: "max_tokens", content: [{ type: "text", text: "You said:" }] });
  });

  it("streams Anthropic's full event sequence, and records the usage the provider reported", async () => {
    const stream = client().messages.stream(
      { model: "gpt-4o", max_tokens: 100, messages: [{ role: "user", content: "a b c [[emulator words=5 reasoning=2]]" }] },
      rid("stream"),
    );
    const types: string[] = [];
    stream.on("streamEvent", (e) => types.push(e.type));
    const final = await stream.finalMessage();
    expect(types[0]).toBe("message_start");
    expect(types.slice(-2)).toEqual(["message_delta", "message_stop"]);
    expect(types).toContain("content_block_start");
    expect(types.filter((t) => t === "content_block_delta").length).toBe(5);
    expect(types.at(-3)).toBe("content_block_stop");
    expect(final).toMatchObject({
      model: "gpt-4o",
      content: [{ type: "text", text: "alpha bravo charlie delta echo" }],
      stop_reason: "end_turn",
      usage: { input_tokens: 3, output_tokens: 7 },
    });
    expect(await events("stream")).toEqual([
      expect.objectContaining({ endpoint: "/v1/messages", stream: true, input_tokens: 3, output_tokens: 7, reasoning_tokens: 2 }),
    ]);
  });

  describe.each([
    { provider: "openai", model: "gpt-4o" },
    { provider: "anthropic", model: "claude-haiku-4-5" },
  ] as const)("tools through $provider", ({ provider, model }) => {
    const ask = 'weather please [[emulator tool=get_weather args={"city":"Paris"}]]';

    it("answers tool_use blocks with stop_reason tool_use, plain and streamed", async () => {
      const message = await client().messages.create({
        model,
        max_tokens: 100,
        tools: [weatherTool],
        messages: [{ role: "user", content: ask }],
      });
      expect(message.stop_reason).toBe("tool_use");
      expect(message.content).toEqual([{ type: "tool_use", id: expect.any(String), name: "get_weather", input: { city: "Paris" } }]);
      if (provider === "openai") {
        expect(sent("openai").tools).toEqual([
          {
            type: "function",
            function: { name: "get_weather", description: "The weather in a city", parameters: weatherTool.input_schema },
          },
        ]);
      }

      const stream = client().messages.stream({
        model,
        max_tokens: 100,
        tools: [weatherTool],
        messages: [{ role: "user", content: ask.replace("tool=", "words=2 tool=") }],
      });
      const deltas: string[] = [];
      stream.on("streamEvent", (e) => {
        if (e.type === "content_block_delta") deltas.push(e.delta.type);
      });
      const final = await stream.finalMessage();
      expect(final.stop_reason).toBe("tool_use");
      expect(final.content).toEqual([
        { type: "text", text: "alpha bravo" },
        { type: "tool_use", id: expect.any(String), name: "get_weather", input: { city: "Paris" } },
      ]);
      expect(deltas).toContain("input_json_delta");
    });

    it("sends tool_use and tool_result blocks back, mapped for the provider", async () => {
      const message = await client().messages.create({
        model,
        max_tokens: 100,
        tools: [weatherTool],
        messages: [
          { role: "user", content: "weather in Paris?" },
          {
            role: "assistant",
            content: [
              { type: "text", text: "Let me look." },
              { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
            ],
          },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "22C" }] }] },
        ],
      });
      expect(message).toMatchObject({ stop_reason: "end_turn", content: [{ type: "text", text: "Tool toolu_1 returned: 22C" }] });
      const body = sent(provider);
      if (provider === "openai") {
        expect((body.messages as Body[]).slice(1)).toEqual([
          {
            role: "assistant",
            content: "Let me look.",
            tool_calls: [{ id: "toolu_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
          },
          { role: "tool", tool_call_id: "toolu_1", content: "22C" },
        ]);
      } else {
        expect((body.messages as Body[]).slice(1)).toEqual([
          {
            role: "assistant",
            content: [
              { type: "text", text: "Let me look." },
              { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } },
            ],
          },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_1", content: "22C" }] },
        ]);
      }
    });

    it("maps tool_choice any to a required tool call", async () => {
      const message = await client().messages.create({
        model,
        max_tokens: 100,
        tools: [weatherTool],
        tool_choice: { type: "any" },
        messages: [{ role: "user", content: "anything" }],
      });
      expect(message.content).toEqual([{ type: "tool_use", id: expect.any(String), name: "get_weather", input: {} }]);
      if (provider === "openai") expect(sent("openai").tool_choice).toBe("required");
      else expect(sent("anthropic").tool_choice).toEqual({ type: "any" });
    });
  });

  it("answers errors in Anthropic's shape: unknown model, bad key, missing max_tokens", async () => {
    const unknown = await caught(
      client().messages.create({ model: "claude-nonesuch", max_tokens: 10, messages: [{ role: "user", content: "x" }] }),
    );
    expect(unknown).toBeInstanceOf(Anthropic.NotFoundError);
    expect(unknown.error).toMatchObject({
      type: "error",
      error: { type: "not_found_error", message: expect.stringContaining("claude-nonesuch") },
    });

    const badKey = await caught(
      client("ms_not_a_real_key_0123456789abcdef").messages.create({
        model: "gpt-4o",
        max_tokens: 10,
        messages: [{ role: "user", content: "x" }],
      }),
    );
    expect(badKey).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(badKey.error).toMatchObject({ type: "error", error: { type: "authentication_error" } });

    const res = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": server.key, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      type: "error",
      error: { type: "invalid_request_error", message: expect.stringContaining("max_tokens") },
    });
  });

  it("takes the key as x-api-key, as Anthropic's API does", async () => {
    const viaHeader = new Anthropic({
      apiKey: null,
      authToken: null,
      baseURL: server.url,
      maxRetries: 0,
      defaultHeaders: { "x-api-key": server.key },
    });
    const message = await viaHeader.messages.create({ model: "gpt-4o-mini", max_tokens: 10, messages: [{ role: "user", content: "hi" }] });
    expect(message.content).toEqual([{ type: "text", text: "You said: hi" }]);
  });

  it("ends a stream that fails midway with an error event", async () => {
    const res = await fetch(`${server.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": server.key, "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4o",
        max_tokens: 50,
        stream: true,
        messages: [{ role: "user", content: "one two three [[emulator fault=cut after=2]]" }],
      }),
    });
    expect(res.status).toBe(200);
    const frames = sseFrames(await res.text());
    expect(frames.map((f) => f.event).slice(0, 3)).toEqual(["message_start", "ping", "content_block_start"]);
    const last = frames.at(-1)!;
    expect(last.event).toBe("error");
    expect(JSON.parse(last.data)).toMatchObject({ type: "error", error: { type: "api_error" } });
    const stream = client().messages.stream({
      model: "gpt-4o",
      max_tokens: 50,
      messages: [{ role: "user", content: "one two three [[emulator fault=cut after=2]]" }],
    });
    await expect(stream.finalMessage()).rejects.toBeInstanceOf(Anthropic.APIError);
  });
});
