// The Anthropic adapter driven through the official SDK against the provider emulator.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startProviderEmulator, type ProviderEmulator } from "../../tests/emulators/provider-emulator.ts";
import {
  ANTHROPIC_DEFAULT_MAX_TOKENS,
  convertAnthropicUsage,
  createAnthropicProvider,
  mapAnthropicStopReason,
  toAnthropicMessages,
  type AnthropicProvider,
} from "./anthropic.ts";
import { collect, collectUntilError, deltas, providerError } from "./test-helpers.ts";
import { ProviderError, type ChatMessage } from "./types.ts";

let emu: ProviderEmulator;
let anthropic: AnthropicProvider;

beforeAll(async () => {
  emu = await startProviderEmulator();
  anthropic = createAnthropicProvider({ apiKey: emu.anthropicKey!, baseURL: emu.anthropicBaseUrl });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const model = "claude-sonnet-4-6";
const messages = (user: string): ChatMessage[] => [
  { role: "system", content: "Be brief." },
  { role: "user", content: user },
];

describe("Anthropic adapter: text", () => {
  it("generates text with exact usage and maps end_turn to stop", async () => {
    const result = await anthropic.generateText({ model, messages: messages("Hello there world"), user: "u-7" });
    expect(result).toMatchObject({ text: "You said: Hello there world", finishReason: "stop", model });
    expect(result.id).toMatch(/^msg_/);
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 });
    const sent = emu.requests[0]!;
    expect(sent.headers["anthropic-version"]).toBeDefined();
    expect(sent.body).toMatchObject({ metadata: { user_id: "u-7" } });
  });

  it("joins system messages into the system field, keeps them out of messages, and applies the default max_tokens", async () => {
    await anthropic.generateText({
      model,
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
        { role: "system", content: "Answer in English." },
        { role: "user", content: "again" },
      ],
    });
    const body = emu.requests[0]!.body as Record<string, unknown>;
    expect(body.system).toBe("Be brief.\n\nAnswer in English.");
    expect(body.messages).toEqual([
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "again" },
    ]);
    expect(body.max_tokens).toBe(ANTHROPIC_DEFAULT_MAX_TOKENS);
    expect(ANTHROPIC_DEFAULT_MAX_TOKENS).toBe(4096);
  });

  it("uses the request's maxTokens, else the catalogue's defaultMaxTokens; max_tokens maps to length", async () => {
    await anthropic.generateText({ model, messages: messages("x"), defaultMaxTokens: 64000 });
    expect(emu.requests[0]!.body).toMatchObject({ max_tokens: 64000 });
    const cut = await anthropic.generateText({ model, messages: messages("Hello there world"), maxTokens: 3, defaultMaxTokens: 64000 });
    expect(emu.requests[1]!.body).toMatchObject({ max_tokens: 3 });
    expect(cut).toMatchObject({ text: "You said: Hello", finishReason: "length" });
    expect(cut.usage.outputTokens).toBe(3);
  });

  it("passes stop sequences as stop_sequences and maps stop_sequence to stop", async () => {
    const result = await anthropic.generateText({ model, messages: messages("Hello there world"), stop: ["there"] });
    expect(emu.requests[0]!.body).toMatchObject({ stop_sequences: ["there"] });
    expect(result).toMatchObject({ text: "You said: Hello ", finishReason: "stop" });
  });

  it("leaves out temperature and top_p, which API version 2026-10-21 rejects", async () => {
    const result = await anthropic.generateText({ model, messages: messages("x"), temperature: 0.7, topP: 0.9 });
    expect(result.text).toBe("You said: x");
    expect(emu.requests[0]!.headers["anthropic-version"]).toBe("2026-10-21");
    expect(emu.requests[0]!.body).not.toHaveProperty("temperature");
    expect(emu.requests[0]!.body).not.toHaveProperty("top_p");
  });

  it("streams deltas; input tokens come from message_start, output tokens from message_delta", async () => {
    const parts = await collect(anthropic.streamText({ model, messages: messages("Hello there world") }));
    expect(deltas(parts)).toEqual(["You", " said:", " Hello", " there", " world"]);
    expect(parts.at(-1)).toEqual({
      type: "finish",
      finishReason: "stop",
      usage: { inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 },
      id: expect.stringMatching(/^msg_/),
      model,
    });
    expect(emu.requests[0]!.body).toMatchObject({ stream: true });
  });

  it("counts cache reads and writes as input, cache reads as cached; thinking tokens as reasoning", async () => {
    const user = "a b c d e f g h [[emulator cached=4 cache_write=2 reasoning=3]]";
    // 2 system + 8 user words: input_tokens 4 uncached + 4 read + 2 written; "You said: a ... h" is 10 words
    const expected = { inputTokens: 10, outputTokens: 10 + 3, cachedInputTokens: 4, reasoningTokens: 3, cacheWriteTokens: 2 };
    expect((await anthropic.generateText({ model, messages: messages(user) })).usage).toEqual(expected);
    expect((await collect(anthropic.streamText({ model, messages: messages(user) }))).at(-1)).toMatchObject({ usage: expected });
    const full = await collect(anthropic.streamText({ model, messages: messages(`${user} [[emulator delta_usage=full]]`) }));
    expect(full.at(-1)).toMatchObject({ usage: expected });
  });

  it("maps stop reasons and converts usage", () => {
    expect(["end_turn", "stop_sequence", "max_tokens", "tool_use", "refusal", "pause_turn"].map(mapAnthropicStopReason)).toEqual([
      "stop",
      "stop",
      "length",
      "tool_calls",
      "content_filter",
      "other",
    ]);
    expect(
      convertAnthropicUsage({ input_tokens: 10, cache_read_input_tokens: 5, cache_creation_input_tokens: 1, output_tokens: 2 }),
    ).toEqual({
      inputTokens: 16,
      outputTokens: 2,
      cachedInputTokens: 5,
      reasoningTokens: 0,
      cacheWriteTokens: 1,
    });
    // The writes split by lifetime (cache_creation), and the service tier that served the call.
    expect(
      convertAnthropicUsage({
        input_tokens: 10,
        cache_creation_input_tokens: 7,
        cache_creation: { ephemeral_5m_input_tokens: 3, ephemeral_1h_input_tokens: 4 },
        output_tokens: 2,
        service_tier: "priority",
      }),
    ).toEqual({
      inputTokens: 17,
      outputTokens: 2,
      cachedInputTokens: 0,
      reasoningTokens: 0,
      cacheWriteTokens: 7,
      cacheWrite1hTokens: 4,
      serviceTier: "priority",
    });
    expect(convertAnthropicUsage({ input_tokens: 1, output_tokens: 1, service_tier: "standard" }).serviceTier).toBeUndefined();
  });

  it("reads the 1-hour cache writes of a streamed answer (message_start's cache_creation)", async () => {
    const parts = await collect(
      anthropic.streamText({
        model,
        messages: [{ role: "user", content: "a b c d e f [[emulator cache_write=1 cache_write_1h=2 tier=priority]]" }],
      }),
    );
    const finish = parts.at(-1);
    expect(finish).toMatchObject({
      type: "finish",
      usage: { inputTokens: 6, cacheWriteTokens: 3, cacheWrite1hTokens: 2, serviceTier: "priority" },
    });
  });
});

describe("Anthropic adapter: empty content, which Anthropic refuses", () => {
  it("drops an empty assistant message (OpenAI's content: null without tool calls), empty text parts and an empty system prompt", async () => {
    const result = await anthropic.generateText({
      model,
      messages: [
        { role: "system", content: "" },
        { role: "user", content: "first" },
        { role: "assistant", content: "" },
        {
          role: "user",
          content: "",
          parts: [
            { type: "text", text: "" },
            { type: "text", text: "second" },
          ],
        },
      ],
    });
    expect(result.text).toBe("You said: second");
    const body = emu.requests.at(-1)!.body as { system?: unknown; messages: unknown[] };
    expect(body.system).toBeUndefined();
    expect(body.messages).toEqual([
      { role: "user", content: "first" },
      { role: "user", content: [{ type: "text", text: "second" }] },
    ]);
  });

  it("keeps an empty final assistant message (a prefill)", async () => {
    await anthropic.generateText({
      model,
      messages: [
        { role: "user", content: "go" },
        { role: "assistant", content: "" },
      ],
    });
    expect((emu.requests.at(-1)!.body as { messages: unknown[] }).messages).toEqual([
      { role: "user", content: "go" },
      { role: "assistant", content: "" },
    ]);
  });

  it("refuses an empty user message, naming it, without calling Anthropic", async () => {
    const before = emu.requests.length;
    const err = await providerError(
      anthropic.generateText({
        model,
        messages: [
          { role: "user", content: "hi" },
          { role: "assistant", content: "hello" },
          { role: "user", content: "" },
        ],
      }),
    );
    expect(err).toMatchObject({ kind: "invalid_request", retryable: false });
    expect(err.message).toContain("message 2 (user) is empty");
    expect(emu.requests.length).toBe(before);
  });

  it("the emulator refuses what Anthropic refuses", async () => {
    const raw = (body: unknown) =>
      fetch(`${emu.anthropicBaseUrl}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": emu.anthropicKey!, "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: JSON.stringify({ model, max_tokens: 10, ...(body as object) }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error: { message: string } } }));
    const empty = await raw({
      messages: [
        { role: "user", content: "a" },
        { role: "assistant", content: "" },
        { role: "user", content: "b" },
      ],
    });
    expect(empty.status).toBe(400);
    expect(empty.body.error.message).toBe(
      "messages.1: all messages must have non-empty content except for the optional final assistant message",
    );
    const block = await raw({ messages: [{ role: "user", content: [{ type: "text", text: "" }] }] });
    expect(block.body.error.message).toBe("messages.0: text content blocks must be non-empty");
    expect((await raw({ system: "", messages: [{ role: "user", content: "a" }] })).status).toBe(400);
  });
});

describe("Anthropic adapter: faults become ProviderErrors", () => {
  const ask = (directive: string) => anthropic.generateText({ model, messages: messages(`hi [[emulator ${directive}]]`) });

  it.each([
    ["fault=rate_limit retry_after=7", { kind: "rate_limited", status: 429, retryable: true, retryAfterMs: 7000 }],
    ["fault=server_error", { kind: "server", status: 500, retryable: true }],
    ["fault=overloaded", { kind: "server", status: 529, retryable: true }],
    ["fault=unauthorized", { kind: "auth", status: 401, retryable: false }],
    ["fault=quota", { kind: "invalid_request", status: 400, retryable: false }],
    ["fault=spend_limit", { kind: "rate_limited", status: 429, retryable: false, retryAfterMs: undefined }],
    ["fault=spend_limit limit=contract", { kind: "rate_limited", status: 429, retryable: false, retryAfterMs: undefined }],
    ["fault=malformed", { kind: "server", retryable: true }],
    ["fault=cut", { kind: "connection", retryable: true }],
    ["fail_first=1 status=529", { kind: "server", status: 529, retryable: true }],
  ])("%s", async (directive, expected) => {
    const err = await providerError(ask(directive));
    expect(err).toMatchObject(expected);
    expect(err.message).toContain("Anthropic");
  });

  it("keeps the provider's explanation of an invalid request", async () => {
    const err = await providerError(anthropic.generateText({ model, messages: [{ role: "system", content: "only a system prompt" }] }));
    expect(err).toMatchObject({ kind: "invalid_request", status: 400 });
    expect(err.message).toContain("at least one message");
  });

  it("a stream cut midway yields the deltas already sent, then a connection error", async () => {
    const { parts, error } = await collectUntilError(
      anthropic.streamText({ model, messages: messages("a b c d e [[emulator fault=cut after=2]]") }),
    );
    expect(deltas(parts)).toEqual(["You", " said:"]);
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ kind: "connection", retryable: true });
  });

  it("a stream that ends cleanly before message_stop is a connection error", async () => {
    const { parts, error } = await collectUntilError(
      anthropic.streamText({ model, messages: messages("a b c [[emulator fault=end_early after=3]]") }),
    );
    expect(deltas(parts)).toHaveLength(3);
    expect(error).toMatchObject({ kind: "connection", retryable: true });
  });

  it("an overloaded error event inside the stream is a retryable server error", async () => {
    const { parts, error } = await collectUntilError(
      anthropic.streamText({ model, messages: messages("a b c [[emulator fault=stream_error after=1]]") }),
    );
    expect(deltas(parts)).toEqual(["You"]);
    expect(error).toMatchObject({ kind: "server", retryable: true });
    expect((error as Error).message).toContain("Overloaded");
  });

  it("slow first byte: a timeout signal gives a timeout error and closes the upstream connection", async () => {
    const err = await providerError(
      anthropic.generateText({ model, messages: messages("x [[emulator delay=2000]]") }, { signal: AbortSignal.timeout(100) }),
    );
    expect(err).toMatchObject({ kind: "timeout", retryable: true });
    await emu.waitFor((r) => r.aborted, 5000);
  });

  it("aborting a stream via the signal cancels the upstream request", async () => {
    const controller = new AbortController();
    let caught: unknown;
    let seen = 0;
    try {
      for await (const part of anthropic.streamText(
        { model, messages: messages("[[emulator words=50 chunk_delay=30]]") },
        { signal: controller.signal },
      )) {
        if (part.type === "text-delta" && ++seen === 1) controller.abort();
      }
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(DOMException);
    expect((caught as DOMException).name).toBe("AbortError");
    expect(seen).toBe(1);
    await emu.waitFor((r) => r.aborted, 5000);
  });
});

describe("Anthropic adapter: keys, embeddings, availability", () => {
  it("sends the key (SDK 1.x: as a bearer token) and never puts it in an error", async () => {
    await anthropic.generateText({ model, messages: messages("x") });
    expect(emu.requests[0]!.headers.authorization).toBe(`Bearer ${emu.anthropicKey}`);
    const key = "sk-ant-api03-SECRETANTHROPIC-4321";
    const wrong = createAnthropicProvider({ apiKey: key, baseURL: emu.anthropicBaseUrl });
    const errors = [
      await providerError(wrong.generateText({ model, messages: messages("x") })),
      (await collectUntilError(wrong.streamText({ model, messages: messages("x") }))).error as ProviderError,
    ];
    for (const err of errors) {
      expect(err).toMatchObject({ kind: "auth", status: 401 });
      for (const text of [err.message, String(err.stack), JSON.stringify(err)]) {
        expect(text).not.toContain(key);
        expect(text).not.toContain("SECRETANTHROPIC");
      }
    }
  });

  it("has no embeddings: a clear invalid_request error", async () => {
    expect(anthropic.maxEmbeddingsPerCall).toBe(0);
    const err = await providerError(anthropic.generateEmbeddings());
    expect(err).toMatchObject({ kind: "invalid_request", retryable: false });
    expect(err.message).toMatch(/no embeddings/);
  });

  it("without a key: unavailable with the reason", async () => {
    const p = createAnthropicProvider({});
    expect(p.status()).toEqual({ available: false, reason: "ANTHROPIC_API_KEY is not set" });
    expect(await providerError(p.generateText({ model, messages: messages("x") }))).toMatchObject({
      kind: "unavailable",
      message: "ANTHROPIC_API_KEY is not set",
    });
    expect((await collectUntilError(p.streamText({ model, messages: messages("x") }))).error).toMatchObject({ kind: "unavailable" });
  });

  it("lists its models", async () => {
    expect(await anthropic.listModels()).toEqual(expect.arrayContaining([{ id: "claude-sonnet-4-6", type: "chat" }]));
  });
});

describe("Anthropic adapter: tools", () => {
  const weather = { name: "get_weather", description: "Weather", parameters: { type: "object", properties: { city: { type: "string" } } } };
  const ask = 'weather [[emulator tool=get_weather args={"city":"Oslo"}]]';

  it("sends tools as input_schema, answers tool_use as tool calls with finish reason tool_calls", async () => {
    const result = await anthropic.generateText({
      model,
      messages: messages(ask),
      tools: [weather],
      toolChoice: "required",
      parallelToolCalls: false,
    });
    expect(result).toMatchObject({
      text: "",
      finishReason: "tool_calls",
      toolCalls: [{ id: expect.stringMatching(/^toolu_/), name: "get_weather", arguments: '{"city":"Oslo"}' }],
    });
    expect(emu.requests[0]!.body).toMatchObject({
      tools: [{ name: "get_weather", description: "Weather", input_schema: weather.parameters }],
      tool_choice: { type: "any", disable_parallel_tool_use: true },
    });
  });

  it("streams a tool call as deltas: id and name first, then the input JSON in pieces", async () => {
    const parts = await collect(anthropic.streamText({ model, messages: messages(ask), tools: [weather] }));
    const calls = parts.filter((p) => p.type === "tool-call-delta");
    expect(calls[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^toolu_/), name: "get_weather", argumentsDelta: "" });
    expect(calls.map((c) => (c.type === "tool-call-delta" ? c.argumentsDelta : "")).join("")).toBe('{"city":"Oslo"}');
    expect(calls.length).toBeGreaterThan(2);
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
  });

  it("puts tool results, and the user text after them, in one user message", () => {
    expect(
      toAnthropicMessages([
        { role: "system", content: "s" },
        { role: "user", content: "q" },
        {
          role: "assistant",
          content: "",
          toolCalls: [
            { id: "a", name: "f", arguments: '{"x":1}' },
            { id: "b", name: "f", arguments: "" },
          ],
        },
        { role: "tool", toolCallId: "a", content: "one" },
        { role: "tool", toolCallId: "b", content: "failed", isError: true },
        { role: "user", content: "and now?" },
      ]),
    ).toEqual([
      { role: "user", content: "q" },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "a", name: "f", input: { x: 1 } },
          { type: "tool_use", id: "b", name: "f", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "a", content: "one" },
          { type: "tool_result", tool_use_id: "b", content: "failed", is_error: true },
          { type: "text", text: "and now?" },
        ],
      },
    ]);
  });

  it("refuses tool call arguments that are not a JSON object", () => {
    expect(() => toAnthropicMessages([{ role: "assistant", content: "", toolCalls: [{ id: "a", name: "f", arguments: "[1,2" }] }])).toThrow(
      ProviderError,
    );
  });

  it("maps a JSON schema response format to output_config, and a JSON object to an instruction", async () => {
    await anthropic.generateText({
      model,
      messages: messages("x"),
      responseFormat: { type: "json_schema", name: "r", schema: { type: "object" } },
    });
    expect(emu.requests[0]!.body).toMatchObject({ output_config: { format: { type: "json_schema", schema: { type: "object" } } } });
    await anthropic.generateText({ model, messages: messages("x"), responseFormat: { type: "json_object" } });
    expect((emu.requests[1]!.body as { system: string }).system).toMatch(/^Be brief\.\n\nAnswer with a single JSON object/);
  });
});
