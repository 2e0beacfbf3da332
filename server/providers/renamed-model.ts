import "server-only";
// A provider that sends each model under another name (an Azure deployment, a model's name at a
// provider of model-service.yaml), optionally listed under another id and name. Everything else
// is the inner provider's.
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
  WirePassthrough,
} from "./types.ts";
import { modelNameAtProvider } from "./types.ts";
import { unavailable } from "./errors.ts";

export class RenamedModelProvider implements Provider {
  readonly id: string;
  readonly name: string;
  readonly maxEmbeddingsPerCall: number;
  readonly embeddingTokenLimits: Provider["embeddingTokenLimits"];
  readonly passthrough: WirePassthrough | undefined;

  constructor(
    private readonly inner: Provider,
    /** The name the inner provider knows a catalogue model by. */
    private readonly modelName: (model: string) => string,
    as: { id: string; name: string } = inner,
  ) {
    this.id = as.id;
    this.name = as.name;
    this.maxEmbeddingsPerCall = inner.maxEmbeddingsPerCall;
    this.embeddingTokenLimits = inner.embeddingTokenLimits;
    const wire = inner.passthrough;
    this.passthrough = wire && {
      chat: (request, options) => wire.chat(this.renamed(request), options),
      streamChat: (request, options) => wire.streamChat(this.renamed(request), options),
    };
  }

  /** The model under its name there; a request naming the provider's own model (`exactModel`, a routed deployment's) as it is. */
  private renamed<T extends { model: string; exactModel?: boolean }>(request: T): T {
    return { ...request, model: modelNameAtProvider(request, this.modelName) };
  }

  status(): ProviderStatus {
    return this.inner.status();
  }

  generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    return this.inner.generateText(this.renamed(request), options);
  }

  streamText(request: GenerateRequest, options?: CallOptions): AsyncIterable<StreamPart> {
    return this.inner.streamText(this.renamed(request), options);
  }

  generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult> {
    return this.inner.generateEmbeddings(this.renamed(request), options);
  }

  listModels(): Promise<ProviderModel[]> {
    return this.inner.listModels();
  }

  /** The inner provider's connection test (Azure: the resource's GET /openai/models?api-version=…). */
  testConnection(options?: CallOptions): Promise<void> {
    if (!this.inner.testConnection) return Promise.reject(unavailable(`${this.name} has no connection test`));
    return this.inner.testConnection(options);
  }
}

/** `inner` under `as` (its own id and name by default), sending each model as `modelName` names it. */
export function renamedModelProvider(inner: Provider, modelName: (model: string) => string, as?: { id: string; name: string }): Provider {
  return new RenamedModelProvider(inner, modelName, as);
}
