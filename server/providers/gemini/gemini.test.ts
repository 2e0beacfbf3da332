// The Gemini API and Vertex AI adapters driven through @google/genai against the emulator.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../../tests/emulators/provider-emulator.ts";
import { collect, collectUntilError, deltas, providerError } from "../test-helpers.ts";
import type { ChatMessage } from "../types.ts";
import {
  convertGeminiUsage,
  createGeminiProvider,
  createVertexProvider,
  googleModelId,
  mapGeminiFinishReason,
  type GoogleProvider,
} from "./gemini.ts";

let emu: ProviderEmulator;
let gemini: GoogleProvider;
let vertex: GoogleProvider;
let keyFile: string;

beforeAll(async () => {
  emu = await startProviderEmulator({ vertexToken: "ya29.not-used-by-these-tests" });
  gemini = createGeminiProvider({ apiKey: emu.cloud.geminiKey!, baseUrl: emu.cloud.googleBaseUrl });
  keyFile = path.join(mkdtempSync(path.join(tmpdir(), "ms-vertex-")), "sa.json");
  writeFileSync(keyFile, JSON.stringify(emu.cloud.vertexServiceAccount()));
  vertex = createVertexProvider({
    project: emu.cloud.vertexProject,
    location: emu.cloud.vertexLocation,
    credentialsFile: keyFile,
    baseUrl: emu.cloud.googleBaseUrl,
  });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const messages = (user: string): ChatMessage[] => [
  { role: "system", content: "Be brief." },
  { role: "user", content: user },
];

describe.each([
  ["Gemini API", () => gemini, "/v1beta/models/gemini-2.5-flash"],
  ["Vertex AI", () => vertex, `/v1beta1/projects/emulator-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash`],
])("%s adapter", (label, provider, base) => {
  it("generates with exact usage on the backend's path and auth", async () => {
    const result = await provider().generateText({
      model: "gemini-2.5-flash",
      messages: messages("Hello there world"),
      temperature: 0.3,
      maxTokens: 100,
      stop: ["zzz"],
    });
    expect(result).toMatchObject({ text: "You said: Hello there world", finishReason: "stop", model: "gemini-2.5-flash" });
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 });
    const sent = emu.requests[0]!;
    expect(sent.path).toBe(`${base}:generateContent`);
    if (label === "Gemini API") {
      expect(sent.headers["x-goog-api-key"]).toBe(emu.cloud.geminiKey);
    } else {
      // A self-signed JWT of the service account (verified by the emulator), not a static token.
      expect(String(sent.headers.authorization)).toMatch(/^Bearer eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(sent.headers["x-goog-api-key"]).toBeUndefined();
    }
    expect(sent.body).toMatchObject({
      contents: [{ role: "user", parts: [{ text: "Hello there world" }] }],
      systemInstruction: { parts: [{ text: "Be brief." }] },
      generationConfig: { temperature: 0.3, maxOutputTokens: 100, stopSequences: ["zzz"] },
    });
  });

  it("counts thinking and cached-content tokens", async () => {
    const result = await provider().generateText({
      model: "gemini-2.5-pro",
      messages: messages("one two three four [[emulator cached=3 reasoning=9]]"),
    });
    // 2 + 4 words in (3 cached); 6 words + 9 thoughts out
    expect(result.usage).toEqual({ inputTokens: 6, outputTokens: 15, cachedInputTokens: 3, reasoningTokens: 9 });
  });

  it("streams over alt=sse: deltas, then one finish with the last chunk's usage", async () => {
    const parts = await collect(
      provider().streamText({ model: "gemini-2.5-flash", messages: messages("Hello there world [[emulator reasoning=2]]") }),
    );
    expect(deltas(parts)).toEqual(["You", " said:", " Hello", " there", " world"]);
    expect(parts.filter((p) => p.type === "finish")).toHaveLength(1);
    expect(parts.at(-1)).toMatchObject({
      type: "finish",
      finishReason: "stop",
      usage: { inputTokens: 5, outputTokens: 7, cachedInputTokens: 0, reasoningTokens: 2 },
    });
    expect(emu.requests[0]!.path).toBe(`${base}:streamGenerateContent`);
  });

  it("declares tools, forces one, and answers function calls plain and streamed", async () => {
    const weather = {
      name: "get_weather",
      description: "Weather",
      parameters: { type: "object", properties: { city: { type: "string" } } },
    };
    const ask = messages('w [[emulator tool=get_weather args={"city":"Oslo"}]]');
    const result = await provider().generateText({
      model: "gemini-2.5-flash",
      messages: ask,
      tools: [weather],
      toolChoice: { name: "get_weather" },
    });
    expect(result).toMatchObject({ finishReason: "tool_calls", toolCalls: [{ name: "get_weather", arguments: '{"city":"Oslo"}' }] });
    expect(emu.requests[0]!.body).toMatchObject({
      tools: [{ functionDeclarations: [{ name: "get_weather", description: "Weather", parametersJsonSchema: weather.parameters }] }],
      toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] } },
    });
    const parts = await collect(provider().streamText({ model: "gemini-2.5-flash", messages: ask, tools: [weather] }));
    const calls = parts.filter((p) => p.type === "tool-call-delta");
    expect(calls).toEqual([
      { type: "tool-call-delta", index: 0, id: expect.any(String), name: "get_weather", argumentsDelta: '{"city":"Oslo"}' },
    ]);
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "tool_calls" });
  });

  it("sends tool calls and results as functionCall / functionResponse parts, and JSON replies", async () => {
    const result = await provider().generateText({
      model: "gemini-2.5-flash",
      messages: [
        { role: "user", content: "weather?" },
        { role: "assistant", content: "", toolCalls: [{ id: "c1", name: "get_weather", arguments: '{"city":"Oslo"}' }] },
        { role: "tool", toolCallId: "c1", content: "sunny" },
      ],
      tools: [{ name: "get_weather", parameters: { type: "object" } }],
    });
    expect(result.text).toBe("Tool c1 returned: sunny");
    expect((emu.requests[0]!.body as { contents: unknown }).contents).toMatchObject([
      { role: "user", parts: [{ text: "weather?" }] },
      { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Oslo" } } }] },
      { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { result: "sunny" } } }] },
    ]);
    const json = await provider().generateText({
      model: "gemini-2.5-flash",
      messages: messages("hi"),
      responseFormat: { type: "json_schema", name: "r", schema: { type: "object", properties: { answer: { type: "string" } } } },
    });
    expect(JSON.parse(json.text)).toEqual({ answer: "You said: hi" });
    expect(emu.requests.at(-1)!.body).toMatchObject({
      generationConfig: { responseMimeType: "application/json", responseJsonSchema: { type: "object" } },
    });
  });

  it.each([
    ["fault=rate_limit retry_after=3", { kind: "rate_limited", status: 429, retryable: true, retryAfterMs: 3000 }],
    ["fault=quota", { kind: "rate_limited", status: 429, retryable: false }],
    ["fault=server_error", { kind: "server", status: 500, retryable: true }],
    ["fault=overloaded", { kind: "server", status: 503, retryable: true }],
    ["fault=unauthorized", { kind: "auth", retryable: false }],
    ["fault=malformed", { kind: "server", retryable: true }],
    ["fault=cut", { kind: "connection", retryable: true }],
  ])("maps %s", async (directive, expected) => {
    const err = await providerError(
      provider().generateText({ model: "gemini-2.5-flash", messages: messages(`x [[emulator ${directive}]]`) }),
    );
    expect(err).toMatchObject(expected);
  });

  it("stream faults: cut, end early, an error chunk, a malformed chunk", async () => {
    const stream = (d: string) =>
      provider().streamText({ model: "gemini-2.5-flash", messages: messages(`one two three four five six [[emulator ${d}]]`) });
    const cut = await collectUntilError(stream("fault=cut after=3"));
    expect(deltas(cut.parts)).toEqual(["You", " said:", " one"]);
    expect(cut.error).toMatchObject({ kind: "connection", retryable: true });
    expect((await collectUntilError(stream("fault=end_early after=2"))).error).toMatchObject({ kind: "connection" });
    const errorChunk = await collectUntilError(stream("fault=stream_error after=2"));
    expect(deltas(errorChunk.parts)).toHaveLength(2);
    expect(errorChunk.error).toMatchObject({ kind: "server", retryable: true });
    expect((await collectUntilError(stream("fault=malformed after=1"))).error).toMatchObject({ kind: "server" });
  });

  it("a timeout signal is a timeout; an abort rejects with the caller's reason and closes the connection", async () => {
    const slow = await providerError(
      provider().generateText(
        { model: "gemini-2.5-flash", messages: messages("x [[emulator delay=2000]]") },
        { signal: AbortSignal.timeout(100) },
      ),
    );
    expect(slow).toMatchObject({ kind: "timeout", retryable: true });
    const controller = new AbortController();
    const reason = new Error("client went away");
    let caught: unknown;
    const seen: string[] = [];
    try {
      for await (const part of provider().streamText(
        { model: "gemini-2.5-flash", messages: messages("x [[emulator words=50 chunk_delay=30]]") },
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

  it("makes one HTTP request per call (no SDK retries)", async () => {
    await providerError(
      provider().generateText({ model: "gemini-2.5-flash", messages: messages("x [[emulator fail_first=1 status=503]]") }),
    );
    expect(emu.requests).toHaveLength(1);
  });
});

describe("Google embeddings", () => {
  it("Gemini API: batchEmbedContents in batches of 100, with dimensions and the token count", async () => {
    const texts = Array.from({ length: 150 }, (_, i) => `text number ${i}`);
    const result = await gemini.generateEmbeddings({ model: "gemini-embedding-001", texts, dimensions: 16 });
    expect(emu.requests.map((r) => r.path)).toEqual([
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
      "/v1beta/models/gemini-embedding-001:batchEmbedContents",
    ]);
    expect(result.embeddings).toHaveLength(150);
    expect(result.embeddings[149]).toEqual(emulatorEmbedding("text number 149", "gemini-embedding-001", 16));
    expect(result.usage.inputTokens).toBe(450);
  });

  it("Vertex: predict for text-embedding-005 with the per-instance token counts", async () => {
    const result = await vertex.generateEmbeddings({ model: "vertex/text-embedding-005", texts: ["a b", "c"] });
    expect(emu.requests[0]!.path).toMatch(/\/publishers\/google\/models\/text-embedding-005:predict$/);
    expect(result.embeddings).toEqual([
      emulatorEmbedding("a b", "text-embedding-005", 768),
      emulatorEmbedding("c", "text-embedding-005", 768),
    ]);
    expect(result.usage.inputTokens).toBe(3);
  });
});

describe("Google adapters: configuration and secrets", () => {
  it("converts usage and finish reasons, and maps model ids", () => {
    expect(
      convertGeminiUsage({
        promptTokenCount: 10,
        candidatesTokenCount: 3,
        thoughtsTokenCount: 4,
        cachedContentTokenCount: 6,
        toolUsePromptTokenCount: 2,
      }),
    ).toEqual({
      inputTokens: 12,
      outputTokens: 7,
      cachedInputTokens: 6,
      reasoningTokens: 4,
    });
    // Audio and image prompt tokens, from promptTokensDetails by modality.
    expect(
      convertGeminiUsage({
        promptTokenCount: 10,
        candidatesTokenCount: 1,
        promptTokensDetails: [
          { modality: "TEXT", tokenCount: 3 },
          { modality: "AUDIO", tokenCount: 5 },
          { modality: "IMAGE", tokenCount: 2 },
        ],
      }),
    ).toMatchObject({ inputTokens: 10, audioInputTokens: 5, imageInputTokens: 2 });
    expect(mapGeminiFinishReason("STOP", true)).toBe("tool_calls");
    expect(mapGeminiFinishReason("MAX_TOKENS", false)).toBe("length");
    expect(mapGeminiFinishReason("SAFETY", false)).toBe("content_filter");
    expect(googleModelId("vertex/gemini-2.5-pro")).toBe("gemini-2.5-pro");
  });

  it("a wrong Gemini key (Google answers 400 API_KEY_INVALID) is an auth error without the key", async () => {
    const key = "AIzaSyWRONG-secret-key-777";
    const wrong = createGeminiProvider({ apiKey: key, baseUrl: emu.cloud.googleBaseUrl });
    const err = await providerError(wrong.generateText({ model: "gemini-2.5-flash", messages: messages("x") }));
    expect(err).toMatchObject({ kind: "auth", status: 400, retryable: false });
    expect(err.message + JSON.stringify(err) + String(err.stack)).not.toContain("secret-key");
  });

  it("Vertex refuses another project's path, and a token not signed by the service account", async () => {
    const other = createVertexProvider({
      project: "other-project",
      location: emu.cloud.vertexLocation,
      credentialsFile: keyFile,
      baseUrl: emu.cloud.googleBaseUrl,
    });
    expect(await providerError(other.generateText({ model: "gemini-2.5-flash", messages: messages("x") }))).toMatchObject({
      kind: "auth",
      status: 403,
    });
    const stranger = await startProviderEmulator();
    try {
      const strangerFile = path.join(path.dirname(keyFile), "stranger.json");
      writeFileSync(strangerFile, JSON.stringify(stranger.cloud.vertexServiceAccount()));
      const p = createVertexProvider({
        project: emu.cloud.vertexProject,
        location: emu.cloud.vertexLocation,
        credentialsFile: strangerFile,
        baseUrl: emu.cloud.googleBaseUrl,
      });
      const err = await providerError(p.generateText({ model: "gemini-2.5-flash", messages: messages("x") }));
      expect(err).toMatchObject({ kind: "auth", status: 401 });
      expect(err.message).not.toContain("PRIVATE KEY");
    } finally {
      await stranger.close();
    }
  });

  it("is unavailable with the reason: no key, no project, an unreadable key file", async () => {
    expect(createGeminiProvider({}).status()).toEqual({ available: false, reason: "GEMINI_API_KEY is not set" });
    expect(createVertexProvider({}).status()).toMatchObject({ available: false, reason: expect.stringContaining("GOOGLE_CLOUD_PROJECT") });
    const badFile = createVertexProvider({ project: "p", credentialsFile: "/nonexistent/key.json" });
    expect(badFile.status()).toMatchObject({ available: false, reason: expect.stringContaining("GOOGLE_APPLICATION_CREDENTIALS") });
    expect(
      await providerError(createGeminiProvider({}).generateText({ model: "gemini-2.5-flash", messages: messages("x") })),
    ).toMatchObject({ kind: "unavailable" });
  });
});
