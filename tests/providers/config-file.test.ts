// The configuration file (MODEL_SERVICE_CONFIG): validation with one-line errors, ${VAR}
// substitution, a provider whose variable is unset listed as unavailable, a malformed file refused
// at start-up, reload on change, and two providers of one type side by side serving through the host.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { resetEnvForTests } from "@/server/kernel/env.ts";
import { catalogueWithConfig } from "@/server/features/catalogue/configured-catalogue.ts";
import { ConfigFileError, parseConfigFile, providersFromConfig } from "@/server/providers/config/config-file.ts";
import { getProvider, resetProvidersForTests } from "@/server/providers/registry.ts";
import { shippedCatalogue } from "@/server/features/catalogue/catalogue-data.ts";
import { startProviderEmulator, type ProviderEmulator } from "@/tests/emulators/provider-emulator.ts";
import { testDatabases } from "@/tests/support/db.ts";
import { SERVER_NODE_ARGS } from "@/tests/support/server-process.ts";
import { useCompatServer } from "../openai-compat/harness.ts";

const dir = mkdtempSync(path.join(tmpdir(), "ms-config-"));
const file = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};

const ISSUE_EXAMPLE = `
providers:
  azure-east:   { type: azure-openai, endpoint: https://east.openai.azure.com, api_key: \${AZURE_EAST_KEY}, api_version: "2024-10-21" }
  bedrock:      { type: bedrock, region: us-east-1 }            # keys from the default chain
  gemini:       { type: gemini, api_key: \${GEMINI_API_KEY} }
  vertex:       { type: vertex, project: my-project, location: europe-west4 }
  openai-org2:  { type: openai, api_key: \${OPENAI_ORG2_KEY}, organization: org-2 }
  ollama:       { type: openai-compatible, base_url: http://localhost:11434/v1 }
models:                                   # which provider serves a model, under which name there
  - { model: gpt-4o, provider: azure-east, provider_model: gpt-4o-prod }
  - { model: claude-sonnet-4-5, provider: bedrock, provider_model: anthropic.claude-sonnet-4-5-20250929-v1:0 }
  - { model: gemini-2.5-flash, provider: gemini }
  - { model: my-llama, provider: ollama, provider_model: llama3.1, type: chat, price: { input: 0, output: 0 } }
`;

describe("model-service.yaml: parsing", () => {
  it("accepts the issue's example; ${VAR} is replaced; a provider whose variable is unset is unavailable with the reason", () => {
    const config = parseConfigFile("model-service.yaml", ISSUE_EXAMPLE, { AZURE_EAST_KEY: "east-key", GEMINI_API_KEY: "g-key" });
    expect(Object.keys(config.providers)).toEqual(["azure-east", "bedrock", "gemini", "vertex", "openai-org2", "ollama"]);
    expect(config.providers["azure-east"]).toMatchObject({ type: "azure-openai", api_key: "east-key" });
    const providers = new Map(providersFromConfig(config).map((p) => [p.id, p]));
    expect(providers.get("azure-east")!.status()).toEqual({ available: true });
    expect(providers.get("bedrock")!.status()).toEqual({ available: true });
    expect(providers.get("openai-org2")!.status()).toEqual({
      available: false,
      reason: "model-service.yaml: providers.openai-org2.api_key uses ${OPENAI_ORG2_KEY}, which is not set",
    });
    expect(providers.get("ollama")!.name).toBe("OpenAI-compatible (ollama)");
  });

  it("applies the models section to the catalogue: the provider changes, the catalogue price stays unless given; new models need type and price", () => {
    const config = parseConfigFile("f.yaml", ISSUE_EXAMPLE, {});
    const entries = catalogueWithConfig(shippedCatalogue(), config);
    const byId = new Map(entries.map((e) => [e.id, e]));
    expect(byId.get("gpt-4o")).toMatchObject({ provider: "azure-east", price: { input: "2.5", output: "10", cachedInput: "1.25" } });
    // An alias names the catalogue model.
    expect(byId.get("claude-sonnet-4-5-20250929")).toMatchObject({ provider: "bedrock" });
    expect(byId.get("my-llama")).toMatchObject({ provider: "ollama", type: "chat", price: { input: "0", output: "0" } });
    const noPrice = parseConfigFile(
      "f.yaml",
      "providers: { o: { type: openai-compatible, base_url: http://x } }\nmodels: [{ model: new-one, provider: o }]",
      {},
    );
    expect(() => catalogueWithConfig(shippedCatalogue(), noPrice)).toThrow(
      "Invalid configuration file f.yaml: models[0]: new-one is not in the catalogue, so it needs a type and a price",
    );
  });

  it.each([
    ["providers: [", "it is not valid YAML"],
    ["providers: { x: { type: nope } }", "providers.x.type"],
    ["providers: { x: { type: bedrock, region: Europe } }", "providers.x.region: an AWS region such as us-east-1"],
    ["providers: { x: { type: azure-openai, endpoint: not-a-url } }", "providers.x.endpoint: an http(s) URL"],
    ["providers: { x: { type: gemini, api_key: k, colour: blue } }", "providers.x"],
    ["providers: { Bad Id: { type: gemini } }", "a lowercase id"],
    ["models: [{ model: m, provider: nobody }]", 'models[0].provider: "nobody" is not a provider of the file'],
    ["surprise: 1", "surprise"],
  ])("refuses %s with one line naming the path and the problem", (source, detail) => {
    let error: unknown;
    try {
      parseConfigFile("/etc/ms/model-service.yaml", source, {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigFileError);
    const message = (error as Error).message;
    expect(message).toMatch(/^Invalid configuration file \/etc\/ms\/model-service\.yaml: /);
    expect(message).toContain(detail);
    expect(message).not.toContain("\n");
  });

  it("never repeats a value (it may be a key) in its error", () => {
    expect(() => parseConfigFile("f.yaml", "providers: { x: { type: bedrock, region: us-east-1, secret_access_key: 12345 } }", {})).toThrow(
      ConfigFileError,
    );
    try {
      parseConfigFile("f.yaml", "providers: { x: { type: azure-openai, endpoint: 'sk-secret-looking-value' } }", {});
    } catch (e) {
      expect((e as Error).message).not.toContain("sk-secret-looking-value");
    }
  });
});

describe("model-service.yaml: start-up and reload", () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
    resetEnvForTests();
    resetProvidersForTests();
  });

  it("a malformed file stops the server with one line naming the path and the problem", () => {
    const bad = file(
      "bad.yaml",
      "providers: { east: { type: azure-openai, endpoint: https://x, api_key: sk-file-secret-98765 } }\nmodels: [{ model: m }]",
    );
    const r = spawnSync(process.execPath, [...SERVER_NODE_ARGS, "--api-only"], {
      env: { ...process.env, PORT: "0", MODEL_SERVICE_CONFIG: bad },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`Invalid configuration file ${bad}: models[0].provider: Invalid input: expected string, received undefined`);
    expect(r.stdout + r.stderr).not.toContain("sk-file-secret-98765");
  });

  it("reloads the providers when the file changes; a bad edit keeps the previous ones; the environment's come back when the file drops an id", async () => {
    const p = file(
      "live.yaml",
      "providers:\n  east: { type: gemini, api_key: k1, name: East one }\n  gemini: { type: gemini, api_key: from-file }\n",
    );
    process.env.MODEL_SERVICE_CONFIG = p;
    process.env.GEMINI_API_KEY = "from-env";
    resetEnvForTests();
    resetProvidersForTests();
    expect(getProvider("east")?.name).toBe("East one");
    // The file's "gemini" replaces the environment's.
    expect(getProvider("gemini")?.name).toBe("Gemini API (gemini)");
    writeFileSync(p, "providers:\n  east: { type: gemini, api_key: k2, name: East two }\n  west: { type: gemini, api_key: k3 }\n");
    await expect.poll(() => getProvider("east")?.name, { timeout: 8000, interval: 100 }).toBe("East two");
    expect(getProvider("west")?.status()).toEqual({ available: true });
    expect(getProvider("gemini")?.name).toBe("Gemini API");
    writeFileSync(p, "providers: [ broken");
    await new Promise((r) => setTimeout(r, 2500));
    expect(getProvider("east")?.name).toBe("East two");
  });
});

describe.each(testDatabases())("two Azure resources side by side from the file, through the host, on $kind", ({ kind }) => {
  let west: ProviderEmulator;
  beforeAll(async () => {
    west = await startProviderEmulator({ azureKey: "west-resource-key-0987654321" });
  });
  afterAll(() => west.close());
  const server = useCompatServer(kind, (east) => ({
    MODEL_SERVICE_CONFIG: file(
      `two-azure-${kind}.yaml`,
      `providers:
  azure-east: { type: azure-openai, endpoint: ${east.cloud.azureEndpoint}, api_key: \${AZURE_EAST_KEY}, api_version: "2024-10-21" }
  azure-west: { type: azure-openai, endpoint: ${west.cloud.azureEndpoint}, api_key: \${AZURE_WEST_KEY}, api_version: "2024-10-21" }
  ollama:     { type: openai-compatible, base_url: ${east.openaiBaseUrl}, api_key: ${east.openaiKey} }
models:
  - { model: gpt-4o, provider: azure-east, provider_model: gpt-4o-prod }
  - { model: gpt-4.1, provider: azure-west, provider_model: gpt41-west }
  - { model: my-llama, provider: ollama, provider_model: llama3.1, type: chat, price: { input: 0, output: 0 } }
`,
    ),
    AZURE_EAST_KEY: east.cloud.azureKey!,
    AZURE_WEST_KEY: "west-resource-key-0987654321",
  }));
  const client = () => new OpenAI({ apiKey: server.key, baseURL: `${server.url}/v1`, maxRetries: 0 });
  beforeAll(() => west.reset());

  it("each model goes to its resource and deployment, priced from the catalogue; a new model at the file's price", async () => {
    const a = await client().chat.completions.create(
      { model: "gpt-4o", messages: [{ role: "user", content: "to the east" }] },
      { headers: { "x-request-id": `${kind}-east` } },
    );
    expect(a.choices[0]!.message.content).toBe("You said: to the east");
    expect(server.emulator.requests.at(-1)).toMatchObject({ protocol: "azure", path: "/openai/deployments/gpt-4o-prod/chat/completions" });
    const b = await client().chat.completions.create(
      { model: "gpt-4.1", messages: [{ role: "user", content: "to the west" }] },
      { headers: { "x-request-id": `${kind}-west` } },
    );
    expect(b.choices[0]!.message.content).toBe("You said: to the west");
    expect(west.requests.at(-1)).toMatchObject({ protocol: "azure", path: "/openai/deployments/gpt41-west/chat/completions" });
    expect(west.requests.at(-1)!.headers["api-key"]).toBe("west-resource-key-0987654321");
    // gpt-4o at its catalogue price ($2.5 / $10 per 1M): 3 in, 5 out.
    expect(await server.events(`${kind}-east`)).toEqual([
      expect.objectContaining({
        provider: "azure-east",
        model_id: "gpt-4o",
        input_tokens: 3,
        output_tokens: 5,
        total_cost: "0.000057500000",
      }),
    ]);
    // gpt-4.1 ($2 / $8): 3 in, 5 out.
    expect(await server.events(`${kind}-west`)).toEqual([
      expect.objectContaining({
        provider: "azure-west",
        model_id: "gpt-4.1",
        input_tokens: 3,
        output_tokens: 5,
        total_cost: "0.000046000000",
      }),
    ]);
    const c = await client().chat.completions.create(
      { model: "my-llama", messages: [{ role: "user", content: "local please" }] },
      { headers: { "x-request-id": `${kind}-llama` } },
    );
    expect(c.choices[0]!.message.content).toBe("You said: local please");
    expect(server.emulator.requests.at(-1)).toMatchObject({ protocol: "openai", body: expect.objectContaining({ model: "llama3.1" }) });
    expect(await server.events(`${kind}-llama`)).toEqual([
      expect.objectContaining({ provider: "ollama", model_id: "my-llama", total_cost: "0.000000000000" }),
    ]);
  });
});
