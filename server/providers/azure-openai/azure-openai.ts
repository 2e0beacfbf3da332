import "server-only";
// Azure OpenAI through the `openai` package's AzureOpenAI client: the OpenAI chat and embeddings
// protocol (openai.ts owns its mapping, usage and errors) under a resource endpoint, a deployment
// per model (/openai/deployments/{deployment}/...), an `api-version` query parameter, and either
// the resource's `api-key` or a Microsoft Entra ID bearer token.
import { AzureOpenAI } from "openai";
import { getProviderFetch, type ProviderFetch } from "../http.ts";
import { OPENAI_EMBEDDING_TOKEN_LIMITS, OpenAIChatProvider } from "../openai.ts";
import { RenamedModelProvider } from "../renamed-model.ts";

/** The GA api-version used when none is configured. */
export const AZURE_DEFAULT_API_VERSION = "2024-10-21";
/** Azure's limit on inputs per embeddings request. */
export const AZURE_MAX_EMBEDDINGS_PER_CALL = 2048;
const SDK_TIMEOUT_MS = 10 * 60_000;

export type AzureOpenAIProviderOptions = {
  /** Provider id (the catalogue's `provider`); "azure-openai" for the one configured from the environment. */
  id?: string;
  name?: string;
  /** The resource URL, e.g. https://my-resource.openai.azure.com (AZURE_OPENAI_ENDPOINT). */
  endpoint?: string;
  /** The resource's key (AZURE_OPENAI_API_KEY); or `entraToken`. */
  apiKey?: string;
  /** Returns a Microsoft Entra ID access token (scope https://cognitiveservices.azure.com/.default) per request (entra.ts). */
  entraToken?: () => Promise<string>;
  /** Why the Entra settings cannot be used (one of them is missing); the provider is then unavailable. */
  entraProblem?: string;
  /** OPENAI_API_VERSION; default AZURE_DEFAULT_API_VERSION. */
  apiVersion?: string;
  /** Catalogue model id → deployment name; a model not listed is deployed under its own id (an "azure/" prefix dropped). */
  deployments?: Record<string, string>;
  headers?: Record<string, string>;
  maxEmbeddingsPerCall?: number;
  /** A fetch for the SDK (tests); the chat passthrough is then off, since it does not use fetch. */
  fetch?: ProviderFetch;
  /** The chat passthrough (openai-wire.ts, the same paths and credentials as the client's); on unless false. */
  passthrough?: boolean;
};

/** The deployment that serves a catalogue model: the mapping's, else the id without its "azure/" prefix. */
export function azureDeployment(model: string, deployments: Record<string, string> = {}): string {
  return deployments[model] ?? (model.startsWith("azure/") ? model.slice("azure/".length) : model);
}

/** Azure OpenAI: the OpenAI chat provider on an AzureOpenAI client, each model sent as its deployment. */
export type AzureOpenAIProvider = RenamedModelProvider;

export function createAzureOpenAIProvider(options: AzureOpenAIProviderOptions): AzureOpenAIProvider {
  const id = options.id ?? "azure-openai";
  const name = options.name ?? "Azure OpenAI";
  const maxEmbeddingsPerCall = options.maxEmbeddingsPerCall ?? AZURE_MAX_EMBEDDINGS_PER_CALL;
  const unavailableReason = !options.endpoint
    ? "AZURE_OPENAI_ENDPOINT is not set"
    : !options.apiKey && options.entraProblem
      ? options.entraProblem
      : !options.apiKey && !options.entraToken
        ? "AZURE_OPENAI_API_KEY is not set (nor a Microsoft Entra ID service principal: AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)"
        : undefined;
  const client =
    unavailableReason === undefined
      ? new AzureOpenAI({
          // Every value explicitly, so that the client reads nothing from process.env (it would
          // take OPENAI_BASE_URL, AZURE_OPENAI_API_KEY, OPENAI_ORG_ID... otherwise).
          baseURL: `${options.endpoint!.replace(/\/+$/, "")}/openai`,
          apiVersion: options.apiVersion ?? AZURE_DEFAULT_API_VERSION,
          // A key, or the Entra token provider (then `apiKey` must be null, not undefined, or the
          // client would read AZURE_OPENAI_API_KEY).
          apiKey: (options.entraToken && !options.apiKey ? null : options.apiKey) as string | undefined,
          azureADTokenProvider: options.apiKey ? undefined : options.entraToken,
          organization: null,
          project: null,
          webhookSecret: null,
          adminAPIKey: null,
          defaultHeaders: options.headers,
          maxRetries: 0,
          timeout: SDK_TIMEOUT_MS,
          fetch: options.fetch ?? getProviderFetch(),
          logLevel: "off",
        })
      : undefined;
  const inner = new OpenAIChatProvider({
    id,
    name,
    baseURL: options.endpoint ?? "",
    apiKey: options.apiKey,
    unavailableReason,
    // Azure takes max_completion_tokens from api-version 2024-09-01-preview on (o-series need it).
    maxTokensField: "max_completion_tokens",
    embeddingEncoding: "base64",
    maxEmbeddingsPerCall,
    embeddingTokenLimits: OPENAI_EMBEDDING_TOKEN_LIMITS,
    // Deployments are the resource's own; the catalogue says which models exist.
    listModels: async () => [],
    client,
    passthrough: options.passthrough,
    // The passthrough sends what the AzureOpenAI client sends: the deployment in the path, the
    // api-version in the query, the key as `api-key` or the Entra token as a bearer token.
    wire: {
      chatPath: (deployment) =>
        `openai/deployments/${encodeURIComponent(deployment)}/chat/completions?api-version=${encodeURIComponent(options.apiVersion ?? AZURE_DEFAULT_API_VERSION)}`,
      apiKeyHeader: "api-key",
      ...(options.apiKey || !options.entraToken
        ? {}
        : { credentialHeaders: async () => ({ authorization: `Bearer ${await options.entraToken!()}` }) }),
    },
  });
  return new RenamedModelProvider(inner, (model) => azureDeployment(model, options.deployments));
}
