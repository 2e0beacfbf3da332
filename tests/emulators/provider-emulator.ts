// A local stand-in for OpenAI and Anthropic that speaks their wire protocols faithfully enough for
// the official SDKs: plain and streamed chat, embeddings (float and base64), model lists, their
// error shapes and headers. Output is deterministic, so tests can assert exact text and usage.
// Start it from a test with `startProviderEmulator()`, or by hand with `npm run emulator`.
// Azure OpenAI, AWS Bedrock, the Gemini API and Vertex AI are served on the same port by the
// routes of cloud-emulators.ts (their paths, auth and error shapes are described there).
//
// Routes
//   POST /v1/chat/completions   OpenAI chat; `stream: true` sends `data: {...}` chunks and `data: [DONE]`;
//                               `stream_options.include_usage` adds a last chunk with `choices: []` and usage
//   POST /v1/embeddings         OpenAI embeddings; `encoding_format: "base64"` (little-endian float32) or floats;
//                               honours `dimensions` (text-embedding-3-*), at most `maxEmbeddingInputs` inputs;
//                               text-embedding-* refuse an input over 8,192 tokens and a request over 300,000 (cl100k_base), as OpenAI does
//   POST /v1/messages           Anthropic messages; streamed as message_start, content_block_start, ping,
//                               content_block_delta..., content_block_stop, message_delta, message_stop
//   GET  /v1/models             OpenAI's list, or Anthropic's when the request carries `anthropic-version` (paged by `limit`)
// Auth: OpenAI `Authorization: Bearer <key>`; Anthropic `x-api-key` or `Authorization: Bearer` (SDK 1.x
// sends the latter), checked against the keys given at start (`null`: no check, like a local Ollama).
//
// Deterministic behaviour
//   Tokens are whitespace-separated words (`countTokens`). Input tokens: the words of every message
//   (and Anthropic's system). The reply is "You said: <words of the last user message>" (or "You said
//   nothing."), cut at the first stop sequence (finish "stop" / stop_reason "stop_sequence") and at
//   max tokens (finish "length" / "max_tokens"). A stream sends one chunk per word.
//   Embeddings: `emulatorEmbedding(text, model, dimensions)`, a unit vector seeded by the text.
//
// Directives: what a request asks of the emulator, written `[[emulator key=value flag ...]]` anywhere
// in the last user message (removed before the reply is made), or as the same list in the header
// `x-emulator: key=value ...` (for embeddings and raw HTTP), or for every request to this emulator
// with `emulator.setDirectives("fault=server_error")` (a deployment that starts failing; the
// header and the message win over it; `reset()` clears it). Keys:
//   fault=rate_limit [retry_after=S] [retry_after_ms=MS]  429 in the provider's shape with Retry-After (default 1 s)
//   fault=quota                 OpenAI 429 insufficient_quota (no retry helps)
//   fault=spend_limit [limit=contract]  Anthropic 429 rate_limit_error for a spend cap (enforced_spend_limit_reached,
//                               contract_spend_limit_reached in error.details): no retry helps
//   fault=server_error          500
//   fault=overloaded            Anthropic 529 overloaded_error (OpenAI: 503)
//   fault=unauthorized          401 as for a wrong key
//   fault=malformed             200 with a JSON body cut short (a stream: one broken data line)
//   fault=cut [after=N]         destroy the socket after N text chunks (plain: halfway through the body)
//   fault=stream_error [after=N] an error event in the provider's shape after N text chunks
//   fault=end_early [after=N]   end the stream cleanly after N text chunks, without its finish events
//   fail_first=N [status=500|429|529] [key=K]  fail the first N attempts, then succeed; attempts are
//                               counted per `x-emulator-request-id` header, else per key=K, else per
//                               identical request body (so an adapter's retries count together)
//   delay=MS                    slow first byte: wait before answering anything
//   chunk_delay=MS              pause between stream chunks
//   cached=N                    N cached input tokens (OpenAI cached_tokens; Anthropic cache_read_input_tokens)
//   cache_write=N               Anthropic cache_creation_input_tokens (5-minute writes)
//                               Without these, Anthropic's counts follow the request's cache_control breakpoints
//                               (promptCacheUse: prefixes of at least 1,024 tokens written, then read while kept)
//   cache_write_1h=N            Anthropic 1-hour cache writes (cache_creation.ephemeral_1h_input_tokens, in the total too)
//   tier=priority               Anthropic serves the call at Priority Tier (usage.service_tier), unless the request says
//                               service_tier "standard_only"; OpenAI's tier is the request's service_tier
//                               (priority, flex, scale; else "default"), an unknown one refused with 400 as OpenAI does
// OpenAI chat honours n (n identical choices, completion tokens counted per choice), logprobs and
// top_logprobs (each reply word with logprob 0), and refuses reasoning_effort on models other than
// o-series and GPT-5, top_logprobs without logprobs, and an n outside 1..128, as OpenAI does.
//   audio=N                     N audio input tokens (OpenAI prompt_tokens_details.audio_tokens; Gemini promptTokensDetails)
//   reasoning=N                 N reasoning tokens (OpenAI reasoning_tokens; Anthropic thinking_tokens),
//                               counted in the output tokens as the providers do
//   words=N                     reply with N fixed words instead of the echo
//   delta_usage=full            Anthropic message_delta repeats the input counts (as the API may)
//   tool=NAME[,NAME...] [args=JSON]  call these tools (which the request must offer in `tools`, else
//                               400) with the JSON object `args` (default {}; no spaces or `]` in it);
//                               `words=N` adds N words of text before the calls. Ignored once the
//                               conversation ends with tool results, and under tool_choice "none".
//
// Tools and formats
//   A tool_choice that forces a tool (OpenAI {type:"function"} or "required"; Anthropic {type:"tool"}
//   or {type:"any"}) calls that tool (the first one for "required"/"any") with `args`, as a model must.
//   Tool calls answer with finish_reason "tool_calls" / stop_reason "tool_use": OpenAI `tool_calls`
//   (streamed as deltas: id and name first, then the arguments in pieces of 8 characters), Anthropic
//   tool_use blocks (streamed as content_block_start with the id and name, then input_json_delta).
//   Each call counts the words of "<name> <arguments JSON>" as output tokens.
//   A conversation that ends with tool results (OpenAI `tool` messages, Anthropic tool_result blocks)
//   is answered "Tool <call id> returned: <result>" for each result, so tests can see the mapping.
//   response_format json_object / json_schema (OpenAI) and output_config.format (Anthropic) make the
//   reply a JSON object: for a schema with properties, each property filled from the reply (strings
//   get the text, numbers its word count, booleans true); otherwise {"reply": <text>}.
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { countTokens as countCl100k } from "gpt-tokenizer/encoding/cl100k_base";
import {
  cloudProtocolOf,
  createCloudRoutes,
  type CloudCredentials,
  type CloudEmulatorOptions,
  type CloudProtocol,
} from "./cloud-emulators.ts";

export * from "./emulator-wire.ts";
import {
  DEFAULT_DIMENSIONS,
  countTokens,
  emulatorEmbedding,
  toBase64Float32,
  type Directives,
  parseDirectiveList,
  stripDirectives,
  num,
  makeReply,
  type ToolResult,
  planToolCalls,
  toolCallTokens,
  argumentPieces,
  chunksOf,
  id,
  sleep,
  type Exchange,
  send,
  startSse,
  type ErrorReply,
  sendError,
  faultOfStatus,
  retryAfterHeaders,
  delayIfAsked,
  sendPlain,
  streamChunks,
} from "./emulator-wire.ts";

export const EMULATOR_OPENAI_KEY = "sk-emulator-openai-0123456789";
export const EMULATOR_ANTHROPIC_KEY = "sk-ant-emulator-0123456789";

export type EmulatorOptions = {
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  /** The OpenAI key to accept; null: accept requests without one. */
  openaiKey?: string | null;
  anthropicKey?: string | null;
  /** When given, other models answer 404 model_not_found; otherwise every model exists. */
  models?: string[];
  /** OpenAI's limit of inputs per embeddings request (2048). */
  maxEmbeddingInputs?: number;
  /** Requests kept in `requests` (oldest dropped); 0 keeps none (benchmarks). */
  maxLogEntries?: number;
} & CloudEmulatorOptions;

/** Which vendor's wire protocol a request spoke (cloud ones: see cloud-emulators.ts). */
export type EmulatorProtocol = "openai" | "anthropic" | CloudProtocol;

export type EmulatorRequest = {
  seq: number;
  /** When its body had arrived (performance.now() of the emulator's process). */
  receivedAt: number;
  protocol: EmulatorProtocol;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  status?: number;
  stream: boolean;
  /** The client closed the connection before the answer was complete. */
  aborted: boolean;
  /** The emulator cut the connection itself (fault=cut). */
  cut: boolean;
  /** The answer was sent completely. */
  completed: boolean;
  /** The client's port: equal for requests that shared a keep-alive connection. */
  remotePort: number | undefined;
};

export type ProviderEmulator = {
  /** http://host:port, Anthropic's base URL. */
  url: string;
  /** url + "/v1", OpenAI's base URL. */
  openaiBaseUrl: string;
  anthropicBaseUrl: string;
  openaiKey: string | null;
  anthropicKey: string | null;
  requests: EmulatorRequest[];
  /** Azure OpenAI, Bedrock, Gemini and Vertex: base URLs and the credentials the emulator accepts. */
  cloud: CloudCredentials;
  /** Resolves with the first logged request that satisfies `predicate` (polls; rejects after timeoutMs). */
  waitFor(predicate: (r: EmulatorRequest) => boolean, timeoutMs?: number): Promise<EmulatorRequest>;
  /** Directives applied to every request from now on (under the header's and the message's); "" clears them. */
  setDirectives(list: string): void;
  /** Clears the request log, the fail_first counters and the standing directives. */
  reset(): void;
  close(): Promise<void>;
};

function openaiError(status: number, message: string, type: string, code: string | null = null, param: string | null = null): ErrorReply {
  return { status, body: { error: { message, type, param, code } }, headers: {} };
}

function anthropicError(status: number, type: string, message: string): ErrorReply {
  const requestId = id("req_");
  return { status, body: { type: "error", error: { type, message }, request_id: requestId }, headers: { "request-id": requestId } };
}

function maskKey(key: string): string {
  const head = key.slice(0, key.length > 12 ? 8 : 3);
  return `${head}${"*".repeat(Math.max(4, key.length - head.length - 4))}${key.slice(-4)}`;
}

const OPENAI_NO_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.";

function openaiWrongKey(presented: string): ErrorReply {
  return openaiError(
    401,
    `Incorrect API key provided: ${maskKey(presented)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
    "invalid_request_error",
    "invalid_api_key",
  );
}

function openaiFault(kind: string, directives: Directives, model: string, presentedKey = "sk-none"): ErrorReply | undefined {
  switch (kind) {
    case "unauthorized":
      return openaiWrongKey(presentedKey);
    case "rate_limit": {
      const seconds = num(directives, "retry_after", 1);
      const e = openaiError(
        429,
        `Rate limit reached for ${model} in organization org-emulator on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in ${seconds}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
        "requests",
        "rate_limit_exceeded",
      );
      Object.assign(e.headers, retryAfterHeaders(directives));
      e.headers["x-ratelimit-limit-requests"] = "3";
      e.headers["x-ratelimit-remaining-requests"] = "0";
      return e;
    }
    case "quota":
      return openaiError(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
      );
    case "server_error":
      return openaiError(500, "The server had an error while processing your request. Sorry about that!", "server_error");
    case "overloaded":
      return openaiError(503, "The engine is currently overloaded, please try again later.", "server_error");
    default:
      return undefined;
  }
}

/** Anthropic's 400s for empty content: an empty text block (system, messages), or a message without content. */
function emptyContent(msgs: Array<{ role?: unknown; content?: unknown }>, system: unknown): ErrorReply | undefined {
  const emptyBlock = (c: unknown) =>
    Array.isArray(c) && c.some((b) => (b as { type?: unknown }).type === "text" && (b as { text?: unknown }).text === "");
  if (system === "" || emptyBlock(system))
    return anthropicError(400, "invalid_request_error", "system: text content blocks must be non-empty");
  for (const [i, m] of msgs.entries()) {
    if (emptyBlock(m.content)) return anthropicError(400, "invalid_request_error", `messages.${i}: text content blocks must be non-empty`);
    const empty = m.content === "" || (Array.isArray(m.content) && m.content.length === 0) || m.content === undefined || m.content === null;
    if (empty && !(m.role === "assistant" && i === msgs.length - 1)) {
      return anthropicError(
        400,
        "invalid_request_error",
        `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      );
    }
  }
  return undefined;
}

function anthropicFault(kind: string, directives: Directives): ErrorReply | undefined {
  switch (kind) {
    case "spend_limit": {
      // A spend cap, not a rate: a 429 like a rate limit, which no retry fixes before the cap is raised or the month ends.
      const contract = directives.get("limit") === "contract";
      const e = anthropicError(
        429,
        "rate_limit_error",
        contract
          ? "This request would exceed your organization's contract spend limit. Please contact your account team."
          : "This request would exceed your account's monthly spend limit. Please try again later.",
      );
      (e.body as { error: Record<string, unknown> }).error.details = {
        error_code: contract ? "contract_spend_limit_reached" : "enforced_spend_limit_reached",
      };
      e.headers["retry-after"] = "86400";
      return e;
    }
    case "rate_limit": {
      const e = anthropicError(
        429,
        "rate_limit_error",
        "This request would exceed the rate limit for your organization of 50 requests per minute. Please try again later.",
      );
      e.headers["retry-after"] = retryAfterHeaders(directives)["retry-after"]!;
      e.headers["anthropic-ratelimit-requests-limit"] = "50";
      e.headers["anthropic-ratelimit-requests-remaining"] = "0";
      return e;
    }
    case "server_error":
      return anthropicError(500, "api_error", "Internal server error");
    case "overloaded":
      return anthropicError(529, "overloaded_error", "Overloaded");
    case "quota":
      return anthropicError(
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
      );
    case "unauthorized":
      return anthropicError(401, "authentication_error", "invalid x-api-key");
    default:
      return undefined;
  }
}

function statusFault(protocol: "openai" | "anthropic", status: number, directives: Directives, model: string): ErrorReply {
  const kind = faultOfStatus(status);
  return (protocol === "openai" ? openaiFault(kind, directives, model) : anthropicFault(kind, directives))!;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startProviderEmulator(options: EmulatorOptions = {}): Promise<ProviderEmulator> {
  const openaiKey = options.openaiKey === undefined ? EMULATOR_OPENAI_KEY : options.openaiKey;
  const anthropicKey = options.anthropicKey === undefined ? EMULATOR_ANTHROPIC_KEY : options.anthropicKey;
  const models = options.models ? new Set(options.models) : undefined;
  const maxEmbeddingInputs = options.maxEmbeddingInputs ?? 2048;
  const maxLog = options.maxLogEntries ?? 1000;
  const requests: EmulatorRequest[] = [];
  const attempts = new Map<string, number>();
  /** Anthropic's prompt cache: a breakpoint's prefix (its hash) → its tokens and until when it is kept. */
  const promptCache = new Map<string, { tokens: number; expiresAt: number }>();
  let seq = 0;
  let standing = "";
  // The cloud vendors' routes share the directives, the reply and these helpers.
  const cloud = createCloudRoutes(options, {
    upfrontFault: (x, d, raw, model) => upfrontFault(x, d, raw, model),
    openaiChat: (x, body, d, raw) => chat(x, body, d, raw),
    openaiEmbeddings: (x, body, d, raw) => embeddings(x, body, d, raw),
  });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const path = (req.url ?? "/").split("?")[0]!;
      const protocol: EmulatorProtocol =
        cloudProtocolOf(path) ??
        (path === "/v1/messages" || (path === "/v1/models" && req.headers["anthropic-version"] !== undefined) ? "anthropic" : "openai");
      let body: unknown = raw;
      let parsed = raw === "";
      if (raw !== "") {
        try {
          body = JSON.parse(raw);
          parsed = true;
        } catch {
          // logged as text; answered 400 below
        }
      }
      const entry: EmulatorRequest = {
        seq: ++seq,
        receivedAt: performance.now(),
        protocol,
        method: req.method ?? "GET",
        path,
        headers: req.headers,
        body,
        stream: false,
        aborted: false,
        cut: false,
        completed: false,
        remotePort: req.socket.remotePort,
      };
      if (maxLog > 0) {
        requests.push(entry);
        if (requests.length > maxLog) requests.shift();
      }
      let closed = false;
      res.on("close", () => {
        closed = true;
        if (res.writableFinished) entry.completed = true;
        else if (!entry.cut) entry.aborted = true;
      });
      const x: Exchange = { req, res, entry, closed: () => closed || res.destroyed };
      handle(x, raw, parsed).catch((error: unknown) => {
        if (!res.headersSent) send(x, 500, { error: { message: String(error), type: "emulator_error", param: null, code: null } });
        else res.destroy();
      });
    });
  });

  async function handle(x: Exchange, raw: string, parsed: boolean): Promise<void> {
    const { entry } = x;
    if (entry.protocol !== "openai" && entry.protocol !== "anthropic") return cloud.handle(x, raw, parsed);
    const route = `${entry.method} ${entry.path}`;
    const known = ["POST /v1/chat/completions", "POST /v1/embeddings", "POST /v1/messages", "GET /v1/models"];
    if (!known.includes(route)) {
      const e =
        entry.protocol === "anthropic"
          ? anthropicError(404, "not_found_error", "Not Found")
          : openaiError(404, `Invalid URL (${route})`, "invalid_request_error");
      return send(x, e.status, e.body, e.headers);
    }

    // Directives: header first, then the last user message (which wins).
    const directives: Directives = new Map();
    if (standing) parseDirectiveList(standing, directives);
    const header = x.req.headers["x-emulator"];
    if (typeof header === "string") parseDirectiveList(header, directives);

    const authFailure = checkAuth(x, directives);
    if (authFailure) {
      await delayIfAsked(x, directives);
      return send(x, authFailure.status, authFailure.body, authFailure.headers);
    }
    if (!parsed) {
      const e =
        entry.protocol === "anthropic"
          ? anthropicError(400, "invalid_request_error", "There was an error parsing the body of your request: not valid JSON")
          : openaiError(
              400,
              "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
              "invalid_request_error",
            );
      return send(x, e.status, e.body, e.headers);
    }

    switch (route) {
      case "GET /v1/models": {
        await delayIfAsked(x, directives);
        const kind = directives.get("fault");
        const e = kind ? (entry.protocol === "openai" ? openaiFault(kind, directives, "") : anthropicFault(kind, directives)) : undefined;
        if (e) return send(x, e.status, e.body, e.headers);
        return listModels(x);
      }
      case "POST /v1/embeddings":
        return embeddings(x, entry.body as Record<string, unknown>, directives, raw);
      case "POST /v1/chat/completions":
        return chat(x, entry.body as Record<string, unknown>, directives, raw);
      default:
        return messages(x, entry.body as Record<string, unknown>, directives, raw);
    }
  }

  function checkAuth(x: Exchange, directives: Directives): ErrorReply | undefined {
    const h = x.req.headers;
    const bearer = typeof h.authorization === "string" && /^Bearer /i.test(h.authorization) ? h.authorization.slice(7).trim() : undefined;
    if (x.entry.protocol === "openai") {
      if (openaiKey !== null) {
        if (bearer === undefined) return openaiError(401, OPENAI_NO_KEY, "invalid_request_error");
        if (bearer !== openaiKey) return openaiWrongKey(bearer);
      }
      return directives.get("fault") === "unauthorized" ? openaiWrongKey(bearer ?? "sk-none") : undefined;
    }
    // The API reads x-api-key first, then a bearer token.
    const key = typeof h["x-api-key"] === "string" ? h["x-api-key"] : bearer;
    if (anthropicKey !== null) {
      if (key === undefined) return anthropicError(401, "authentication_error", "x-api-key header is required");
      if (key !== anthropicKey) return anthropicError(401, "authentication_error", "invalid x-api-key");
    }
    if (directives.get("fault") === "unauthorized") return anthropicError(401, "authentication_error", "invalid x-api-key");
    if (typeof h["anthropic-version"] !== "string") {
      return anthropicError(400, "invalid_request_error", "anthropic-version: header is required");
    }
    return undefined;
  }

  /** Faults that answer with an error before any output: fail_first, then fault=... */
  function upfrontFault(x: Exchange, directives: Directives, raw: string, model: string): ErrorReply | undefined {
    const protocol = x.entry.protocol;
    const failFirst = num(directives, "fail_first", 0);
    if (failFirst > 0) {
      const header = x.req.headers["x-emulator-request-id"];
      const key =
        typeof header === "string"
          ? `h:${header}`
          : directives.has("key")
            ? `k:${directives.get("key")}`
            : `b:${createHash("sha1").update(`${x.entry.path}\0${raw}`).digest("hex")}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      if (n <= failFirst) {
        const status = num(directives, "status", 500);
        return protocol === "openai" || protocol === "anthropic"
          ? statusFault(protocol, status, directives, model)
          : cloud.statusFault(protocol, status, directives, model);
      }
    }
    const fault = directives.get("fault");
    if (!fault) return undefined;
    if (protocol === "anthropic") return anthropicFault(fault, directives);
    if (protocol !== "openai") return cloud.fault(protocol, fault, directives, model);
    const auth = x.req.headers.authorization;
    return openaiFault(fault, directives, model, typeof auth === "string" ? auth.replace(/^Bearer\s+/i, "") : undefined);
  }

  function unknownModel(x: Exchange, model: string): ErrorReply | undefined {
    if (!models || models.has(model)) return undefined;
    return x.entry.protocol === "openai"
      ? openaiError(
          404,
          `The model \`${model}\` does not exist or you do not have access to it.`,
          "invalid_request_error",
          "model_not_found",
        )
      : anthropicError(404, "not_found_error", `model: ${model}`);
  }

  function listModels(x: Exchange): void {
    const ids = options.models ?? [
      "gpt-4o",
      "gpt-4o-mini",
      "text-embedding-3-small",
      "text-embedding-3-large",
      "claude-sonnet-4-6",
      "claude-haiku-4-5",
    ];
    if (x.entry.protocol === "anthropic") {
      // `limit` (1 to 1000, default 20) pages the list, as Anthropic's GET /v1/models does.
      const limitText = new URL(x.req.url ?? "/", "http://e").searchParams.get("limit");
      const limit = limitText === null ? 20 : Number(limitText);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        const e = anthropicError(400, "invalid_request_error", "limit: Input should be less than or equal to 1000");
        return send(x, e.status, e.body, e.headers);
      }
      const all = ids
        .filter((m) => m.startsWith("claude"))
        .map((m) => ({ type: "model", id: m, display_name: m, created_at: "2025-01-01T00:00:00Z" }));
      const data = all.slice(0, limit);
      return send(
        x,
        200,
        { data, has_more: all.length > data.length, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null },
        { "request-id": id("req_") },
      );
    }
    const data = ids
      .filter((m) => !m.startsWith("claude"))
      .map((m) => ({ id: m, object: "model", created: 1700000000, owned_by: "emulator" }));
    send(x, 200, { object: "list", data }, { "x-request-id": id("req_") });
  }

  // -------------------------------------------------------------------------------------------
  // OpenAI chat completions

  async function chat(x: Exchange, body: Record<string, unknown>, fromHeader: Directives, raw: string): Promise<void> {
    const directives = new Map(fromHeader);
    const model = typeof body.model === "string" ? body.model : "";
    const msgs = Array.isArray(body.messages) ? (body.messages as Array<{ role?: unknown; content?: unknown }>) : undefined;
    let invalid: ErrorReply | undefined;
    if (!model) invalid = openaiError(400, "you must provide a model parameter", "invalid_request_error");
    else if (!msgs)
      invalid = openaiError(
        400,
        "Missing required parameter: 'messages'.",
        "invalid_request_error",
        "missing_required_parameter",
        "messages",
      );
    else if (msgs.length === 0)
      invalid = openaiError(400, "[] is too short - 'messages'", "invalid_request_error", "empty_array", "messages");
    else if (body.max_tokens !== undefined && /^o\d/.test(model)) {
      invalid = openaiError(
        400,
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        "invalid_request_error",
        "unsupported_parameter",
        "max_tokens",
      );
    } else if (/^(o\d|gpt-5(?!-chat))/.test(model) && ["temperature", "top_p"].some((k) => body[k] !== undefined && body[k] !== 1)) {
      // OpenAI's reasoning models take only the default sampling.
      const k = ["temperature", "top_p"].find((f) => body[f] !== undefined && body[f] !== 1)!;
      invalid = openaiError(
        400,
        `Unsupported value: '${k}' does not support ${String(body[k])} with this model. Only the default (1) value is supported.`,
        "invalid_request_error",
        "unsupported_value",
        k,
      );
    } else if (
      body.n !== undefined &&
      body.n !== null &&
      (!Number.isInteger(body.n) || (body.n as number) < 1 || (body.n as number) > 128)
    ) {
      invalid = openaiError(
        400,
        `Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${String(body.n)} instead.`,
        "invalid_request_error",
        "integer_below_min_value",
        "n",
      );
    } else if (body.reasoning_effort !== undefined && !/^(o\d|gpt-5)/.test(model)) {
      invalid = openaiError(
        400,
        "Unrecognized request argument supplied: reasoning_effort",
        "invalid_request_error",
        null,
        "reasoning_effort",
      );
    } else if (body.top_logprobs !== undefined && body.logprobs !== true) {
      invalid = openaiError(
        400,
        "logprobs must be set to true if top_logprobs is specified.",
        "invalid_request_error",
        null,
        "top_logprobs",
      );
    } else if (body.service_tier !== undefined && !["auto", "default", "flex", "priority", "scale"].includes(String(body.service_tier))) {
      invalid = openaiError(
        400,
        `Invalid value: '${String(body.service_tier)}'. Supported values are: 'auto', 'default', 'flex', 'scale', and 'priority'.`,
        "invalid_request_error",
        "invalid_value",
        "service_tier",
      );
    } else if (body.stream_options !== undefined && body.stream !== true) {
      invalid = openaiError(
        400,
        "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        "invalid_request_error",
        null,
        "stream_options",
      );
    }
    invalid ??= unknownModel(x, model);
    if (invalid) return sendError(x, invalid);

    let inputTokens = 0;
    let lastUser = "";
    for (const m of msgs!) {
      const text = stripDirectives(contentText(m.content), new Map());
      inputTokens += countTokens(text);
      if (m.role === "user") lastUser = contentText(m.content);
    }
    lastUser = stripDirectives(lastUser, directives);
    // Tool results that end the conversation (the trailing `tool` messages).
    const toolResults: ToolResult[] = [];
    for (let i = msgs!.length - 1; i >= 0 && msgs![i]!.role === "tool"; i--) {
      const m = msgs![i] as { tool_call_id?: unknown; content?: unknown };
      toolResults.unshift({ id: String(m.tool_call_id ?? ""), content: contentText(m.content) });
    }
    const tools = Array.isArray(body.tools)
      ? (body.tools as Array<{ function?: { name?: unknown } }>).map((t) => String(t.function?.name ?? ""))
      : [];
    const choice = body.tool_choice as { type?: unknown; function?: { name?: unknown } } | string | undefined;
    const forced =
      choice === "required"
        ? tools[0]
        : typeof choice === "object" && choice?.type === "function"
          ? String(choice.function?.name ?? "")
          : undefined;
    const planned = planToolCalls(directives, tools, forced, choice === "none", toolResults.length > 0, "call_");
    if (typeof planned === "string") return sendError(x, openaiError(400, planned, "invalid_request_error", null, "tools"));
    const format = body.response_format as { type?: unknown; json_schema?: { schema?: unknown } } | undefined;
    const json = format?.type === "json_object" || format?.type === "json_schema" ? { schema: format.json_schema?.schema } : undefined;
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const fault = upfrontFault(x, directives, raw, model);
    if (fault) return sendError(x, fault);

    const stop = typeof body.stop === "string" ? [body.stop] : Array.isArray(body.stop) ? (body.stop as string[]) : [];
    const maxTokens = numberOr(body.max_completion_tokens, numberOr(body.max_tokens, undefined));
    const reasoning = num(directives, "reasoning", 0);
    const reply = makeReply(lastUser, directives, stop, maxTokens, { toolResults, json, toolCalls: planned });
    const callTokens = toolCallTokens(planned);
    const finish = planned.length ? "tool_calls" : reply.finish;
    const cached = Math.min(num(directives, "cached", 0), inputTokens);
    const audio = Math.min(num(directives, "audio", 0), inputTokens - cached);
    // The tier that served the call, as OpenAI answers it: the one asked for ("auto" and none: "default").
    const serviceTier =
      body.service_tier === "priority" || body.service_tier === "flex" || body.service_tier === "scale" ? body.service_tier : "default";
    // n choices (each the same deterministic reply): completion tokens count every choice once, as OpenAI's do.
    const n = typeof body.n === "number" ? body.n : 1;
    // logprobs: each word of the reply with logprob 0 (it is certain), and top_logprobs alternatives.
    const topN = typeof body.top_logprobs === "number" ? body.top_logprobs : 0;
    const logprobsOf = (text: string) =>
      body.logprobs === true
        ? {
            content: chunksOf(text).map((token) => ({
              token,
              logprob: 0,
              bytes: [...Buffer.from(token)],
              top_logprobs: Array.from({ length: topN }, (_, k) => ({ token: k === 0 ? token : `${token}${k}`, logprob: -k, bytes: null })),
            })),
            refusal: null,
          }
        : null;
    const usage = {
      prompt_tokens: inputTokens,
      completion_tokens: (reply.tokens + callTokens + reasoning) * n,
      total_tokens: inputTokens + (reply.tokens + callTokens + reasoning) * n,
      prompt_tokens_details: { cached_tokens: cached, audio_tokens: audio },
      completion_tokens_details: {
        reasoning_tokens: reasoning * n,
        audio_tokens: 0,
        accepted_prediction_tokens: 0,
        rejected_prediction_tokens: 0,
      },
    };
    const completionId = id("chatcmpl-");
    const created = Math.floor(Date.now() / 1000);
    const headers = { "x-request-id": id("req_"), "openai-processing-ms": "1", "openai-version": "2020-10-01" };
    const fp = "fp_emulator";
    const faultKind = directives.get("fault");

    if (body.stream !== true) {
      const response = {
        id: completionId,
        object: "chat.completion",
        created,
        model,
        choices: Array.from({ length: n }, (_, index) => ({
          index,
          message: {
            role: "assistant",
            content: planned.length && !reply.text ? null : reply.text,
            refusal: null,
            ...(planned.length
              ? { tool_calls: planned.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.args } })) }
              : {}),
            annotations: [],
          },
          logprobs: logprobsOf(reply.text),
          finish_reason: finish,
        })),
        usage,
        service_tier: serviceTier,
        system_fingerprint: fp,
      };
      return sendPlain(x, response, headers, faultKind);
    }

    const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
    const base = { id: completionId, object: "chat.completion.chunk", created, model, service_tier: serviceTier, system_fingerprint: fp };
    const withUsage = (o: Record<string, unknown>) => (includeUsage ? { ...o, usage: null } : o);
    startSse(x, headers);
    const write = (data: unknown) => !x.closed() && x.res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
    const indexes = Array.from({ length: n }, (_, i) => i);
    for (const index of indexes) {
      write(
        withUsage({
          ...base,
          choices: [{ index, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null }],
        }),
      );
    }
    const ok = await streamChunks(
      x,
      directives,
      chunksOf(reply.text),
      (text) => {
        for (const index of indexes)
          write(withUsage({ ...base, choices: [{ index, delta: { content: text }, logprobs: logprobsOf(text), finish_reason: null }] }));
      },
      () =>
        write({
          error: {
            message: "The server had an error while processing your request. Sorry about that!",
            type: "server_error",
            param: null,
            code: null,
          },
        }),
      () => x.res.write(`data: {"id":"${completionId}","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":\n\n`),
    );
    if (!ok) return;
    for (const [index, call] of planned.entries()) {
      const delta = (tc: Record<string, unknown>) =>
        withUsage({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index, ...tc }] }, logprobs: null, finish_reason: null }] });
      write(delta({ id: call.id, type: "function", function: { name: call.name, arguments: "" } }));
      for (const piece of argumentPieces(call.args)) write(delta({ function: { arguments: piece } }));
    }
    for (const index of indexes) write(withUsage({ ...base, choices: [{ index, delta: {}, logprobs: null, finish_reason: finish }] }));
    if (includeUsage) write({ ...base, choices: [], usage });
    write("[DONE]");
    if (!x.closed()) x.res.end();
  }

  // -------------------------------------------------------------------------------------------
  // OpenAI embeddings

  async function embeddings(x: Exchange, body: Record<string, unknown>, fromHeader: Directives, raw: string): Promise<void> {
    const directives = new Map(fromHeader);
    const model = typeof body.model === "string" ? body.model : "";
    const input = body.input;
    const texts: string[] | undefined =
      typeof input === "string"
        ? [input]
        : Array.isArray(input) && input.every((t) => typeof t === "string")
          ? (input as string[])
          : Array.isArray(input) && input.every((t) => Array.isArray(t) || typeof t === "number")
            ? (input.every((t) => typeof t === "number") ? [input] : input).map((t) => (t as number[]).map(() => "tok").join(" "))
            : undefined;
    const dimensions = body.dimensions;
    let invalid: ErrorReply | undefined;
    if (!model) invalid = openaiError(400, "you must provide a model parameter", "invalid_request_error");
    else if (!texts || texts.length === 0 || texts.some((t) => t === "")) {
      invalid = openaiError(
        400,
        "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
        "invalid_request_error",
      );
    } else if (texts.length > maxEmbeddingInputs) {
      invalid = openaiError(
        400,
        `'$.input' is invalid: at most ${maxEmbeddingInputs} inputs per request, got ${texts.length}.`,
        "invalid_request_error",
        null,
        "input",
      );
    } else if (model.startsWith("text-embedding-")) {
      // OpenAI's token limits on embeddings, counted in the models' encoding: 8,192 per input, 300,000 per request.
      const counts = texts.map((t) => countCl100k(t));
      const over = counts.findIndex((n) => n > 8192);
      const total = counts.reduce((a, b) => a + b, 0);
      if (over >= 0) {
        invalid = openaiError(
          400,
          `This model's maximum context length is 8192 tokens, however you requested ${counts[over]} tokens (${counts[over]} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
          "invalid_request_error",
        );
      } else if (total > 300_000) {
        invalid = openaiError(
          400,
          `Requested ${total} tokens, max 300000 tokens per request`,
          "max_tokens_per_request",
          "max_tokens_per_request",
        );
      }
    }
    if (!invalid && dimensions !== undefined) {
      if (model === "text-embedding-ada-002")
        invalid = openaiError(400, "This model does not support specifying dimensions.", "invalid_request_error", null, "dimensions");
      else if (
        typeof dimensions !== "number" ||
        !Number.isInteger(dimensions) ||
        dimensions < 1 ||
        dimensions > (DEFAULT_DIMENSIONS[model] ?? 1536)
      ) {
        invalid = openaiError(400, `Invalid value for 'dimensions' = ${String(dimensions)}.`, "invalid_request_error", null, "dimensions");
      }
    }
    if (body.encoding_format !== undefined && body.encoding_format !== "float" && body.encoding_format !== "base64") {
      invalid ??= openaiError(
        400,
        "Invalid value for 'encoding_format': must be 'float' or 'base64'.",
        "invalid_request_error",
        null,
        "encoding_format",
      );
    }
    invalid ??= unknownModel(x, model);
    if (invalid) return sendError(x, invalid);
    // Directives may also sit in the texts (the adapters pass no headers); the texts are embedded as sent.
    for (const t of texts!) if (t.includes("[[emulator")) stripDirectives(t, directives);
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const fault = upfrontFault(x, directives, raw, model);
    if (fault) return sendError(x, fault);

    const base64 = body.encoding_format === "base64";
    const data = texts!.map((text, index) => {
      const v = emulatorEmbedding(text, model, dimensions as number | undefined);
      return { object: "embedding", index, embedding: base64 ? toBase64Float32(v) : v };
    });
    const tokens = texts!.reduce((s, t) => s + countTokens(t), 0);
    const response = { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
    sendPlain(x, response, { "x-request-id": id("req_"), "openai-processing-ms": "1" }, directives.get("fault"));
  }

  // -------------------------------------------------------------------------------------------
  // Anthropic messages

  async function messages(x: Exchange, body: Record<string, unknown>, fromHeader: Directives, raw: string): Promise<void> {
    const directives = new Map(fromHeader);
    const model = typeof body.model === "string" ? body.model : "";
    const msgs = Array.isArray(body.messages) ? (body.messages as Array<{ role?: unknown; content?: unknown }>) : undefined;
    const version = x.req.headers["anthropic-version"];
    let invalid: ErrorReply | undefined;
    if (!model) invalid = anthropicError(400, "invalid_request_error", "model: Field required");
    else if (body.max_tokens === undefined) invalid = anthropicError(400, "invalid_request_error", "max_tokens: Field required");
    else if (typeof body.max_tokens !== "number" || !Number.isInteger(body.max_tokens) || body.max_tokens < 1) {
      invalid = anthropicError(400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1");
    } else if (!msgs) invalid = anthropicError(400, "invalid_request_error", "messages: Field required");
    else if (msgs.length === 0) invalid = anthropicError(400, "invalid_request_error", "messages: at least one message is required");
    else {
      const badRole = msgs.findIndex((m) => m.role !== "user" && m.role !== "assistant");
      if (badRole >= 0) {
        invalid =
          msgs[badRole]!.role === "system"
            ? anthropicError(
                400,
                "invalid_request_error",
                'messages: Unexpected role "system". The Messages API accepts a top-level `system` parameter, not "system" as an input message role.',
              )
            : anthropicError(400, "invalid_request_error", `messages.${badRole}.role: Input should be 'user' or 'assistant'`);
      }
      // Anthropic refuses empty text blocks anywhere, and empty content but in a final assistant message (a prefill).
      invalid ??= emptyContent(msgs, body.system);
    }
    // Extended thinking: budget_tokens at least 1024 and below max_tokens; a thinking block sent back
    // must carry the signature this emulator gave it (Anthropic checks them).
    const thinking = body.thinking as { type?: unknown; budget_tokens?: unknown } | undefined;
    if (!invalid && thinking?.type === "enabled") {
      const budget = Number(thinking.budget_tokens);
      if (!Number.isInteger(budget) || budget < 1024)
        invalid = anthropicError(
          400,
          "invalid_request_error",
          "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        );
      else if (budget >= Number(body.max_tokens))
        invalid = anthropicError(400, "invalid_request_error", "`max_tokens` must be greater than `thinking.budget_tokens`.");
    }
    if (!invalid && msgs) {
      msgs.forEach((m, i) => {
        if (invalid || !Array.isArray(m.content)) return;
        (m.content as { type?: unknown; thinking?: unknown; signature?: unknown }[]).forEach((b, j) => {
          if (!invalid && b.type === "thinking" && b.signature !== thinkingSignature(String(b.thinking ?? "")))
            invalid = anthropicError(
              400,
              "invalid_request_error",
              `messages.${i}.content.${j}: Invalid \`signature\` in \`thinking\` block`,
            );
        });
      });
    }
    if (!invalid && version === "2026-10-21") {
      // API version 2026-10-21 removed the sampling parameters.
      const sampling = ["temperature", "top_p", "top_k"].find((k) => body[k] !== undefined);
      if (sampling) invalid = anthropicError(400, "invalid_request_error", `${sampling}: Extra inputs are not permitted`);
    }
    invalid ??= unknownModel(x, model);
    if (invalid) return sendError(x, invalid);

    let inputTokens = countTokens(stripDirectives(contentText(body.system), new Map()));
    let lastUser = "";
    for (const m of msgs!) {
      inputTokens += countTokens(stripDirectives(contentText(m.content), new Map()));
      if (m.role === "user") lastUser = contentText(m.content);
    }
    lastUser = stripDirectives(lastUser, directives);
    // Tool results in the last message (a user message of tool_result blocks).
    const lastContent = msgs!.at(-1)?.role === "user" ? msgs!.at(-1)!.content : undefined;
    const toolResults: ToolResult[] = Array.isArray(lastContent)
      ? (lastContent as Array<{ type?: unknown; tool_use_id?: unknown; content?: unknown }>)
          .filter((b) => b?.type === "tool_result")
          .map((b) => ({ id: String(b.tool_use_id ?? ""), content: contentText(b.content) }))
      : [];
    const tools = Array.isArray(body.tools) ? (body.tools as Array<{ name?: unknown }>).map((t) => String(t.name ?? "")) : [];
    const choice = body.tool_choice as { type?: unknown; name?: unknown } | undefined;
    const forced = choice?.type === "any" ? tools[0] : choice?.type === "tool" ? String(choice.name ?? "") : undefined;
    const planned = planToolCalls(directives, tools, forced, choice?.type === "none", toolResults.length > 0, "toolu_");
    if (typeof planned === "string") return sendError(x, anthropicError(400, "invalid_request_error", planned));
    const format = (body.output_config as { format?: { type?: unknown; schema?: unknown } } | undefined)?.format;
    const json = format?.type === "json_schema" ? { schema: format.schema } : undefined;
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const fault = upfrontFault(x, directives, raw, model);
    if (fault) return sendError(x, fault);

    const stops = Array.isArray(body.stop_sequences) ? (body.stop_sequences as string[]) : [];
    const reply = makeReply(lastUser, directives, stops, body.max_tokens as number, { toolResults, json, toolCalls: planned });
    // With thinking enabled the reply starts with a thinking block ("Considering: <words>", signed),
    // and with the directive `redacted` also a redacted_thinking block; thinking tokens count as output.
    const thinkingText = thinking?.type === "enabled" ? `Considering: ${stripDirectives(lastUser, new Map()).trim() || "nothing"}` : "";
    const thinkingBlocks: Record<string, unknown>[] = thinkingText
      ? [
          { type: "thinking", thinking: thinkingText, signature: thinkingSignature(thinkingText) },
          ...(directives.has("redacted")
            ? [{ type: "redacted_thinking", data: Buffer.from(`redacted:${thinkingText}`).toString("base64") }]
            : []),
        ]
      : [];
    const reasoning = num(directives, "reasoning", 0) + (thinkingText ? countTokens(thinkingText) : 0);
    // The prompt cache: the cache_control breakpoints' prefixes read when kept, written when not
    // (the directives cached, cache_write and cache_write_1h set the counts instead).
    const marked = ["cached", "cache_write", "cache_write_1h"].some((k) => directives.has(k))
      ? { read: 0, written5m: 0, written1h: 0 }
      : promptCacheUse(promptCache, model, body);
    const cacheRead = num(directives, "cached", marked.read);
    // cache_write=N: 5-minute writes; cache_write_1h=N: 1-hour writes (cache_creation splits them; the total is cache_creation_input_tokens).
    const cacheWrite5m = num(directives, "cache_write", marked.written5m);
    const cacheWrite1h = num(directives, "cache_write_1h", marked.written1h);
    const cacheWrite = cacheWrite5m + cacheWrite1h;
    const cacheCreation = { ephemeral_5m_input_tokens: cacheWrite5m, ephemeral_1h_input_tokens: cacheWrite1h };
    // Priority Tier: a request with service_tier "auto" (the default) is served at priority when the
    // organisation has that capacity (the directive tier=priority); "standard_only" never is.
    const serviceTier = directives.get("tier") === "priority" && body.service_tier !== "standard_only" ? "priority" : "standard";
    const uncached = Math.max(0, inputTokens - cacheRead - cacheWrite);
    const stopReason = planned.length
      ? "tool_use"
      : reply.finish === "length"
        ? "max_tokens"
        : reply.stopSequence !== null
          ? "stop_sequence"
          : "end_turn";
    const outputTokens = reply.tokens + toolCallTokens(planned) + reasoning;
    const details = reasoning > 0 ? { output_tokens_details: { thinking_tokens: reasoning } } : {};
    const usage = {
      input_tokens: uncached,
      cache_creation_input_tokens: cacheWrite,
      cache_read_input_tokens: cacheRead,
      cache_creation: cacheCreation,
      output_tokens: outputTokens,
      ...details,
      service_tier: serviceTier,
    };
    const messageId = id("msg_");
    const headers = { "request-id": id("req_"), "anthropic-organization-id": "emulator-org" };
    const faultKind = directives.get("fault");

    if (body.stream !== true) {
      const response = {
        id: messageId,
        type: "message",
        role: "assistant",
        model,
        content: [
          ...thinkingBlocks,
          ...(reply.text ? [{ type: "text", text: reply.text }] : []),
          ...planned.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: JSON.parse(c.args) as unknown })),
        ],
        stop_reason: stopReason,
        stop_sequence: reply.stopSequence,
        usage,
      };
      return sendPlain(x, response, headers, faultKind);
    }

    startSse(x, headers);
    const event = (name: string, data: unknown) => !x.closed() && x.res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    event("message_start", {
      type: "message_start",
      message: {
        id: messageId,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: uncached,
          cache_creation_input_tokens: cacheWrite,
          cache_read_input_tokens: cacheRead,
          cache_creation: cacheCreation,
          output_tokens: 1,
          service_tier: serviceTier,
        },
      },
    });
    // A reply of tool calls alone has no text block; otherwise the text block comes first (index 0).
    const hasText = reply.text !== "" || planned.length === 0;
    // The thinking blocks first: a thinking block as thinking_delta pieces then its signature_delta,
    // a redacted one whole in its content_block_start.
    for (const [index, block] of thinkingBlocks.entries()) {
      if (block.type === "thinking") {
        event("content_block_start", {
          type: "content_block_start",
          index,
          content_block: { type: "thinking", thinking: "", signature: "" },
        });
        if (index === 0) event("ping", { type: "ping" });
        for (const piece of chunksOf(String(block.thinking)))
          event("content_block_delta", { type: "content_block_delta", index, delta: { type: "thinking_delta", thinking: piece } });
        event("content_block_delta", {
          type: "content_block_delta",
          index,
          delta: { type: "signature_delta", signature: block.signature },
        });
      } else {
        event("content_block_start", { type: "content_block_start", index, content_block: block });
        if (index === 0) event("ping", { type: "ping" });
      }
      event("content_block_stop", { type: "content_block_stop", index });
    }
    const textIndex = thinkingBlocks.length;
    if (hasText) event("content_block_start", { type: "content_block_start", index: textIndex, content_block: { type: "text", text: "" } });
    if (thinkingBlocks.length === 0) event("ping", { type: "ping" });
    const ok = await streamChunks(
      x,
      directives,
      chunksOf(reply.text),
      (text) => event("content_block_delta", { type: "content_block_delta", index: textIndex, delta: { type: "text_delta", text } }),
      () =>
        event("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" }, request_id: headers["request-id"] }),
      () => x.res.write(`event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{\n\n`),
    );
    if (!ok) return;
    if (hasText) event("content_block_stop", { type: "content_block_stop", index: textIndex });
    for (const [i, call] of planned.entries()) {
      const index = textIndex + (hasText ? 1 : 0) + i;
      event("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: call.id, name: call.name, input: {} },
      });
      for (const piece of argumentPieces(call.args)) {
        event("content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } });
      }
      event("content_block_stop", { type: "content_block_stop", index });
    }
    const deltaUsage =
      directives.get("delta_usage") === "full"
        ? {
            input_tokens: uncached,
            cache_creation_input_tokens: cacheWrite,
            cache_read_input_tokens: cacheRead,
            output_tokens: outputTokens,
            ...details,
          }
        : { output_tokens: outputTokens, ...details };
    event("message_delta", {
      type: "message_delta",
      delta: { stop_reason: stopReason, stop_sequence: reply.stopSequence },
      usage: deltaUsage,
    });
    event("message_stop", { type: "message_stop" });
    if (!x.closed()) x.res.end();
  }

  // -------------------------------------------------------------------------------------------

  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${address.port}`;

  return {
    url,
    openaiBaseUrl: `${url}/v1`,
    anthropicBaseUrl: url,
    openaiKey,
    anthropicKey,
    requests,
    cloud: cloud.credentials(url),
    async waitFor(predicate, timeoutMs = 2000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = requests.find(predicate);
        if (found) return found;
        if (Date.now() > until) throw new Error("provider emulator: no matching request in time");
        await sleep(5);
      }
    },
    setDirectives(list) {
      standing = list;
    },
    reset() {
      requests.length = 0;
      attempts.clear();
      promptCache.clear();
      standing = "";
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Text of a message content: a string, or OpenAI/Anthropic content blocks of type text (and the text of tool_result blocks). */
/**
 * Anthropic's prompt caching by `cache_control` breakpoints, as its documentation describes it: the
 * prompt is tools, then system, then messages; each breakpoint caches the prefix up to and including
 * its block, for 5 minutes (or `ttl: "1h"`), refreshed when read; the longest kept prefix is read,
 * the tokens beyond it up to each later breakpoint are written with that breakpoint's lifetime; a
 * prefix shorter than the model's minimum (1,024 tokens; 2,048 for Haiku) is not cached. Tools count
 * no tokens here (the emulator counts words of text only).
 */
export function promptCacheUse(
  store: Map<string, { tokens: number; expiresAt: number }>,
  model: string,
  body: Record<string, unknown>,
  now = Date.now(),
): { read: number; written5m: number; written1h: number } {
  type Mark = { type?: unknown; ttl?: unknown } | null | undefined;
  const segments: { value: unknown; tokens: number; mark: Mark }[] = [];
  for (const t of Array.isArray(body.tools) ? (body.tools as { cache_control?: Mark }[]) : []) {
    segments.push({ value: t, tokens: 0, mark: t.cache_control });
  }
  const blocksOf = (content: unknown) =>
    typeof content === "string" ? [{ type: "text", text: content }] : Array.isArray(content) ? (content as Record<string, unknown>[]) : [];
  for (const b of blocksOf(body.system)) {
    segments.push({ value: b, tokens: countTokens(stripDirectives(contentText([b]), new Map())), mark: b.cache_control as Mark });
  }
  for (const m of Array.isArray(body.messages) ? (body.messages as { content?: unknown }[]) : []) {
    for (const b of blocksOf(m.content)) {
      segments.push({ value: b, tokens: countTokens(stripDirectives(contentText([b]), new Map())), mark: b.cache_control as Mark });
    }
  }
  const minimum = /haiku/.test(model) ? 2048 : 1024;
  const hash = createHash("sha256").update(model);
  let tokens = 0;
  const breakpoints: { key: string; tokens: number; ttlMs: number }[] = [];
  for (const seg of segments) {
    hash.update(JSON.stringify(seg.value));
    tokens += seg.tokens;
    if (seg.mark?.type === "ephemeral") {
      breakpoints.push({ key: hash.copy().digest("hex"), tokens, ttlMs: seg.mark.ttl === "1h" ? 3_600_000 : 300_000 });
    }
  }
  let read = 0;
  for (const b of breakpoints) {
    const kept = store.get(b.key);
    if (kept && kept.expiresAt > now && b.tokens >= minimum) {
      read = Math.max(read, b.tokens);
      kept.expiresAt = Math.max(kept.expiresAt, now + b.ttlMs);
    }
  }
  let written5m = 0;
  let written1h = 0;
  let upTo = read;
  for (const b of breakpoints) {
    if (b.tokens < minimum || b.tokens <= upTo) continue;
    if (b.ttlMs > 300_000) written1h += b.tokens - upTo;
    else written5m += b.tokens - upTo;
    upTo = b.tokens;
    store.set(b.key, { tokens: b.tokens, expiresAt: now + b.ttlMs });
  }
  return { read, written5m, written1h };
}

/** The signature the emulator gives a thinking block (and checks when it comes back): the text's hash. */
export function thinkingSignature(thinking: string): string {
  return createHash("sha256").update(`emulator-thinking:${thinking}`).digest("base64");
}

export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((b) => {
        if (!b || typeof b !== "object") return "";
        const block = b as { type?: unknown; text?: unknown; content?: unknown };
        if (block.type === "text") return String(block.text ?? "");
        if (block.type === "tool_result") return contentText(block.content);
        return "";
      })
      .filter(Boolean)
      .join(" ");
  }
  return "";
}

export function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
