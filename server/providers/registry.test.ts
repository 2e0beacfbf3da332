import { afterEach, describe, expect, it } from "vitest";
import { EnvError, parseEnv, resetEnvForTests } from "../kernel/env.ts";
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import { getProvider, listProviders, providersFromEnv, registerProvider, resetProvidersForTests, unregisterProvider } from "./registry.ts";
import { ProviderError } from "./types.ts";

const OLLAMA = '[{"id":"ollama","name":"Ollama","baseUrl":"http://localhost:11434/v1","models":["llama3.1"]}]';

function envError(value: string): EnvError {
  try {
    parseEnv({ OPENAI_COMPATIBLE_PROVIDERS: value });
  } catch (e) {
    expect(e).toBeInstanceOf(EnvError);
    return e as EnvError;
  }
  throw new Error("expected an EnvError");
}

describe("OPENAI_COMPATIBLE_PROVIDERS", () => {
  it("is an empty list when unset or empty", () => {
    expect(parseEnv({}).OPENAI_COMPATIBLE_PROVIDERS).toEqual([]);
    expect(parseEnv({ OPENAI_COMPATIBLE_PROVIDERS: " " }).OPENAI_COMPATIBLE_PROVIDERS).toEqual([]);
  });

  it("parses a JSON array of servers", () => {
    const env = parseEnv({
      OPENAI_COMPATIBLE_PROVIDERS:
        '[{"id":"ollama","name":"Ollama","baseUrl":"http://localhost:11434/v1","models":["llama3.1",{"id":"nomic-embed-text","type":"embedding"}]},{"id":"groq","baseUrl":"https://api.groq.com/openai/v1","apiKey":"gsk_x"}]',
    });
    expect(env.OPENAI_COMPATIBLE_PROVIDERS).toEqual([
      {
        id: "ollama",
        name: "Ollama",
        baseUrl: "http://localhost:11434/v1",
        models: ["llama3.1", { id: "nomic-embed-text", type: "embedding" }],
      },
      { id: "groq", baseUrl: "https://api.groq.com/openai/v1", apiKey: "gsk_x", models: [] },
    ]);
  });

  it.each([
    ["not json", "not valid JSON"],
    ['{"id":"ollama"}', "expected array"],
    ['[{"id":"ollama","models":[]}]', "[0].baseUrl"],
    ['[{"id":"ollama","baseUrl":"localhost:11434"}]', "[0].baseUrl: an http(s) URL"],
    ['[{"id":"Ollama Server","baseUrl":"http://x"}]', "[0].id: a lowercase id"],
    ['[{"id":"x","baseUrl":"http://x","base_url":"http://y"}]', "base_url"],
    ['[{"id":"openai","baseUrl":"http://x"}]', 'id "openai" is taken'],
    ['[{"id":"a","baseUrl":"http://x"},{"id":"a","baseUrl":"http://y"}]', 'id "a" is taken'],
  ])("refuses %s with one line naming the variable and the problem", (value, detail) => {
    const e = envError(value);
    expect(e.variable).toBe("OPENAI_COMPATIBLE_PROVIDERS");
    expect(e.message).toContain("OPENAI_COMPATIBLE_PROVIDERS must be a JSON array such as");
    expect(e.message).toContain(detail);
    expect(e.message).not.toContain("\n");
  });

  it("never repeats a key from the value in its error", () => {
    const e = envError('[{"id":"groq","baseUrl":"nope","apiKey":"gsk_secret_value_123"}');
    expect(e.message).not.toContain("gsk_secret_value_123");
    const e2 = envError('[{"id":"groq","baseUrl":"nope","apiKey":"gsk_secret_value_123"}]');
    expect(e2.message).not.toContain("gsk_secret_value_123");
  });
});

describe("provider registry", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetEnvForTests();
    resetProvidersForTests();
  });

  it("builds openai, anthropic, local, the cloud providers and the compatible servers from configuration; without keys they are unavailable", () => {
    const providers = providersFromEnv(parseEnv({ OPENAI_COMPATIBLE_PROVIDERS: OLLAMA }));
    expect(providers.map((p) => p.id)).toEqual(["openai", "anthropic", "local", "azure-openai", "bedrock", "gemini", "vertex", "ollama"]);
    expect(providers.map((p) => p.status())).toEqual([
      { available: false, reason: "OPENAI_API_KEY is not set" },
      { available: false, reason: "ANTHROPIC_API_KEY is not set" },
      { available: true },
      { available: false, reason: "AZURE_OPENAI_ENDPOINT is not set" },
      { available: false, reason: "AWS_REGION is not set (Bedrock needs a region)" },
      { available: false, reason: "GEMINI_API_KEY is not set" },
      { available: false, reason: "GOOGLE_CLOUD_PROJECT is not set (Vertex AI needs a project)" },
      { available: true },
    ]);
  });

  it("configures each cloud provider from its vendor's own variable names", () => {
    const env = parseEnv({
      AZURE_OPENAI_ENDPOINT: "https://r.openai.azure.com",
      AZURE_OPENAI_API_KEY: "k",
      OPENAI_API_VERSION: "2024-10-21",
      AWS_REGION: "eu-west-1",
      GEMINI_API_KEY: "g",
      GOOGLE_CLOUD_PROJECT: "my-project",
      GOOGLE_CLOUD_LOCATION: "europe-west4",
    });
    const byId = new Map(providersFromEnv(env).map((p) => [p.id, p.status()]));
    for (const id of ["azure-openai", "bedrock", "gemini", "vertex"]) expect(byId.get(id), id).toEqual({ available: true });
    expect(() => parseEnv({ AWS_REGION: "Europe" })).toThrow(/AWS_REGION must be an AWS region/);
    expect(() => parseEnv({ OPENAI_API_VERSION: "latest" })).toThrow(/OPENAI_API_VERSION must be/);
    expect(() => parseEnv({ OPENAI_COMPATIBLE_PROVIDERS: '[{"id":"bedrock","baseUrl":"http://x"}]' })).toThrow(/id "bedrock" is taken/);
  });

  it("reads the process configuration once and serves getProvider / listProviders", () => {
    process.env.OPENAI_API_KEY = "sk-test-registry-123456";
    process.env.ANTHROPIC_API_KEY = "";
    process.env.OPENAI_COMPATIBLE_PROVIDERS = OLLAMA;
    resetEnvForTests();
    resetProvidersForTests();
    expect(getProvider("openai")?.status()).toEqual({ available: true });
    expect(getProvider("anthropic")?.status()).toEqual({ available: false, reason: "ANTHROPIC_API_KEY is not set" });
    expect(getProvider("ollama")?.name).toBe("Ollama");
    expect(getProvider("nope")).toBeUndefined();
    expect(getProvider("local")?.status()).toEqual({ available: true });
    expect(listProviders().map((p) => p.id)).toEqual([
      "openai",
      "anthropic",
      "local",
      "azure-openai",
      "bedrock",
      "gemini",
      "vertex",
      "ollama",
    ]);
    // the same instances on every call (one registry per process)
    expect(getProvider("openai")).toBe(getProvider("openai"));
  });

  it("registers, replaces and removes providers at run time, but not over a built-in id", () => {
    resetProvidersForTests(providersFromEnv(parseEnv({})));
    const lmstudio = createOpenAICompatibleProvider({ id: "lmstudio", baseUrl: "http://127.0.0.1:1234/v1", models: ["qwen"] });
    registerProvider(lmstudio);
    expect(getProvider("lmstudio")).toBe(lmstudio);
    const edited = createOpenAICompatibleProvider({ id: "lmstudio", name: "LM Studio", baseUrl: "http://127.0.0.1:1235/v1" });
    registerProvider(edited);
    expect(getProvider("lmstudio")?.name).toBe("LM Studio");
    expect(listProviders().filter((p) => p.id === "lmstudio")).toHaveLength(1);
    expect(() => registerProvider(createOpenAICompatibleProvider({ id: "openai", baseUrl: "http://x" }))).toThrow(ProviderError);
    expect(unregisterProvider("openai")).toBe(false);
    expect(unregisterProvider("lmstudio")).toBe(true);
    expect(getProvider("lmstudio")).toBeUndefined();
  });
});
