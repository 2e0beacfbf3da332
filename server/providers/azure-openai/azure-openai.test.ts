// The Azure OpenAI adapter driven through the openai package's AzureOpenAI client against the emulator.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../../tests/emulators/provider-emulator.ts";
import { createOpenAIProvider } from "../openai.ts";
import { collect, collectUntilError, deltas, providerError, viaPassthrough } from "../test-helpers.ts";
import type { ChatMessage, Provider } from "../types.ts";
import { azureDeployment, createAzureOpenAIProvider, type AzureOpenAIProvider } from "./azure-openai.ts";

let emu: ProviderEmulator;
let adapter: AzureOpenAIProvider;

beforeAll(async () => {
  emu = await startProviderEmulator();
  adapter = createAzureOpenAIProvider({
    endpoint: emu.cloud.azureEndpoint,
    apiKey: emu.cloud.azureKey!,
    apiVersion: "2024-10-21",
    deployments: { "gpt-4o": "gpt-4o-prod" },
  });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

const messages = (user: string): ChatMessage[] => [
  { role: "system", content: "Be brief." },
  { role: "user", content: user },
];

// The chat calls on both paths: the AzureOpenAI client, and the passthrough (openai-wire.ts) given
// the body the SDK path sends; embeddings and the availability checks are the client's alone.
const sdkBody = createOpenAIProvider({ apiKey: "unused", baseURL: "http://127.0.0.1:9/v1" });

describe.each(["sdk", "passthrough"] as const)("Azure OpenAI adapter on the %s path", (path) => {
  const on = (p: AzureOpenAIProvider): Provider => {
    if (path === "sdk") return p;
    expect(p.passthrough).toBeDefined();
    return viaPassthrough(p, (r) => sdkBody.chatParams(r));
  };
  let azure: Provider;
  beforeAll(() => {
    azure = on(adapter);
  });
  it("calls the deployment path with api-version and the api-key header; exact usage", async () => {
    const result = await azure.generateText({ model: "gpt-4o", messages: messages("Hello there world"), maxTokens: 50 });
    expect(result.text).toBe("You said: Hello there world");
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 5, cachedInputTokens: 0, reasoningTokens: 0 });
    const sent = emu.requests[0]!;
    expect(sent.protocol).toBe("azure");
    expect(sent.path).toBe("/openai/deployments/gpt-4o-prod/chat/completions");
    expect(sent.headers["api-key"]).toBe(emu.cloud.azureKey);
    expect(sent.headers.authorization).toBeUndefined();
    expect(sent.body).toMatchObject({ max_completion_tokens: 50 });
  });

  it("maps a catalogue id to its deployment: the configured one, else the id without azure/", () => {
    expect(azureDeployment("gpt-4o", { "gpt-4o": "prod" })).toBe("prod");
    expect(azureDeployment("azure/gpt-4.1")).toBe("gpt-4.1");
    expect(azureDeployment("gpt-4o-mini")).toBe("gpt-4o-mini");
  });

  it("streams with usage, cached and reasoning tokens", async () => {
    const parts = await collect(
      azure.streamText({ model: "azure/o3-mini", messages: messages("one two three four [[emulator cached=4 reasoning=7]]") }),
    );
    expect(deltas(parts).join("")).toBe("You said: one two three four");
    expect(parts.at(-1)).toMatchObject({
      type: "finish",
      finishReason: "stop",
      usage: { inputTokens: 6, outputTokens: 13, cachedInputTokens: 4, reasoningTokens: 7 },
    });
    expect(emu.requests[0]!.path).toBe("/openai/deployments/o3-mini/chat/completions");
  });

  it("calls tools", async () => {
    const weather = { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } };
    const result = await azure.generateText({
      model: "gpt-4o",
      messages: messages('w [[emulator tool=get_weather args={"city":"Oslo"}]]'),
      tools: [weather],
    });
    expect(result).toMatchObject({ finishReason: "tool_calls", toolCalls: [{ name: "get_weather", arguments: '{"city":"Oslo"}' }] });
  });

  it("embeds through the deployment (base64 decoded)", async () => {
    const result = await azure.generateEmbeddings({ model: "azure/text-embedding-3-small", texts: ["a b", "c"] });
    expect(emu.requests[0]!.path).toBe("/openai/deployments/text-embedding-3-small/embeddings");
    expect(result.embeddings).toEqual([
      emulatorEmbedding("a b", "text-embedding-3-small"),
      emulatorEmbedding("c", "text-embedding-3-small"),
    ]);
    expect(result.usage.inputTokens).toBe(3);
  });

  it("authenticates with a Microsoft Entra token instead of a key", async () => {
    let calls = 0;
    const entra = on(
      createAzureOpenAIProvider({ endpoint: emu.cloud.azureEndpoint, entraToken: async () => (calls++, emu.cloud.azureToken) }),
    );
    const result = await entra.generateText({ model: "gpt-4o", messages: messages("hi") });
    expect(result.text).toBe("You said: hi");
    expect(emu.requests[0]!.headers.authorization).toBe(`Bearer ${emu.cloud.azureToken}`);
    expect(emu.requests[0]!.headers["api-key"]).toBeUndefined();
    expect(calls).toBe(1);
  });

  it.each([
    ["fault=rate_limit retry_after=2", { kind: "rate_limited", status: 429, retryable: true, retryAfterMs: 2000 }],
    ["fault=server_error", { kind: "server", status: 500, retryable: true }],
    ["fault=overloaded", { kind: "server", status: 503, retryable: true }],
    ["fault=unauthorized", { kind: "auth", status: 401, retryable: false }],
    ["fault=malformed", { kind: "server", retryable: true }],
    ["fault=cut", { kind: "connection", retryable: true }],
  ])("maps %s", async (directive, expected) => {
    const err = await providerError(azure.generateText({ model: "gpt-4o", messages: messages(`x [[emulator ${directive}]]`) }));
    expect(err).toMatchObject(expected);
  });

  it("a stream error after some deltas is a server error; a timeout signal a timeout", async () => {
    const { parts, error } = await collectUntilError(
      azure.streamText({ model: "gpt-4o", messages: messages("a b c d [[emulator fault=stream_error after=2]]") }),
    );
    expect(deltas(parts)).toHaveLength(2);
    expect(error).toMatchObject({ kind: "server" });
    const slow = await providerError(
      azure.generateText({ model: "gpt-4o", messages: messages("x [[emulator delay=2000]]") }, { signal: AbortSignal.timeout(100) }),
    );
    expect(slow).toMatchObject({ kind: "timeout", retryable: true });
  });

  it("an unknown api-version is not_found; a wrong key never appears in the error", async () => {
    const old = on(createAzureOpenAIProvider({ endpoint: emu.cloud.azureEndpoint, apiKey: emu.cloud.azureKey!, apiVersion: "1999-01-01" }));
    expect(await providerError(old.generateText({ model: "gpt-4o", messages: messages("x") }))).toMatchObject({ kind: "not_found" });
    const key = "azure-SECRET-wrong-key-4242";
    const wrong = on(createAzureOpenAIProvider({ endpoint: emu.cloud.azureEndpoint, apiKey: key }));
    const err = await providerError(wrong.generateText({ model: "gpt-4o", messages: messages("x") }));
    expect(err).toMatchObject({ kind: "auth", status: 401 });
    expect(JSON.stringify(err) + err.message + String(err.stack)).not.toContain("SECRET");
  });

  it("is unavailable without an endpoint or a key, with the reason", async () => {
    expect(createAzureOpenAIProvider({}).status()).toEqual({ available: false, reason: "AZURE_OPENAI_ENDPOINT is not set" });
    const noKey = createAzureOpenAIProvider({ endpoint: "https://x.openai.azure.com" });
    expect(noKey.status()).toMatchObject({ available: false, reason: expect.stringContaining("AZURE_OPENAI_API_KEY") });
    expect(await providerError(noKey.generateText({ model: "gpt-4o", messages: messages("x") }))).toMatchObject({ kind: "unavailable" });
  });
});
