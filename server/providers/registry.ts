import "server-only";
// The one list of providers: built from configuration on first use, plus the ones registered at
// run time (an OpenAI-compatible server an admin adds). Adding a provider kind is one file and
// one line in `providersFromEnv` (see README.md here).
import { loadEnv, type Env } from "../kernel/env.ts";
import { createAnthropicProvider } from "./anthropic.ts";
import { createAzureOpenAIProvider } from "./azure-openai/azure-openai.ts";
import { azureEntra } from "./azure-openai/entra.ts";
import { createBedrockProvider } from "./bedrock/bedrock.ts";
import { createGeminiProvider, createVertexProvider } from "./gemini/gemini.ts";
import { loadConfigFile, providersFromConfig, watchConfigFile, type ConfigFile } from "./config/config-file.ts";
import { CredentialSync, type DatabaseHandle } from "./credentials/credentials.ts";
import type { ProviderFetch } from "./http.ts";
import { resetLastProviderErrorsForTests } from "./last-errors.ts";
import { createLocalProvider } from "./local.ts";
import { createOpenAICompatibleProvider } from "./openai-compatible.ts";
import { createOpenAIProvider } from "./openai.ts";
import { ProviderError, type Provider } from "./types.ts";

/** Ids that name a built-in provider; a run-time provider cannot take them. */
export const BUILT_IN_PROVIDER_IDS: ReadonlySet<string> = new Set([
  "openai",
  "anthropic",
  "local",
  "azure-openai",
  "bedrock",
  "gemini",
  "vertex",
]);

/** The providers configuration describes. A provider without credentials is still listed, as unavailable. */
export function providersFromEnv(env: Env, fetch?: ProviderFetch): Provider[] {
  return [
    createOpenAIProvider({
      apiKey: env.OPENAI_API_KEY,
      baseURL: env.OPENAI_BASE_URL,
      organization: env.OPENAI_ORGANIZATION,
      fetch,
    }),
    createAnthropicProvider({ apiKey: env.ANTHROPIC_API_KEY, baseURL: env.ANTHROPIC_BASE_URL, fetch }),
    createLocalProvider(),
    createAzureOpenAIProvider({
      endpoint: env.AZURE_OPENAI_ENDPOINT,
      apiKey: env.AZURE_OPENAI_API_KEY,
      apiVersion: env.OPENAI_API_VERSION,
      ...azureEntra(
        {
          tenantId: env.AZURE_TENANT_ID,
          clientId: env.AZURE_CLIENT_ID,
          clientSecret: env.AZURE_CLIENT_SECRET,
          authorityHost: env.AZURE_AUTHORITY_HOST,
        },
        { tenantId: "AZURE_TENANT_ID", clientId: "AZURE_CLIENT_ID", clientSecret: "AZURE_CLIENT_SECRET" },
        fetch,
      ),
      fetch,
    }),
    createBedrockProvider({
      region: env.AWS_REGION,
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN,
      endpoint: env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
    }),
    createGeminiProvider({ apiKey: env.GEMINI_API_KEY, baseUrl: env.GOOGLE_GEMINI_BASE_URL, fetch }),
    createVertexProvider({
      project: env.GOOGLE_CLOUD_PROJECT,
      location: env.GOOGLE_CLOUD_LOCATION,
      credentialsFile: env.GOOGLE_APPLICATION_CREDENTIALS,
      baseUrl: env.GOOGLE_VERTEX_BASE_URL,
      fetch,
    }),
    ...env.OPENAI_COMPATIBLE_PROVIDERS.map((c) => createOpenAICompatibleProvider({ ...c, fetch })),
  ];
}

// One registry per process, across Next's route bundles and dev hot reloads.
const g = globalThis as unknown as {
  __modelServiceRuntimeProviders?: { sync: CredentialSync; ids: Map<string, Provider> };
  __modelServiceProviders?: Map<string, Provider>;
  __modelServiceConfigFile?: { config: ConfigFile; fromEnv: Map<string, Provider>; stop: () => void };
};

function registry(): Map<string, Provider> {
  if (!g.__modelServiceProviders) {
    const env = loadEnv();
    const map = new Map<string, Provider>();
    for (const p of providersFromEnv(env)) map.set(p.id, p);
    g.__modelServiceProviders = map;
    if (env.MODEL_SERVICE_CONFIG) applyConfigFile(map, env.MODEL_SERVICE_CONFIG);
  }
  return g.__modelServiceProviders;
}

/** The file's providers over the environment's (same id: the file's), reloaded when the file changes. */
function applyConfigFile(map: Map<string, Provider>, path: string): void {
  g.__modelServiceConfigFile?.stop();
  const fromEnv = new Map(map);
  const apply = (config: ConfigFile, previous?: ConfigFile) => {
    for (const id of Object.keys(previous?.providers ?? {})) {
      map.delete(id);
      const envProvider = fromEnv.get(id);
      if (envProvider) map.set(id, envProvider);
    }
    for (const p of providersFromConfig(config)) map.set(p.id, p);
  };
  // Start-up validated the file (server/main.ts); an error here is thrown to the first caller.
  const config = loadConfigFile(path);
  apply(config);
  const stop = watchConfigFile(
    path,
    (next) => {
      const state = g.__modelServiceConfigFile;
      if (!state || g.__modelServiceProviders !== map) return;
      apply(next, state.config);
      state.config = next;
      void import("../kernel/logger.ts").then(({ getLogger }) =>
        getLogger().info({ path, providers: Object.keys(next.providers) }, "configuration file reloaded"),
      );
    },
    (error) =>
      void import("../kernel/logger.ts").then(({ getLogger }) =>
        getLogger().error({ path }, `${error.message}; keeping the previous configuration`),
      ),
  );
  g.__modelServiceConfigFile = { config, fromEnv, stop };
}

/**
 * Starts keeping the providers an admin stored at run time (dashboard, tRPC) in the registry: loaded
 * now, then polled every two seconds, so a change made on any instance reaches this one without a
 * restart. They never replace a provider of the environment or the file (saving refuses those ids).
 */
export async function startRuntimeProviders(getDatabase: () => Promise<DatabaseHandle>, intervalMs = 2000): Promise<CredentialSync> {
  if (g.__modelServiceRuntimeProviders) return g.__modelServiceRuntimeProviders.sync;
  const ids = new Map<string, Provider>();
  const sync = new CredentialSync(
    getDatabase,
    {
      replace(providers) {
        const map = registry();
        for (const [id, p] of ids) if (map.get(id) === p) map.delete(id);
        ids.clear();
        for (const p of providers) {
          if (map.has(p.id)) continue;
          map.set(p.id, p);
          ids.set(p.id, p);
        }
      },
    },
    (error) =>
      void import("../kernel/logger.ts").then(({ getLogger }) =>
        getLogger().error({ err: error }, "could not load the run-time providers"),
      ),
    intervalMs,
  );
  g.__modelServiceRuntimeProviders = { sync, ids };
  sync.start();
  await sync.check();
  return sync;
}

/** Where each provider comes from: the environment, the configuration file, or the dashboard (run time). */
export function providerSource(id: string): "environment" | "file" | "dashboard" | undefined {
  const map = registry();
  const p = map.get(id);
  if (!p) return undefined;
  if (g.__modelServiceRuntimeProviders?.ids.get(id) === p) return "dashboard";
  if (g.__modelServiceConfigFile && g.__modelServiceConfigFile.config.providers[id] !== undefined) return "file";
  return "environment";
}

/** The provider types: the configuration file's `type` values, and `local`. */
export type ProviderType = "openai" | "anthropic" | "local" | "azure-openai" | "bedrock" | "gemini" | "vertex" | "openai-compatible";

/**
 * The type of a provider of the environment or the file (the dashboard's are stored with theirs):
 * a built-in id is its own type, a file's provider has its `type`, anything else registered is an
 * OpenAI-compatible server (OPENAI_COMPATIBLE_PROVIDERS, `registerProvider`).
 */
export function providerType(id: string): ProviderType | undefined {
  if (!registry().has(id)) return undefined;
  const fromFile = g.__modelServiceConfigFile?.config.providers[id];
  if (fromFile && providerSource(id) === "file") return fromFile.type;
  return BUILT_IN_PROVIDER_IDS.has(id) ? (id as ProviderType) : "openai-compatible";
}

/** Ids a run-time provider cannot take: every provider of the environment and the file, and the built-in ids. */
export function reservedProviderIds(): Set<string> {
  const runtime = g.__modelServiceRuntimeProviders?.ids;
  const ids = new Set(BUILT_IN_PROVIDER_IDS);
  for (const [id, p] of registry()) if (runtime?.get(id) !== p) ids.add(id);
  return ids;
}

/** The configuration file in use (its models section), if any. */
export function currentConfigFile(): ConfigFile | undefined {
  registry();
  return g.__modelServiceConfigFile?.config;
}

export function getProvider(id: string): Provider | undefined {
  return registry().get(id);
}

/** Every provider: the built-in ones (openai, anthropic, local, azure-openai, bedrock, gemini, vertex), the configured compatible servers, then run-time ones. */
export function listProviders(): Provider[] {
  return [...registry().values()];
}

/** Adds a provider at run time, or replaces a run-time one of the same id (an admin edited it). */
export function registerProvider(provider: Provider): void {
  if (BUILT_IN_PROVIDER_IDS.has(provider.id)) {
    throw new ProviderError(`The provider id "${provider.id}" is reserved for a built-in provider`, "invalid_request", undefined, false);
  }
  registry().set(provider.id, provider);
}

/** Removes a provider added at run time (or configured as a compatible server); false if there was none. */
export function unregisterProvider(id: string): boolean {
  if (BUILT_IN_PROVIDER_IDS.has(id)) return false;
  return registry().delete(id);
}

/** Tests: start over from `providers`, or from configuration again when none are given. */
export function resetProvidersForTests(providers?: Provider[]): void {
  g.__modelServiceRuntimeProviders?.sync.stop();
  g.__modelServiceRuntimeProviders = undefined;
  g.__modelServiceConfigFile?.stop();
  g.__modelServiceConfigFile = undefined;
  g.__modelServiceProviders = providers ? new Map(providers.map((p) => [p.id, p])) : undefined;
  resetLastProviderErrorsForTests();
}
