// The provider spec: what every provider adapter implements (one file per provider, registered in
// registry.ts). Adapters know nothing of HTTP handlers, auth or usage accounting; they translate
// our request into the provider's and its answer (including token usage) back into ours.

export type ChatRole = "system" | "user" | "assistant";

export type ChatMessage = { role: ChatRole; content: string };

export type GenerateRequest = {
  /** The provider's own model id (aliases already resolved). */
  model: string;
  messages: ChatMessage[];
  temperature?: number;
  maxTokens?: number;
  /** The model's largest output (catalogue), for providers that require max_tokens when `maxTokens` is unset. */
  defaultMaxTokens?: number;
  topP?: number;
  stop?: string[];
  /** An opaque end-user id passed to providers that take one. */
  user?: string;
};

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "error" | "other";

/** Token usage normalised across providers. `inputTokens` includes cached ones. */
export type TokenUsage = {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache (a subset of inputTokens). */
  cachedInputTokens: number;
  /** Reasoning tokens (a subset of outputTokens). */
  reasoningTokens: number;
};

export type GenerateResult = {
  /** The provider's response id, when it gives one. */
  id?: string;
  text: string;
  finishReason: FinishReason;
  usage: TokenUsage;
  /** The model id the provider says answered. */
  model: string;
};

/** What a stream yields: text as it arrives, then exactly one `finish` (unless it fails). */
export type StreamPart =
  | { type: "text-delta"; text: string }
  | { type: "finish"; finishReason: FinishReason; usage: TokenUsage | undefined; id?: string; model?: string };

export type EmbedRequest = { model: string; texts: string[]; dimensions?: number; user?: string };

export type EmbedResult = { embeddings: number[][]; usage: { inputTokens: number }; model: string };

export type CallOptions = {
  /**
   * Aborts the upstream call (client went away, timeout). The call then rejects with the signal's
   * reason, except a TimeoutError reason (AbortSignal.timeout), which becomes a "timeout" ProviderError.
   */
  signal?: AbortSignal;
};

export type ProviderStatus = { available: true } | { available: false; reason: string };

export type ProviderModel = { id: string; type: "chat" | "embedding" };

export interface Provider {
  /** Stable id used in the catalogue: "openai", "anthropic", "local", or a compatible server's name. */
  readonly id: string;
  readonly name: string;
  status(): ProviderStatus;
  generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult>;
  streamText(request: GenerateRequest, options?: CallOptions): AsyncIterable<StreamPart>;
  generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult>;
  /** Largest number of texts one embeddings call to the provider carries; 0: no embeddings. */
  readonly maxEmbeddingsPerCall: number;
  /** Models the provider itself offers beyond the catalogue (e.g. a compatible server's list). */
  listModels(): Promise<ProviderModel[]>;
}

/**
 * A provider failure in our terms. `retryable` says whether a retry may help (429, 5xx, connection
 * errors); `retryAfterMs` comes from the provider's Retry-After. The message never holds a key.
 */
export class ProviderError extends Error {
  constructor(
    message: string,
    readonly kind: "invalid_request" | "auth" | "not_found" | "rate_limited" | "server" | "connection" | "timeout" | "unavailable",
    readonly status: number | undefined,
    readonly retryable: boolean,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = "ProviderError";
  }
}
