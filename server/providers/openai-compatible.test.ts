// An OpenAI-compatible server (Ollama, vLLM, ...) through the OpenAI SDK, against the emulator.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { emulatorEmbedding, startProviderEmulator, type ProviderEmulator } from "../../tests/emulators/provider-emulator.ts";
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import { collect, deltas, providerError, viaPassthrough } from "./test-helpers.ts";
import type { OpenAIChatProvider } from "./openai.ts";
import type { Provider } from "./types.ts";

let keyless: ProviderEmulator;
let keyed: ProviderEmulator;

beforeAll(async () => {
  // Ollama and vLLM need no key by default; Groq or OpenRouter do.
  keyless = await startProviderEmulator({ openaiKey: null, models: ["llama3.1", "nomic-embed-text", "qwen2.5"] });
  keyed = await startProviderEmulator({ openaiKey: "gsk-groq-secret-key-123456" });
});
afterAll(async () => {
  await keyless.close();
  await keyed.close();
});
beforeEach(() => {
  keyless.reset();
  keyed.reset();
});

describe.each(["sdk", "passthrough"] as const)("OpenAI-compatible provider on the %s path", (path) => {
  const on = (p: OpenAIChatProvider): Provider & OpenAIChatProvider =>
    path === "sdk" ? p : (viaPassthrough(p) as Provider & OpenAIChatProvider);
  const ollama = () =>
    on(
      createOpenAICompatibleProvider({
        id: "ollama",
        name: "Ollama",
        baseUrl: keyless.openaiBaseUrl,
        models: ["llama3.1", { id: "nomic-embed-text", type: "embedding" }],
      }),
    );

  it("needs no key: available, and sends no Authorization header", async () => {
    const p = ollama();
    expect(p.id).toBe("ollama");
    expect(p.name).toBe("Ollama");
    expect(p.status()).toEqual({ available: true });
    const result = await p.generateText({ model: "llama3.1", messages: [{ role: "user", content: "hi there" }], maxTokens: 50 });
    expect(result).toMatchObject({ text: "You said: hi there", finishReason: "stop", usage: { inputTokens: 2, outputTokens: 4 } });
    const sent = keyless.requests[0]!;
    expect(sent.headers.authorization).toBeUndefined();
    // compatible servers get the classic max_tokens
    expect(sent.body).toMatchObject({ max_tokens: 50 });
    expect(sent.body).not.toHaveProperty("max_completion_tokens");
  });

  it("streams with usage", async () => {
    const parts = await collect(ollama().streamText({ model: "llama3.1", messages: [{ role: "user", content: "a b" }] }));
    expect(deltas(parts)).toEqual(["You", " said:", " a", " b"]);
    expect(parts.at(-1)).toMatchObject({ type: "finish", finishReason: "stop", usage: { inputTokens: 2, outputTokens: 4 } });
  });

  it("asks for float embeddings, which every compatible server speaks", async () => {
    const result = await ollama().generateEmbeddings({ model: "nomic-embed-text", texts: ["x", "y"] });
    expect(keyless.requests[0]!.body).toMatchObject({ encoding_format: "float" });
    expect(result.embeddings).toEqual([emulatorEmbedding("x", "nomic-embed-text"), emulatorEmbedding("y", "nomic-embed-text")]);
  });

  it("lists the declared models plus those of GET /models", async () => {
    expect(await ollama().listModels()).toEqual([
      { id: "llama3.1", type: "chat" },
      { id: "nomic-embed-text", type: "embedding" },
      { id: "qwen2.5", type: "chat" },
    ]);
  });

  it("still lists the declared models when the server is down", async () => {
    const down = await startProviderEmulator();
    const url = down.openaiBaseUrl;
    await down.close();
    const p = on(createOpenAICompatibleProvider({ id: "vllm", baseUrl: url, models: ["mistral"] }));
    expect(p.name).toBe("vllm");
    expect(await p.listModels()).toEqual([{ id: "mistral", type: "chat" }]);
    expect(await providerError(p.generateText({ model: "mistral", messages: [{ role: "user", content: "x" }] }))).toMatchObject({
      kind: "connection",
      retryable: true,
    });
  });

  it("sends its key when it has one, and never shows it in an error", async () => {
    const groq = on(
      createOpenAICompatibleProvider({
        id: "groq",
        name: "Groq",
        baseUrl: keyed.openaiBaseUrl,
        apiKey: "gsk-groq-secret-key-123456",
      }),
    );
    await groq.generateText({ model: "llama-3.3-70b", messages: [{ role: "user", content: "x" }] });
    expect(keyed.requests[0]!.headers.authorization).toBe("Bearer gsk-groq-secret-key-123456");
    const wrong = on(
      createOpenAICompatibleProvider({
        id: "groq",
        name: "Groq",
        baseUrl: keyed.openaiBaseUrl,
        apiKey: "gsk-wrong-secret-key-654321",
      }),
    );
    const err = await providerError(wrong.generateText({ model: "llama-3.3-70b", messages: [{ role: "user", content: "x" }] }));
    expect(err).toMatchObject({ kind: "auth", status: 401 });
    expect(err.message).toBe("Groq rejected the API key (401)");
    const limited = await providerError(
      groq.generateText({ model: "llama-3.3-70b", messages: [{ role: "user", content: "x [[emulator fault=rate_limit retry_after=1]]" }] }),
    );
    expect(limited).toMatchObject({ kind: "rate_limited", retryAfterMs: 1000 });
    expect(limited.message).not.toContain("gsk-groq-secret-key-123456");
  });
});
