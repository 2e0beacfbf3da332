import "server-only";
// OpenAI through the official `openai` SDK. The same class speaks to any server of the OpenAI chat
// protocol (openai-compatible.ts configures it differently); this file owns the protocol mapping:
// our request to chat.completions / embeddings, and their answers, usage and errors back to ours.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, OpenAIError } from "openai";
import {
  abortError,
  fromConnectionError,
  recordFailure,
  fromHttpError,
  isBrokenBody,
  malformedResponse,
  scrubSecrets,
  unavailable,
  type ErrorContext,
} from "./errors.ts";
import { getProviderFetch, type ProviderFetch } from "./http.ts";
import { OpenAIWire, type WireConfig } from "./openai-wire.ts";
import {
  ProviderError,
  type CallOptions,
  type ChatMessage,
  type ContentPart,
  type EmbedRequest,
  type EmbedResult,
  type EmbeddingTokenLimits,
  type FinishReason,
  type GenerateRequest,
  type GenerateResult,
  type Provider,
  type ProviderModel,
  type ProviderStatus,
  type ResponseFormat,
  type StreamPart,
  type TokenUsage,
  type WirePassthrough,
  ZERO_USAGE,
  paidServiceTier,
} from "./types.ts";

/** OpenAI's limit on inputs per embeddings request. */
export const OPENAI_MAX_EMBEDDINGS_PER_CALL = 2048;
/** OpenAI's embeddings refuse a text over 8,192 tokens and a request over 300,000 (cl100k_base, the embedding models' encoding). */
export const OPENAI_EMBEDDING_TOKEN_LIMITS: EmbeddingTokenLimits = { perText: 8192, perCall: 300_000, encoding: "cl100k_base" };
/** The SDKs' own per-request timeout; the generation service sets tighter deadlines via the signal. */
const SDK_TIMEOUT_MS = 10 * 60_000;

export type OpenAIChatProviderConfig = {
  id: string;
  name: string;
  baseURL: string;
  apiKey?: string;
  organization?: string;
  /** Sent with every request (the configuration file's `headers`). */
  headers?: Record<string, string>;
  /** When set, the provider is unavailable for this reason (e.g. "OPENAI_API_KEY is not set"). */
  unavailableReason?: string;
  /** OpenAI wants max_completion_tokens (o-series reject max_tokens); many compatible servers know only max_tokens. */
  maxTokensField: "max_completion_tokens" | "max_tokens";
  /** base64 halves the bytes (OpenAI); compatible servers may ignore it and send floats, so they get "float". */
  embeddingEncoding: "base64" | "float";
  maxEmbeddingsPerCall?: number;
  /** OpenAI's embedding token limits (OPENAI_EMBEDDING_TOKEN_LIMITS); compatible servers have their own or none. */
  embeddingTokenLimits?: EmbeddingTokenLimits;
  /** Models answered by listModels(); defaults to the server's GET /models. */
  listModels?: (client: OpenAI, signal?: AbortSignal) => Promise<ProviderModel[]>;
  fetch?: ProviderFetch;
  /** A client made by the caller (Azure's AzureOpenAI); otherwise one is made from the fields above. */
  client?: OpenAI;
  /** The server takes the `developer` role (OpenAI); others get such messages as `system`. */
  developerRole?: boolean;
  /**
   * The chat passthrough (openai-wire.ts): on unless turned off (OPENAI_PASSTHROUGH=off). Never with
   * a caller's fetch, which only the SDK path uses, nor with a caller's client unless `wire` says
   * how to reach its server.
   */
  passthrough?: boolean;
  /**
   * How the passthrough reaches the server a caller's client (`client`) talks to: its paths and
   * credentials (Azure's deployments paths, api-version, api-key or Entra token). With it, the
   * passthrough is on beside that client.
   */
  wire?: Pick<WireConfig, "chatPath" | "apiKeyHeader" | "credentialHeaders">;
};

/** The OpenAI usage object in our terms; cached tokens are part of prompt_tokens, reasoning of completion_tokens. */
export function convertOpenAIUsage(
  usage: OpenAI.CompletionUsage | null | undefined,
  /** The answer's `service_tier` (default, priority, flex, scale): the tier that served it, which is what OpenAI bills. */
  serviceTier?: string | null,
): TokenUsage | undefined {
  if (!usage) return undefined;
  const audio = usage.prompt_tokens_details?.audio_tokens ?? 0;
  const tier = paidServiceTier(serviceTier);
  return {
    inputTokens: usage.prompt_tokens ?? 0,
    outputTokens: usage.completion_tokens ?? 0,
    cachedInputTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0,
    ...(audio ? { audioInputTokens: audio } : {}),
    ...(tier ? { serviceTier: tier } : {}),
  };
}

export function mapOpenAIFinishReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "stop":
      return "stop";
    case "length":
      return "length";
    case "content_filter":
      return "content_filter";
    case "tool_calls":
    case "function_call":
      return "tool_calls";
    default:
      return "other";
  }
}

export class OpenAIChatProvider implements Provider {
  readonly id: string;
  readonly name: string;
  readonly maxEmbeddingsPerCall: number;
  readonly embeddingTokenLimits: EmbeddingTokenLimits | undefined;
  private readonly client: OpenAI | undefined;
  private readonly ctx: ErrorContext;
  readonly passthrough: WirePassthrough | undefined;

  constructor(private readonly config: OpenAIChatProviderConfig) {
    this.id = config.id;
    this.name = config.name;
    this.maxEmbeddingsPerCall = config.maxEmbeddingsPerCall ?? OPENAI_MAX_EMBEDDINGS_PER_CALL;
    this.embeddingTokenLimits = config.embeddingTokenLimits;
    this.ctx = { providerId: config.id, providerName: config.name, secrets: [config.apiKey] };
    if (config.unavailableReason === undefined) {
      this.client =
        config.client ??
        new OpenAI({
          // Every value is passed explicitly so that the SDK reads nothing from process.env itself.
          apiKey: config.apiKey ?? "none",
          adminAPIKey: null,
          organization: config.organization ?? null,
          project: null,
          webhookSecret: null,
          baseURL: config.baseURL,
          // A keyless compatible server (Ollama, vLLM) gets no Authorization header at all.
          defaultHeaders: config.apiKey ? config.headers : { ...config.headers, Authorization: null },
          // The generation service retries (with backoff, Retry-After, fallbacks); the SDK must not.
          maxRetries: 0,
          timeout: SDK_TIMEOUT_MS,
          fetch: config.fetch ?? getProviderFetch(),
          // Failures reach the caller as ProviderError; the SDK's console output would bypass our logs.
          logLevel: "off",
        });
      if (config.passthrough !== false && (!config.client || config.wire) && !config.fetch) {
        this.passthrough = new OpenAIWire({
          ...config.wire,
          ctx: this.ctx,
          name: config.name,
          baseURL: config.baseURL,
          apiKey: config.apiKey,
          organization: config.organization,
          headers: config.headers,
          maxTokensField: config.maxTokensField,
          developerRole: config.developerRole ?? false,
          convertUsage: (u, tier) => convertOpenAIUsage(u as OpenAI.CompletionUsage | null | undefined, tier),
          mapFinishReason: mapOpenAIFinishReason,
        });
      }
    }
  }

  status(): ProviderStatus {
    return this.config.unavailableReason === undefined ? { available: true } : { available: false, reason: this.config.unavailableReason };
  }

  private requireClient(): OpenAI {
    if (!this.client) throw unavailable(this.config.unavailableReason ?? `${this.name} is unavailable`);
    return this.client;
  }

  /** The chat completions body the SDK path sends for `request` (tests run the passthrough on it). */
  chatParams(request: GenerateRequest): OpenAI.Chat.ChatCompletionCreateParamsNonStreaming {
    const params: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming = {
      model: request.model,
      messages: request.messages.map(toOpenAIMessage),
    };
    if (request.temperature !== undefined) params.temperature = request.temperature;
    if (request.topP !== undefined) params.top_p = request.topP;
    if (request.maxTokens !== undefined) params[this.config.maxTokensField] = request.maxTokens;
    if (request.stop?.length) params.stop = request.stop;
    if (request.user !== undefined) params.user = request.user;
    if (request.tools?.length) {
      params.tools = request.tools.map((t) => ({
        type: "function",
        function: {
          name: t.name,
          parameters: t.parameters,
          ...(t.description !== undefined ? { description: t.description } : {}),
          ...(t.strict !== undefined ? { strict: t.strict } : {}),
        },
      }));
      if (request.parallelToolCalls !== undefined) params.parallel_tool_calls = request.parallelToolCalls;
      // OpenAI refuses tool_choice without tools, whatever its value.
      if (request.toolChoice !== undefined) {
        params.tool_choice =
          typeof request.toolChoice === "string" ? request.toolChoice : { type: "function", function: { name: request.toolChoice.name } };
      }
    }
    if (request.responseFormat) params.response_format = toOpenAIResponseFormat(request.responseFormat);
    return params;
  }

  async generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    const client = this.requireClient();
    try {
      const completion = await client.chat.completions.create(this.chatParams(request), { signal: options?.signal });
      const choice = completion.choices?.[0];
      const toolCalls = (choice?.message?.tool_calls ?? []).flatMap((c) =>
        c.type === "function" ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
      );
      return {
        id: completion.id,
        text: choice?.message?.content ?? "",
        ...(toolCalls.length ? { toolCalls } : {}),
        finishReason: mapOpenAIFinishReason(choice?.finish_reason),
        // A compatible server that reports no usage: zeros, as there is nothing better to say here.
        usage: convertOpenAIUsage(completion.usage, completion.service_tier) ?? ZERO_USAGE,
        model: completion.model ?? request.model,
      };
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  async *streamText(request: GenerateRequest, options?: CallOptions): AsyncGenerator<StreamPart, void, undefined> {
    const client = this.requireClient();
    const signal = options?.signal;
    let finishReason: FinishReason | undefined;
    let usage: TokenUsage | undefined;
    let id: string | undefined;
    let model: string | undefined;
    try {
      const stream = await client.chat.completions.create(
        { ...this.chatParams(request), stream: true, stream_options: { include_usage: true } },
        { signal },
      );
      // Breaking out of this loop (the consumer stopped) makes the SDK abort the upstream request.
      for await (const chunk of stream) {
        // Chunks already buffered when the caller aborted are dropped, not yielded.
        if (signal?.aborted) break;
        id ??= chunk.id;
        model ??= chunk.model;
        if (chunk.usage) usage = convertOpenAIUsage(chunk.usage, chunk.service_tier);
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        const text = choice.delta?.content;
        if (text) yield { type: "text-delta", text };
        for (const call of choice.delta?.tool_calls ?? []) {
          yield {
            type: "tool-call-delta",
            index: call.index,
            ...(call.id ? { id: call.id } : {}),
            ...(call.function?.name ? { name: call.function.name } : {}),
            argumentsDelta: call.function?.arguments ?? "",
          };
        }
        if (choice.finish_reason) finishReason = mapOpenAIFinishReason(choice.finish_reason);
      }
    } catch (error) {
      throw this.convertError(error, signal);
    }
    // The SDK ends an aborted stream quietly; a stream without a finish reason was cut short.
    if (signal?.aborted) throw abortError(this.ctx, signal);
    if (finishReason === undefined) {
      throw recordFailure(this.ctx, new ProviderError(`${this.name} ended the stream before it finished`, "connection", undefined, true));
    }
    yield { type: "finish", finishReason, usage, id, model };
  }

  /** One embeddings call for the texts given; the embeddings service batches to `maxEmbeddingsPerCall` before it. */
  async generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult> {
    const client = this.requireClient();
    if (request.texts.length > this.maxEmbeddingsPerCall) {
      throw new ProviderError(`at most ${this.maxEmbeddingsPerCall} texts per call`, "invalid_request", undefined, false);
    }
    try {
      const r = await this.embedBatch(client, request, request.texts, options?.signal);
      return { embeddings: r.embeddings, usage: { inputTokens: r.tokens }, model: r.model };
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  private async embedBatch(client: OpenAI, request: EmbedRequest, input: string[], signal?: AbortSignal) {
    const params: OpenAI.EmbeddingCreateParams = { model: request.model, input };
    if (request.dimensions !== undefined) params.dimensions = request.dimensions;
    if (request.user !== undefined) params.user = request.user;
    // Asking for base64 explicitly would make the SDK hand back the strings; leaving it unset makes
    // the SDK request base64 and decode it. "float" is for servers that do not speak base64.
    if (this.config.embeddingEncoding === "float") params.encoding_format = "float";
    const response = await client.embeddings.create(params, { signal });
    const data = [...response.data].sort((a, b) => a.index - b.index);
    if (data.length !== input.length) {
      throw recordFailure(
        this.ctx,
        new ProviderError(`${this.name} returned ${data.length} embeddings for ${input.length} texts`, "server", undefined, true),
      );
    }
    return {
      embeddings: data.map((d) => d.embedding as number[]),
      tokens: response.usage?.prompt_tokens ?? 0,
      model: response.model ?? request.model,
    };
  }

  async listModels(): Promise<ProviderModel[]> {
    const client = this.requireClient();
    try {
      if (this.config.listModels) return await this.config.listModels(client);
      return await listOpenAIModels(client);
    } catch (error) {
      throw this.convertError(error, undefined);
    }
  }

  /** The connection test: the first page of the server's GET /models (free, and checks the key). */
  async testConnection(options?: CallOptions): Promise<void> {
    const client = this.requireClient();
    try {
      await client.models.list({ signal: options?.signal });
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  /** Any failure of an SDK call as a ProviderError (or the caller's own abort reason), kept as the provider's last error. */
  convertError(error: unknown, signal: AbortSignal | undefined): unknown {
    return recordFailure(this.ctx, this.toProviderError(error, signal));
  }

  private toProviderError(error: unknown, signal: AbortSignal | undefined): unknown {
    if (error instanceof ProviderError) return error;
    // The SDK wraps what a credential function (Azure's Entra token provider) threw: ours, as it was.
    if (error instanceof OpenAIError && (error as { cause?: unknown }).cause instanceof ProviderError)
      return (error as { cause: ProviderError }).cause;
    if (signal?.aborted) return abortError(this.ctx, signal);
    if (error instanceof APIConnectionTimeoutError) return fromConnectionError(this.ctx, error, true);
    if (error instanceof APIUserAbortError) return new DOMException("This operation was aborted", "AbortError");
    if (error instanceof APIConnectionError) return fromConnectionError(this.ctx, error);
    if (error instanceof APIError) return fromHttpError(this.ctx, error.status, error.error, error.headers);
    if (error instanceof SyntaxError) return malformedResponse(this.ctx);
    if (isBrokenBody(error)) return fromConnectionError(this.ctx, error);
    if (error instanceof OpenAIError) {
      return new ProviderError(scrubSecrets(`${this.name}: ${error.message}`, this.ctx.secrets), "invalid_request", undefined, false);
    }
    return error;
  }
}

/** One of our messages in the chat protocol: images as image_url parts, tool calls and results as OpenAI has them. */
export function toOpenAIMessage(m: ChatMessage): OpenAI.Chat.ChatCompletionMessageParam {
  switch (m.role) {
    case "system":
      return { role: "system", content: m.content };
    case "user":
      return { role: "user", content: m.parts ? m.parts.map(toOpenAIPart) : m.content };
    case "tool":
      return { role: "tool", tool_call_id: m.toolCallId ?? "", content: m.content };
    case "assistant": {
      if (!m.toolCalls?.length) return { role: "assistant", content: m.content };
      return {
        role: "assistant",
        // OpenAI wants null rather than "" beside tool calls.
        content: m.content || null,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } })),
      };
    }
  }
}

function toOpenAIPart(p: ContentPart): OpenAI.Chat.ChatCompletionContentPart {
  if (p.type === "text") return { type: "text", text: p.text };
  return { type: "image_url", image_url: { url: p.url, ...(p.detail ? { detail: p.detail } : {}) } };
}

function toOpenAIResponseFormat(f: ResponseFormat): OpenAI.Chat.ChatCompletionCreateParams["response_format"] {
  if (f.type !== "json_schema") return { type: f.type };
  return {
    type: "json_schema",
    json_schema: {
      name: f.name,
      schema: f.schema,
      ...(f.description !== undefined ? { description: f.description } : {}),
      ...(f.strict !== undefined ? { strict: f.strict } : {}),
    },
  };
}

/** OpenAI's GET /models, keeping the chat and embedding models (not images, audio, moderation). */
async function listOpenAIModels(client: OpenAI): Promise<ProviderModel[]> {
  const out: ProviderModel[] = [];
  for await (const m of client.models.list()) {
    if (/embedding/.test(m.id)) out.push({ id: m.id, type: "embedding" });
    else if (/^(gpt-|o\d|chatgpt-)/.test(m.id) && !/(audio|realtime|transcribe|tts|image|search)/.test(m.id)) {
      out.push({ id: m.id, type: "chat" });
    }
  }
  return out;
}

export type OpenAIProviderOptions = {
  apiKey?: string;
  baseURL?: string;
  organization?: string;
  maxEmbeddingsPerCall?: number;
  fetch?: ProviderFetch;
  passthrough?: boolean;
};

/** OpenAI itself (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORGANIZATION). */
export function createOpenAIProvider(options: OpenAIProviderOptions): OpenAIChatProvider {
  return new OpenAIChatProvider({
    id: "openai",
    name: "OpenAI",
    baseURL: options.baseURL ?? "https://api.openai.com/v1",
    apiKey: options.apiKey,
    organization: options.organization,
    unavailableReason: options.apiKey ? undefined : "OPENAI_API_KEY is not set",
    maxTokensField: "max_completion_tokens",
    embeddingEncoding: "base64",
    maxEmbeddingsPerCall: options.maxEmbeddingsPerCall,
    embeddingTokenLimits: OPENAI_EMBEDDING_TOKEN_LIMITS,
    fetch: options.fetch,
    developerRole: true,
    passthrough: options.passthrough,
  });
}
