import "server-only";
// The configuration file (model-service.yaml, its path in MODEL_SERVICE_CONFIG): any number of
// providers of any type, each under an id, and which provider serves a model under which name.
//
//   providers:
//     azure-east:  { type: azure-openai, endpoint: https://east.openai.azure.com, api_key: ${AZURE_EAST_KEY}, api_version: "2024-10-21" }
//     bedrock:     { type: bedrock, region: us-east-1 }            # keys from the default chain
//     gemini:      { type: gemini, api_key: ${GEMINI_API_KEY} }
//     vertex:      { type: vertex, project: my-project, location: europe-west4 }
//     openai-org2: { type: openai, api_key: ${OPENAI_ORG2_KEY}, organization: org-2 }
//     ollama:      { type: openai-compatible, base_url: http://localhost:11434/v1 }
//   models:
//     - { model: gpt-4o, provider: azure-east, provider_model: gpt-4o-prod }
//     - { model: my-llama, provider: ollama, provider_model: llama3.1, type: chat, price: { input: 0, output: 0 } }
//
// Each `models:` entry is a deployment of its model (features/routing): several entries of one
// model form its group, load-balanced by `weight`, `priority`, `rpm`/`tpm` caps, and the model's
// `routing:` policy (strategy, cooldown). The routing feature reads these; here they are only validated.
//
// `${VAR}` in a value is replaced by that environment variable (a provider whose value names an
// unset variable is listed as unavailable with that reason). The file is validated with zod: a bad
// file stops start-up with one line naming the path and the problem; a bad edit while running is
// logged and the previous configuration kept. A provider id of the file replaces the provider of
// that id configured from the environment.
import { readFileSync, statSync } from "node:fs";
import YAML from "yaml";
import { z } from "zod";
import { createAnthropicProvider } from "../anthropic.ts";
import { createAzureOpenAIProvider } from "../azure-openai/azure-openai.ts";
import { azureEntra } from "../azure-openai/entra.ts";
import { createBedrockProvider } from "../bedrock/bedrock.ts";
import { unavailable } from "../errors.ts";
import { createGeminiProvider, createVertexProvider } from "../gemini/gemini.ts";
import type { ProviderFetch } from "../http.ts";
import { renamedModelProvider } from "../renamed-model.ts";
import { createOpenAICompatibleProvider } from "../openai-compatible.ts";
import { OPENAI_EMBEDDING_TOKEN_LIMITS, OpenAIChatProvider } from "../openai.ts";
import type { EmbedResult, GenerateResult, Provider, ProviderModel, ProviderStatus, StreamPart } from "../types.ts";

export class ConfigFileError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`Invalid configuration file ${path}: ${problem}`);
    this.name = "ConfigFileError";
  }
}

const text = z.string().min(1);
const url = z.url({ protocol: /^https?$/, error: "an http(s) URL" });
const headers = z.record(z.string(), z.string(), { error: "a map of header names to values" }).optional();
const price = z.union([z.number().min(0), z.string().regex(/^\d+(\.\d{1,6})?$/)], {
  error: "a price in USD per 1M tokens, at most 6 decimals",
});
const common = { name: text.optional(), headers, base_url: url.optional() };

const providerSchema = z.discriminatedUnion(
  "type",
  [
    z.strictObject({
      type: z.literal("azure-openai"),
      ...common,
      endpoint: url.optional(),
      api_key: text.optional(),
      api_version: text.optional(),
      // Or a Microsoft Entra ID service principal (azure-openai/entra.ts).
      tenant_id: text.optional(),
      client_id: text.optional(),
      client_secret: text.optional(),
      authority_host: url.optional(),
    }),
    z.strictObject({
      type: z.literal("bedrock"),
      ...common,
      endpoint: url.optional(),
      region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$/, { error: "an AWS region such as us-east-1" }),
      access_key_id: text.optional(),
      secret_access_key: text.optional(),
      session_token: text.optional(),
    }),
    z.strictObject({ type: z.literal("gemini"), ...common, api_key: text.optional() }),
    z.strictObject({ type: z.literal("vertex"), ...common, project: text, location: text.optional(), credentials_file: text.optional() }),
    z.strictObject({ type: z.literal("openai"), ...common, api_key: text.optional(), organization: text.optional() }),
    z.strictObject({ type: z.literal("anthropic"), ...common, api_key: text.optional() }),
    z.strictObject({
      type: z.literal("openai-compatible"),
      ...common,
      base_url: url,
      api_key: text.optional(),
      models: z.array(z.union([text, z.strictObject({ id: text, type: z.enum(["chat", "embedding"]) })])).optional(),
    }),
  ],
  { error: "a provider with a type of azure-openai, bedrock, gemini, vertex, openai, anthropic or openai-compatible" },
);

const modelId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, { error: "a model id (letters, digits and . _ : / @ -)" });
const positiveInt = (what: string) => z.number({ error: what }).int({ error: what }).positive({ error: what });

const modelSchema = z.strictObject({
  model: modelId,
  provider: text,
  provider_model: text.optional(),
  /** The deployment's id (default `<provider>/<provider_model or model>`): metrics, usage, the answer's header. */
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, { error: "a deployment id (letters, digits and . _ : / @ -)" })
    .optional(),
  weight: z.number({ error: "a weight of 0 or more" }).min(0, { error: "a weight of 0 or more" }).optional(),
  rpm: positiveInt("a whole number of requests per minute").optional(),
  tpm: positiveInt("a whole number of tokens per minute").optional(),
  priority: z
    .number({ error: "a priority of 0 or more" })
    .int({ error: "a whole priority" })
    .min(0, { error: "a priority of 0 or more" })
    .optional(),
  region: text.optional(),
  tags: z.array(text, { error: "a list of tags" }).optional(),
  type: z.enum(["chat", "embedding"]).optional(),
  price: z.strictObject({ input: price, output: price, cached_input: price.optional() }).optional(),
  context_window: z.number().int().positive().optional(),
  max_output_tokens: z.number().int().positive().optional(),
  dimensions: z.number().int().positive().optional(),
});

/**
 * A deployment an admin adds in the dashboard: a file's `models:` entry of a model the catalogue
 * already has (so none of the fields that describe a new model).
 */
export const deploymentEntrySchema = modelSchema.omit({ type: true, context_window: true, max_output_tokens: true, dimensions: true });
export type DeploymentEntry = z.infer<typeof deploymentEntrySchema>;

export const ROUTING_STRATEGIES = ["weighted", "least-busy", "latency", "cost"] as const;

const routingSchema = z.strictObject({
  strategy: z.enum(ROUTING_STRATEGIES, { error: "one of weighted, least-busy, latency, cost" }).optional(),
  cooldown: z
    .strictObject({
      failures: positiveInt("a whole number of failures").optional(),
      window_s: z.number({ error: "seconds, more than 0" }).positive({ error: "seconds, more than 0" }).optional(),
      cooldown_s: z.number({ error: "seconds, more than 0" }).positive({ error: "seconds, more than 0" }).optional(),
    })
    .optional(),
});

const fileSchema = z.strictObject({
  providers: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, { error: "a lowercase id such as azure-east" }), providerSchema)
    .default({}),
  models: z.array(modelSchema).default([]),
  /** Per model (or `default`, for every model): how its deployments are chosen and cooled down. */
  routing: z.record(modelId, routingSchema).default({}),
});

export type ProviderConfig = z.infer<typeof providerSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type RoutingConfig = z.infer<typeof routingSchema>;
export type ConfigFile = {
  path: string;
  providers: Record<string, ProviderConfig>;
  models: ModelConfig[];
  /** Model id (as the file names it) or `default` → its routing policy (absent: none). */
  routing?: Record<string, RoutingConfig>;
  /** Provider id → why it cannot serve (a value names an unset variable). */
  missing: Record<string, string>;
};

/**
 * `${VAR}` becomes a placeholder before the YAML is parsed (so that `{ api_key: ${KEY} }` is valid
 * flow YAML and no variable's value can change the file's structure), and the variable's value
 * after: these are the names, by placeholder number.
 */
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const PLACEHOLDER = /__model_service_variable_(\d+)__/g;

/** Replaces the placeholders in every string; records the unset variables by the path they are used at. */
function substitute(
  value: unknown,
  env: Record<string, string | undefined>,
  at: string[],
  missing: Map<string, string>,
  names: string[],
): unknown {
  if (typeof value === "string") {
    let unset: string | undefined;
    const out = value.replace(PLACEHOLDER, (_m, n: string) => {
      const name = names[Number(n)]!;
      const v = env[name];
      if (v === undefined || v === "") unset ??= name;
      return v ?? "";
    });
    if (unset) missing.set(at.join("."), unset);
    // A value that was only an unset variable is left out, so the field reads as not given.
    return out === "" && unset ? undefined : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, env, [...at, String(i)], missing, names));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .map(([k, v]) => [k, substitute(v, env, [...at, k], missing, names)])
        .filter(([, v]) => v !== undefined),
    );
  }
  return value;
}

/** Parses and validates the file's text; throws a ConfigFileError of one line. */
export function parseConfigFile(path: string, source: string, env: Record<string, string | undefined> = process.env): ConfigFile {
  const names: string[] = [];
  const prepared = source.replace(VARIABLE, (_m, name: string) => `__model_service_variable_${names.push(name) - 1}__`);
  let raw: unknown;
  try {
    raw = YAML.parse(prepared, { prettyErrors: false }) ?? {};
  } catch (error) {
    throw new ConfigFileError(path, `it is not valid YAML (${(error as Error).message.split("\n")[0]})`);
  }
  const missing = new Map<string, string>();
  const substituted = substitute(raw, env, [], missing, names);
  const parsed = fileSchema.safeParse(substituted);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where =
      issue.path
        .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
        .join("")
        .replace(/^\./, "") || "the file";
    const message =
      issue.code === "invalid_key"
        ? "a provider id is a lowercase id such as azure-east (letters, digits, - _ .)"
        : issue.message.split("\n")[0];
    // Never the value itself: it may be a key.
    throw new ConfigFileError(path, `${where}: ${message}`);
  }
  const { providers, models, routing } = parsed.data;
  const deploymentIds = new Map<string, number>();
  for (const [i, m] of models.entries()) {
    const id = deploymentIdOf(m);
    const twice = deploymentIds.get(id);
    if (twice !== undefined) {
      throw new ConfigFileError(path, `models[${i}].id: the deployment id "${id}" is models[${twice}]'s too; give one of them its own id`);
    }
    deploymentIds.set(id, i);
    const known =
      providers[m.provider] !== undefined ||
      ["openai", "anthropic", "local", "azure-openai", "bedrock", "gemini", "vertex"].includes(m.provider);
    if (!known) throw new ConfigFileError(path, `models[${i}].provider: "${m.provider}" is not a provider of the file nor a built-in one`);
    if (m.type === "embedding" && m.dimensions === undefined && m.price !== undefined) {
      throw new ConfigFileError(path, `models[${i}]: an embedding model the file adds needs its dimensions`);
    }
  }
  const reasons: Record<string, string> = {};
  for (const [where, name] of missing) {
    const [section, id] = where.split(".");
    if (section === "providers" && id && !reasons[id]) reasons[id] = `${path}: ${where} uses \${${name}}, which is not set`;
  }
  return { path, providers, models, routing, missing: reasons };
}

/** A deployment's id: the entry's `id`, else `<provider>/<provider_model or model>`. */
export function deploymentIdOf(m: ModelConfig): string {
  return m.id ?? `${m.provider}/${m.provider_model ?? m.model}`;
}

/** Reads and validates the file at `path`. */
export function loadConfigFile(path: string, env: Record<string, string | undefined> = process.env): ConfigFile {
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigFileError(path, `it cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return parseConfigFile(path, source, env);
}

const TYPE_NAMES: Record<ProviderConfig["type"], string> = {
  "azure-openai": "Azure OpenAI",
  bedrock: "AWS Bedrock",
  gemini: "Gemini API",
  vertex: "Vertex AI",
  openai: "OpenAI",
  anthropic: "Anthropic",
  "openai-compatible": "OpenAI-compatible",
};

/** The providers the file describes, each under its id, with its models' names there. */
export function providersFromConfig(config: ConfigFile, fetch?: ProviderFetch): Provider[] {
  return Object.entries(config.providers).map(([id, p]) => {
    const name = p.name ?? `${TYPE_NAMES[p.type]} (${id})`;
    // Keyed by the model as the file names it: use the catalogue's canonical id (the generation service sends that, aliases resolved).
    const names = Object.fromEntries(
      config.models.filter((m) => m.provider === id && m.provider_model).map((m) => [m.model, m.provider_model!]),
    );
    const missing = config.missing[id];
    if (missing) return new UnavailableProvider(id, name, missing);
    const needKey = (field: string) => new UnavailableProvider(id, name, `${config.path}: providers.${id} has no ${field}`);
    let inner: Provider;
    switch (p.type) {
      case "azure-openai": {
        const endpoint = p.endpoint ?? p.base_url;
        if (!endpoint) return needKey("endpoint");
        const entra = azureEntra(
          { tenantId: p.tenant_id, clientId: p.client_id, clientSecret: p.client_secret, authorityHost: p.authority_host },
          { tenantId: `providers.${id}.tenant_id`, clientId: `providers.${id}.client_id`, clientSecret: `providers.${id}.client_secret` },
          fetch,
          id,
        );
        if (entra.entraProblem) return new UnavailableProvider(id, name, `${config.path}: ${entra.entraProblem}`);
        if (!p.api_key && !entra.entraToken) return needKey("api_key (nor tenant_id, client_id and client_secret)");
        inner = createAzureOpenAIProvider({
          id,
          name,
          endpoint,
          ...entra,
          apiKey: p.api_key,
          apiVersion: p.api_version,
          headers: p.headers,
          deployments: names,
          fetch,
        });
        break;
      }
      case "bedrock":
        inner = createBedrockProvider({
          id,
          name,
          region: p.region,
          endpoint: p.endpoint ?? p.base_url,
          accessKeyId: p.access_key_id,
          secretAccessKey: p.secret_access_key,
          sessionToken: p.session_token,
          headers: p.headers,
          models: names,
        });
        break;
      case "gemini":
        if (!p.api_key) return needKey("api_key");
        inner = createGeminiProvider({ id, name, apiKey: p.api_key, baseUrl: p.base_url, headers: p.headers, models: names, fetch });
        break;
      case "vertex":
        inner = createVertexProvider({
          id,
          name,
          project: p.project,
          location: p.location,
          credentialsFile: p.credentials_file,
          baseUrl: p.base_url,
          headers: p.headers,
          models: names,
          fetch,
        });
        break;
      case "openai":
        if (!p.api_key) return needKey("api_key");
        inner = renamed(
          new OpenAIChatProvider({
            id,
            name,
            baseURL: p.base_url ?? "https://api.openai.com/v1",
            apiKey: p.api_key,
            organization: p.organization,
            maxTokensField: "max_completion_tokens",
            embeddingEncoding: "base64",
            embeddingTokenLimits: OPENAI_EMBEDDING_TOKEN_LIMITS,
            headers: p.headers,
            developerRole: true,
            fetch,
          }),
          id,
          name,
          names,
        );
        break;
      case "anthropic":
        if (!p.api_key) return needKey("api_key");
        inner = renamed(
          createAnthropicProvider({ id, name, apiKey: p.api_key, baseURL: p.base_url, headers: p.headers, fetch }),
          id,
          name,
          names,
        );
        break;
      case "openai-compatible":
        inner = renamed(
          createOpenAICompatibleProvider({ id, name, baseUrl: p.base_url, apiKey: p.api_key, headers: p.headers, models: p.models, fetch }),
          id,
          name,
          names,
        );
        break;
    }
    return inner;
  });
}

/** A provider under another id and name, sending each model under its name there. */
function renamed(inner: Provider, id: string, name: string, names: Record<string, string>): Provider {
  return renamedModelProvider(inner, (model) => names[model] ?? model, { id, name });
}

/** A provider of the file that cannot serve: listed, with the reason, every call refused. */
export class UnavailableProvider implements Provider {
  readonly maxEmbeddingsPerCall = 0;
  constructor(
    readonly id: string,
    readonly name: string,
    private readonly reason: string,
  ) {}
  status(): ProviderStatus {
    return { available: false, reason: this.reason };
  }
  async generateText(): Promise<GenerateResult> {
    throw unavailable(this.reason);
  }
  async *streamText(): AsyncGenerator<StreamPart, void, undefined> {
    throw unavailable(this.reason);
  }
  async generateEmbeddings(): Promise<EmbedResult> {
    throw unavailable(this.reason);
  }
  async listModels(): Promise<ProviderModel[]> {
    return [];
  }
  async testConnection(): Promise<void> {
    throw unavailable(this.reason);
  }
}

/**
 * Calls `onChange` with the file's new configuration each time it changes (polled every
 * `intervalMs` against the file as it was when `since` was read, which also sees an editor's
 * rename-and-replace and a Kubernetes ConfigMap's symlink swap); `onError` when the new content
 * is invalid (the caller keeps the old one). Returns the function that stops watching.
 */
export function watchConfigFile(
  path: string,
  onChange: (config: ConfigFile) => void,
  onError: (error: ConfigFileError) => void,
  intervalMs = 1000,
): () => void {
  const signature = () => {
    try {
      const st = statSync(path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return "missing";
    }
  };
  let last = signature();
  const timer = setInterval(() => {
    const now = signature();
    if (now === last) return;
    last = now;
    try {
      onChange(loadConfigFile(path));
    } catch (error) {
      if (error instanceof ConfigFileError) onError(error);
      else throw error;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
