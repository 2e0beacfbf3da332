import "server-only";
// Google's models through the official @google/genai SDK, on either of its two backends:
//   - the Gemini API (generativelanguage.googleapis.com) with an API key (`x-goog-api-key`);
//   - Vertex AI ({location}-aiplatform.googleapis.com/.../projects/{p}/locations/{l}/publishers/google/models/...)
//     with Google credentials: a service-account key file (signed into a self-signed JWT with the
//     cloud-platform scope, no token exchange) or the default chain (gcloud ADC, the metadata server).
// generateContent and its streamed form (alt=sse), tools (function declarations), JSON replies,
// and embeddings (batchEmbedContents on the Gemini API; predict / embedContent on Vertex).
import { readFileSync } from "node:fs";
import { JWT, type GoogleAuthOptions } from "google-auth-library";
import {
  ApiError,
  FunctionCallingConfigMode,
  GoogleGenAI,
  type Content,
  type GenerateContentConfig,
  type GenerateContentResponse,
  type Part,
} from "@google/genai";
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
} from "../errors.ts";
import { getProviderFetch, type ProviderFetch } from "../http.ts";
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

const SDK_TIMEOUT_MS = 10 * 60_000;
/** The Gemini API's limit of requests in one batchEmbedContents. */
export const GEMINI_MAX_EMBEDDINGS_PER_CALL = 100;
/** Vertex's limit of instances per predict call for text-embedding-*; gemini-embedding models take one. */
const VERTEX_PREDICT_MAX_INSTANCES = 250;
const EMBEDDING_CONCURRENCY = 4;
const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

type GeminiUsage = {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
  /** The prompt's tokens by modality (TEXT, IMAGE, AUDIO, VIDEO, DOCUMENT). */
  promptTokensDetails?: { modality?: string; tokenCount?: number }[];
};

/**
 * Gemini's usageMetadata in our terms: promptTokenCount already holds the cached-content tokens;
 * thoughts are billed as output but counted apart from candidatesTokenCount, so they are added.
 */
export function convertGeminiUsage(usage: GeminiUsage | undefined): TokenUsage | undefined {
  if (!usage) return undefined;
  const thoughts = usage.thoughtsTokenCount ?? 0;
  const modality = (name: string) =>
    (usage.promptTokensDetails ?? []).reduce((n, d) => n + (d.modality?.toUpperCase() === name ? (d.tokenCount ?? 0) : 0), 0);
  // Audio input has its own rate on several models; images are counted (priced at the input rate unless the catalogue says otherwise).
  const audio = modality("AUDIO");
  const image = modality("IMAGE");
  return {
    inputTokens: (usage.promptTokenCount ?? 0) + (usage.toolUsePromptTokenCount ?? 0),
    outputTokens: (usage.candidatesTokenCount ?? 0) + thoughts,
    cachedInputTokens: usage.cachedContentTokenCount ?? 0,
    reasoningTokens: thoughts,
    ...(audio ? { audioInputTokens: audio } : {}),
    ...(image ? { imageInputTokens: image } : {}),
  };
}

export function mapGeminiFinishReason(reason: string | undefined, hasToolCalls: boolean): FinishReason {
  if (hasToolCalls && (reason === undefined || reason === "STOP")) return "tool_calls";
  switch (reason) {
    case "STOP":
      return "stop";
    case "MAX_TOKENS":
      return "length";
    case "SAFETY":
    case "RECITATION":
    case "BLOCKLIST":
    case "PROHIBITED_CONTENT":
    case "SPII":
    case "IMAGE_SAFETY":
      return "content_filter";
    case "MALFORMED_FUNCTION_CALL":
      return "error";
    default:
      return "other";
  }
}

/** Our messages as Gemini contents (user / model turns) and the system instruction. */
export function toGeminiContents(messages: ChatMessage[]): { contents: Content[]; systemInstruction?: Content } {
  const system: string[] = [];
  const contents: Content[] = [];
  const names = new Map<string, string>();
  const push = (role: "user" | "model", parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents.at(-1);
    // Gemini wants the turns to alternate: function responses and the user text after them share one turn.
    if (last && last.role === role) last.parts!.push(...parts);
    else contents.push({ role, parts });
  };
  for (const m of messages) {
    switch (m.role) {
      case "system":
        if (m.content) system.push(m.content);
        break;
      case "user": {
        const parts: Part[] = [];
        for (const p of m.parts ?? [{ type: "text" as const, text: m.content }]) {
          if (p.type === "text") {
            if (p.text) parts.push({ text: p.text });
          } else {
            const data = /^data:([^;,]+);base64,(.*)$/s.exec(p.url);
            parts.push(
              data
                ? { inlineData: { mimeType: data[1]!, data: data[2]! } }
                : { fileData: { fileUri: p.url, mimeType: guessImageType(p.url) } },
            );
          }
        }
        push("user", parts);
        break;
      }
      case "assistant": {
        const parts: Part[] = [];
        if (m.content) parts.push({ text: m.content });
        for (const c of m.toolCalls ?? []) {
          names.set(c.id, c.name);
          parts.push({ functionCall: { id: c.id, name: c.name, args: parseArguments(c.arguments) } });
        }
        push("model", parts);
        break;
      }
      case "tool": {
        const id = m.toolCallId ?? "";
        push("user", [
          { functionResponse: { id, name: names.get(id) ?? id, response: m.isError ? { error: m.content } : { result: m.content } } },
        ]);
        break;
      }
    }
  }
  return { contents, ...(system.length ? { systemInstruction: { role: "user", parts: [{ text: system.join("\n\n") }] } } : {}) };
}

function guessImageType(url: string): string {
  const ext = /\.(png|jpe?g|gif|webp)(\?|$)/i.exec(url)?.[1]?.toLowerCase();
  return ext === "png" ? "image/png" : ext === "gif" ? "image/gif" : ext === "webp" ? "image/webp" : "image/jpeg";
}

function parseArguments(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text || "{}") as unknown;
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return {};
  }
}

type GoogleBackend =
  | { kind: "gemini"; apiKey?: string }
  | {
      kind: "vertex";
      project?: string;
      location?: string;
      /** A service-account (or other ADC) key file: GOOGLE_APPLICATION_CREDENTIALS. */
      credentialsFile?: string;
      /** The same, already parsed (a key given in the configuration file or the dashboard). */
      credentials?: Record<string, unknown>;
    };

export type GoogleProviderOptions = GoogleBackend & {
  id?: string;
  name?: string;
  /** Base URL (the emulator, a proxy); default Google's endpoint for the backend (and location). */
  baseUrl?: string;
  headers?: Record<string, string>;
  /** Catalogue model id → Google's model id; default the id without a "vertex/" or "gemini/" prefix. */
  models?: Record<string, string>;
  fetch?: ProviderFetch;
};

/** Google's model id for a catalogue model. */
export function googleModelId(model: string, models: Record<string, string> = {}): string {
  return models[model] ?? model.replace(/^(vertex|gemini)\//, "");
}

export class GoogleProvider implements Provider {
  readonly id: string;
  readonly name: string;
  readonly maxEmbeddingsPerCall: number;
  private readonly client: GoogleGenAI | undefined;
  private readonly ctx: ErrorContext;
  private readonly unavailableReason: string | undefined;
  private readonly vertex: boolean;

  constructor(private readonly options: GoogleProviderOptions) {
    this.vertex = options.kind === "vertex";
    this.id = options.id ?? (this.vertex ? "vertex" : "gemini");
    this.name = options.name ?? (this.vertex ? "Vertex AI" : "Gemini API");
    this.maxEmbeddingsPerCall = this.vertex ? VERTEX_PREDICT_MAX_INSTANCES : GEMINI_MAX_EMBEDDINGS_PER_CALL;
    const secrets: (string | undefined)[] = [];
    const http = {
      timeout: SDK_TIMEOUT_MS,
      fetch: options.fetch ?? getProviderFetch(),
      ...(options.headers ? { headers: options.headers } : {}),
    };
    if (options.kind === "gemini") {
      secrets.push(options.apiKey);
      this.unavailableReason = options.apiKey ? undefined : "GEMINI_API_KEY is not set";
      if (options.apiKey) {
        // Every value explicitly: the SDK would otherwise read GOOGLE_API_KEY, GOOGLE_GEMINI_BASE_URL, GOOGLE_GENAI_*.
        this.client = new GoogleGenAI({
          vertexai: false,
          apiKey: options.apiKey,
          apiVersion: "v1beta",
          httpOptions: { baseUrl: options.baseUrl ?? "https://generativelanguage.googleapis.com/", ...http },
        });
      }
    } else {
      let credentials = options.credentials;
      let reason: string | undefined = options.project ? undefined : "GOOGLE_CLOUD_PROJECT is not set (Vertex AI needs a project)";
      if (!reason && !credentials && options.credentialsFile) {
        try {
          credentials = JSON.parse(readFileSync(options.credentialsFile, "utf8")) as Record<string, unknown>;
        } catch (error) {
          reason = `GOOGLE_APPLICATION_CREDENTIALS (${options.credentialsFile}) is not a readable JSON key file: ${(error as Error).message.split("\n")[0]}`;
        }
      }
      if (credentials && typeof credentials.private_key === "string")
        secrets.push(credentials.private_key, String(credentials.private_key_id ?? ""));
      this.unavailableReason = reason;
      if (!reason) {
        const location = options.location ?? "global";
        this.client = new GoogleGenAI({
          vertexai: true,
          project: options.project,
          location,
          apiVersion: "v1beta1",
          googleAuthOptions: googleAuthOptions(credentials),
          httpOptions: {
            baseUrl:
              options.baseUrl ??
              (location === "global" ? "https://aiplatform.googleapis.com/" : `https://${location}-aiplatform.googleapis.com/`),
            ...http,
          },
        });
      }
    }
    this.ctx = { providerId: this.id, providerName: this.name, secrets };
  }

  status(): ProviderStatus {
    return this.unavailableReason === undefined ? { available: true } : { available: false, reason: this.unavailableReason };
  }

  private requireClient(): GoogleGenAI {
    if (!this.client) throw unavailable(this.unavailableReason ?? `${this.name} is unavailable`);
    return this.client;
  }

  private params(request: GenerateRequest, signal: AbortSignal | undefined) {
    const { contents, systemInstruction } = toGeminiContents(request.messages);
    const config: GenerateContentConfig = {
      ...(systemInstruction ? { systemInstruction } : {}),
      ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
      ...(request.topP !== undefined ? { topP: request.topP } : {}),
      ...(request.maxTokens !== undefined ? { maxOutputTokens: request.maxTokens } : {}),
      ...(request.stop?.length ? { stopSequences: request.stop } : {}),
      ...(signal ? { abortSignal: signal } : {}),
    };
    if (request.tools?.length) {
      config.tools = [
        {
          functionDeclarations: request.tools.map((t) => ({
            name: t.name,
            ...(t.description !== undefined ? { description: t.description } : {}),
            parametersJsonSchema: t.parameters,
          })),
        },
      ];
      const choice = request.toolChoice;
      if (choice !== undefined) {
        config.toolConfig = {
          functionCallingConfig:
            choice === "none"
              ? { mode: FunctionCallingConfigMode.NONE }
              : choice === "auto"
                ? { mode: FunctionCallingConfigMode.AUTO }
                : choice === "required"
                  ? { mode: FunctionCallingConfigMode.ANY }
                  : { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: [choice.name] },
        };
      }
    }
    const f = request.responseFormat;
    if (f && f.type !== "text") {
      config.responseMimeType = "application/json";
      if (f.type === "json_schema") config.responseJsonSchema = f.schema;
    }
    return { model: modelNameAtProvider(request, (m) => googleModelId(m, this.options.models)), contents, config };
  }

  async generateText(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult> {
    const client = this.requireClient();
    try {
      const response = await client.models.generateContent(this.params(request, options?.signal));
      const { text, toolCalls } = readParts(response, 0);
      const candidate = response.candidates?.[0];
      return {
        ...(response.responseId ? { id: response.responseId } : {}),
        text,
        ...(toolCalls.length ? { toolCalls } : {}),
        finishReason: mapGeminiFinishReason(candidate?.finishReason, toolCalls.length > 0),
        usage: convertGeminiUsage(response.usageMetadata) ?? { ...ZERO_USAGE },
        model: request.model,
      };
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  async *streamText(request: GenerateRequest, options?: CallOptions): AsyncGenerator<StreamPart, void, undefined> {
    const client = this.requireClient();
    const signal = options?.signal;
    let finishReason: string | undefined;
    let usage: TokenUsage | undefined;
    let id: string | undefined;
    let calls = 0;
    try {
      const stream = await client.models.generateContentStream(this.params(request, signal));
      for await (const chunk of stream) {
        if (signal?.aborted) break;
        id ??= chunk.responseId;
        // Each chunk carries the usage so far; the last one is the total.
        if (chunk.usageMetadata) usage = convertGeminiUsage(chunk.usageMetadata);
        const { text, toolCalls } = readParts(chunk, calls);
        if (text) yield { type: "text-delta", text };
        // Gemini sends each function call whole, in one chunk.
        for (const call of toolCalls) {
          yield { type: "tool-call-delta", index: calls++, id: call.id, name: call.name, argumentsDelta: call.arguments };
        }
        const reason = chunk.candidates?.[0]?.finishReason;
        if (reason) finishReason = reason;
      }
    } catch (error) {
      throw this.convertError(error, signal);
    }
    if (signal?.aborted) throw abortError(this.ctx, signal);
    if (finishReason === undefined)
      throw recordFailure(this.ctx, new ProviderError(`${this.name} ended the stream before it finished`, "connection", undefined, true));
    yield { type: "finish", finishReason: mapGeminiFinishReason(finishReason, calls > 0), usage, id, model: request.model };
  }

  async generateEmbeddings(request: EmbedRequest, options?: CallOptions): Promise<EmbedResult> {
    const client = this.requireClient();
    const model = modelNameAtProvider(request, (m) => googleModelId(m, this.options.models));
    // Vertex: text-embedding-* take up to 250 instances per predict; the gemini-embedding models one text per call.
    const perCall = !this.vertex ? GEMINI_MAX_EMBEDDINGS_PER_CALL : model.includes("gemini") ? 1 : VERTEX_PREDICT_MAX_INSTANCES;
    const batches: string[][] = [];
    for (let i = 0; i < request.texts.length; i += perCall) batches.push(request.texts.slice(i, i + perCall));
    const results: { embeddings: number[][]; tokens: number }[] = new Array(batches.length);
    const siblings = new AbortController();
    const signal = options?.signal ? AbortSignal.any([options.signal, siblings.signal]) : siblings.signal;
    let next = 0;
    const worker = async () => {
      while (next < batches.length && !signal.aborted) {
        const index = next++;
        const texts = batches[index]!;
        const response = await client.models.embedContent({
          model,
          contents: texts,
          config: { abortSignal: signal, ...(request.dimensions !== undefined ? { outputDimensionality: request.dimensions } : {}) },
        });
        const embeddings = (response.embeddings ?? []).map((e) => e.values ?? []);
        if (embeddings.length !== texts.length) {
          throw new ProviderError(
            `${this.name} returned ${embeddings.length} embeddings for ${texts.length} texts`,
            "server",
            undefined,
            true,
          );
        }
        const meta = (response as { usageMetadata?: { promptTokenCount?: number } }).usageMetadata;
        const tokens = meta?.promptTokenCount ?? (response.embeddings ?? []).reduce((n, e) => n + (e.statistics?.tokenCount ?? 0), 0);
        results[index] = { embeddings, tokens };
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(EMBEDDING_CONCURRENCY, batches.length) }, worker));
    } catch (error) {
      siblings.abort();
      throw this.convertError(error, options?.signal);
    }
    return {
      embeddings: results.flatMap((r) => r.embeddings),
      usage: { inputTokens: results.reduce((n, r) => n + r.tokens, 0) },
      model: request.model,
    };
  }

  async listModels(): Promise<ProviderModel[]> {
    return [];
  }

  /**
   * The connection test: one model of the SDK's models.list (free, no generation). The Gemini API
   * lists its models (GET /v1beta/models?pageSize=1, checking the key); Vertex AI lists Google's
   * publisher models (GET /v1beta1/publishers/google/models?pageSize=1), which checks the
   * credentials (the service account's signed token) and the endpoint, not the project's permissions.
   */
  async testConnection(options?: CallOptions): Promise<void> {
    const client = this.requireClient();
    try {
      await client.models.list({ config: { pageSize: 1, ...(options?.signal ? { abortSignal: options.signal } : {}) } });
    } catch (error) {
      throw this.convertError(error, options?.signal);
    }
  }

  /** Any SDK failure as a ProviderError (or the caller's own abort reason), kept as the provider's last error. */
  convertError(error: unknown, signal: AbortSignal | undefined): unknown {
    return recordFailure(this.ctx, this.toProviderError(error, signal));
  }

  private toProviderError(error: unknown, signal: AbortSignal | undefined): unknown {
    if (error instanceof ProviderError) return error;
    if (signal?.aborted) return abortError(this.ctx, signal);
    if (error instanceof ApiError) return this.fromApiError(error);
    const e = error as { name?: string; message?: string };
    if (e?.name === "TimeoutError") return fromConnectionError(this.ctx, error, true);
    if (e?.name === "AbortError") return new DOMException("This operation was aborted", "AbortError");
    if (error instanceof SyntaxError || /exception parsing stream chunk|Incomplete JSON segment/.test(e?.message ?? ""))
      return malformedResponse(this.ctx);
    if (/Could not load the default credentials|Unable to detect a Project Id|private key|PEM/i.test(e?.message ?? "")) {
      return new ProviderError(
        scrubSecrets(
          `${this.name} has no usable Google credentials (set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file)`,
          this.ctx.secrets,
        ),
        "unavailable",
        undefined,
        false,
      );
    }
    if (isBrokenBody(error) || error instanceof TypeError) return fromConnectionError(this.ctx, error);
    return error;
  }

  private fromApiError(error: ApiError): ProviderError {
    // The SDK's message is the JSON of Google's error body (after "got status: X. " for a stream error).
    const text = error.message.replace(/^got status: [^.]*\. /, "");
    let body: {
      error?: { message?: string; status?: string; details?: Array<{ reason?: string; retryDelay?: string; "@type"?: string }> };
    } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = { error: { message: text } };
    }
    const details = body.error?.details ?? [];
    if (details.some((d) => d.reason === "API_KEY_INVALID")) {
      // Google answers a wrong key 400; it is an auth failure.
      return new ProviderError(`${this.name} rejected the API key (400 API_KEY_INVALID)`, "auth", 400, false);
    }
    const headers = new Headers();
    const delay = details.find((d) => typeof d.retryDelay === "string")?.retryDelay;
    if (delay && /^\d+(\.\d+)?s$/.test(delay)) headers.set("retry-after", delay.slice(0, -1));
    if (error.status === 429 && details.some((d) => d["@type"]?.endsWith("QuotaFailure")) && !delay) {
      return new ProviderError(
        scrubSecrets(`${this.name} 429: ${body.error?.message ?? "quota exhausted"}`, this.ctx.secrets),
        "rate_limited",
        429,
        false,
      );
    }
    return fromHttpError(this.ctx, error.status, body, headers);
  }
}

/**
 * How Vertex calls are authorised. A service-account key signs its own JWT for the cloud-platform
 * scope (as Google's own client libraries do): no call to the token endpoint, nothing to refresh.
 * Other key files (authorized_user, external_account) and no key at all (gcloud's ADC, the
 * metadata server) go through google-auth-library's usual token exchange.
 */
function googleAuthOptions(credentials: Record<string, unknown> | undefined): GoogleAuthOptions {
  if (
    credentials?.type === "service_account" &&
    typeof credentials.client_email === "string" &&
    typeof credentials.private_key === "string"
  ) {
    const jwt = new JWT({
      email: credentials.client_email,
      key: credentials.private_key,
      keyId: typeof credentials.private_key_id === "string" ? credentials.private_key_id : undefined,
      scopes: [CLOUD_PLATFORM_SCOPE],
    });
    jwt.useJWTAccessWithScope = true;
    return { authClient: jwt, scopes: [CLOUD_PLATFORM_SCOPE] };
  }
  return { scopes: [CLOUD_PLATFORM_SCOPE], ...(credentials ? { credentials: credentials as GoogleAuthOptions["credentials"] } : {}) };
}

/** The text (thoughts left out) and function calls of a response's first candidate. */
function readParts(
  response: GenerateContentResponse,
  firstIndex: number,
): { text: string; toolCalls: { id: string; name: string; arguments: string }[] } {
  let text = "";
  const toolCalls: { id: string; name: string; arguments: string }[] = [];
  for (const part of response.candidates?.[0]?.content?.parts ?? []) {
    if (typeof part.text === "string" && !part.thought) text += part.text;
    if (part.functionCall) {
      const n = firstIndex + toolCalls.length;
      toolCalls.push({
        id: part.functionCall.id ?? `call_${n}`,
        name: part.functionCall.name ?? "",
        arguments: JSON.stringify(part.functionCall.args ?? {}),
      });
    }
  }
  return { text, toolCalls };
}

export function createGeminiProvider(options: Omit<Extract<GoogleProviderOptions, { kind: "gemini" }>, "kind">): GoogleProvider {
  return new GoogleProvider({ ...options, kind: "gemini" });
}

export function createVertexProvider(options: Omit<Extract<GoogleProviderOptions, { kind: "vertex" }>, "kind">): GoogleProvider {
  return new GoogleProvider({ ...options, kind: "vertex" });
}
