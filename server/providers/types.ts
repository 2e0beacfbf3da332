// The provider spec: what every provider adapter implements (one file per provider, registered in
// registry.ts). Adapters know nothing of HTTP handlers, auth or usage accounting; they translate
// our request into the provider's and its answer (including token usage) back into ours.

export type ChatRole = "system" | "user" | "assistant" | "tool";

/**
 * A prompt-cache breakpoint (Anthropic's `cache_control`): the prompt up to and including the block
 * it marks is cached, for 5 minutes by default or for an hour. Only Anthropic reads it.
 */
export type CacheControl = { type: "ephemeral"; ttl?: "5m" | "1h" };

/** One part of a message's content when it is more than text. */
export type ContentPart =
  | { type: "text"; text: string; cacheControl?: CacheControl }
  /** An image by URL: `https://...` or a `data:<media type>;base64,...` URL. */
  | { type: "image"; url: string; detail?: "auto" | "low" | "high" };

/**
 * A block of the model's reasoning as Anthropic returns it (extended thinking): the thinking text
 * with the signature Anthropic checks when the block is sent back, or a redacted block (its
 * encrypted `data`). Kept and returned as they came; only Anthropic reads them.
 */
export type ReasoningBlock = { type: "thinking"; thinking: string; signature: string } | { type: "redacted_thinking"; data: string };

/** Extended thinking as Anthropic's `thinking` parameter: enabled with a budget of tokens, or disabled. */
export type ThinkingConfig = { type: "enabled"; budgetTokens: number } | { type: "disabled" };

/** A function call the model asked for. `arguments` is the JSON text of the call's arguments. */
export type ToolCall = { id: string; name: string; arguments: string };

/**
 * A chat message. `content` is always the message's text, so code that only reads text (token
 * counting, logs) never needs to know about the rest.
 */
export type ChatMessage = {
  role: ChatRole;
  content: string;
  /** The content in order when it holds more than text (images); `content` is then its text alone. */
  parts?: ContentPart[];
  /** assistant: the tool calls it made (its `content` may then be empty). */
  toolCalls?: ToolCall[];
  /** tool: which call this message answers; `content` is the result. */
  toolCallId?: string;
  /** tool: the result is an error report (Anthropic's `is_error`). */
  isError?: boolean;
  /** assistant: its reasoning blocks (Anthropic's thinking and redacted_thinking), sent back before its text. */
  reasoning?: ReasoningBlock[];
  /** A cache breakpoint on the message's last block (a system block, a tool result, a text-only message). */
  cacheControl?: CacheControl;
};

/** A function the model may call; `parameters` is its JSON Schema. */
export type ToolDefinition = {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
  strict?: boolean;
  /** A cache breakpoint after this tool (Anthropic). */
  cacheControl?: CacheControl;
};

/** none: no tool; auto: the model decides; required: some tool; { name }: that tool. */
export type ToolChoice = "none" | "auto" | "required" | { name: string };

/** The shape of the reply: free text, any JSON object, or JSON matching a schema. */
export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; name: string; schema: Record<string, unknown>; description?: string; strict?: boolean };

/**
 * The generation parameters: everything of a request beyond the model and the messages that can
 * change the answer. Spelled once, here: the service's input (features/inference GenerateInput),
 * the provider request below, the compatibility bodies' mappings and the response cache's key all
 * build on this type, and `GENERATION_PARAMETERS` lists its keys (checked complete at compile time),
 * so a new parameter reaches the provider request and the cache key without anyone remembering to.
 */
export type GenerationParameters = {
  temperature?: number;
  maxTokens?: number;
  topP?: number;
  stop?: string[];
  /** An opaque end-user id passed to providers that take one. */
  user?: string;
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  /** false: at most one tool call per reply. */
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  /** Extended thinking (Anthropic); another provider's call with it is refused by the edge that reads it. */
  thinking?: ThinkingConfig;
};

/** The keys of GenerationParameters, in one list (a key missing here fails the type check below). */
export const GENERATION_PARAMETERS = [
  "temperature",
  "maxTokens",
  "topP",
  "stop",
  "user",
  "tools",
  "toolChoice",
  "parallelToolCalls",
  "responseFormat",
  "thinking",
] as const satisfies readonly (keyof GenerationParameters)[];

type Unlisted = Exclude<keyof GenerationParameters, (typeof GENERATION_PARAMETERS)[number]>;
/** Compile-time: every key of GenerationParameters is in GENERATION_PARAMETERS. */
const everyParameterListed: [Unlisted] extends [never] ? true : Unlisted = true;
void everyParameterListed;

/**
 * Every generation parameter named, set or undefined: what a protocol's mapping (the compat
 * bodies, the REST body) returns, so that a new parameter fails its type check until the mapping
 * says what that protocol does with it.
 */
export type EveryGenerationParameter = { [K in (typeof GENERATION_PARAMETERS)[number]]: GenerationParameters[K] | undefined };

/** The generation parameters of anything that carries them (an input, a request), and nothing else; absent ones left out. */
export function generationParameters(from: GenerationParameters): GenerationParameters {
  const out: Record<string, unknown> = {};
  for (const key of GENERATION_PARAMETERS) if (from[key] !== undefined) out[key] = from[key];
  return out as GenerationParameters;
}

export type GenerateRequest = GenerationParameters & {
  /** The provider's own model id (aliases already resolved). */
  model: string;
  /**
   * `model` is the provider's name exactly as a routing deployment gave it (`provider_model`):
   * adapters send it as is, without their own model-name maps (which are keyed by catalogue ids).
   */
  exactModel?: boolean;
  messages: ChatMessage[];
  /** The model's largest output (catalogue), for providers that require max_tokens when `maxTokens` is unset. */
  defaultMaxTokens?: number;
};

/** The name an adapter sends for `request.model`: as is when a deployment named it exactly, else through the adapter's own map. */
export function modelNameAtProvider(request: { model: string; exactModel?: boolean }, map: (model: string) => string): string {
  return request.exactModel ? request.model : map(request.model);
}

export type FinishReason = "stop" | "length" | "content_filter" | "tool_calls" | "error" | "other";

/** Token usage normalised across providers. `inputTokens` includes cached ones. */
export type TokenUsage = {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens read from the provider's prompt cache (a subset of inputTokens). */
  cachedInputTokens: number;
  /** Reasoning tokens (a subset of outputTokens). */
  reasoningTokens: number;
  /**
   * Input tokens written to the provider's prompt cache (a subset of inputTokens, apart from the
   * cached ones), priced at the model's cache-write rate (Anthropic's, Bedrock's). Absent: none.
   */
  cacheWriteTokens?: number;
  /** Of cacheWriteTokens, those written for an hour (Anthropic's 1-hour cache, priced apart); the rest are 5-minute writes. */
  cacheWrite1hTokens?: number;
  /** Audio input tokens (a subset of inputTokens, apart from cached and written ones), where the provider reports them. */
  audioInputTokens?: number;
  /** Image input tokens (a subset of inputTokens, as audio), where the provider reports them. */
  imageInputTokens?: number;
  /** The service tier that served the call, as the provider reported it ("priority", "flex"; absent: standard). */
  serviceTier?: string;
};

/** The service tier a provider reports, for TokenUsage.serviceTier: the standard tier ("default", "standard", "auto") is none. */
export function paidServiceTier(tier: string | null | undefined): string | undefined {
  if (!tier) return undefined;
  const t = tier.toLowerCase();
  return t === "default" || t === "standard" || t === "auto" ? undefined : t;
}

/** The usage of a call that used nothing (or reported nothing): the one zero value. */
export const ZERO_USAGE: Readonly<TokenUsage> = Object.freeze({
  inputTokens: 0,
  outputTokens: 0,
  cachedInputTokens: 0,
  reasoningTokens: 0,
});

export type GenerateResult = {
  /** The provider's response id, when it gives one. */
  id?: string;
  text: string;
  /** The tool calls of the reply, in order (finishReason "tool_calls"); absent when there are none. */
  toolCalls?: ToolCall[];
  /** The reasoning blocks of the reply, before its text (Anthropic's extended thinking); absent when there are none. */
  reasoning?: ReasoningBlock[];
  finishReason: FinishReason;
  usage: TokenUsage;
  /** The model id the provider says answered. */
  model: string;
};

/**
 * A piece of a streamed tool call. `index` numbers the reply's tool calls from 0; the first piece
 * of a call carries its `id` and `name`, later ones only more `arguments` text.
 */
export type ToolCallDelta = { type: "tool-call-delta"; index: number; id?: string; name?: string; argumentsDelta: string };

export type ReasoningDelta = {
  type: "reasoning-delta";
  index: number;
  kind: ReasoningBlock["type"];
  thinking?: string;
  signature?: string;
  data?: string;
};

/** What a stream yields: text and tool calls as they arrive, then exactly one `finish` (unless it fails). */
export type StreamPart =
  | { type: "text-delta"; text: string }
  /**
   * A piece of reasoning block `index` (numbered from 0 among the reply's reasoning blocks): its
   * first piece names its kind; thinking text and signature arrive in pieces, a redacted block's data whole.
   */
  | ReasoningDelta
  | ToolCallDelta
  | { type: "finish"; finishReason: FinishReason; usage: TokenUsage | undefined; id?: string; model?: string };

export type EmbedRequest = {
  model: string;
  /** As GenerateRequest.exactModel: `model` is a routed deployment's provider name, sent as is. */
  exactModel?: boolean;
  texts: string[];
  dimensions?: number;
  user?: string;
};

export type EmbedResult = { embeddings: number[][]; usage: { inputTokens: number }; model: string };

export type CallOptions = {
  /**
   * Aborts the upstream call (client went away, timeout). The call then rejects with the signal's
   * reason, except a TimeoutError reason (AbortSignal.timeout), which becomes a "timeout" ProviderError.
   */
  signal?: AbortSignal;
};

/**
 * The passthrough of an OpenAI-wire provider (providers/openai-wire.ts): an OpenAI chat completions
 * body sent on as the caller wrote it, with only `model` (and the fields the adapter must change) set.
 */
export type WireChatRequest = {
  /** The provider's model name (as GenerateRequest.model). */
  model: string;
  exactModel?: boolean;
  /** The caller's body, every field it sent; not modified. */
  body: Readonly<Record<string, unknown>>;
  stream: boolean;
  /** Leave out temperature and top_p (a fallback model that takes only the defaults). */
  dropSampling?: boolean;
  /** The model the answer names (the catalogue's id): the upstream's name is replaced when it differs. */
  answerModel: string;
};

/** A plain passthrough answer: what was read from it, and its JSON text as it came (model name replaced). */
export type WireChatAnswer = GenerateResult & { body: string };

/** What a passthrough stream yields: each upstream chunk's JSON text as it came, with what was read from it, then one finish. */
export type WireStreamPart =
  | { type: "wire-chunk"; data: string; text: string; toolCalls?: ToolCallDelta[] }
  | (Extract<StreamPart, { type: "finish" }> & { /** The include_usage chunk's JSON text (`choices: []`). */ usageChunk?: string });

export interface WirePassthrough {
  chat(request: WireChatRequest, options?: CallOptions): Promise<WireChatAnswer>;
  streamChat(request: WireChatRequest, options?: CallOptions): AsyncIterable<WireStreamPart>;
}

export type ProviderStatus = { available: true } | { available: false; reason: string };

export type ProviderModel = { id: string; type: "chat" | "embedding" };

export type EmbeddingTokenLimits = { perText: number; perCall: number; encoding: "cl100k_base" };

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
  /**
   * Token limits the provider enforces on embeddings (OpenAI's: 8,192 per text, 300,000 per
   * request), counted in `encoding`: the service refuses a longer text and keeps each call's texts
   * within the per-call total. Absent: the provider truncates or has no such limit.
   */
  readonly embeddingTokenLimits?: EmbeddingTokenLimits;
  /** Models the provider itself offers beyond the catalogue (e.g. a compatible server's list). */
  listModels(): Promise<ProviderModel[]>;
  /**
   * The connection test of the dashboard's Providers page: the cheapest real call the provider's
   * SDK offers that proves the endpoint answers and accepts the credentials (a model list, or an
   * empty listing), bounded by `options.signal`. Resolves when it answered; rejects with a ProviderError.
   */
  testConnection?(options?: CallOptions): Promise<void>;
  /**
   * OpenAI-wire providers only: the caller's OpenAI chat body passed through (openai-wire.ts).
   * Absent: the request goes through generateText / streamText.
   */
  readonly passthrough?: WirePassthrough;
}

/**
 * A provider failure in our terms. `retryable` says whether a retry may help (429, 5xx, connection
 * errors); `retryAfterMs` comes from the provider's Retry-After. The message never holds a key.
 */
const PROVIDER_ERROR = Symbol.for("model-service.ProviderError");

export class ProviderError extends Error {
  /** Across the two copies of the server code in one process (see brandedInstanceCheck in errors.ts). */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[PROVIDER_ERROR] === true;
  }
  readonly [PROVIDER_ERROR] = true;
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
