// The Bedrock adapter driven through @aws-sdk/client-bedrock-runtime against the emulator
// (SigV4-signed requests, Converse JSON, ConverseStream event stream frames, InvokeModel embeddings).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../../tests/emulators/provider-emulator.ts";
import { collect, collectUntilError, deltas, providerError } from "../test-helpers.ts";
import type { ChatMessage } from "../types.ts";
import {
  bedrockModelId,
  convertBedrockUsage,
  createBedrockProvider,
  mapBedrockStopReason,
  toBedrockMessages,
  type BedrockProvider,
} from "./bedrock.ts";

let emu: ProviderEmulator;
let bedrock: BedrockProvider;
const CLAUDE = "anthropic.claude-sonnet-4-5-20250929-v1:0";

const staticKeys = (e: ProviderEmulator, extra: Record<string, string> = {}) =>
  createBedrockProvider({
    region: e.cloud.bedrockRegion,
    endpoint: e.cloud.bedrockEndpoint,
    accessKeyId: e.cloud.bedrockAccessKeyId!,
    secretAccessKey: e.cloud.bedrockSecretAccessKey,
    ...extra,
  });

beforeAll(async () => {
  emu = await startProviderEmulator();
  bedrock = staticKeys(emu);
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const messages = (user: string): ChatMessage[] => [
  { role: "system", content: "Be brief." },
  { role: "user", content: user },
];

describe("Bedrock adapter: Converse", () => {
  it("signs with SigV4 for the region, calls Converse and converts usage exactly", async () => {
    const result = await bedrock.generateText({
      model: CLAUDE,
      messages: messages("Hello there world"),
      temperature: 0.1,
      maxTokens: 100,
      stop: ["zzz"],
    });
    expect(result).toMatchObject({ text: "You said: Hello there world", finishReason: "stop", model: CLAUDE });
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 });
    const sent = emu.requests[0]!;
    expect(sent.protocol).toBe("bedrock");
    expect(sent.path).toBe(`/model/${encodeURIComponent(CLAUDE)}/converse`);
    expect(String(sent.headers.authorization)).toMatch(
      new RegExp(
        `^AWS4-HMAC-SHA256 Credential=${emu.cloud.bedrockAccessKeyId}/\\d{8}/us-east-1/bedrock/aws4_request, SignedHeaders=.*host.*, Signature=[0-9a-f]{64}$`,
      ),
    );
    expect(sent.body).toMatchObject({
      system: [{ text: "Be brief." }],
      messages: [{ role: "user", content: [{ text: "Hello there world" }] }],
      inferenceConfig: { maxTokens: 100, temperature: 0.1, stopSequences: ["zzz"] },
    });
  });

  it("counts prompt-cache reads and writes in the input, reads as cached and writes apart (priced at the cache-write rate)", async () => {
    const result = await bedrock.generateText({
      model: CLAUDE,
      messages: messages("one two three four five [[emulator cached=3 cache_write=2]]"),
    });
    // 2 + 5 words in: 2 uncached + 3 read + 2 written
    expect(result.usage).toEqual({ inputTokens: 7, outputTokens: 7, cachedInputTokens: 3, reasoningTokens: 0, cacheWriteTokens: 2 });
    expect(
      convertBedrockUsage({
        inputTokens: 1,
        outputTokens: 1,
        cacheWriteInputTokens: 5,
        cacheDetails: [
          { ttl: "1h", inputTokens: 3 },
          { ttl: "5m", inputTokens: 2 },
        ],
      }),
    ).toMatchObject({ inputTokens: 6, cacheWriteTokens: 5, cacheWrite1hTokens: 3 });
    expect(convertBedrockUsage({ inputTokens: 10, outputTokens: 4, cacheReadInputTokens: 5, cacheWriteInputTokens: 1 })).toEqual({
      inputTokens: 16,
      outputTokens: 4,
      cachedInputTokens: 5,
      reasoningTokens: 0,
      cacheWriteTokens: 1,
    });
  });

  it("maps stop reasons, and max tokens ends with length", async () => {
    expect(
      ["end_turn", "stop_sequence", "max_tokens", "tool_use", "guardrail_intervened", "content_filtered", undefined].map(
        mapBedrockStopReason,
      ),
    ).toEqual(["stop", "stop", "length", "tool_calls", "content_filter", "content_filter", "other"]);
    const cut = await bedrock.generateText({ model: "amazon.nova-lite-v1:0", messages: messages("Hello there world"), maxTokens: 2 });
    expect(cut).toMatchObject({ text: "You said:", finishReason: "length" });
  });

  it("streams ConverseStream's event stream frames: deltas, then one finish with usage", async () => {
    const parts = await collect(
      bedrock.streamText({ model: "amazon.nova-pro-v1:0", messages: messages("Hello there world [[emulator cached=2]]") }),
    );
    expect(deltas(parts)).toEqual(["You", " said:", " Hello", " there", " world"]);
    expect(parts.filter((p) => p.type === "finish")).toHaveLength(1);
    expect(parts.at(-1)).toMatchObject({
      type: "finish",
      finishReason: "stop",
      usage: { inputTokens: 5, outputTokens: 5, cachedInputTokens: 2, reasoningTokens: 0 },
    });
    expect(emu.requests[0]!.path).toBe("/model/amazon.nova-pro-v1%3A0/converse-stream");
  });

  it("sends tools and tool choice, answers tool calls plain and streamed", async () => {
    const weather = {
      name: "get_weather",
      description: "Weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    };
    const ask = messages('weather [[emulator tool=get_weather args={"city":"Oslo"}]]');
    const result = await bedrock.generateText({ model: CLAUDE, messages: ask, tools: [weather], toolChoice: "required" });
    expect(result).toMatchObject({
      finishReason: "tool_calls",
      toolCalls: [{ id: expect.stringMatching(/^tooluse_/), name: "get_weather", arguments: '{"city":"Oslo"}' }],
    });
    expect(emu.requests[0]!.body).toMatchObject({
      toolConfig: {
        tools: [{ toolSpec: { name: "get_weather", description: "Weather", inputSchema: { json: weather.parameters } } }],
        toolChoice: { any: {} },
      },
    });
    const parts = await collect(bedrock.streamText({ model: CLAUDE, messages: ask, tools: [weather] }));
    const calls = parts.filter((p) => p.type === "tool-call-delta");
    expect(calls[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^tooluse_/), name: "get_weather" });
    expect(calls.map((c) => (c.type === "tool-call-delta" ? c.argumentsDelta : "")).join("")).toBe('{"city":"Oslo"}');
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
  });

  it("sends tool calls and results as toolUse / toolResult blocks in alternating messages", async () => {
    const result = await bedrock.generateText({
      model: CLAUDE,
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: "", toolCalls: [{ id: "t1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
        { role: "tool", toolCallId: "t1", content: "sunny" },
      ],
      tools: [{ name: "get_weather", parameters: { type: "object" } }],
    });
    expect(result.text).toBe("Tool t1 returned: sunny");
    expect((emu.requests[0]!.body as { messages: unknown }).messages).toEqual([
      { role: "user", content: [{ text: "weather?" }] },
      { role: "assistant", content: [{ toolUse: { toolUseId: "t1", name: "get_weather", input: { city: "Oslo" } } }] },
      { role: "user", content: [{ toolResult: { toolUseId: "t1", content: [{ text: "sunny" }], status: "success" } }] },
    ]);
    expect(
      toBedrockMessages([{ role: "user", content: "x", parts: [{ type: "image", url: "data:image/png;base64,AAAA" }] }]).messages[0]!
        .content![0],
    ).toMatchObject({ image: { format: "png" } });
    expect(() => toBedrockMessages([{ role: "user", content: "x", parts: [{ type: "image", url: "https://x/y.png" }] }])).toThrow(
      /data: URLs/,
    );
  });

  it("maps catalogue ids to Bedrock ids", () => {
    expect(bedrockModelId("claude-sonnet-4-5", { "claude-sonnet-4-5": CLAUDE })).toBe(CLAUDE);
    expect(bedrockModelId("bedrock/amazon.nova-lite-v1:0")).toBe("amazon.nova-lite-v1:0");
  });
});

describe("Bedrock adapter: embeddings through InvokeModel", () => {
  it("embeds with Titan (one text per call) with its token counts and dimensions", async () => {
    const texts = ["one", "two words", "three more words"];
    const result = await bedrock.generateEmbeddings({ model: "amazon.titan-embed-text-v2:0", texts, dimensions: 256 });
    expect(result.embeddings).toEqual(texts.map((t) => emulatorEmbedding(t, "amazon.titan-embed-text-v2:0", 256)));
    expect(result.usage.inputTokens).toBe(6);
    expect(emu.requests).toHaveLength(3);
    expect(emu.requests.map((r) => (r.body as { dimensions: number }).dimensions)).toEqual([256, 256, 256]);
  });

  it("embeds with Cohere in batches, the tokens from x-amzn-bedrock-input-token-count", async () => {
    const result = await bedrock.generateEmbeddings({ model: "cohere.embed-english-v3", texts: ["a b", "c"] });
    expect(result.embeddings).toEqual([
      emulatorEmbedding("a b", "cohere.embed-english-v3", 1024),
      emulatorEmbedding("c", "cohere.embed-english-v3", 1024),
    ]);
    expect(result.usage.inputTokens).toBe(3);
    expect(emu.requests[0]!.body).toMatchObject({ texts: ["a b", "c"], input_type: "search_document" });
  });
});

describe("Bedrock adapter: failures", () => {
  const ask = (directive: string) => bedrock.generateText({ model: CLAUDE, messages: messages(`hi [[emulator ${directive}]]`) });

  it.each([
    ["fault=rate_limit", { kind: "rate_limited", status: 429, retryable: true }],
    ["fault=quota", { kind: "rate_limited", retryable: false }],
    ["fault=server_error", { kind: "server", status: 500, retryable: true }],
    ["fault=overloaded", { kind: "server", status: 503, retryable: true }],
    ["fault=unauthorized", { kind: "auth", status: 403, retryable: false }],
    ["fault=malformed", { kind: "server", retryable: true }],
    ["fault=cut", { kind: "connection", retryable: true }],
  ])("%s", async (directive, expected) => {
    const err = await providerError(ask(directive));
    expect(err).toMatchObject(expected);
    expect(err.message).toContain("Bedrock");
  });

  it("a credential scoped to another region is refused (auth), and the secret never shows", async () => {
    const elsewhere = staticKeys(emu, { region: "eu-west-1" });
    const err = await providerError(elsewhere.generateText({ model: CLAUDE, messages: messages("x") }));
    expect(err).toMatchObject({ kind: "auth", status: 403 });
    expect(err.message + JSON.stringify(err)).not.toContain(emu.cloud.bedrockSecretAccessKey);
  });

  it("a session token is sent and checked", async () => {
    const temp = await startProviderEmulator({ bedrockSessionToken: "session-token-xyz" });
    try {
      const without = staticKeys(temp);
      expect(await providerError(without.generateText({ model: CLAUDE, messages: messages("x") }))).toMatchObject({ kind: "auth" });
      const withToken = staticKeys(temp, { sessionToken: "session-token-xyz" });
      expect((await withToken.generateText({ model: CLAUDE, messages: messages("x") })).text).toBe("You said: x");
      expect(temp.requests.at(-1)!.headers["x-amz-security-token"]).toBe("session-token-xyz");
    } finally {
      await temp.close();
    }
  });

  it("without keys, the SDK's default chain signs (here from its environment variables)", async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = emu.cloud.bedrockAccessKeyId!;
    process.env.AWS_SECRET_ACCESS_KEY = emu.cloud.bedrockSecretAccessKey;
    try {
      const chain = createBedrockProvider({ region: emu.cloud.bedrockRegion, endpoint: emu.cloud.bedrockEndpoint });
      expect(chain.status()).toEqual({ available: true });
      expect((await chain.generateText({ model: CLAUDE, messages: messages("x") })).text).toBe("You said: x");
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
    }
  });

  it("stream faults: cut, end early, an exception frame, a corrupt frame", async () => {
    const stream = (d: string) =>
      bedrock.streamText({ model: CLAUDE, messages: messages(`one two three four five six [[emulator ${d}]]`) });
    const cut = await collectUntilError(stream("fault=cut after=3"));
    expect(deltas(cut.parts)).toEqual(["You", " said:", " one"]);
    expect(cut.error).toMatchObject({ kind: "connection", retryable: true });
    const early = await collectUntilError(stream("fault=end_early after=2"));
    expect(early.error).toMatchObject({ kind: "connection", retryable: true });
    const exception = await collectUntilError(stream("fault=stream_error after=2"));
    expect(deltas(exception.parts)).toHaveLength(2);
    expect(exception.error).toMatchObject({ kind: "server", retryable: true });
    const corrupt = await collectUntilError(stream("fault=malformed after=1"));
    expect(corrupt.error).toMatchObject({ kind: "server" });
  });

  it("a timeout signal is a retryable timeout; an abort rejects with the caller's reason and closes the connection", async () => {
    const slow = await providerError(
      bedrock.generateText({ model: CLAUDE, messages: messages("x [[emulator delay=2000]]") }, { signal: AbortSignal.timeout(100) }),
    );
    expect(slow).toMatchObject({ kind: "timeout", retryable: true });
    const controller = new AbortController();
    const reason = new Error("client went away");
    let caught: unknown;
    const seen: string[] = [];
    try {
      for await (const part of bedrock.streamText(
        { model: CLAUDE, messages: messages("x [[emulator words=50 chunk_delay=30]]") },
        { signal: controller.signal },
      )) {
        if (part.type === "text-delta") seen.push(part.text);
        if (seen.length === 2) controller.abort(reason);
      }
    } catch (e) {
      caught = e;
    }
    expect(caught).toBe(reason);
    await emu.waitFor((r) => r.aborted, 5000);
  });

  it("one HTTP request per call (the SDK retries nothing)", async () => {
    await providerError(ask("fail_first=1 status=500"));
    expect(emu.requests).toHaveLength(1);
  });

  it("is unavailable without a region, or with half a key pair", async () => {
    expect(createBedrockProvider({}).status()).toEqual({ available: false, reason: "AWS_REGION is not set (Bedrock needs a region)" });
    const half = createBedrockProvider({ region: "us-east-1", accessKeyId: "AKIA1" });
    expect(half.status()).toMatchObject({ available: false });
    expect(await providerError(half.generateText({ model: CLAUDE, messages: messages("x") }))).toMatchObject({ kind: "unavailable" });
  });
});
