import "server-only";
// The passthrough of the OpenAI-wire adapters (openai.ts, openai-compatible.ts): an OpenAI chat
// completions body the caller sent is sent on as it is, with only the fields this module must
// change (the model name, max tokens under the provider's field, stream_options.include_usage on a
// stream, temperature and top_p dropped for a model that takes only the defaults), over one undici
// Pool per upstream origin (http.ts providerPool). The answer is read, not rebuilt: a plain answer's
// bytes are returned as they came (the model name replaced when the catalogue's differs), a stream's
// chunks are handed on one by one as they arrive while the usage chunk is parsed. Failures become
// ProviderErrors through the same functions as the SDK path (errors.ts), never with a key in them.
import { StringDecoder } from "node:string_decoder";
import type { Dispatcher, Pool } from "undici";
import { abortError, fromConnectionError, fromHttpError, malformedResponse, recordFailure, type ErrorContext } from "./errors.ts";
import { providerPool } from "./http.ts";
import {
  ProviderError,
  ZERO_USAGE,
  type CallOptions,
  type FinishReason,
  type TokenUsage,
  type ToolCallDelta,
  type WireChatAnswer,
  type WireChatRequest,
  type WirePassthrough,
  type WireStreamPart,
} from "./types.ts";

type OpenAIUsage = {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; audio_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
} | null;

export type WireConfig = {
  ctx: ErrorContext;
  name: string;
  baseURL: string;
  apiKey?: string;
  organization?: string;
  headers?: Record<string, string>;
  maxTokensField: "max_completion_tokens" | "max_tokens";
  /** OpenAI takes the `developer` role; a compatible server gets such messages as `system` (as the SDK path sends them). */
  developerRole: boolean;
  /** `serviceTier`: the answer's service_tier (the tier that served it). */
  convertUsage: (usage: OpenAIUsage | undefined, serviceTier?: string | null) => TokenUsage | undefined;
  mapFinishReason: (reason: string | null | undefined) => FinishReason;
  /**
   * The chat path of a model under the base URL's path: Azure's
   * `deployments/{deployment}/chat/completions?api-version=…`; `chat/completions` when absent.
   */
  chatPath?: (model: string) => string;
  /** The header the key goes in: `authorization` as a bearer token (the default), or Azure's `api-key`. */
  apiKeyHeader?: "authorization" | "api-key";
  /** Headers carrying a credential made per request (a Microsoft Entra ID token), for a provider without a key. */
  credentialHeaders?: () => Promise<Record<string, string>>;
};

/** The request body sent upstream: the caller's, with the fields we must change. */
export function wireChatBody(request: WireChatRequest, config: Pick<WireConfig, "maxTokensField" | "developerRole">): string {
  const body: Record<string, unknown> = { ...request.body, model: request.model };
  // `metadata` is the usage event's (features/usage/attribution.ts); OpenAI takes it only for a
  // stored completion (`store: true`), which is then the caller's to have asked for.
  if (body.store !== true) delete body.metadata;
  if (request.dropSampling) {
    delete body.temperature;
    delete body.top_p;
  }
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (body.max_completion_tokens !== undefined || body.max_tokens !== undefined) {
    delete body.max_completion_tokens;
    delete body.max_tokens;
    if (maxTokens !== null) body[config.maxTokensField] = maxTokens;
  }
  if (request.stream) {
    body.stream = true;
    const options = body.stream_options;
    body.stream_options = { ...(options && typeof options === "object" ? options : {}), include_usage: true };
  } else {
    delete body.stream;
    delete body.stream_options;
  }
  if (!config.developerRole && Array.isArray(body.messages) && body.messages.some((m) => (m as { role?: unknown })?.role === "developer")) {
    body.messages = body.messages.map((m) => ((m as { role?: unknown })?.role === "developer" ? { ...(m as object), role: "system" } : m));
  }
  return JSON.stringify(body);
}

/** Where the top-level field `key` of a JSON object's text is: its key's first quote, its value's start and end. Scans only up to it. */
function topLevelField(json: string, key: string): { keyAt: number; valueAt: number; valueEnd: number } | undefined {
  let depth = 0;
  let i = 0;
  const n = json.length;
  let expectKey = false;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(json, i);
      if (depth === 1 && expectKey) {
        let j = end + 1;
        while (j < n && isSpace(json.charCodeAt(j))) j++;
        if (json.charCodeAt(j) === 58 /* : */ && json.slice(i + 1, end) === key) {
          j++;
          while (j < n && isSpace(json.charCodeAt(j))) j++;
          return { keyAt: i, valueAt: j, valueEnd: valueEndAt(json, j) };
        }
      }
      expectKey = false;
      i = end + 1;
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) {
      depth++;
      expectKey = c === 123 && depth === 1;
    } else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
    else if (c === 44 /* , */) expectKey = depth === 1;
    i++;
  }
  return undefined;
}

/**
 * `json` (a JSON object's text) with the top-level string field `key` set to `value`, the rest of
 * the text unchanged (added at the end when there is no such field).
 */
export function withTopLevelString(json: string, key: string, value: string): string {
  const at = topLevelField(json, key);
  if (!at) return withFields(json, `${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return json.slice(0, at.valueAt) + JSON.stringify(value) + json.slice(at.valueEnd);
}

/** `json` (a JSON object's text) without its top-level field `key`; the rest unchanged. */
export function withoutTopLevelField(json: string, key: string): string {
  const at = topLevelField(json, key);
  if (!at) return json;
  let before = at.keyAt - 1;
  while (before >= 0 && isSpace(json.charCodeAt(before))) before--;
  if (json.charCodeAt(before) === 44 /* , */) return json.slice(0, before) + json.slice(at.valueEnd);
  // The first field: drop the comma after it instead.
  let after = at.valueEnd;
  while (after < json.length && isSpace(json.charCodeAt(after))) after++;
  if (json.charCodeAt(after) === 44) after++;
  return json.slice(0, at.keyAt) + json.slice(after);
}

/** `json` (a JSON object's text) with `fields` (`"a":1,"b":2`) added at its end; the rest unchanged. */
export function withFields(json: string, fields: string): string {
  const close = json.lastIndexOf("}");
  if (close < 0) return json;
  let j = close - 1;
  while (j >= 0 && isSpace(json.charCodeAt(j))) j--;
  const empty = json.charCodeAt(j) === 123; /* { */
  return `${json.slice(0, close)}${empty ? "" : ","}${fields}${json.slice(close)}`;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** The index of the closing quote of the string starting at `start`. */
function stringEnd(s: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = s.indexOf('"', i);
    if (q < 0) return s.length - 1;
    let backslashes = 0;
    for (let k = q - 1; s.charCodeAt(k) === 92; k--) backslashes++;
    if (backslashes % 2 === 0) return q;
    i = q + 1;
  }
}

/** The index just past the JSON value starting at `start`. */
function valueEndAt(s: string, start: number): number {
  const c = s.charCodeAt(start);
  if (c === 34) return stringEnd(s, start) + 1;
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let i = start; i < s.length; i++) {
      const d = s.charCodeAt(i);
      if (d === 34) i = stringEnd(s, i);
      else if (d === 123 || d === 91) depth++;
      else if ((d === 125 || d === 93) && --depth === 0) return i + 1;
    }
    return s.length;
  }
  let i = start;
  while (i < s.length && !isSpace(s.charCodeAt(i)) && s.charCodeAt(i) !== 44 && s.charCodeAt(i) !== 125) i++;
  return i;
}

type ChatChoice = {
  message?: {
    content?: string | null;
    tool_calls?: { id?: string; type?: string; function?: { name?: string; arguments?: string } }[] | null;
  };
  delta?: {
    content?: string | null;
    tool_calls?: { index?: number; id?: string; function?: { name?: string; arguments?: string } }[] | null;
  };
  finish_reason?: string | null;
};
type ChatAnswer = {
  id?: string;
  model?: string;
  choices?: ChatChoice[];
  usage?: OpenAIUsage;
  service_tier?: string | null;
  error?: unknown;
};

const retryHeaders = (headers: Dispatcher.ResponseData["headers"]): Headers | undefined => {
  const retryAfter = headers["retry-after"];
  const retryAfterMs = headers["retry-after-ms"];
  if (retryAfter === undefined && retryAfterMs === undefined) return undefined;
  const h = new Headers();
  if (typeof retryAfter === "string") h.set("retry-after", retryAfter);
  if (typeof retryAfterMs === "string") h.set("retry-after-ms", retryAfterMs);
  return h;
};

/** The passthrough of one OpenAI-wire provider (chat completions, plain and streamed). */
export class OpenAIWire implements WirePassthrough {
  private readonly origin: string;
  private readonly chatPath: (model: string) => string;
  private readonly headers: Record<string, string>;

  constructor(private readonly config: WireConfig) {
    const base = new URL(config.baseURL.endsWith("/") ? config.baseURL : `${config.baseURL}/`);
    this.origin = base.origin;
    const fixedPath = `${base.pathname}chat/completions${base.search}`;
    const pathOf = config.chatPath;
    this.chatPath = pathOf ? (model) => `${base.pathname}${pathOf(model)}` : () => fixedPath;
    const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
    for (const [k, v] of Object.entries(config.headers ?? {})) headers[k.toLowerCase()] = v;
    delete headers.authorization; // a keyless compatible server gets no Authorization header at all
    if (config.apiKey) {
      if (config.apiKeyHeader === "api-key") headers["api-key"] = config.apiKey;
      else headers.authorization = `Bearer ${config.apiKey}`;
    }
    if (config.organization) headers["openai-organization"] = config.organization;
    this.headers = headers;
  }

  private pool(): Pool {
    return providerPool(this.origin);
  }

  private async send(request: WireChatRequest, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    if (signal?.aborted) throw abortError(this.config.ctx, signal);
    let up: Dispatcher.ResponseData;
    try {
      let headers = request.stream ? { ...this.headers, accept: "text/event-stream" } : this.headers;
      if (this.config.credentialHeaders) headers = { ...headers, ...(await this.config.credentialHeaders()) };
      up = await this.pool().request({
        path: this.chatPath(request.model),
        method: "POST",
        headers,
        body: wireChatBody(request, this.config),
        signal,
      });
    } catch (err) {
      throw this.failure(err, signal);
    }
    if (up.statusCode >= 200 && up.statusCode < 300) return up;
    let text = "";
    try {
      text = await up.body.text();
    } catch (err) {
      throw this.failure(err, signal);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text ? { message: text.slice(0, 500) } : undefined;
    }
    const error = parsed && typeof parsed === "object" && "error" in parsed ? (parsed as { error: unknown }).error : parsed;
    throw fromHttpError(this.config.ctx, up.statusCode, error, retryHeaders(up.headers));
  }

  /** A failure while calling or reading: ours as it is, the caller's abort or the deadline, else a connection error. */
  private failure(err: unknown, signal: AbortSignal | undefined): unknown {
    if (err instanceof ProviderError) return err;
    if (signal?.aborted) return abortError(this.config.ctx, signal);
    return fromConnectionError(this.config.ctx, err);
  }

  private answerModel(text: string, upstream: string | undefined, request: WireChatRequest): string {
    return upstream === request.answerModel ? text : withTopLevelString(text, "model", request.answerModel);
  }

  async chat(request: WireChatRequest, options?: CallOptions): Promise<WireChatAnswer> {
    const signal = options?.signal;
    const up = await this.send({ ...request, stream: false }, signal);
    let text: string;
    try {
      text = await up.body.text();
    } catch (err) {
      throw this.failure(err, signal);
    }
    let answer: ChatAnswer;
    try {
      answer = JSON.parse(text) as ChatAnswer;
    } catch {
      throw malformedResponse(this.config.ctx);
    }
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) throw malformedResponse(this.config.ctx);
    const choice = answer.choices?.[0];
    const toolCalls = (choice?.message?.tool_calls ?? []).flatMap((c) =>
      c.type === "function" || c.function ? [{ id: c.id ?? "", name: c.function?.name ?? "", arguments: c.function?.arguments ?? "" }] : [],
    );
    return {
      id: answer.id,
      text: choice?.message?.content ?? "",
      ...(toolCalls.length ? { toolCalls } : {}),
      finishReason: this.config.mapFinishReason(choice?.finish_reason),
      usage: this.config.convertUsage(answer.usage, answer.service_tier) ?? ZERO_USAGE,
      model: answer.model ?? request.model,
      body: this.answerModel(text, answer.model, request),
    };
  }

  async *streamChat(request: WireChatRequest, options?: CallOptions): AsyncGenerator<WireStreamPart, void, undefined> {
    const signal = options?.signal;
    const up = await this.send({ ...request, stream: true }, signal);
    const ctx = this.config.ctx;
    // We always ask for the usage chunk; a caller who did not gets the chunks without their `usage: null`.
    const callerOptions = request.body.stream_options as { include_usage?: unknown } | null | undefined;
    const callerAsked = callerOptions?.include_usage === true;
    let finishReason: FinishReason | undefined;
    let usage: TokenUsage | undefined;
    let usageChunk: string | undefined;
    let id: string | undefined;
    let model: string | undefined;
    const decoder = new StringDecoder("utf8");
    let buffered = "";
    try {
      for await (const bytes of up.body) {
        if (signal?.aborted) break;
        let s = decoder.write(bytes as Buffer);
        if (s.includes("\r")) s = s.replace(/\r\n?/g, "\n");
        buffered += s;
        let end: number;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = eventData(event);
          if (data === undefined || data === "[DONE]") continue;
          let chunk: ChatAnswer;
          try {
            chunk = JSON.parse(data) as ChatAnswer;
          } catch {
            throw malformedResponse(ctx);
          }
          if (!chunk || typeof chunk !== "object") throw malformedResponse(ctx);
          // An error event inside the stream (OpenAI sends {"error": {...}}): a server error.
          if (chunk.error) throw fromHttpError(ctx, undefined, chunk.error, undefined);
          id ??= chunk.id;
          model ??= chunk.model;
          if (chunk.usage) usage = this.config.convertUsage(chunk.usage, chunk.service_tier);
          const choice = chunk.choices?.[0];
          if (!choice) {
            // The include_usage chunk (`choices: []`): kept for the caller who asked for it.
            if (chunk.usage) usageChunk = this.answerModel(data, chunk.model, request);
            continue;
          }
          const toolCalls: ToolCallDelta[] = [];
          for (const call of choice.delta?.tool_calls ?? []) {
            toolCalls.push({
              type: "tool-call-delta",
              index: call.index ?? 0,
              ...(call.id ? { id: call.id } : {}),
              ...(call.function?.name ? { name: call.function.name } : {}),
              argumentsDelta: call.function?.arguments ?? "",
            });
          }
          if (choice.finish_reason) finishReason = this.config.mapFinishReason(choice.finish_reason);
          const forwarded = callerAsked || chunk.usage !== null ? data : withoutTopLevelField(data, "usage");
          yield {
            type: "wire-chunk",
            data: this.answerModel(forwarded, chunk.model, request),
            text: choice.delta?.content ?? "",
            ...(toolCalls.length ? { toolCalls } : {}),
          };
          if (signal?.aborted) break;
        }
      }
    } catch (err) {
      throw this.failure(err, signal);
    }
    if (signal?.aborted) throw abortError(ctx, signal);
    if (finishReason === undefined) {
      throw recordFailure(ctx, new ProviderError(`${this.config.name} ended the stream before it finished`, "connection", undefined, true));
    }
    yield { type: "finish", finishReason, usage, id, model, ...(usageChunk !== undefined ? { usageChunk } : {}) };
  }
}

/** The data of one server-sent event (its `data:` lines joined), or undefined when it has none. */
function eventData(event: string): string | undefined {
  if (event.startsWith("data: ") && !event.includes("\n")) return event.slice(6);
  let data: string | undefined;
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}
