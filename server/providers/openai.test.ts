// The OpenAI adapter against the provider emulator, on both of its chat paths: the official SDK, and
// the passthrough (openai-wire.ts) given the body the SDK path would send (test-helpers.ts viaPassthrough).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../tests/emulators/provider-emulator.ts";
import {
  convertOpenAIUsage,
  createOpenAIProvider,
  mapOpenAIFinishReason,
  type OpenAIChatProvider,
  type OpenAIProviderOptions,
} from "./openai.ts";
import { collect, collectUntilError, deltas, providerError, viaPassthrough } from "./test-helpers.ts";
import { ProviderError, type ChatMessage, type Provider } from "./types.ts";

let emu: ProviderEmulator;
let adapter: OpenAIChatProvider;

beforeAll(async () => {
  emu = await startProviderEmulator();
  adapter = createOpenAIProvider({ apiKey: emu.openaiKey!, baseURL: emu.openaiBaseUrl });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const messages = (user: string): ChatMessage[] => [
  { role: "system", content: "Be brief." },
  { role: "user", content: user },
];

describe.each(["sdk", "passthrough"] as const)("on the %s path", (path) => {
  const on = (p: OpenAIChatProvider): Provider => (path === "sdk" ? p : viaPassthrough(p));
  const make = (options: OpenAIProviderOptions) => on(createOpenAIProvider(options));
  let openai: Provider;
  beforeAll(() => {
    openai = on(adapter);
  });

  describe("OpenAI adapter: text", () => {
    it("generates text with exact usage and the finish reason, sending what we asked", async () => {
      const result = await openai.generateText({
        model: "gpt-4o",
        messages: messages("Hello there world"),
        temperature: 0.2,
        topP: 0.9,
        user: "u-1",
      });
      expect(result.text).toBe("You said: Hello there world");
      expect(result.finishReason).toBe("stop");
      expect(result.model).toBe("gpt-4o");
      expect(result.id).toMatch(/^chatcmpl-/);
      // system 2 words + user 3 words in; 5 words out
      expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 });
      const sent = emu.requests[0]!;
      expect(sent.headers.authorization).toBe(`Bearer ${emu.openaiKey}`);
      expect(sent.body).toMatchObject({
        model: "gpt-4o",
        messages: [
          { role: "system", content: "Be brief." },
          { role: "user", content: "Hello there world" },
        ],
        temperature: 0.2,
        top_p: 0.9,
        user: "u-1",
      });
      expect(sent.body).not.toHaveProperty("stream");
    });

    it("streams text deltas, then one finish with usage from the include_usage chunk", async () => {
      const parts = await collect(openai.streamText({ model: "gpt-4o", messages: messages("Hello there world") }));
      expect(deltas(parts)).toEqual(["You", " said:", " Hello", " there", " world"]);
      const finish = parts.at(-1)!;
      expect(finish).toMatchObject({
        type: "finish",
        finishReason: "stop",
        model: "gpt-4o",
        usage: { inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 },
      });
      expect(parts.filter((p) => p.type === "finish")).toHaveLength(1);
      expect(emu.requests[0]!.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    });

    it("normalises cached and reasoning tokens (plain and streamed)", async () => {
      const request = { model: "o3-mini", messages: messages("one two three four [[emulator cached=4 reasoning=7]]") };
      const plain = await openai.generateText(request);
      // 2 + 4 words in, of which 4 cached; 6 visible words + 7 reasoning out
      expect(plain.usage).toEqual({ inputTokens: 6, outputTokens: 13, cachedInputTokens: 4, reasoningTokens: 7 });
      const streamed = await collect(openai.streamText(request));
      expect(streamed.at(-1)).toMatchObject({ usage: { inputTokens: 6, outputTokens: 13, cachedInputTokens: 4, reasoningTokens: 7 } });
    });

    it("sends max tokens as max_completion_tokens (o-series reject max_tokens) and maps finish_reason length", async () => {
      const result = await openai.generateText({ model: "o3-mini", messages: messages("Hello there world"), maxTokens: 2 });
      expect(result.text).toBe("You said:");
      expect(result.finishReason).toBe("length");
      expect(result.usage.outputTokens).toBe(2);
      expect(emu.requests[0]!.body).toMatchObject({ max_completion_tokens: 2 });
      expect(emu.requests[0]!.body).not.toHaveProperty("max_tokens");
    });

    it("maps finish reasons", () => {
      expect(["stop", "length", "content_filter", "tool_calls", "function_call", null].map(mapOpenAIFinishReason)).toEqual([
        "stop",
        "length",
        "content_filter",
        "tool_calls",
        "tool_calls",
        "other",
      ]);
    });

    it("passes stop sequences", async () => {
      const result = await openai.generateText({ model: "gpt-4o", messages: messages("Hello there world"), stop: ["there", "zzz"] });
      expect(result.text).toBe("You said: Hello ");
      expect(result.finishReason).toBe("stop");
      expect(emu.requests[0]!.body).toMatchObject({ stop: ["there", "zzz"] });
    });
  });

  describe("OpenAI adapter: embeddings", () => {
    it("makes one call for the texts it is given, vectors in order, and refuses more than maxEmbeddingsPerCall", async () => {
      const small = make({ apiKey: emu.openaiKey!, baseURL: emu.openaiBaseUrl, maxEmbeddingsPerCall: 3 });
      const texts = ["a", "b b", "c c c"];
      const result = await small.generateEmbeddings({ model: "text-embedding-3-small", texts });
      expect(emu.requests.map((r) => (r.body as { input: string[] }).input)).toEqual([texts]);
      texts.forEach((t, i) => expect(result.embeddings[i]).toEqual(emulatorEmbedding(t, "text-embedding-3-small")));
      expect(result.usage.inputTokens).toBe(1 + 2 + 3);
      expect(result.model).toBe("text-embedding-3-small");
      const err = await providerError(small.generateEmbeddings({ model: "text-embedding-3-small", texts: [...texts, "d"] }));
      expect(err).toMatchObject({ kind: "invalid_request", retryable: false });
      expect(emu.requests).toHaveLength(1);
    });

    it("asks for base64 (the SDK's default) and decodes it to vectors of the right length", async () => {
      const result = await openai.generateEmbeddings({ model: "text-embedding-3-large", texts: ["hello"] });
      expect(emu.requests[0]!.body).toMatchObject({ encoding_format: "base64" });
      expect(result.embeddings[0]).toHaveLength(3072);
      expect(result.embeddings[0]).toEqual(emulatorEmbedding("hello", "text-embedding-3-large"));
    });

    it("passes dimensions", async () => {
      const result = await openai.generateEmbeddings({ model: "text-embedding-3-small", texts: ["x", "y"], dimensions: 256 });
      expect(emu.requests[0]!.body).toMatchObject({ dimensions: 256 });
      expect(result.embeddings.map((e) => e.length)).toEqual([256, 256]);
    });

    it("a failed call is a ProviderError", async () => {
      const err = await providerError(
        openai.generateEmbeddings({ model: "text-embedding-3-small", texts: ["a", "c [[emulator fault=server_error]]"] }),
      );
      expect(err).toMatchObject({ kind: "server", status: 500, retryable: true });
    });
  });

  describe("OpenAI adapter: faults become ProviderErrors", () => {
    const ask = (directive: string) => openai.generateText({ model: "gpt-4o", messages: messages(`hi [[emulator ${directive}]]`) });

    it.each([
      ["fault=rate_limit retry_after=2", { kind: "rate_limited", status: 429, retryable: true, retryAfterMs: 2000 }],
      ["fault=rate_limit retry_after=2 retry_after_ms=1500", { kind: "rate_limited", status: 429, retryable: true, retryAfterMs: 1500 }],
      ["fault=quota", { kind: "rate_limited", status: 429, retryable: false, retryAfterMs: undefined }],
      ["fault=server_error", { kind: "server", status: 500, retryable: true }],
      ["fault=overloaded", { kind: "server", status: 503, retryable: true }],
      ["fault=unauthorized", { kind: "auth", status: 401, retryable: false }],
      ["fault=malformed", { kind: "server", retryable: true }],
      ["fault=cut", { kind: "connection", retryable: true }],
    ])("%s", async (directive, expected) => {
      const err = await providerError(ask(directive));
      expect(err).toMatchObject(expected);
      expect(err.message).toContain("OpenAI");
    });

    it("an invalid request is not retryable and keeps the provider's explanation", async () => {
      const err = await providerError(openai.generateText({ model: "gpt-4o", messages: [] }));
      expect(err).toMatchObject({ kind: "invalid_request", status: 400, retryable: false });
      expect(err.message).toContain("too short");
    });

    it("an unknown model is not_found", async () => {
      const strict = await startProviderEmulator({ models: ["gpt-4o"] });
      try {
        const p = make({ apiKey: strict.openaiKey!, baseURL: strict.openaiBaseUrl });
        const err = await providerError(p.generateText({ model: "gpt-9", messages: messages("x") }));
        expect(err).toMatchObject({ kind: "not_found", status: 404, retryable: false });
      } finally {
        await strict.close();
      }
    });

    it("fails the first attempts and then succeeds (retries are the caller's; the SDK makes none)", async () => {
      const request = { model: "gpt-4o", messages: messages("again [[emulator fail_first=2 status=429]]") };
      const first = await providerError(openai.generateText(request));
      expect(first).toMatchObject({ kind: "rate_limited", retryable: true });
      await providerError(openai.generateText(request));
      const third = await openai.generateText(request);
      expect(third.text).toBe("You said: again");
      // one HTTP request per call: maxRetries is 0
      expect(emu.requests).toHaveLength(3);
    });

    it("a refused connection is a retryable connection error", async () => {
      const closed = await startProviderEmulator();
      const url = closed.openaiBaseUrl;
      await closed.close();
      const p = make({ apiKey: "sk-x-12345678", baseURL: url });
      const err = await providerError(p.generateText({ model: "gpt-4o", messages: messages("x") }));
      expect(err).toMatchObject({ kind: "connection", retryable: true, status: undefined });
    });

    it("a timeout signal becomes a retryable timeout, and the emulator sees the connection close", async () => {
      const err = await providerError(
        openai.generateText({ model: "gpt-4o", messages: messages("slow [[emulator delay=2000]]") }, { signal: AbortSignal.timeout(100) }),
      );
      expect(err).toMatchObject({ kind: "timeout", retryable: true });
      await emu.waitFor((r) => r.aborted, 5000);
    });
  });

  describe("OpenAI adapter: streams that fail", () => {
    const stream = (directive: string, signal?: AbortSignal) =>
      openai.streamText({ model: "gpt-4o", messages: messages(`one two three four five six [[emulator ${directive}]]`) }, { signal });

    it("a stream cut midway yields the deltas already sent, then a connection error", async () => {
      const { parts, error } = await collectUntilError(stream("fault=cut after=3"));
      expect(deltas(parts)).toEqual(["You", " said:", " one"]);
      expect(parts.some((p) => p.type === "finish")).toBe(false);
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ kind: "connection", retryable: true });
    });

    it("a stream that ends cleanly before its finish_reason is a connection error", async () => {
      const { parts, error } = await collectUntilError(stream("fault=end_early after=2"));
      expect(deltas(parts)).toHaveLength(2);
      expect(error).toMatchObject({ kind: "connection", retryable: true });
    });

    it("an error event inside the stream is a server error", async () => {
      const { parts, error } = await collectUntilError(stream("fault=stream_error after=2"));
      expect(deltas(parts)).toHaveLength(2);
      expect(error).toMatchObject({ kind: "server", status: undefined });
    });

    it("a malformed chunk is a server error", async () => {
      const { error } = await collectUntilError(stream("fault=malformed after=1"));
      expect(error).toMatchObject({ kind: "server", retryable: true });
    });

    it("an error before the first byte is thrown on iteration, with nothing yielded", async () => {
      const { parts, error } = await collectUntilError(stream("fault=rate_limit retry_after=3"));
      expect(parts).toEqual([]);
      expect(error).toMatchObject({ kind: "rate_limited", retryAfterMs: 3000 });
    });

    it("aborting via the signal cancels the upstream request and rejects with the caller's reason", async () => {
      const controller = new AbortController();
      const reason = new Error("client went away");
      const seen: string[] = [];
      let caught: unknown;
      try {
        for await (const part of stream("chunk_delay=30 words=50", controller.signal)) {
          if (part.type === "text-delta") seen.push(part.text);
          if (seen.length === 2) controller.abort(reason);
        }
      } catch (e) {
        caught = e;
      }
      expect(caught).toBe(reason);
      expect(seen).toHaveLength(2);
      const entry = await emu.waitFor((r) => r.aborted, 5000);
      expect(entry.completed).toBe(false);
    });

    it("a consumer that stops reading cancels the upstream request", async () => {
      for await (const part of stream("chunk_delay=30 words=50")) {
        if (part.type === "text-delta") break;
      }
      await emu.waitFor((r) => r.aborted, 5000);
    });
  });

  describe("OpenAI adapter: without a key", () => {
    const p = make({});

    it("is listed as unavailable with the reason, and every call throws unavailable", async () => {
      expect(p.status()).toEqual({ available: false, reason: "OPENAI_API_KEY is not set" });
      const request = { model: "gpt-4o", messages: messages("x") };
      expect(await providerError(p.generateText(request))).toMatchObject({
        kind: "unavailable",
        message: "OPENAI_API_KEY is not set",
        retryable: false,
      });
      expect((await collectUntilError(p.streamText(request))).error).toMatchObject({ kind: "unavailable" });
      expect(await providerError(p.generateEmbeddings({ model: "text-embedding-3-small", texts: ["x"] }))).toMatchObject({
        kind: "unavailable",
      });
    });
  });

  describe("OpenAI adapter: keys stay secret", () => {
    it("no error message holds the key, not even the masked key OpenAI echoes", async () => {
      const key = "sk-proj-SECRETKEYVALUE9876";
      const wrong = make({ apiKey: key, baseURL: emu.openaiBaseUrl });
      const errors: ProviderError[] = [];
      errors.push(await providerError(wrong.generateText({ model: "gpt-4o", messages: messages("x") })));
      errors.push((await collectUntilError(wrong.streamText({ model: "gpt-4o", messages: messages("x") }))).error as ProviderError);
      errors.push(await providerError(wrong.generateEmbeddings({ model: "text-embedding-3-small", texts: ["x"] })));
      // The emulator echoes the key masked, as OpenAI does; our messages must not carry it on.
      const upstream = emu.requests[0]!;
      expect(upstream.status).toBe(401);
      for (const err of errors) {
        expect(err).toMatchObject({ kind: "auth", status: 401 });
        for (const text of [err.message, String(err.stack), JSON.stringify(err)]) {
          expect(text).not.toContain(key);
          expect(text).not.toContain("SECRETKEY");
          expect(text).not.toContain("9876");
        }
      }
      const faults = ["fault=rate_limit", "fault=server_error", "fault=malformed", "fault=cut", "fault=quota"];
      for (const f of faults) {
        const err = await providerError(openai.generateText({ model: "gpt-4o", messages: messages(`x [[emulator ${f}]]`) }));
        expect(err.message).not.toContain(emu.openaiKey!);
      }
    });
  });

  describe("OpenAI adapter: models", () => {
    it("lists the chat and embedding models of GET /models", async () => {
      const models = await openai.listModels();
      expect(models).toEqual(
        expect.arrayContaining([
          { id: "gpt-4o", type: "chat" },
          { id: "text-embedding-3-small", type: "embedding" },
        ]),
      );
      expect(models.some((m) => m.id.startsWith("claude"))).toBe(false);
    });
  });

  describe("OpenAI adapter: tools", () => {
    const weather = { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } };
    const ask = 'weather [[emulator tool=get_weather args={"city":"Oslo"}]]';

    it("sends tools, tool_choice and response_format; answers tool calls", async () => {
      const result = await openai.generateText({
        model: "gpt-4o",
        messages: messages(ask),
        tools: [weather],
        toolChoice: { name: "get_weather" },
        responseFormat: { type: "json_object" },
      });
      expect(result).toMatchObject({
        finishReason: "tool_calls",
        toolCalls: [{ id: expect.stringMatching(/^call_/), name: "get_weather", arguments: '{"city":"Oslo"}' }],
      });
      expect(emu.requests[0]!.body).toMatchObject({
        tools: [{ type: "function", function: weather }],
        tool_choice: { type: "function", function: { name: "get_weather" } },
        response_format: { type: "json_object" },
      });
    });

    it("streams tool calls as deltas", async () => {
      const parts = await collect(openai.streamText({ model: "gpt-4o", messages: messages(ask), tools: [weather] }));
      const calls = parts.filter((p) => p.type === "tool-call-delta");
      expect(calls[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^call_/), name: "get_weather" });
      expect(calls.map((c) => (c.type === "tool-call-delta" ? c.argumentsDelta : "")).join("")).toBe('{"city":"Oslo"}');
      expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
    });

    it("sends assistant tool calls, tool results and images in OpenAI's message shapes", async () => {
      await openai.generateText({
        model: "gpt-4o",
        messages: [
          {
            role: "user",
            content: "look",
            parts: [
              { type: "text", text: "look" },
              { type: "image", url: "https://x/y.png", detail: "low" },
            ],
          },
          { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "f", arguments: "{}" }] },
          { role: "tool", toolCallId: "c1", content: "done" },
        ],
      });
      expect((emu.requests[0]!.body as { messages: unknown }).messages).toEqual([
        {
          role: "user",
          content: [
            { type: "text", text: "look" },
            { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } },
          ],
        },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: "{}" } }] },
        { role: "tool", tool_call_id: "c1", content: "done" },
      ]);
    });
  });
});

describe("OpenAI usage", () => {
  it("reads the audio input tokens and the service tier that served the call (the standard one is none)", () => {
    const usage = {
      prompt_tokens: 10,
      completion_tokens: 2,
      total_tokens: 12,
      prompt_tokens_details: { cached_tokens: 3, audio_tokens: 4 },
    };
    expect(convertOpenAIUsage(usage, "priority")).toEqual({
      inputTokens: 10,
      outputTokens: 2,
      cachedInputTokens: 3,
      reasoningTokens: 0,
      audioInputTokens: 4,
      serviceTier: "priority",
    });
    expect(convertOpenAIUsage(usage, "default")?.serviceTier).toBeUndefined();
  });
});
