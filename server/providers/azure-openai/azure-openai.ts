import "server-only";
// Azure OpenAI through the `openai` package's AzureOpenAI client: the OpenAI chat and embeddings
// protocol (openai.ts owns its mapping, usage and errors) under a resource endpoint, a deployment
// per model (/openai/deployments/{deployment}/...), an `api-version` query parameter, and either
// the resource's `api-key` or a Microsoft Entra ID bearer token.
import { AzureOpenAI } from "openai";
import { getProviderFetch, type ProviderFetch } from "../http.ts";
import { OpenAIChatProvider } from "../openai.ts";
import type {
  CallOptions,
  EmbedRequest,
  EmbedResult,
  GenerateRequest,
  GenerateResult,
  Provider,
  ProviderModel,
  ProviderStatus,
  StreamPart,
} from "../types.ts";
import { modelNameAtProvider } from "../types.ts";

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
  /** Returns a Microsoft Entra ID access token (scope https://cognitiveservices.azure.com/.default) per request. */
  entraToken?: () => Promise<string>;
  /** OPENAI_API_VERSION; default AZURE_DEFAULT_API_VERSION. */
  apiVersion?: string;
  /** Catalogue model id → deployment name; a model not listed is deployed under its own id (an "azure/" prefix dropped). */
  deployments?: Record<string, string>;
  headers?: Record<string, string>;
  maxEmbeddingsPerCall?: number;
  fetch?: ProviderFetch;
};

/** The deployment that serves a catalogue model: the mapping's, else the id without its "azure/" prefix. */
export function azureDeployment(model: string, deployments: Record<string, string> = {}): string {
  return deployments[model] ?? (model.startsWith("azure/") ? model.slice("azure/".length) : model);
}

export class AzureOpenAIProvider implements Provider {
  readonly id: string;
  readonly name: string;
  readonly maxEmbeddingsPerCall: number;
  private readonly inner: OpenAIChatProvider;

  constructor(private readonly options: AzureOpenAIProviderOptions) {
    this.id = options.id ?? "azure-openai";
    this.name = options.name ?? "Azure OpenAI";
    this.maxEmbeddingsPerCall = options.maxEmbeddingsPerCall ?? AZURE_MAX_EMBEDDINGS_PER_CALL;
    const unavailableReason = !options.endpoint
      ? "AZURE_OPENAI_ENDPOINT is not set"
      : !options.apiKey && !options.entraToken
        ? "AZURE_OPENAI_API_KEY is not set (nor a Microsoft Entra token)"
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
    this.inner = new OpenAIChatProvider({
      id: this.id,
      name: this.name,
      baseURL: options.endpoint ?? "",
      apiKey: options.apiKey,
      unavailableReason,
      // Azure takes max_completion_tokens from api-version 2024-09-01-preview on (o-series need it).
      maxTokensField: "max_completion_tokens",
      embeddingEncoding: "base64",
      maxEmbeddingsPerCall: this.maxEmbeddingsPerCall,
      // Deployments are the resource's own; the catalogue says which models exist.
      listModels: async () => [],
      client,
    });
  }

  status(): ProviderStatus {
    return this.inner.status();
  }

  private deployed<T extends { model: string; exactModel?: boolean }>(request: T): T {
    return { ...request, model: modelNameAtProvider(request, (m) => azureDeployment(m, this.options.deployments)) };
  }

  generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    return this.inner.generateText(this.deployed(request), options);
  }

  streamText(request: GenerateRequest, options?: CallOptions): AsyncIterable<StreamPart> {
    return this.inner.streamText(this.deployed(request), options);
  }

  generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult> {
    return this.inner.generateEmbeddings(this.deployed(request), options);
  }

  listModels(): Promise<ProviderModel[]> {
    return this.inner.listModels();
  }
}

export function createAzureOpenAIProvider(options: AzureOpenAIProviderOptions): AzureOpenAIProvider {
  return new AzureOpenAIProvider(options);
}
