import "server-only";
// Anthropic through the official `@anthropic-ai/sdk`: system messages go to the top-level `system`
// field, max_tokens is required (a default applies), usage arrives split across message_start and
// message_delta, and cached input is reported beside input_tokens rather than inside it. The SDK
// (1.x) speaks API version 2026-10-21 and sends the key as `Authorization: Bearer`.
import Anthropic, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError, AnthropicError } from "@anthropic-ai/sdk";
import {
  abortError,
  fromConnectionError,
  fromHttpError,
  recordFailure,
  isBrokenBody,
  malformedResponse,
  scrubSecrets,
  unavailable,
  type ErrorContext,
} from "./errors.ts";
import { getProviderFetch, type ProviderFetch } from "./http.ts";
import {
  ProviderError,
  type CallOptions,
  type ChatMessage,
  type ContentPart,
  type EmbedResult,
  type FinishReason,
  type GenerateRequest,
  type GenerateResult,
  type Provider,
  type ProviderModel,
  type ProviderStatus,
  type StreamPart,
  type TokenUsage,
  type ToolCall,
  type CacheControl,
  type ReasoningBlock,
  type ToolChoice,
  paidServiceTier,
} from "./types.ts";

/** max_tokens when neither the caller nor the catalogue (defaultMaxTokens) gives one. */
export const ANTHROPIC_DEFAULT_MAX_TOKENS = 4096;
const SDK_TIMEOUT_MS = 10 * 60_000;

type AnthropicUsageFields = {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  output_tokens_details?: { thinking_tokens?: number | null } | null;
  /** The cache writes by lifetime (their sum is cache_creation_input_tokens). */
  cache_creation?: { ephemeral_5m_input_tokens?: number | null; ephemeral_1h_input_tokens?: number | null } | null;
  /** standard | priority | batch */
  service_tier?: string | null;
};

/**
 * Anthropic usage in our terms. Its input_tokens excludes cache reads and cache writes; ours counts
 * every input token, with the cache reads as the cached subset.
 */
export function convertAnthropicUsage(usage: AnthropicUsageFields): TokenUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const split = usage.cache_creation;
  const written1h = split?.ephemeral_1h_input_tokens ?? 0;
  // The split, when given, is the truth; cache_creation_input_tokens is its sum.
  const cacheWrite = split ? (split.ephemeral_5m_input_tokens ?? 0) + written1h : (usage.cache_creation_input_tokens ?? 0);
  const tier = paidServiceTier(usage.service_tier);
  return {
    inputTokens: (usage.input_tokens ?? 0) + cacheRead + cacheWrite,
    outputTokens: usage.output_tokens ?? 0,
    cachedInputTokens: cacheRead,
    reasoningTokens: usage.output_tokens_details?.thinking_tokens ?? 0,
    ...(cacheWrite ? { cacheWriteTokens: cacheWrite } : {}),
    ...(written1h ? { cacheWrite1hTokens: written1h } : {}),
    ...(tier ? { serviceTier: tier } : {}),
  };
}

export function mapAnthropicStopReason(reason: string | null | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return "other";
  }
}

export type AnthropicProviderOptions = {
  /** Provider id; "anthropic" for the one configured from the environment. */
  id?: string;
  name?: string;
  apiKey?: string;
  baseURL?: string;
  /** Sent with every request (the configuration file's `headers`). */
  headers?: Record<string, string>;
  fetch?: ProviderFetch;
};

export class AnthropicProvider implements Provider {
  readonly id: string;
  readonly name: string;
  /** Anthropic has no embeddings models. */
  readonly maxEmbeddingsPerCall = 0;
  private readonly client: Anthropic | undefined;
  private readonly ctx: ErrorContext;

  constructor(private readonly options: AnthropicProviderOptions) {
    this.id = options.id ?? "anthropic";
    this.name = options.name ?? "Anthropic";
    this.ctx = { providerId: this.id, providerName: this.name, secrets: [options.apiKey] };
    if (options.apiKey) {
      this.client = new Anthropic({
        apiKey: options.apiKey,
        baseURL: options.baseURL ?? "https://api.anthropic.com",
        webhookKey: null,
        defaultHeaders: options.headers,
        // The generation service retries (with backoff, Retry-After, fallbacks); the SDK must not.
        maxRetries: 0,
        // Set explicitly: without it the SDK refuses non-streamed requests with a large max_tokens.
        timeout: SDK_TIMEOUT_MS,
        fetch: options.fetch ?? getProviderFetch(),
        logLevel: "off",
        openTelemetry: false,
      });
    }
  }

  status(): ProviderStatus {
    return this.client ? { available: true } : { available: false, reason: "ANTHROPIC_API_KEY is not set" };
  }

  private requireClient(): Anthropic {
    if (!this.client) throw unavailable("ANTHROPIC_API_KEY is not set");
    return this.client;
  }

  private params(request: GenerateRequest): Anthropic.MessageCreateParamsNonStreaming {
    const system = request.messages.filter((m) => m.role === "system" && m.content).map((m) => m.content);
    // Anthropic has no JSON mode without a schema: an instruction is the closest equivalent.
    if (request.responseFormat?.type === "json_object") system.push(JSON_OBJECT_INSTRUCTION);
    const params: Anthropic.MessageCreateParamsNonStreaming = {
      model: request.model,
      max_tokens: request.maxTokens ?? request.defaultMaxTokens ?? ANTHROPIC_DEFAULT_MAX_TOKENS,
      messages: toAnthropicMessages(request.messages),
    };
    const systemMessages = request.messages.filter((m) => m.role === "system" && m.content);
    if (systemMessages.some((m) => m.cacheControl)) {
      // Cache breakpoints in the system prompt: its blocks as they came, each with its mark.
      params.system = systemMessages.map((m) => ({ type: "text" as const, text: m.content, ...cacheControlOf(m.cacheControl) }));
      if (request.responseFormat?.type === "json_object") params.system.push({ type: "text", text: JSON_OBJECT_INSTRUCTION });
    } else if (system.length) params.system = system.join("\n\n");
    // temperature and top_p are left out on purpose: API version 2026-10-21, which this SDK sends,
    // answers 400 to any sampling parameter, even at its default value.
    if (request.stop?.length) params.stop_sequences = request.stop;
    if (request.user !== undefined) params.metadata = { user_id: request.user };
    if (request.tools?.length) {
      params.tools = request.tools.map((t) => ({
        name: t.name,
        input_schema: t.parameters as Anthropic.Tool.InputSchema,
        ...(t.description !== undefined ? { description: t.description } : {}),
        ...(t.strict !== undefined ? { strict: t.strict } : {}),
        ...cacheControlOf(t.cacheControl),
      }));
      const choice = toAnthropicToolChoice(request.toolChoice ?? "auto", request.parallelToolCalls);
      // "auto" with parallel calls allowed is Anthropic's default: sent only when it says more.
      if (choice.type !== "auto" || "disable_parallel_tool_use" in choice) params.tool_choice = choice;
    }
    if (request.responseFormat?.type === "json_schema") {
      params.output_config = { format: { type: "json_schema", schema: request.responseFormat.schema } };
    }
    if (request.thinking) {
      params.thinking =
        request.thinking.type === "enabled" ? { type: "enabled", budget_tokens: request.thinking.budgetTokens } : { type: "disabled" };
    }
    return params;
  }

  async generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    const client = this.requireClient();
    try {
      const message = await client.messages.create(this.params(request), { signal: options?.signal });
      let text = "";
      const toolCalls: ToolCall[] = [];
      const reasoning: ReasoningBlock[] = [];
      for (const block of message.content) {
        if (block.type === "text") text += block.text;
        else if (block.type === "thinking") reasoning.push({ type: "thinking", thinking: block.thinking, signature: block.signature });
        else if (block.type === "redacted_thinking") reasoning.push({ type: "redacted_thinking", data: block.data });
        else if (block.type === "tool_use")
          toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input ?? {}) });
      }
      return {
        id: message.id,
        text,
        ...(toolCalls.length ? { toolCalls } : {}),
        ...(reasoning.length ? { reasoning } : {}),
        finishReason: mapAnthropicStopReason(message.stop_reason),
        usage: convertAnthropicUsage(message.usage),
        model: message.model,
      };
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  async *streamText(request: GenerateRequest, options?: CallOptions): AsyncGenerator<StreamPart, void, undefined> {
    const client = this.requireClient();
    const signal = options?.signal;
    // Input counts arrive in message_start, the output count (cumulative) in message_delta, which
    // may also repeat the input counts; the latest value of each field wins.
    const usage: AnthropicUsageFields = {};
    let stopReason: string | null | undefined;
    let stopped = false;
    let id: string | undefined;
    let model: string | undefined;
    // Content block index → the tool call's index among the reply's tool calls, and whether any
    // of its input arrived (a call without input gets "{}", as OpenAI would send).
    const toolBlocks = new Map<number, { index: number; sentInput: boolean }>();
    // Content block index → the reasoning block's index among the reply's reasoning blocks.
    const reasoningBlocks = new Map<number, number>();
    try {
      const stream = await client.messages.create({ ...this.params(request), stream: true }, { signal });
      for await (const event of stream) {
        // Events already buffered when the caller aborted are dropped, not yielded.
        if (signal?.aborted) break;
        switch (event.type) {
          case "message_start":
            id = event.message.id;
            model = event.message.model;
            mergeUsage(usage, event.message.usage);
            break;
          case "content_block_start":
            if (event.content_block.type === "thinking" || event.content_block.type === "redacted_thinking") {
              const index = reasoningBlocks.size;
              reasoningBlocks.set(event.index, index);
              yield event.content_block.type === "thinking"
                ? {
                    type: "reasoning-delta",
                    index,
                    kind: "thinking",
                    thinking: event.content_block.thinking,
                    signature: event.content_block.signature,
                  }
                : { type: "reasoning-delta", index, kind: "redacted_thinking", data: event.content_block.data };
            } else if (event.content_block.type === "tool_use") {
              const index = toolBlocks.size;
              toolBlocks.set(event.index, { index, sentInput: false });
              yield { type: "tool-call-delta", index, id: event.content_block.id, name: event.content_block.name, argumentsDelta: "" };
            }
            break;
          case "content_block_delta":
            if (event.delta.type === "text_delta" && event.delta.text) yield { type: "text-delta", text: event.delta.text };
            else if (event.delta.type === "thinking_delta" || event.delta.type === "signature_delta") {
              const index = reasoningBlocks.get(event.index);
              if (index !== undefined) {
                yield event.delta.type === "thinking_delta"
                  ? { type: "reasoning-delta", index, kind: "thinking", thinking: event.delta.thinking }
                  : { type: "reasoning-delta", index, kind: "thinking", signature: event.delta.signature };
              }
            } else if (event.delta.type === "input_json_delta" && event.delta.partial_json) {
              const block = toolBlocks.get(event.index);
              if (block) {
                block.sentInput = true;
                yield { type: "tool-call-delta", index: block.index, argumentsDelta: event.delta.partial_json };
              }
            }
            break;
          case "content_block_stop": {
            const block = toolBlocks.get(event.index);
            if (block && !block.sentInput) yield { type: "tool-call-delta", index: block.index, argumentsDelta: "{}" };
            break;
          }
          case "message_delta":
            stopReason = event.delta.stop_reason;
            mergeUsage(usage, event.usage);
            break;
          case "message_stop":
            stopped = true;
            break;
        }
      }
    } catch (error) {
      throw this.convertError(error, signal);
    }
    if (signal?.aborted) throw abortError(this.ctx, signal);
    if (!stopped)
      throw recordFailure(this.ctx, new ProviderError("Anthropic ended the stream before message_stop", "connection", undefined, true));
    yield { type: "finish", finishReason: mapAnthropicStopReason(stopReason), usage: convertAnthropicUsage(usage), id, model };
  }

  async generateEmbeddings(): Promise<EmbedResult> {
    throw new ProviderError(
      "Anthropic offers no embeddings models; use an OpenAI or local embedding model",
      "invalid_request",
      undefined,
      false,
    );
  }

  async listModels(): Promise<ProviderModel[]> {
    const client = this.requireClient();
    try {
      const out: ProviderModel[] = [];
      for await (const m of client.models.list()) out.push({ id: m.id, type: "chat" });
      return out;
    } catch (error) {
      throw this.convertError(error, undefined);
    }
  }

  /** The connection test: the first model of Anthropic's GET /v1/models (free, and checks the key). */
  async testConnection(options?: CallOptions): Promise<void> {
    const client = this.requireClient();
    try {
      await client.models.list({ limit: 1 }, { signal: options?.signal });
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
    if (signal?.aborted) return abortError(this.ctx, signal);
    if (error instanceof APIConnectionTimeoutError) return fromConnectionError(this.ctx, error, true);
    if (error instanceof APIUserAbortError) return new DOMException("This operation was aborted", "AbortError");
    if (error instanceof APIConnectionError) return fromConnectionError(this.ctx, error);
    if (error instanceof APIError) return fromHttpError(this.ctx, error.status, error.error, error.headers);
    if (error instanceof SyntaxError) return malformedResponse(this.ctx);
    if (isBrokenBody(error)) return fromConnectionError(this.ctx, error);
    if (error instanceof AnthropicError) {
      return new ProviderError(scrubSecrets(`Anthropic: ${error.message}`, this.ctx.secrets), "invalid_request", undefined, false);
    }
    return error;
  }
}

const JSON_OBJECT_INSTRUCTION = "Answer with a single JSON object and nothing else: no prose, no code fences.";

/**
 * Our conversation in Anthropic's terms: tool calls become tool_use blocks of the assistant's
 * message; tool results become tool_result blocks of one user message, together with any user
 * text that follows them (Anthropic wants every result of a turn in the next user message).
 * Anthropic refuses empty text blocks and empty messages (but a final assistant prefill): empty
 * text parts are left out, an assistant message with nothing in it (OpenAI's `content: null`
 * without tool calls) is dropped, and a user message with nothing in it is refused, naming it.
 */
export function toAnthropicMessages(messages: readonly ChatMessage[]): Anthropic.MessageParam[] {
  const out: Anthropic.MessageParam[] = [];
  const last = () => out[out.length - 1];
  /** The previous message, when it is a user message that holds tool results (to append to). */
  const openResults = () => {
    const prev = last();
    return prev?.role === "user" && Array.isArray(prev.content) && prev.content.some((b) => b.type === "tool_result") ? prev : undefined;
  };
  for (const [index, m] of messages.entries()) {
    switch (m.role) {
      case "system":
        break;
      case "tool": {
        const block: Anthropic.ToolResultBlockParam = { type: "tool_result", tool_use_id: m.toolCallId ?? "", content: m.content };
        if (m.isError) block.is_error = true;
        if (m.cacheControl) block.cache_control = cacheControlOf(m.cacheControl).cache_control;
        const prev = openResults();
        if (prev) (prev.content as Anthropic.ContentBlockParam[]).push(block);
        else out.push({ role: "user", content: [block] });
        break;
      }
      case "user": {
        const parts = m.parts?.filter((p) => p.type !== "text" || p.text !== "");
        const prev = openResults();
        if (prev) {
          const blocks = prev.content as Anthropic.ContentBlockParam[];
          if (parts) blocks.push(...parts.map(toAnthropicPart));
          else if (m.content) blocks.push({ type: "text", text: m.content });
        } else {
          if (parts ? parts.length === 0 : !m.content) {
            throw new ProviderError(
              `message ${index} (user) is empty, and Anthropic refuses empty messages: give it some text`,
              "invalid_request",
              undefined,
              false,
            );
          }
          out.push({
            role: "user",
            content: parts
              ? parts.map(toAnthropicPart)
              : m.cacheControl
                ? [{ type: "text", text: m.content, ...cacheControlOf(m.cacheControl) }]
                : m.content,
          });
        }
        break;
      }
      case "assistant": {
        // Its reasoning blocks go back first, as they came (Anthropic checks their signatures).
        const reasoning: Anthropic.ContentBlockParam[] = (m.reasoning ?? []).map((b) =>
          b.type === "thinking"
            ? { type: "thinking", thinking: b.thinking, signature: b.signature }
            : { type: "redacted_thinking", data: b.data },
        );
        if (reasoning.length) {
          const blocks: Anthropic.ContentBlockParam[] = [...reasoning, ...(m.content ? [{ type: "text" as const, text: m.content }] : [])];
          for (const call of m.toolCalls ?? []) blocks.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call) });
          out.push({ role: "assistant", content: blocks });
          break;
        }
        if (!m.toolCalls?.length) {
          // Empty: left out, but as the last message (a prefill, which Anthropic allows empty).
          if (m.content || index === messages.length - 1) out.push({ role: "assistant", content: m.content });
          break;
        }
        const blocks: Anthropic.ContentBlockParam[] = m.content ? [{ type: "text", text: m.content }] : [];
        for (const call of m.toolCalls) blocks.push({ type: "tool_use", id: call.id, name: call.name, input: toolInput(call) });
        out.push({ role: "assistant", content: blocks });
        break;
      }
    }
  }
  return out;
}

function toolInput(call: ToolCall): Record<string, unknown> {
  let input: unknown;
  try {
    input = call.arguments.trim() === "" ? {} : JSON.parse(call.arguments);
  } catch {
    input = undefined;
  }
  if (!input || typeof input !== "object" || Array.isArray(input)) {
    throw new ProviderError(
      `The arguments of tool call ${call.id} (${call.name}) are not a JSON object`,
      "invalid_request",
      undefined,
      false,
    );
  }
  return input as Record<string, unknown>;
}

const DATA_URL = /^data:(image\/(?:jpeg|png|gif|webp));base64,(.+)$/s;

/** A cache breakpoint as Anthropic's `cache_control` (spread into a block); nothing when there is none. */
function cacheControlOf(c: CacheControl | undefined): { cache_control?: Anthropic.CacheControlEphemeral } {
  return c ? { cache_control: { type: "ephemeral", ...(c.ttl ? { ttl: c.ttl } : {}) } } : {};
}

function toAnthropicPart(p: ContentPart): Anthropic.TextBlockParam | Anthropic.ImageBlockParam {
  if (p.type === "text") return { type: "text", text: p.text, ...cacheControlOf(p.cacheControl) };
  const data = DATA_URL.exec(p.url);
  if (data) return { type: "image", source: { type: "base64", media_type: data[1] as "image/png", data: data[2]! } };
  if (/^https?:\/\//i.test(p.url)) return { type: "image", source: { type: "url", url: p.url } };
  throw new ProviderError(
    "Anthropic takes images as https URLs or base64 data URLs of JPEG, PNG, GIF or WebP",
    "invalid_request",
    undefined,
    false,
  );
}

function toAnthropicToolChoice(choice: ToolChoice, parallel: boolean | undefined): Anthropic.ToolChoice {
  const noParallel = parallel === false ? { disable_parallel_tool_use: true } : {};
  if (choice === "none") return { type: "none" };
  if (choice === "auto") return { type: "auto", ...noParallel };
  if (choice === "required") return { type: "any", ...noParallel };
  return { type: "tool", name: choice.name, ...noParallel };
}

function mergeUsage(into: AnthropicUsageFields, from: AnthropicUsageFields | null | undefined): void {
  if (!from) return;
  for (const key of ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"] as const) {
    const v = from[key];
    if (typeof v === "number") into[key] = v;
  }
  if (from.output_tokens_details) into.output_tokens_details = from.output_tokens_details;
  if (from.cache_creation) into.cache_creation = from.cache_creation;
  if (from.service_tier) into.service_tier = from.service_tier;
}

/** Anthropic (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL). */
export function createAnthropicProvider(options: AnthropicProviderOptions): AnthropicProvider {
  return new AnthropicProvider(options);
}
