import "server-only";
// AWS Bedrock through @aws-sdk/client-bedrock-runtime: any Bedrock chat model (Anthropic, Amazon
// Nova, Meta Llama, Mistral...) through the Converse and ConverseStream APIs, and Titan / Cohere
// embeddings through InvokeModel. Requests are SigV4-signed by the SDK with static keys (and a
// session token) or, when none are given, the SDK's default credential chain.
//
// HTTP: the client's default handler for this service speaks HTTP/2 (for the bidirectional streams
// we do not use); we pass NodeHttpHandler (HTTP/1.1, keep-alive agents) explicitly, which every
// Bedrock endpoint and proxy accepts and the emulator serves.
import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import {
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  ListAsyncInvokesCommand,
  type ContentBlock,
  type ConverseCommandInput,
  type Message,
  type SystemContentBlock,
  type TokenUsage as BedrockTokenUsage,
  type Tool,
  type ToolChoice as BedrockToolChoice,
} from "@aws-sdk/client-bedrock-runtime";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import {
  abortError,
  fromConnectionError,
  fromHttpError,
  malformedResponse,
  recordFailure,
  scrubSecrets,
  unavailable,
  type ErrorContext,
} from "../errors.ts";
import {
  modelNameAtProvider,
  ProviderError,
  type CallOptions,
  type ChatMessage,
  type EmbedRequest,
  type EmbedResult,
  type FinishReason,
  type GenerateRequest,
  type GenerateResult,
  type Provider,
  type ProviderModel,
  type ProviderStatus,
  type StreamPart,
  type TokenUsage,
  ZERO_USAGE,
} from "../types.ts";

/** maxTokens when neither the caller nor the catalogue gives one (some Bedrock models require it). */
export const BEDROCK_DEFAULT_MAX_TOKENS = 4096;
/** Cohere's limit of texts per InvokeModel; Titan takes one text per call. */
export const BEDROCK_MAX_EMBEDDINGS_PER_CALL = 96;
const TITAN_CONCURRENCY = 8;
/** Every call's deadline (the generation service sets tighter ones through the signal). */
const SDK_TIMEOUT_MS = 10 * 60_000;

export type BedrockProviderOptions = {
  id?: string;
  name?: string;
  /** AWS_REGION: Bedrock needs one; it is also the region of the SigV4 credential scope. */
  region?: string;
  /** Static credentials; both or neither (then the SDK's default credential chain). */
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** AWS_ENDPOINT_URL_BEDROCK_RUNTIME: a VPC endpoint, a proxy, the emulator. */
  endpoint?: string;
  /** Catalogue model id → Bedrock model id (or inference profile); default the id itself without a "bedrock/" prefix. */
  models?: Record<string, string>;
  /** Extra headers on every request (signed with it). */
  headers?: Record<string, string>;
};

/** Bedrock's usage in our terms: its inputTokens excludes cache reads and writes; ours counts them all. */
export function convertBedrockUsage(usage: Partial<BedrockTokenUsage> | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  const cacheRead = usage.cacheReadInputTokens ?? 0;
  const cacheWrite = usage.cacheWriteInputTokens ?? 0;
  // cacheDetails splits the writes by TTL ("5m", "1h"); a 1-hour write is priced apart.
  const written1h = Math.min(
    cacheWrite,
    (usage.cacheDetails ?? []).reduce((n, d) => n + (d.ttl === "1h" ? (d.inputTokens ?? 0) : 0), 0),
  );
  return {
    inputTokens: (usage.inputTokens ?? 0) + cacheRead + cacheWrite,
    // Reasoning (Claude's thinking) is part of outputTokens; Converse does not break it out.
    outputTokens: usage.outputTokens ?? 0,
    cachedInputTokens: cacheRead,
    reasoningTokens: 0,
    ...(cacheWrite ? { cacheWriteTokens: cacheWrite } : {}),
    ...(written1h ? { cacheWrite1hTokens: written1h } : {}),
  };
}

export function mapBedrockStopReason(reason: string | undefined): FinishReason {
  switch (reason) {
    case "end_turn":
    case "stop_sequence":
      return "stop";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "guardrail_intervened":
    case "content_filtered":
      return "content_filter";
    default:
      return "other";
  }
}

/** The Bedrock model id that serves a catalogue model. */
export function bedrockModelId(model: string, models: Record<string, string> = {}): string {
  return models[model] ?? (model.startsWith("bedrock/") ? model.slice("bedrock/".length) : model);
}

const IMAGE_FORMATS: Record<string, "png" | "jpeg" | "gif" | "webp"> = {
  "image/png": "png",
  "image/jpeg": "jpeg",
  "image/jpg": "jpeg",
  "image/gif": "gif",
  "image/webp": "webp",
};

/** Our messages as Converse's system blocks and alternating user/assistant messages. */
export function toBedrockMessages(messages: ChatMessage[], extraSystem?: string): { system: SystemContentBlock[]; messages: Message[] } {
  const system: SystemContentBlock[] = [];
  const out: Message[] = [];
  const push = (role: "user" | "assistant", content: ContentBlock[]) => {
    if (content.length === 0) return;
    const last = out.at(-1);
    // Converse wants the roles to alternate: tool results and the user text after them are one user message.
    if (last && last.role === role) last.content!.push(...content);
    else out.push({ role, content });
  };
  for (const m of messages) {
    switch (m.role) {
      case "system":
        if (m.content) system.push({ text: m.content });
        break;
      case "user": {
        const blocks: ContentBlock[] = [];
        for (const p of m.parts ?? [{ type: "text" as const, text: m.content }]) {
          if (p.type === "text") {
            if (p.text) blocks.push({ text: p.text });
          } else {
            const match = /^data:([^;,]+);base64,(.*)$/s.exec(p.url);
            const format = match ? IMAGE_FORMATS[match[1]!.toLowerCase()] : undefined;
            if (!match || !format) {
              throw new ProviderError(
                "Bedrock takes images as data: URLs of PNG, JPEG, GIF or WebP only",
                "invalid_request",
                undefined,
                false,
              );
            }
            blocks.push({ image: { format, source: { bytes: Buffer.from(match[2]!, "base64") } } });
          }
        }
        push("user", blocks);
        break;
      }
      case "assistant": {
        const blocks: ContentBlock[] = [];
        if (m.content) blocks.push({ text: m.content });
        for (const c of m.toolCalls ?? [])
          blocks.push({ toolUse: { toolUseId: c.id, name: c.name, input: parseArguments(c.arguments) as never } });
        push("assistant", blocks);
        break;
      }
      case "tool":
        push("user", [
          { toolResult: { toolUseId: m.toolCallId ?? "", content: [{ text: m.content }], status: m.isError ? "error" : "success" } },
        ]);
        break;
    }
  }
  if (extraSystem) system.push({ text: extraSystem });
  return { system, messages: out };
}

function parseArguments(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text || "{}") as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return {};
  }
}

/** A JSON reply as an instruction (Converse has no response format of its own for every model). */
function jsonInstruction(request: GenerateRequest): string | undefined {
  const f = request.responseFormat;
  if (!f || f.type === "text") return undefined;
  if (f.type === "json_object") return "Answer with one JSON object and nothing else.";
  return `Answer with one JSON object and nothing else, matching this JSON schema: ${JSON.stringify(f.schema)}`;
}

export class BedrockProvider implements Provider {
  readonly id: string;
  readonly name: string;
  readonly maxEmbeddingsPerCall = BEDROCK_MAX_EMBEDDINGS_PER_CALL;
  private readonly client: BedrockRuntimeClient | undefined;
  private readonly ctx: ErrorContext;
  private readonly unavailableReason: string | undefined;

  constructor(private readonly options: BedrockProviderOptions) {
    this.id = options.id ?? "bedrock";
    this.name = options.name ?? "AWS Bedrock";
    this.ctx = { providerId: this.id, providerName: this.name, secrets: [options.secretAccessKey, options.sessionToken] };
    this.unavailableReason = !options.region
      ? "AWS_REGION is not set (Bedrock needs a region)"
      : Boolean(options.accessKeyId) !== Boolean(options.secretAccessKey)
        ? "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together"
        : undefined;
    if (this.unavailableReason === undefined) {
      this.client = new BedrockRuntimeClient({
        region: options.region,
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        // Static keys, or (none given) the SDK's default chain: environment, shared files, SSO, web identity, ECS/EC2 roles.
        ...(options.accessKeyId && options.secretAccessKey
          ? {
              credentials: {
                accessKeyId: options.accessKeyId,
                secretAccessKey: options.secretAccessKey,
                ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
              },
            }
          : {}),
        // The generation service retries; the SDK must not.
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({
          httpAgent: new HttpAgent({ keepAlive: true }),
          httpsAgent: new HttpsAgent({ keepAlive: true }),
          connectionTimeout: 10_000,
          requestTimeout: SDK_TIMEOUT_MS,
        }),
      });
      const extra = options.headers;
      if (extra && Object.keys(extra).length) {
        this.client.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as { headers?: Record<string, string> };
            if (request.headers) Object.assign(request.headers, extra);
            return next(args);
          },
          { step: "build", name: "modelServiceHeaders" },
        );
      }
    }
  }

  status(): ProviderStatus {
    return this.unavailableReason === undefined ? { available: true } : { available: false, reason: this.unavailableReason };
  }

  private requireClient(): BedrockRuntimeClient {
    if (!this.client) throw unavailable(this.unavailableReason ?? `${this.name} is unavailable`);
    return this.client;
  }

  private input(request: GenerateRequest): ConverseCommandInput {
    const { system, messages } = toBedrockMessages(request.messages, jsonInstruction(request));
    const input: ConverseCommandInput = {
      modelId: modelNameAtProvider(request, (m) => bedrockModelId(m, this.options.models)),
      messages,
      ...(system.length ? { system } : {}),
      inferenceConfig: {
        maxTokens: request.maxTokens ?? request.defaultMaxTokens ?? BEDROCK_DEFAULT_MAX_TOKENS,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.topP !== undefined ? { topP: request.topP } : {}),
        ...(request.stop?.length ? { stopSequences: request.stop } : {}),
      },
    };
    const history = messages.some((m) => m.content?.some((b) => b.toolUse || b.toolResult));
    // Converse has no "none": the tools are left out, unless the conversation already holds tool blocks (then they must be declared).
    if (request.tools?.length && (request.toolChoice !== "none" || history)) {
      const tools: Tool[] = request.tools.map((t) => ({
        toolSpec: {
          name: t.name,
          ...(t.description !== undefined ? { description: t.description } : {}),
          inputSchema: { json: t.parameters as never },
        },
      }));
      let toolChoice: BedrockToolChoice | undefined;
      if (request.toolChoice === "required") toolChoice = { any: {} };
      else if (typeof request.toolChoice === "object") toolChoice = { tool: { name: request.toolChoice.name } };
      else if (request.toolChoice === "auto") toolChoice = { auto: {} };
      input.toolConfig = { tools, ...(toolChoice ? { toolChoice } : {}) };
    }
    return input;
  }

  private signal(options?: CallOptions): AbortSignal {
    const deadline = AbortSignal.timeout(SDK_TIMEOUT_MS);
    return options?.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  }

  async generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    const client = this.requireClient();
    const signal = this.signal(options);
    try {
      const out = await client.send(new ConverseCommand(this.input(request)), { abortSignal: signal });
      const content = out.output?.message?.content ?? [];
      const text = content.flatMap((b) => (typeof b.text === "string" ? [b.text] : [])).join("");
      const toolCalls = content.flatMap((b) =>
        b.toolUse ? [{ id: b.toolUse.toolUseId ?? "", name: b.toolUse.name ?? "", arguments: JSON.stringify(b.toolUse.input ?? {}) }] : [],
      );
      return {
        id: out.$metadata.requestId,
        text,
        ...(toolCalls.length ? { toolCalls } : {}),
        finishReason: mapBedrockStopReason(out.stopReason),
        usage: convertBedrockUsage(out.usage) ?? { ...ZERO_USAGE },
        model: request.model,
      };
    } catch (error) {
      throw this.convertError(error, signal);
    }
  }

  async *streamText(request: GenerateRequest, options?: CallOptions): AsyncGenerator<StreamPart, void, undefined> {
    const client = this.requireClient();
    const signal = this.signal(options);
    let stopReason: string | undefined;
    let usage: TokenUsage | undefined;
    let id: string | undefined;
    // Converse numbers content blocks (text and tool use together); ours numbers the tool calls alone.
    const toolIndex = new Map<number, number>();
    try {
      const out = await client.send(new ConverseStreamCommand(this.input(request)), { abortSignal: signal });
      id = out.$metadata.requestId;
      for await (const event of out.stream ?? []) {
        if (signal.aborted) break;
        const streamError =
          event.internalServerException ??
          event.modelStreamErrorException ??
          event.serviceUnavailableException ??
          event.throttlingException ??
          event.validationException;
        if (streamError) throw streamError;
        if (event.contentBlockStart?.start?.toolUse) {
          const index = toolIndex.size;
          toolIndex.set(event.contentBlockStart.contentBlockIndex ?? 0, index);
          const t = event.contentBlockStart.start.toolUse;
          yield { type: "tool-call-delta", index, id: t.toolUseId, name: t.name, argumentsDelta: "" };
        } else if (event.contentBlockDelta?.delta) {
          const delta = event.contentBlockDelta.delta;
          if (typeof delta.text === "string" && delta.text) yield { type: "text-delta", text: delta.text };
          else if (delta.toolUse) {
            const index = toolIndex.get(event.contentBlockDelta.contentBlockIndex ?? 0) ?? 0;
            yield { type: "tool-call-delta", index, argumentsDelta: delta.toolUse.input ?? "" };
          }
        } else if (event.messageStop) {
          stopReason = event.messageStop.stopReason ?? "end_turn";
        } else if (event.metadata) {
          usage = convertBedrockUsage(event.metadata.usage);
        }
      }
    } catch (error) {
      throw this.convertError(error, signal);
    }
    if (signal.aborted) throw abortError(this.ctx, signal);
    if (stopReason === undefined)
      throw recordFailure(this.ctx, new ProviderError(`${this.name} ended the stream before it finished`, "connection", undefined, true));
    yield { type: "finish", finishReason: mapBedrockStopReason(stopReason), usage, id, model: request.model };
  }

  async generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult> {
    const client = this.requireClient();
    const modelId = modelNameAtProvider(request, (m) => bedrockModelId(m, this.options.models));
    const signal = this.signal(options);
    try {
      if (modelId.startsWith("cohere.embed")) {
        const embeddings: number[][] = [];
        let tokens = 0;
        for (let i = 0; i < request.texts.length; i += BEDROCK_MAX_EMBEDDINGS_PER_CALL) {
          const texts = request.texts.slice(i, i + BEDROCK_MAX_EMBEDDINGS_PER_CALL);
          const { body, inputTokens } = await this.invoke(
            client,
            modelId,
            { texts, input_type: "search_document", truncate: "NONE" },
            signal,
          );
          const vectors = (body as { embeddings?: unknown }).embeddings;
          const floats = Array.isArray(vectors) ? vectors : (vectors as { float?: unknown } | undefined)?.float;
          if (!Array.isArray(floats) || floats.length !== texts.length) throw malformedResponse(this.ctx);
          embeddings.push(...(floats as number[][]));
          tokens += inputTokens;
        }
        return { embeddings, usage: { inputTokens: tokens }, model: request.model };
      }
      if (!modelId.startsWith("amazon.titan-embed")) {
        throw new ProviderError(
          `${this.name}: ${modelId} is not an embedding model this adapter knows (Titan or Cohere)`,
          "invalid_request",
          undefined,
          false,
        );
      }
      // Titan embeds one text per call: several calls at a time, in order.
      const results: { embedding: number[]; tokens: number }[] = new Array(request.texts.length);
      let next = 0;
      const worker = async () => {
        while (next < request.texts.length && !signal.aborted) {
          const i = next++;
          const payload: Record<string, unknown> = { inputText: request.texts[i] };
          if (request.dimensions !== undefined && modelId.includes("v2")) payload.dimensions = request.dimensions;
          const { body, inputTokens } = await this.invoke(client, modelId, payload, signal);
          const b = body as { embedding?: unknown; inputTextTokenCount?: unknown };
          if (!Array.isArray(b.embedding)) throw malformedResponse(this.ctx);
          results[i] = {
            embedding: b.embedding as number[],
            tokens: typeof b.inputTextTokenCount === "number" ? b.inputTextTokenCount : inputTokens,
          };
        }
      };
      await Promise.all(Array.from({ length: Math.min(TITAN_CONCURRENCY, request.texts.length) }, worker));
      return {
        embeddings: results.map((r) => r.embedding),
        usage: { inputTokens: results.reduce((n, r) => n + r.tokens, 0) },
        model: request.model,
      };
    } catch (error) {
      throw this.convertError(error, signal);
    }
  }

  /** InvokeModel with a JSON body; the answer's JSON and its x-amzn-bedrock-input-token-count header. */
  private async invoke(
    client: BedrockRuntimeClient,
    modelId: string,
    payload: unknown,
    signal: AbortSignal,
  ): Promise<{ body: unknown; inputTokens: number }> {
    const command = new InvokeModelCommand({
      modelId,
      contentType: "application/json",
      accept: "application/json",
      body: new TextEncoder().encode(JSON.stringify(payload)),
    });
    let headers: Record<string, string> = {};
    command.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        headers = ((result.response as { headers?: Record<string, string> }).headers ?? {}) as Record<string, string>;
        return result;
      },
      { step: "deserialize", name: "modelServiceTokenCount" },
    );
    const out = await client.send(command, { abortSignal: signal });
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(out.body));
    } catch {
      throw malformedResponse(this.ctx);
    }
    return { body, inputTokens: Number(headers["x-amzn-bedrock-input-token-count"] ?? 0) || 0 };
  }

  async listModels(): Promise<ProviderModel[]> {
    // Model access is per account and region (the bedrock control plane, not this runtime client); the catalogue lists them.
    return [];
  }

  /**
   * The connection test: ListAsyncInvokes with one result (GET /async-invoke?maxResults=1), the one
   * listing of the runtime API: SigV4-signed like every call (credentials, region, endpoint), free,
   * and it runs no model. It needs the bedrock:ListAsyncInvokes permission beside bedrock:InvokeModel.
   */
  async testConnection(options?: CallOptions): Promise<void> {
    const client = this.requireClient();
    const signal = this.signal(options);
    try {
      await client.send(new ListAsyncInvokesCommand({ maxResults: 1 }), { abortSignal: signal });
    } catch (error) {
      throw this.convertError(error, signal);
    }
  }

  /** Any SDK failure as a ProviderError (or the caller's own abort reason), kept as the provider's last error. */
  convertError(error: unknown, signal: AbortSignal | undefined): unknown {
    return recordFailure(this.ctx, this.toProviderError(error, signal));
  }

  private toProviderError(error: unknown, signal: AbortSignal | undefined): unknown {
    if (error instanceof ProviderError) return error;
    if (signal?.aborted) return abortError(this.ctx, signal);
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; $response?: unknown; code?: string };
    if (error instanceof BedrockRuntimeServiceException || (e && typeof e.name === "string" && e.$metadata !== undefined)) {
      const status = e.$metadata?.httpStatusCode ?? STREAM_EXCEPTION_STATUS[e.name ?? ""];
      // A 200 whose body could not be read: cut short (the socket closed) or not valid JSON.
      if (status !== undefined && status < 300) {
        return /\baborted\b|ECONNRESET|socket hang up|\bterminated\b|premature close/i.test(e.message ?? "")
          ? fromConnectionError(this.ctx, error)
          : malformedResponse(this.ctx);
      }
      const body = { message: e.message };
      if (e.name === "ServiceQuotaExceededException") {
        return new ProviderError(
          scrubSecrets(`${this.name}: ${e.message ?? "service quota exceeded"}`, this.ctx.secrets),
          "rate_limited",
          status,
          false,
        );
      }
      if (e.name === "ModelNotReadyException" || e.name === "ModelStreamErrorException") {
        return new ProviderError(
          scrubSecrets(`${this.name} ${status ?? "stream"}: ${e.message ?? e.name}`, this.ctx.secrets),
          "server",
          status,
          true,
        );
      }
      if (status === undefined) return fromHttpError(this.ctx, undefined, body, undefined);
      return fromHttpError(this.ctx, status, body, undefined);
    }
    if (e?.name === "TimeoutError") return fromConnectionError(this.ctx, error, true);
    if (e?.name === "AbortError") return new DOMException("This operation was aborted", "AbortError");
    if (e?.name === "SyntaxError" || /Deserialization error|Unexpected end of JSON|not valid JSON|checksum|CRC/i.test(e?.message ?? ""))
      return malformedResponse(this.ctx);
    if (typeof e?.code === "string" || e?.name === "Error") return fromConnectionError(this.ctx, error);
    return error;
  }
}

/** Exceptions inside an event stream carry no HTTP status: the one each has as an HTTP answer. */
const STREAM_EXCEPTION_STATUS: Record<string, number> = {
  ThrottlingException: 429,
  ValidationException: 400,
  InternalServerException: 500,
  ServiceUnavailableException: 503,
};

export function createBedrockProvider(options: BedrockProviderOptions): BedrockProvider {
  return new BedrockProvider(options);
}
