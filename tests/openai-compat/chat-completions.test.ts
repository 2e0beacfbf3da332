// POST /v1/chat/completions driven by the official `openai` SDK against our running host, which
// talks to the provider emulator: OpenAI's JSON and SSE framing, Anthropic models behind it, tools
// both ways, response_format, and the usage row a call records (the provider's counts, exact cost).
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { testDatabases } from "@/tests/support/db.ts";
import { sseFrames, useCompatServer } from "./harness.ts";

type Body = Record<string, unknown>;

const weatherTool: OpenAI.Chat.ChatCompletionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

// Both paths of an OpenAI model: the caller's body passed through (on, the default) and rebuilt through the SDK (off).
const runs = testDatabases().flatMap((db) => (["on", "off"] as const).map((passthrough) => ({ ...db, passthrough })));

describe.each(runs)("POST /v1/chat/completions on $kind, passthrough $passthrough", ({ kind, passthrough }) => {
  const server = useCompatServer(kind, () => ({ OPENAI_PASSTHROUGH: passthrough }));
  const client = () => new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  const rid = (id: string) => ({ headers: { "x-request-id": `${kind}-${passthrough}-${id}` } });
  const events = (id: string) => server.events(`${kind}-${passthrough}-${id}`);
  const sent = (protocol: "openai" | "anthropic") =>
    server.emulator.requests.find((r) => r.protocol === protocol && r.method === "POST")!.body as Body;

  it("answers a plain completion in OpenAI's shape and records the provider's usage at the exact cost", async () => {
    const completion = await client().chat.completions.create(
      { model: "gpt-4", messages: [{ role: "user", content: "hello there friend" }] },
      rid("plain"),
    );
    expect(completion).toMatchObject({
      object: "chat.completion",
      model: "gpt-4",
      choices: [
        {
          index: 0,
          message: { role: "assistant", content: "You said: hello there friend", refusal: null },
          logprobs: null,
          finish_reason: "stop",
        },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8, prompt_tokens_details: { cached_tokens: 0 } },
    });
    expect(completion.id).toMatch(/^chatcmpl-/);
    expect(typeof completion.created).toBe("number");
    // gpt-4 at $30/$60 per 1M tokens: 3 × 0.00003 + 5 × 0.00006
    expect(completion).toMatchObject({ provider: "openai", cost: { input_cost: 0.00009, output_cost: 0.0003, total_cost: 0.00039 } });
    expect(await events("plain")).toEqual([
      expect.objectContaining({
        endpoint: "/v1/chat/completions",
        status: "success",
        model_id: "gpt-4",
        input_tokens: 3,
        output_tokens: 5,
        total_cost: "0.000390000000",
        stream: false,
      }),
    ]);
  });

  it("streams chunks with include_usage and records exactly the usage the provider reported", async () => {
    // gpt-4o: $2.5 in, $1.25 cached, $10 out per 1M. 6 words in (2 cached); 4 words + 3 reasoning out.
    const stream = await client().chat.completions.create(
      {
        model: "gpt-4o",
        stream: true,
        stream_options: { include_usage: true },
        messages: [{ role: "user", content: "a b c d e f [[emulator cached=2 reasoning=3 words=4]]" }],
      },
      rid("stream-usage"),
    );
    const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta).toMatchObject({ role: "assistant", content: "" });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.model === "gpt-4o")).toBe(true);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("alpha bravo charlie delta");
    expect(chunks.at(-2)!.choices[0]).toMatchObject({ delta: {}, finish_reason: "stop" });
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    // The provider's usage object (passed through, it keeps the details the provider adds).
    expect(last.usage).toMatchObject({
      prompt_tokens: 6,
      completion_tokens: 7,
      total_tokens: 13,
      prompt_tokens_details: { cached_tokens: 2 },
      completion_tokens_details: { reasoning_tokens: 3 },
    });
    // Every chunk before the last says usage: null, as OpenAI's do.
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    // 4 × 2.5e-6 + 2 × 1.25e-6 = 0.0000125 in; 7 × 10e-6 = 0.00007 out
    expect(last).toMatchObject({ cost: { input_cost: 0.0000125, output_cost: 0.00007, total_cost: 0.0000825 } });
    expect(await events("stream-usage")).toEqual([
      expect.objectContaining({
        endpoint: "/v1/chat/completions",
        status: "success",
        stream: true,
        model_id: "gpt-4o",
        input_tokens: 6,
        output_tokens: 7,
        cached_input_tokens: 2,
        reasoning_tokens: 3,
        input_cost: "0.000012500000",
        output_cost: "0.000070000000",
        total_cost: "0.000082500000",
      }),
    ]);
  });

  it("frames the stream as OpenAI does: data lines, no usage without include_usage, then data: [DONE]", async () => {
    const res = await fetch(`${server.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o-mini", stream: true, messages: [{ role: "user", content: "one two" }] }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.endsWith("data: [DONE]\n\n")).toBe(true);
    const frames = sseFrames(text);
    expect(frames.every((f) => f.event === undefined)).toBe(true);
    expect(text).not.toContain('"usage"');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data) as Body);
    expect(chunks.map((c) => (c.choices as { delta: { content?: string } }[])[0]!.delta.content ?? "").join("")).toBe("You said: one two");
  });

  it("aborts the upstream stream when the client leaves, and records what was streamed", async () => {
    const controller = new AbortController();
    const stream = await client().chat.completions.create(
      { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "long [[emulator words=200 chunk_delay=30]]" }] },
      { ...rid("leave"), signal: controller.signal },
    );
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) break; // leaving the loop aborts the request
    }
    const upstream = await server.emulator.waitFor((r) => r.path === "/v1/chat/completions");
    await expect.poll(() => upstream.aborted, { timeout: 5000 }).toBe(true);
    await expect.poll(async () => (await events("leave")).length, { timeout: 5000 }).toBe(1);
    const [e] = await events("leave");
    expect(e).toMatchObject({ status: "error", error_code: "client_closed", stream: true });
    expect(e!.output_tokens).toBeGreaterThan(0);
    expect(e!.output_tokens).toBeLessThan(200);
  });

  it("routes an Anthropic model: system message to Anthropic's system field, stop reasons mapped back", async () => {
    const completion = await client().chat.completions.create({
      model: "claude-3-haiku",
      max_tokens: 2,
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "one two three" },
      ],
    });
    expect(completion.model).toBe("claude-3-haiku-20240307");
    expect(completion.choices[0]).toMatchObject({ message: { content: "You said:" }, finish_reason: "length" });
    expect(sent("anthropic")).toMatchObject({ system: "be brief", max_tokens: 2, messages: [{ role: "user", content: "one two three" }] });
  });

  describe.each([
    { provider: "openai", model: "gpt-4o" },
    { provider: "anthropic", model: "claude-sonnet-4-6" },
  ] as const)("tools through $provider", ({ provider, model }) => {
    const ask = 'weather please [[emulator tool=get_weather args={"city":"Paris"}]]';

    it("passes the tools on and answers the tool call in OpenAI's shape", async () => {
      const completion = await client().chat.completions.create(
        { model, tools: [weatherTool], messages: [{ role: "user", content: ask }] },
        rid(`tools-${provider}`),
      );
      const choice = completion.choices[0]!;
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBeNull();
      expect(choice.message.tool_calls).toEqual([
        {
          id: expect.stringMatching(provider === "openai" ? /^call_/ : /^toolu_/),
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        },
      ]);
      const body = sent(provider);
      if (provider === "openai") {
        expect(body.tools).toEqual([weatherTool]);
      } else {
        expect(body.tools).toEqual([
          { name: "get_weather", description: "The weather in a city", input_schema: weatherTool.function.parameters },
        ]);
        expect(body).not.toHaveProperty("tool_choice");
      }
      // "get_weather {"city":"Paris"}" is two emulator tokens.
      expect(completion.usage).toMatchObject({ completion_tokens: 2 });
      expect(await events(`tools-${provider}`)).toEqual([expect.objectContaining({ output_tokens: 2, status: "success" })]);
    });

    it("sends the assistant's tool calls and the tool results back, mapped for the provider", async () => {
      const completion = await client().chat.completions.create({
        model,
        tools: [weatherTool],
        messages: [
          { role: "user", content: "weather in Paris?" },
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_abc", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
          },
          { role: "tool", tool_call_id: "call_abc", content: "22C and sunny" },
        ],
      });
      expect(completion.choices[0]).toMatchObject({ finish_reason: "stop", message: { content: "Tool call_abc returned: 22C and sunny" } });
      const body = sent(provider);
      if (provider === "anthropic") {
        expect(body.messages).toEqual([
          { role: "user", content: "weather in Paris?" },
          { role: "assistant", content: [{ type: "tool_use", id: "call_abc", name: "get_weather", input: { city: "Paris" } }] },
          { role: "user", content: [{ type: "tool_result", tool_use_id: "call_abc", content: "22C and sunny" }] },
        ]);
      } else {
        expect((body.messages as Body[]).slice(1)).toEqual([
          {
            role: "assistant",
            content: null,
            tool_calls: [{ id: "call_abc", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }],
          },
          { role: "tool", tool_call_id: "call_abc", content: "22C and sunny" },
        ]);
      }
    });

    it("streams tool-call deltas in OpenAI's chunk format, which the SDK assembles", async () => {
      const stream = client().chat.completions.stream(
        {
          model,
          tools: [weatherTool],
          stream_options: { include_usage: true },
          messages: [{ role: "user", content: ask.replace("tool=", "words=2 tool=") }],
        },
        rid(`tools-stream-${provider}`),
      );
      const chunks: OpenAI.Chat.ChatCompletionChunk[] = [];
      stream.on("chunk", (c) => chunks.push(c));
      const final = await stream.finalChatCompletion();
      const choice = final.choices[0]!;
      expect(choice.finish_reason).toBe("tool_calls");
      expect(choice.message.content).toBe("alpha bravo");
      expect(choice.message.tool_calls).toEqual([
        { id: expect.any(String), type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
      ]);
      const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
      expect(toolDeltas[0]).toMatchObject({
        index: 0,
        id: choice.message.tool_calls![0]!.id,
        type: "function",
        function: { name: "get_weather" },
      });
      expect(toolDeltas.length).toBeGreaterThan(2); // the arguments came in pieces
      expect(toolDeltas.slice(1).every((d) => d.id === undefined && d.function?.name === undefined)).toBe(true);
      // 2 words of text + 2 tokens of tool call, as the provider counted them
      expect(final.usage).toMatchObject({ completion_tokens: 4 });
      expect(await events(`tools-stream-${provider}`)).toEqual([
        expect.objectContaining({ output_tokens: 4, stream: true, status: "success" }),
      ]);
    });

    it("forces a tool with tool_choice, and says no parallel calls where asked", async () => {
      const completion = await client().chat.completions.create({
        model,
        tools: [weatherTool],
        tool_choice: { type: "function", function: { name: "get_weather" } },
        parallel_tool_calls: false,
        messages: [{ role: "user", content: "anything" }],
      });
      expect(completion.choices[0]!.message.tool_calls).toEqual([
        { id: expect.any(String), type: "function", function: { name: "get_weather", arguments: "{}" } },
      ]);
      const body = sent(provider);
      if (provider === "openai") {
        expect(body).toMatchObject({ tool_choice: { type: "function", function: { name: "get_weather" } }, parallel_tool_calls: false });
      } else {
        expect(body.tool_choice).toEqual({ type: "tool", name: "get_weather", disable_parallel_tool_use: true });
      }
    });

    it("passes response_format json_schema on and answers JSON", async () => {
      const schema = {
        type: "object",
        properties: { answer: { type: "string" }, words: { type: "integer" } },
        required: ["answer", "words"],
      };
      const completion = await client().chat.completions.create({
        model,
        response_format: { type: "json_schema", json_schema: { name: "reply", schema, strict: true } },
        messages: [{ role: "user", content: "red green" }],
      });
      expect(JSON.parse(completion.choices[0]!.message.content!)).toEqual({ answer: "You said: red green", words: 4 });
      const body = sent(provider);
      if (provider === "openai")
        expect(body.response_format).toEqual({ type: "json_schema", json_schema: { name: "reply", schema, strict: true } });
      else expect(body.output_config).toEqual({ format: { type: "json_schema", schema } });
    });
  });

  it("asks Anthropic for a JSON object with an instruction, as it has no JSON mode without a schema", async () => {
    await client().chat.completions.create({
      model: "claude-sonnet-4-6",
      response_format: { type: "json_object" },
      messages: [{ role: "user", content: "x" }],
    });
    expect(sent("anthropic").system).toMatch(/single JSON object/);
    await client().chat.completions.create({
      model: "gpt-4o",
      response_format: { type: "json_object" },
      messages: [{ role: "user", content: "x" }],
    });
    expect(sent("openai").response_format).toEqual({ type: "json_object" });
  });

  it("maps images to Anthropic's image blocks", async () => {
    await client().chat.completions.create({
      model: "claude-sonnet-4-6",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "what is this" },
            { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
            { type: "image_url", image_url: { url: "https://example.com/cat.jpg" } },
          ],
        },
      ],
    });
    expect(sent("anthropic").messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "what is this" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
          { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
        ],
      },
    ]);
  });

  it("takes the developer role as a system message", async () => {
    await client().chat.completions.create({
      model: "claude-sonnet-4-6",
      messages: [
        { role: "developer", content: "be terse" },
        { role: "user", content: "hi" },
      ],
    });
    expect(sent("anthropic").system).toBe("be terse");
  });
});
