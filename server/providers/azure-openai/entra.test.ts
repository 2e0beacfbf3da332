// Azure OpenAI signed in by a Microsoft Entra ID service principal: the token comes from the
// identity platform (its emulator, tests/emulators/entra-emulator.ts) by the client-credentials
// grant, and the openai SDK's AzureOpenAI client sends it as the bearer token to the Azure emulator.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startEntraEmulator, type EntraEmulator } from "../../../tests/emulators/entra-emulator.ts";
import { startProviderEmulator, type ProviderEmulator } from "../../../tests/emulators/provider-emulator.ts";
import { parseConfigFile, providersFromConfig } from "../config/config-file.ts";
import { loadEnv } from "../../kernel/env.ts";
import { providersFromEnv } from "../registry.ts";
import { providerError } from "../test-helpers.ts";
import { createAzureOpenAIProvider } from "./azure-openai.ts";
import { AZURE_OPENAI_SCOPE, azureEntra, entraTokenProvider } from "./entra.ts";

const TENANT = "11111111-2222-3333-4444-555555555555";
const CLIENT = "66666666-7777-8888-9999-000000000000";
const SECRET = "entra-client-secret-value~0123456789";

let azure: ProviderEmulator;
let entra: EntraEmulator;

beforeAll(async () => {
  azure = await startProviderEmulator();
  entra = await startEntraEmulator({ tenantId: TENANT, clientId: CLIENT, clientSecret: SECRET, accessToken: azure.cloud.azureToken });
});
afterAll(async () => {
  await azure.close();
  await entra.close();
});
beforeEach(() => {
  azure.reset();
  entra.requests.length = 0;
  entra.hang = false;
});

const credentials = (over: Partial<{ clientSecret: string; timeoutMs: number }> = {}) => ({
  tenantId: TENANT,
  clientId: CLIENT,
  clientSecret: SECRET,
  authorityHost: entra.url,
  ...over,
});

describe("Microsoft Entra ID sign-in for Azure OpenAI", () => {
  it("gets a token by the client-credentials grant and sends it as the bearer token, once for several calls", async () => {
    const provider = createAzureOpenAIProvider({ endpoint: azure.cloud.azureEndpoint, entraToken: entraTokenProvider(credentials()) });
    expect(provider.status()).toEqual({ available: true });
    for (const word of ["one", "two", "three"]) {
      const result = await provider.generateText({ model: "gpt-4o", messages: [{ role: "user", content: word }] });
      expect(result.text).toBe(`You said: ${word}`);
    }
    expect(entra.requests).toHaveLength(1);
    expect(entra.requests[0]).toEqual({
      path: `/${TENANT}/oauth2/v2.0/token`,
      contentType: "application/x-www-form-urlencoded",
      form: { grant_type: "client_credentials", client_id: CLIENT, client_secret: SECRET, scope: AZURE_OPENAI_SCOPE },
    });
    expect(azure.requests.map((r) => r.headers.authorization)).toEqual(Array(3).fill(`Bearer ${azure.cloud.azureToken}`));
    expect(azure.requests.every((r) => r.headers["api-key"] === undefined)).toBe(true);
  });

  it("shares one token request between callers that wait at once, and renews the token before it expires", async () => {
    let now = 1_000_000;
    const token = entraTokenProvider(credentials(), () => now);
    expect(await Promise.all([token(), token(), token()])).toEqual(Array(3).fill(azure.cloud.azureToken));
    expect(entra.requests).toHaveLength(1);
    now += 3599_000 - 5 * 60_000 - 1; // just inside the renewal margin: still cached
    await token();
    expect(entra.requests).toHaveLength(1);
    now += 2;
    await token();
    expect(entra.requests).toHaveLength(2);
  });

  it("a wrong secret is an auth error that names the platform's reason and never the secret", async () => {
    const wrong = "wrong-secret-value~9876543210";
    const provider = createAzureOpenAIProvider({
      endpoint: azure.cloud.azureEndpoint,
      entraToken: entraTokenProvider(credentials({ clientSecret: wrong })),
    });
    const error = await providerError(provider.generateText({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }));
    expect(error).toMatchObject({ kind: "auth", status: 401, retryable: false });
    expect(error.message).toContain("AADSTS7000215");
    expect(error.message).not.toContain(wrong);
    expect(azure.requests).toHaveLength(0);
  });

  it("a hung token endpoint ends at the token request's deadline, as a retryable timeout", async () => {
    entra.hang = true;
    const token = entraTokenProvider(credentials({ timeoutMs: 300 }));
    const started = Date.now();
    const error = await providerError(token());
    expect(error).toMatchObject({ kind: "timeout", retryable: true });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("is configured from the environment's service-principal variables, or the file's fields; a partial set is unavailable, naming what is missing", () => {
    const env = {
      ...loadEnv(),
      AZURE_OPENAI_ENDPOINT: azure.cloud.azureEndpoint,
      AZURE_OPENAI_API_KEY: undefined,
      AZURE_TENANT_ID: TENANT,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_CLIENT_SECRET: SECRET,
      AZURE_AUTHORITY_HOST: entra.url,
    };
    const fromEnv = providersFromEnv(env).find((p) => p.id === "azure-openai")!;
    expect(fromEnv.status()).toEqual({ available: true });
    const partial = providersFromEnv({ ...env, AZURE_CLIENT_SECRET: undefined }).find((p) => p.id === "azure-openai")!;
    expect(partial.status()).toMatchObject({ available: false, reason: expect.stringContaining("AZURE_CLIENT_SECRET is not set") });

    const file = (fields: string) =>
      providersFromConfig(
        parseConfigFile(
          "/etc/model-service.yaml",
          `providers:\n  azure-west: { type: azure-openai, endpoint: ${azure.cloud.azureEndpoint}, ${fields} }\n`,
          { SECRET_VAR: SECRET },
        ),
      )[0]!;
    expect(
      file(`tenant_id: ${TENANT}, client_id: ${CLIENT}, client_secret: \${SECRET_VAR}, authority_host: ${entra.url}`).status(),
    ).toEqual({
      available: true,
    });
    expect(file(`tenant_id: ${TENANT}, client_secret: \${SECRET_VAR}`).status()).toMatchObject({
      available: false,
      reason: expect.stringContaining("providers.azure-west.client_id is not set"),
    });
    expect(file("").status()).toMatchObject({ available: false, reason: expect.stringContaining("has no api_key") });
    expect(azureEntra({}, { tenantId: "a", clientId: "b", clientSecret: "c" })).toEqual({});
  });

  it("signs in a file provider end to end", async () => {
    const provider = providersFromConfig(
      parseConfigFile(
        "/etc/model-service.yaml",
        `providers:\n  azure-west: { type: azure-openai, endpoint: ${azure.cloud.azureEndpoint}, tenant_id: ${TENANT}, client_id: ${CLIENT}, client_secret: ${SECRET}, authority_host: ${entra.url} }\n`,
        {},
      ),
    )[0]!;
    const result = await provider.generateText({ model: "gpt-4o", messages: [{ role: "user", content: "west" }] });
    expect(result.text).toBe("You said: west");
    expect(entra.requests).toHaveLength(1);
  });
});
