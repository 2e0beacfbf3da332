// The cloud vendors' wire protocols, served by the same emulator as OpenAI and Anthropic
// (provider-emulator.ts: one port, one request log, the same directives, replies and faults):
//
// Azure OpenAI   POST /openai/deployments/{deployment}/chat/completions?api-version=V
//                POST /openai/deployments/{deployment}/embeddings?api-version=V
//                GET  /openai/models?api-version=V          the models of the resource (Models - List:
//                                                          {data: [{id, status, capabilities, lifecycle_status, ...}], object: "list"})
//                The OpenAI protocol under a deployment name (the reply's `model` is the deployment);
//                `api-version` is required (400 when absent, 404 "Resource not found" when unknown);
//                auth by `api-key: <key>` or `Authorization: Bearer <Entra token>`; Azure's error shape
//                {"error":{"code":"429","message":"..."}} with retry-after / retry-after-ms.
// AWS Bedrock    POST /model/{modelId}/converse            Converse (JSON)
//                POST /model/{modelId}/converse-stream     ConverseStream: application/vnd.amazon.eventstream
//                                                          frames (prelude, CRC32s, string headers :event-type,
//                                                          :content-type, :message-type; exceptions as
//                                                          :message-type exception / :exception-type)
//                POST /model/{modelId}/invoke              InvokeModel for embeddings: amazon.titan-embed-*
//                                                          ({inputText} → {embedding, inputTextTokenCount}) and
//                                                          cohere.embed-* ({texts} → {embeddings}; the token count
//                                                          in x-amzn-bedrock-input-token-count)
//                GET  /async-invoke?maxResults=N           ListAsyncInvokes ({asyncInvokeSummaries: []}: none are ever started here)
//                SigV4 is checked for shape: `AWS4-HMAC-SHA256 Credential=<key id>/<yyyymmdd>/<region>/bedrock/
//                aws4_request, SignedHeaders=...;host;...;x-amz-date..., Signature=<64 hex>`, the key id, the
//                region of the credential scope (the emulator's `bedrockRegion`), x-amz-date, and the session
//                token when one is configured. Errors: status, `x-amzn-ErrorType` and {"message":"..."}.
//                Usage: inputTokens excludes cacheReadInputTokens/cacheWriteInputTokens (as Bedrock reports).
// Gemini API     POST /v1beta/models/{model}:generateContent | :streamGenerateContent?alt=sse |
//                :embedContent | :batchEmbedContents, with `x-goog-api-key` (a wrong key answers 400
//                API_KEY_INVALID as Google does; none answers 403 PERMISSION_DENIED);
//                GET /v1beta/models?pageSize=N&pageToken=T  the model list ({models: [{name: "models/…", ...}], nextPageToken})
// Vertex AI      POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent |
//                :streamGenerateContent?alt=sse | :predict (text-embedding-*, gemini-embedding-001) | :embedContent,
//                with `Authorization: Bearer <token>`: the emulator's access token, or a self-signed JWT
//                (RS256) from the emulator's service account (`cloud.vertexServiceAccount`), verified;
//                project and location must be the configured ones (403 / 400 otherwise).
//                GET /v1beta1/publishers/google/models?pageSize=N&pageToken=T  Google's publisher models
//                ({publisherModels: [{name: "publishers/google/models/…", ...}], nextPageToken}), same auth.
//                Google's error shape {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED",
//                "details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}.
//                Usage: promptTokenCount (including cachedContentTokenCount), candidatesTokenCount (excluding
//                thoughtsTokenCount: `reasoning=N` adds N thoughts tokens).
//
// Directives (`[[emulator ...]]` in the last user text, or the `x-emulator` header) work as for OpenAI:
// fault=rate_limit|server_error|overloaded|unauthorized|malformed|cut|stream_error|end_early, fail_first,
// delay, chunk_delay, cached, cache_write and cache_write_1h (Bedrock: 5-minute and 1-hour writes, split in
// cacheDetails), audio and image (Gemini: prompt tokens of that modality), reasoning (Gemini thoughts; Bedrock
// counts them in the output), words, tool=NAME args=JSON.
import { createPublicKey, generateKeyPairSync, verify, type KeyObject } from "node:crypto";
import { crc32 } from "node:zlib";
import {
  chunksOf,
  countTokens,
  emulatorEmbedding,
  id,
  makeReply,
  num,
  parseDirectiveList,
  planToolCalls,
  startSse,
  stripDirectives,
  toolCallTokens,
  argumentPieces,
  delayIfAsked,
  faultOfStatus,
  retryAfterHeaders,
  send,
  sendError,
  sendPlain,
  streamChunks,
  type Directives,
  type ErrorReply,
  type Exchange,
  type PlannedCall,
  type ToolResult,
} from "./emulator-wire.ts";

export type CloudProtocol = "azure" | "bedrock" | "gemini" | "vertex";

export const EMULATOR_AZURE_KEY = "azure-emulator-key-0123456789abcdef";
export const EMULATOR_AZURE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.emulator-entra-token.signature";
export const EMULATOR_AWS_ACCESS_KEY_ID = "AKIAEMULATOR00000001";
export const EMULATOR_AWS_SECRET_ACCESS_KEY = "emulator/secret/access/key/0123456789abcd";
export const EMULATOR_AWS_REGION = "us-east-1";
export const EMULATOR_GEMINI_KEY = "AIzaSyEmulator-gemini-key-0123456789";
export const EMULATOR_VERTEX_PROJECT = "emulator-project";
export const EMULATOR_VERTEX_LOCATION = "europe-west4";
export const EMULATOR_VERTEX_TOKEN = "ya29.emulator-access-token";
/** api-version values Azure knows (the emulator answers 404 for others). */
export const AZURE_API_VERSIONS = ["2024-02-01", "2024-06-01", "2024-10-21", "2025-01-01-preview", "2025-04-01-preview"];

export type CloudEmulatorOptions = {
  /** Azure's api-key to accept; null: no check. */
  azureKey?: string | null;
  /** An Entra ID bearer token to accept beside the key. */
  azureToken?: string;
  bedrockAccessKeyId?: string | null;
  /** When set, requests must carry it as x-amz-security-token (temporary credentials). */
  bedrockSessionToken?: string;
  bedrockRegion?: string;
  geminiKey?: string | null;
  vertexProject?: string;
  vertexLocation?: string;
  /** A static access token Vertex accepts beside the service account's self-signed JWTs; null: no auth check. */
  vertexToken?: string | null;
};

/** What a test needs to point an SDK at the emulator. */
export type CloudCredentials = {
  /** Azure's endpoint (the resource URL; the SDK adds /openai). */
  azureEndpoint: string;
  azureKey: string | null;
  azureToken: string;
  /** Bedrock's endpoint (AWS_ENDPOINT_URL_BEDROCK_RUNTIME). */
  bedrockEndpoint: string;
  bedrockAccessKeyId: string | null;
  bedrockSecretAccessKey: string;
  bedrockSessionToken: string | undefined;
  bedrockRegion: string;
  /** Gemini's and Vertex's base URL (httpOptions.baseUrl). */
  googleBaseUrl: string;
  geminiKey: string | null;
  vertexProject: string;
  vertexLocation: string;
  vertexToken: string | null;
  /** A service-account key file's JSON whose self-signed JWTs the emulator accepts (made on first use). */
  vertexServiceAccount(): Record<string, string>;
};

/** The emulator's own helpers the cloud routes share (closures over its state: fail_first counts attempts). */
export type CloudHelpers = {
  upfrontFault(x: Exchange, directives: Directives, raw: string, model: string): ErrorReply | undefined;
  openaiChat(x: Exchange, body: Record<string, unknown>, directives: Directives, raw: string): Promise<void>;
  openaiEmbeddings(x: Exchange, body: Record<string, unknown>, directives: Directives, raw: string): Promise<void>;
};

const AZURE_PATH = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/;
const BEDROCK_PATH = /^\/model\/([^/]+)\/(converse|converse-stream|invoke)$/;
const GEMINI_PATH = /^\/(v1|v1beta|v1alpha)\/models\/([^/:]+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)$/;
const VERTEX_PATH =
  /^\/(v1|v1beta1)\/projects\/([^/]+)\/locations\/([^/]+)\/publishers\/google\/models\/([^/:]+):(generateContent|streamGenerateContent|predict|embedContent)$/;

const VERTEX_PUBLISHER_MODELS = "/v1beta1/publishers/google/models";

/** The models the list endpoints answer with (Azure, Gemini, Vertex), in order. */
const LISTED_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-embedding-001", "text-embedding-004"];
const AZURE_LISTED_MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "text-embedding-3-small"];

/** Google's page of a list: `pageSize` items (default 50, at most 1000) after `pageToken` (an offset here). */
function googlePage<T>(items: T[], url: URL): { page: T[]; nextPageToken?: string } | ErrorReply {
  const size = url.searchParams.get("pageSize");
  const n = size === null ? 50 : Number(size);
  if (!Number.isInteger(n) || n < 0) return googleError(400, `Invalid value at 'page_size' (TYPE_INT32), "${size}"`);
  const token = url.searchParams.get("pageToken");
  const start = token ? Number(Buffer.from(token, "base64url").toString()) : 0;
  if (!Number.isInteger(start) || start < 0) return googleError(400, "Invalid page token.");
  const end = start + Math.min(n === 0 ? 50 : n, 1000);
  return {
    page: items.slice(start, end),
    ...(end < items.length ? { nextPageToken: Buffer.from(String(end)).toString("base64url") } : {}),
  };
}

/** The cloud protocol a request path belongs to, if any. */
export function cloudProtocolOf(path: string): CloudProtocol | undefined {
  if (path.startsWith("/openai/")) return "azure";
  if (path.startsWith("/model/") || path === "/async-invoke") return "bedrock";
  if (VERTEX_PATH.test(path) || /^\/v1(beta1)?\/projects\//.test(path) || path === VERTEX_PUBLISHER_MODELS) return "vertex";
  if (GEMINI_PATH.test(path) || /^\/v1(beta|alpha)\/models(\/|$)/.test(path) || /^\/v1\/models\/[^/]+:/.test(path)) return "gemini";
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Error shapes

function azureError(status: number, code: string, message: string, headers: Record<string, string> = {}): ErrorReply {
  return { status, body: { error: { code, message } }, headers: { "apim-request-id": id(""), "x-ms-region": "East US", ...headers } };
}

function azureFault(kind: string, directives: Directives, apiVersion: string): ErrorReply | undefined {
  switch (kind) {
    case "rate_limit": {
      const seconds = num(directives, "retry_after", 1);
      const headers = { ...retryAfterHeaders(directives), "x-ratelimit-remaining-requests": "0" };
      return azureError(
        429,
        "429",
        `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${apiVersion} have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after ${seconds} second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.`,
        headers,
      );
    }
    case "quota":
      return azureError(429, "insufficient_quota", "You exceeded your current quota, please check your plan and billing details.");
    case "server_error":
      return azureError(500, "InternalServerError", "The server had an error while processing your request. Sorry about that!");
    case "overloaded":
      return azureError(503, "ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later.");
    case "unauthorized":
      return azureUnauthorized();
    default:
      return undefined;
  }
}

function azureUnauthorized(): ErrorReply {
  return azureError(
    401,
    "401",
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
  );
}

function bedrockError(status: number, type: string, message: string): ErrorReply {
  return {
    status,
    body: { message },
    headers: { "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, "x-amzn-requestid": uuid() },
  };
}

function bedrockFault(kind: string): ErrorReply | undefined {
  switch (kind) {
    case "rate_limit":
      return bedrockError(429, "ThrottlingException", "Too many requests, please wait before trying again.");
    case "quota":
      return bedrockError(429, "ServiceQuotaExceededException", "Your request exceeds the service quota for your account.");
    case "server_error":
      return bedrockError(
        500,
        "InternalServerException",
        "The system encountered an unexpected error during processing. Try your request again.",
      );
    case "overloaded":
      return bedrockError(503, "ServiceUnavailableException", "Bedrock is unable to process your request.");
    case "unauthorized":
      return bedrockError(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
    default:
      return undefined;
  }
}

const GOOGLE_STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function googleError(status: number, message: string, details?: unknown[]): ErrorReply {
  return {
    status,
    body: { error: { code: status, message, status: GOOGLE_STATUS[status] ?? "UNKNOWN", ...(details ? { details } : {}) } },
    headers: { "content-type": "application/json; charset=UTF-8" },
  };
}

function googleFault(kind: string, directives: Directives, protocol: "gemini" | "vertex"): ErrorReply | undefined {
  switch (kind) {
    case "rate_limit": {
      const seconds = num(directives, "retry_after", 1);
      return googleError(
        429,
        protocol === "gemini"
          ? "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
          : "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
        [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${seconds}s` }],
      );
    }
    case "quota":
      return googleError(429, "You exceeded your current quota, please check your plan and billing details.", [
        {
          "@type": "type.googleapis.com/google.rpc.QuotaFailure",
          violations: [
            {
              quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
              quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            },
          ],
        },
      ]);
    case "server_error":
      return googleError(
        500,
        "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
      );
    case "overloaded":
      return googleError(503, "The model is overloaded. Please try again later.");
    case "unauthorized":
      return protocol === "gemini" ? geminiBadKey() : vertexUnauthenticated();
    default:
      return undefined;
  }
}

function geminiBadKey(): ErrorReply {
  return googleError(400, "API key not valid. Please pass a valid API key.", [
    {
      "@type": "type.googleapis.com/google.rpc.ErrorInfo",
      reason: "API_KEY_INVALID",
      domain: "googleapis.com",
      metadata: { service: "generativelanguage.googleapis.com" },
    },
  ]);
}

function vertexUnauthenticated(): ErrorReply {
  return googleError(
    401,
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
  );
}

function uuid(): string {
  const h = id("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(0, 12)}`;
}

// ---------------------------------------------------------------------------------------------
// AWS event stream framing

function eventHeader(name: string, value: string): Buffer {
  const n = Buffer.from(name, "utf8");
  const v = Buffer.from(value, "utf8");
  const b = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
  b.writeUInt8(n.length, 0);
  n.copy(b, 1);
  b.writeUInt8(7, 1 + n.length); // string
  b.writeUInt16BE(v.length, 2 + n.length);
  v.copy(b, 4 + n.length);
  return b;
}

/** One application/vnd.amazon.eventstream message: prelude, prelude CRC, headers, payload, message CRC. */
export function eventStreamMessage(headers: Record<string, string>, payload: Buffer, corrupt = false): Buffer {
  const h = Buffer.concat(Object.entries(headers).map(([k, v]) => eventHeader(k, v)));
  const total = 12 + h.length + payload.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(h.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude), 0);
  const body = Buffer.concat([prelude, preludeCrc, h, payload]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE((crc32(body) ^ (corrupt ? 0xffffffff : 0)) >>> 0, 0);
  return Buffer.concat([body, crc]);
}

/** Decodes a buffer of event stream messages (the emulator's own tests read the frames with it). */
export function decodeEventStream(buf: Buffer): { headers: Record<string, string>; payload: Buffer }[] {
  const out: { headers: Record<string, string>; payload: Buffer }[] = [];
  let at = 0;
  while (at + 16 <= buf.length) {
    const total = buf.readUInt32BE(at);
    const headersLength = buf.readUInt32BE(at + 4);
    if (crc32(buf.subarray(at, at + 8)) !== buf.readUInt32BE(at + 8)) throw new Error("prelude CRC mismatch");
    if (crc32(buf.subarray(at, at + total - 4)) !== buf.readUInt32BE(at + total - 4)) throw new Error("message CRC mismatch");
    const headers: Record<string, string> = {};
    let h = at + 12;
    while (h < at + 12 + headersLength) {
      const nameLength = buf.readUInt8(h);
      const name = buf.toString("utf8", h + 1, h + 1 + nameLength);
      const valueLength = buf.readUInt16BE(h + 2 + nameLength);
      headers[name] = buf.toString("utf8", h + 4 + nameLength, h + 4 + nameLength + valueLength);
      h += 4 + nameLength + valueLength;
    }
    out.push({ headers, payload: buf.subarray(at + 12 + headersLength, at + total - 4) });
    at += total;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The routes

type BodyMap = Record<string, unknown>;

export function createCloudRoutes(options: CloudEmulatorOptions, helpers: CloudHelpers) {
  const azureKey = options.azureKey === undefined ? EMULATOR_AZURE_KEY : options.azureKey;
  const azureToken = options.azureToken ?? EMULATOR_AZURE_TOKEN;
  const bedrockKeyId = options.bedrockAccessKeyId === undefined ? EMULATOR_AWS_ACCESS_KEY_ID : options.bedrockAccessKeyId;
  const bedrockRegion = options.bedrockRegion ?? EMULATOR_AWS_REGION;
  const geminiKey = options.geminiKey === undefined ? EMULATOR_GEMINI_KEY : options.geminiKey;
  const vertexProject = options.vertexProject ?? EMULATOR_VERTEX_PROJECT;
  const vertexLocation = options.vertexLocation ?? EMULATOR_VERTEX_LOCATION;
  const vertexToken = options.vertexToken === undefined ? EMULATOR_VERTEX_TOKEN : options.vertexToken;
  let serviceAccount: { json: Record<string, string>; publicKey: KeyObject } | undefined;

  function makeServiceAccount() {
    if (!serviceAccount) {
      const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const keyId = id("").slice(0, 40);
      serviceAccount = {
        publicKey: createPublicKey(publicKey.export({ type: "spki", format: "pem" })),
        json: {
          type: "service_account",
          project_id: vertexProject,
          private_key_id: keyId,
          private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
          client_email: `emulator@${vertexProject}.iam.gserviceaccount.com`,
          client_id: "100000000000000000001",
          auth_uri: "https://accounts.google.com/o/oauth2/auth",
          token_uri: "https://oauth2.googleapis.com/token",
          universe_domain: "googleapis.com",
        },
      };
    }
    return serviceAccount;
  }

  function fault(protocol: CloudProtocol, kind: string, directives: Directives, _model: string): ErrorReply | undefined {
    if (protocol === "azure") return azureFault(kind, directives, "2024-10-21");
    if (protocol === "bedrock") return bedrockFault(kind);
    return googleFault(kind, directives, protocol);
  }

  function statusFault(protocol: CloudProtocol, status: number, directives: Directives, model: string): ErrorReply {
    return fault(protocol, faultOfStatus(status), directives, model)!;
  }

  async function handle(x: Exchange, raw: string, parsed: boolean): Promise<void> {
    const directives: Directives = new Map();
    const header = x.req.headers["x-emulator"];
    if (typeof header === "string") parseDirectiveList(header, directives);
    switch (x.entry.protocol) {
      case "azure":
        return azure(x, raw, parsed, directives);
      case "bedrock":
        return bedrock(x, raw, parsed, directives);
      default:
        return google(x, raw, parsed, directives, x.entry.protocol as "gemini" | "vertex");
    }
  }

  // -------------------------------------------------------------------------------------------
  // Azure OpenAI

  async function azure(x: Exchange, raw: string, parsed: boolean, directives: Directives): Promise<void> {
    const m = AZURE_PATH.exec(x.entry.path);
    const modelList = x.entry.method === "GET" && x.entry.path === "/openai/models";
    if (!modelList && (x.entry.method !== "POST" || !m)) return sendError(x, azureError(404, "404", "Resource not found"));
    const apiVersion = new URL(x.req.url ?? "/", "http://emulator").searchParams.get("api-version");
    const h = x.req.headers;
    const key = typeof h["api-key"] === "string" ? h["api-key"] : undefined;
    const bearer = typeof h.authorization === "string" && /^Bearer /i.test(h.authorization) ? h.authorization.slice(7).trim() : undefined;
    if (azureKey !== null) {
      const ok = (key !== undefined && key === azureKey) || (bearer !== undefined && bearer === azureToken);
      if (!ok) {
        if (key === undefined && bearer === undefined) {
          return sendError(
            x,
            azureError(
              401,
              "401",
              "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
            ),
          );
        }
        return sendError(x, azureUnauthorized());
      }
    }
    if (directives.get("fault") === "unauthorized") return sendError(x, azureUnauthorized());
    if (!apiVersion) return sendError(x, azureError(400, "BadRequest", "Missing required query parameter: api-version"));
    if (!AZURE_API_VERSIONS.includes(apiVersion)) return sendError(x, azureError(404, "404", "Resource not found"));
    if (modelList) return azureModels(x, directives, apiVersion);
    if (!m) return sendError(x, azureError(404, "404", "Resource not found"));
    if (!parsed || !x.entry.body || typeof x.entry.body !== "object") {
      return sendError(x, azureError(400, "BadRequest", "We could not parse the JSON body of your request."));
    }
    const deployment = decodeURIComponent(m[1]!);
    // The deployment names the model; the body's `model` (the SDK sends it too) is ignored, as Azure does.
    const body = { ...(x.entry.body as BodyMap), model: deployment };
    if (m[2] === "embeddings") return helpers.openaiEmbeddings(x, body, directives, raw);
    return helpers.openaiChat(x, body, directives, raw);
  }

  /** Models - List: the models the resource can deploy (faults as for the other routes). */
  async function azureModels(x: Exchange, directives: Directives, apiVersion: string): Promise<void> {
    await delayIfAsked(x, directives);
    const kind = directives.get("fault");
    const failure = kind ? azureFault(kind, directives, apiVersion) : undefined;
    if (failure) return sendError(x, failure);
    const data = AZURE_LISTED_MODELS.map((model) => {
      const embeddings = model.startsWith("text-embedding");
      return {
        status: "succeeded",
        capabilities: { fine_tune: false, inference: true, completion: false, chat_completion: !embeddings, embeddings },
        lifecycle_status: "generally-available",
        deprecation: { inference: 1767225600 },
        id: model,
        created_at: 1722988800,
        object: "model",
      };
    });
    send(x, 200, { data, object: "list" }, { "apim-request-id": id(""), "x-ms-region": "East US" });
  }

  // -------------------------------------------------------------------------------------------
  // AWS Bedrock

  function checkSigV4(x: Exchange): ErrorReply | undefined {
    const h = x.req.headers;
    const auth = typeof h.authorization === "string" ? h.authorization : undefined;
    if (!auth) return bedrockError(403, "MissingAuthenticationTokenException", "Missing Authentication Token");
    const m =
      /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(
        auth,
      );
    if (!m) {
      return bedrockError(
        403,
        "IncompleteSignatureException",
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters of AWS4-HMAC-SHA256. Authorization=${auth.split(" ")[0]}`,
      );
    }
    const [, keyId, date, region, service, signedHeaders] = m;
    const amzDate = typeof h["x-amz-date"] === "string" ? h["x-amz-date"] : undefined;
    if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) {
      return bedrockError(
        403,
        "IncompleteSignatureException",
        "Date must be in ISO-8601 'basic format'. Got the X-Amz-Date header wrong or missing.",
      );
    }
    const signed = signedHeaders!.split(";");
    if (!signed.includes("host") || !signed.includes("x-amz-date")) {
      return bedrockError(403, "IncompleteSignatureException", "'Host' or 'x-amz-date' must be a 'SignedHeader' in the AWS Authorization.");
    }
    if (service !== "bedrock")
      return bedrockError(403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'. ");
    if (region !== bedrockRegion) {
      return bedrockError(403, "InvalidSignatureException", `Credential should be scoped to a valid region, not '${region}'. `);
    }
    if (bedrockKeyId !== null && keyId !== bedrockKeyId) return bedrockFault("unauthorized");
    if (options.bedrockSessionToken !== undefined) {
      if (h["x-amz-security-token"] !== options.bedrockSessionToken || !signed.includes("x-amz-security-token")) {
        return bedrockFault("unauthorized");
      }
    }
    const skewMs = Math.abs(
      Date.now() -
        Date.parse(
          `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
        ),
    );
    if (skewMs > 5 * 60_000) {
      return bedrockError(403, "InvalidSignatureException", "Signature expired: the request time is too far from the current time.");
    }
    return undefined;
  }

  async function bedrock(x: Exchange, raw: string, parsed: boolean, directives: Directives): Promise<void> {
    if (x.entry.method === "GET" && x.entry.path === "/async-invoke") {
      const authFailure = checkSigV4(x);
      if (authFailure) return sendError(x, authFailure);
      await delayIfAsked(x, directives);
      const kind = directives.get("fault");
      const failure = kind ? bedrockFault(kind) : undefined;
      if (failure) return sendError(x, failure);
      const max = new URL(x.req.url ?? "/", "http://e").searchParams.get("maxResults");
      if (max !== null && !(Number.isInteger(Number(max)) && Number(max) >= 1 && Number(max) <= 1000)) {
        return sendError(
          x,
          bedrockError(400, "ValidationException", "1 validation error detected: Value at 'maxResults' failed to satisfy constraint"),
        );
      }
      // No asynchronous invocation is ever started on the emulator.
      return send(x, 200, { asyncInvokeSummaries: [] }, { "x-amzn-requestid": uuid() });
    }
    const m = BEDROCK_PATH.exec(x.entry.path);
    if (x.entry.method !== "POST" || !m) return sendError(x, bedrockError(404, "UnknownOperationException", "Unknown operation"));
    const authFailure = checkSigV4(x);
    if (authFailure) return sendError(x, authFailure);
    if (directives.get("fault") === "unauthorized") return sendError(x, bedrockFault("unauthorized")!);
    if (!parsed || !x.entry.body || typeof x.entry.body !== "object") {
      return sendError(x, bedrockError(400, "ValidationException", "Malformed input request, please reformat your input and try again."));
    }
    const modelId = decodeURIComponent(m[1]!);
    const body = x.entry.body as BodyMap;
    if (m[2] === "invoke") return bedrockInvoke(x, modelId, body, directives, raw);
    return bedrockConverse(x, modelId, body, directives, raw, m[2] === "converse-stream");
  }

  async function bedrockConverse(
    x: Exchange,
    modelId: string,
    body: BodyMap,
    directives: Directives,
    raw: string,
    stream: boolean,
  ): Promise<void> {
    const msgs = Array.isArray(body.messages) ? (body.messages as Array<{ role?: unknown; content?: unknown }>) : undefined;
    let invalid: ErrorReply | undefined;
    if (!msgs || msgs.length === 0)
      invalid = bedrockError(
        400,
        "ValidationException",
        "The model returned the following errors: messages: at least one message is required",
      );
    else if (msgs[0]!.role !== "user")
      invalid = bedrockError(
        400,
        "ValidationException",
        "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
      );
    else if (msgs.some((mm) => mm.role !== "user" && mm.role !== "assistant")) {
      invalid = bedrockError(
        400,
        "ValidationException",
        "1 validation error detected: Value at 'messages.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
      );
    } else if (msgs.some((mm) => !Array.isArray(mm.content))) {
      invalid = bedrockError(
        400,
        "ValidationException",
        "1 validation error detected: Value at 'messages.content' failed to satisfy constraint: Member must not be null",
      );
    }
    if (invalid) return sendError(x, invalid);
    const system = Array.isArray(body.system) ? (body.system as Array<{ text?: unknown }>) : [];
    let inputTokens = system.reduce((n, b) => n + countTokens(stripDirectives(String(b.text ?? ""), new Map())), 0);
    let lastUser = "";
    for (const mm of msgs!) {
      const text = bedrockText(mm.content);
      inputTokens += countTokens(stripDirectives(text, new Map()));
      if (mm.role === "user") lastUser = text;
    }
    lastUser = stripDirectives(lastUser, directives);
    const last = msgs!.at(-1)!;
    const toolResults: ToolResult[] =
      last.role === "user"
        ? (last.content as Array<{ toolResult?: { toolUseId?: unknown; content?: unknown } }>)
            .filter((b) => b?.toolResult)
            .map((b) => ({ id: String(b.toolResult!.toolUseId ?? ""), content: bedrockText(b.toolResult!.content) }))
        : [];
    const toolConfig = body.toolConfig as
      { tools?: Array<{ toolSpec?: { name?: unknown } }>; toolChoice?: { any?: unknown; tool?: { name?: unknown } } } | undefined;
    const tools = (toolConfig?.tools ?? []).map((t) => String(t.toolSpec?.name ?? ""));
    const forced = toolConfig?.toolChoice?.any
      ? tools[0]
      : toolConfig?.toolChoice?.tool
        ? String(toolConfig.toolChoice.tool.name ?? "")
        : undefined;
    const planned = planToolCalls(directives, tools, forced, false, toolResults.length > 0, "tooluse_");
    if (typeof planned === "string") return sendError(x, bedrockError(400, "ValidationException", planned));
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const upfront = helpers.upfrontFault(x, directives, raw, modelId);
    if (upfront) return sendError(x, upfront);

    const config = (body.inferenceConfig ?? {}) as { maxTokens?: unknown; stopSequences?: unknown };
    const stops = Array.isArray(config.stopSequences) ? (config.stopSequences as string[]) : [];
    const maxTokens = typeof config.maxTokens === "number" ? config.maxTokens : undefined;
    const reply = makeReply(lastUser, directives, stops, maxTokens, { toolResults, toolCalls: planned });
    const reasoning = num(directives, "reasoning", 0);
    const cacheRead = Math.min(num(directives, "cached", 0), inputTokens);
    // cache_write=N 5-minute writes, cache_write_1h=N 1-hour writes: cacheWriteInputTokens is their sum,
    // cacheDetails splits them by TTL (1h before 5m, as Bedrock sorts them).
    const cacheWrite5m = Math.min(num(directives, "cache_write", 0), inputTokens - cacheRead);
    const cacheWrite1h = Math.min(num(directives, "cache_write_1h", 0), inputTokens - cacheRead - cacheWrite5m);
    const cacheWrite = cacheWrite5m + cacheWrite1h;
    const cacheDetails = [
      ...(cacheWrite1h ? [{ ttl: "1h", inputTokens: cacheWrite1h }] : []),
      ...(cacheWrite5m ? [{ ttl: "5m", inputTokens: cacheWrite5m }] : []),
    ];
    const outputTokens = reply.tokens + toolCallTokens(planned) + reasoning;
    const usage = {
      inputTokens: inputTokens - cacheRead - cacheWrite,
      outputTokens,
      totalTokens: inputTokens + outputTokens,
      ...(cacheRead || cacheWrite ? { cacheReadInputTokens: cacheRead, cacheWriteInputTokens: cacheWrite } : {}),
      ...(cacheDetails.length ? { cacheDetails } : {}),
    };
    const stopReason = planned.length
      ? "tool_use"
      : reply.finish === "length"
        ? "max_tokens"
        : reply.stopSequence !== null
          ? "stop_sequence"
          : "end_turn";
    const headers = { "x-amzn-requestid": uuid() };
    const faultKind = directives.get("fault");

    if (!stream) {
      const response = {
        output: {
          message: {
            role: "assistant",
            content: [
              ...(reply.text ? [{ text: reply.text }] : []),
              ...planned.map((c) => ({ toolUse: { toolUseId: c.id, name: c.name, input: JSON.parse(c.args) as unknown } })),
            ],
          },
        },
        stopReason,
        usage,
        metrics: { latencyMs: 12 },
      };
      return sendPlain(x, response, headers, faultKind);
    }

    x.entry.status = 200;
    x.entry.stream = true;
    x.res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream", "transfer-encoding": "chunked", ...headers });
    x.res.flushHeaders();
    const event = (type: string, payload: unknown) =>
      !x.closed() &&
      x.res.write(
        eventStreamMessage(
          { ":event-type": type, ":content-type": "application/json", ":message-type": "event" },
          Buffer.from(JSON.stringify({ ...(payload as object), p: "abcdefghijkl" })),
        ),
      );
    event("messageStart", { role: "assistant" });
    const hasText = reply.text !== "" || planned.length === 0;
    const ok = await streamChunks(
      x,
      directives,
      chunksOf(reply.text),
      (text) => event("contentBlockDelta", { contentBlockIndex: 0, delta: { text } }),
      () =>
        x.res.write(
          eventStreamMessage(
            { ":exception-type": "modelStreamErrorException", ":content-type": "application/json", ":message-type": "exception" },
            Buffer.from(JSON.stringify({ message: "The model encountered an error while streaming.", originalStatusCode: 500 })),
          ),
        ),
      () =>
        x.res.write(
          eventStreamMessage(
            { ":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event" },
            Buffer.from('{"contentBlockIndex":0,"delta":{"text":"x"}}'),
            true,
          ),
        ),
    );
    if (!ok) return;
    if (hasText) event("contentBlockStop", { contentBlockIndex: 0 });
    for (const [i, call] of planned.entries()) {
      const index = (hasText ? 1 : 0) + i;
      event("contentBlockStart", { contentBlockIndex: index, start: { toolUse: { toolUseId: call.id, name: call.name } } });
      for (const piece of argumentPieces(call.args))
        event("contentBlockDelta", { contentBlockIndex: index, delta: { toolUse: { input: piece } } });
      event("contentBlockStop", { contentBlockIndex: index });
    }
    event("messageStop", { stopReason });
    event("metadata", { usage, metrics: { latencyMs: 12 } });
    if (!x.closed()) x.res.end();
  }

  async function bedrockInvoke(x: Exchange, modelId: string, body: BodyMap, directives: Directives, raw: string): Promise<void> {
    const titan = modelId.startsWith("amazon.titan-embed");
    const cohere = modelId.startsWith("cohere.embed");
    if (!titan && !cohere) {
      return sendError(
        x,
        bedrockError(400, "ValidationException", `The emulator's InvokeModel serves Titan and Cohere embeddings only, not ${modelId}.`),
      );
    }
    let texts: string[];
    if (titan) {
      if (typeof body.inputText !== "string" || body.inputText === "") {
        return sendError(
          x,
          bedrockError(
            400,
            "ValidationException",
            "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.",
          ),
        );
      }
      texts = [body.inputText];
    } else {
      if (!Array.isArray(body.texts) || body.texts.length === 0 || !body.texts.every((t) => typeof t === "string")) {
        return sendError(
          x,
          bedrockError(
            400,
            "ValidationException",
            "Malformed input request: #: required key [texts] not found, please reformat your input and try again.",
          ),
        );
      }
      if (body.texts.length > 96)
        return sendError(
          x,
          bedrockError(
            400,
            "ValidationException",
            "Malformed input request: #/texts: expected maximum item count: 96, found: " + body.texts.length,
          ),
        );
      if (typeof body.input_type !== "string") {
        return sendError(
          x,
          bedrockError(
            400,
            "ValidationException",
            "Malformed input request: #: required key [input_type] not found, please reformat your input and try again.",
          ),
        );
      }
      texts = body.texts as string[];
    }
    for (const t of texts) if (t.includes("[[emulator")) stripDirectives(t, directives);
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const upfront = helpers.upfrontFault(x, directives, raw, modelId);
    if (upfront) return sendError(x, upfront);
    const dimensions =
      titan && typeof body.dimensions === "number" ? body.dimensions : titan ? (modelId.includes("v2") ? 1024 : 1536) : 1024;
    const tokens = texts.reduce((n, t) => n + countTokens(t), 0);
    const headers = {
      "x-amzn-requestid": uuid(),
      "x-amzn-bedrock-input-token-count": String(tokens),
      "x-amzn-bedrock-invocation-latency": "8",
    };
    const response = titan
      ? {
          embedding: emulatorEmbedding(texts[0]!, modelId, dimensions),
          embeddingsByType: { float: emulatorEmbedding(texts[0]!, modelId, dimensions) },
          inputTextTokenCount: tokens,
        }
      : { id: uuid(), texts, embeddings: texts.map((t) => emulatorEmbedding(t, modelId, dimensions)), response_type: "embeddings_floats" };
    sendPlain(x, response, headers, directives.get("fault"));
  }

  // -------------------------------------------------------------------------------------------
  // Gemini API and Vertex AI

  function checkGoogleAuth(x: Exchange, protocol: "gemini" | "vertex"): ErrorReply | undefined {
    const h = x.req.headers;
    if (protocol === "gemini") {
      if (geminiKey === null) return undefined;
      const key =
        typeof h["x-goog-api-key"] === "string"
          ? h["x-goog-api-key"]
          : (new URL(x.req.url ?? "/", "http://e").searchParams.get("key") ?? undefined);
      if (key === undefined) {
        return googleError(
          403,
          "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
        );
      }
      return key === geminiKey ? undefined : geminiBadKey();
    }
    if (vertexToken === null) return undefined;
    const bearer = typeof h.authorization === "string" && /^Bearer /i.test(h.authorization) ? h.authorization.slice(7).trim() : undefined;
    if (bearer === undefined) {
      return googleError(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
      );
    }
    if (bearer === vertexToken) return undefined;
    return verifySelfSignedJwt(bearer) ? undefined : vertexUnauthenticated();
  }

  /** A service account's self-signed JWT: RS256 by the emulator's key, its email as iss and sub, not expired. */
  function verifySelfSignedJwt(token: string): boolean {
    if (!serviceAccount) return false;
    const parts = token.split(".");
    if (parts.length !== 3) return false;
    try {
      const header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString()) as { alg?: string };
      const claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString()) as {
        iss?: string;
        sub?: string;
        exp?: number;
        scope?: string;
        aud?: string;
      };
      if (header.alg !== "RS256") return false;
      const ok = verify(
        "RSA-SHA256",
        Buffer.from(`${parts[0]}.${parts[1]}`),
        serviceAccount.publicKey,
        Buffer.from(parts[2]!, "base64url"),
      );
      const email = serviceAccount.json.client_email;
      return (
        ok &&
        claims.iss === email &&
        claims.sub === email &&
        typeof claims.exp === "number" &&
        claims.exp * 1000 > Date.now() &&
        (claims.scope !== undefined || claims.aud !== undefined)
      );
    } catch {
      return false;
    }
  }

  async function google(x: Exchange, raw: string, parsed: boolean, directives: Directives, protocol: "gemini" | "vertex"): Promise<void> {
    const listPath = protocol === "gemini" ? "/v1beta/models" : VERTEX_PUBLISHER_MODELS;
    if (x.entry.method === "GET" && x.entry.path === listPath) return googleModels(x, directives, protocol);
    let model: string;
    let method: string;
    if (protocol === "gemini") {
      const m = GEMINI_PATH.exec(x.entry.path);
      if (x.entry.method !== "POST" || !m)
        return sendError(x, googleError(404, `The requested URL ${x.entry.path} was not found on this server.`));
      model = decodeURIComponent(m[2]!);
      method = m[3]!;
    } else {
      const m = VERTEX_PATH.exec(x.entry.path);
      if (x.entry.method !== "POST" || !m)
        return sendError(x, googleError(404, `The requested URL ${x.entry.path} was not found on this server.`));
      const authFailure = checkGoogleAuth(x, protocol);
      if (authFailure) return sendError(x, authFailure);
      if (m[2] !== vertexProject) {
        return sendError(
          x,
          googleError(
            403,
            `Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/${m[2]}/locations/${m[3]}/publishers/google/models/${m[4]}' (or it may not exist).`,
          ),
        );
      }
      if (m[3] !== vertexLocation) return sendError(x, googleError(400, `Location ${m[3]} is not supported for the project ${m[2]}.`));
      model = decodeURIComponent(m[4]!);
      method = m[5]!;
    }
    if (protocol === "gemini") {
      const authFailure = checkGoogleAuth(x, protocol);
      if (authFailure) return sendError(x, authFailure);
    }
    if (directives.get("fault") === "unauthorized") return sendError(x, googleFault("unauthorized", directives, protocol)!);
    if (!parsed || !x.entry.body || typeof x.entry.body !== "object") {
      return sendError(x, googleError(400, `Invalid JSON payload received. Unexpected token.`));
    }
    const body = x.entry.body as BodyMap;
    if (method === "generateContent" || method === "streamGenerateContent") {
      const sse = new URL(x.req.url ?? "/", "http://e").searchParams.get("alt") === "sse";
      return generateContent(x, protocol, model, body, directives, raw, method === "streamGenerateContent", sse);
    }
    return googleEmbed(x, protocol, model, method, body, directives, raw);
  }

  /** The Gemini API's models.list, or Vertex's publisher models (the SDK's models.list on each). */
  async function googleModels(x: Exchange, directives: Directives, protocol: "gemini" | "vertex"): Promise<void> {
    const authFailure = checkGoogleAuth(x, protocol);
    if (authFailure) return sendError(x, authFailure);
    await delayIfAsked(x, directives);
    const kind = directives.get("fault");
    const failure = kind ? googleFault(kind, directives, protocol) : undefined;
    if (failure) return sendError(x, failure);
    const paged = googlePage(LISTED_MODELS, new URL(x.req.url ?? "/", "http://e"));
    if ("status" in paged) return sendError(x, paged);
    const next = paged.nextPageToken ? { nextPageToken: paged.nextPageToken } : {};
    if (protocol === "gemini") {
      const models = paged.page.map((m) => {
        const embedding = m.includes("embedding");
        return {
          name: `models/${m}`,
          version: "001",
          displayName: m,
          description: `The emulator's ${m}`,
          inputTokenLimit: embedding ? 2048 : 1048576,
          outputTokenLimit: embedding ? 1 : 65536,
          supportedGenerationMethods: embedding ? ["embedContent"] : ["generateContent", "countTokens", "createCachedContent"],
          ...(embedding ? {} : { temperature: 1, topP: 0.95, topK: 64, maxTemperature: 2, thinking: true }),
        };
      });
      return send(x, 200, { models, ...next }, { "content-type": "application/json; charset=UTF-8" });
    }
    const publisherModels = paged.page.map((m) => ({
      name: `publishers/google/models/${m}`,
      versionId: "001",
      openSourceCategory: "PROPRIETARY",
      launchStage: "GA",
      publisherModelTemplate: `projects/{project}/locations/{location}/publishers/google/models/${m}`,
    }));
    send(x, 200, { publisherModels, ...next }, { "content-type": "application/json; charset=UTF-8" });
  }

  async function generateContent(
    x: Exchange,
    protocol: "gemini" | "vertex",
    model: string,
    body: BodyMap,
    directives: Directives,
    raw: string,
    stream: boolean,
    sse: boolean,
  ): Promise<void> {
    const contents = Array.isArray(body.contents) ? (body.contents as Array<{ role?: unknown; parts?: unknown }>) : undefined;
    if (!contents || contents.length === 0)
      return sendError(x, googleError(400, "* GenerateContentRequest.contents: contents is not specified\n"));
    const badRole = contents.find((c) => c.role !== undefined && c.role !== "user" && c.role !== "model");
    if (badRole) return sendError(x, googleError(400, `Please use a valid role: user, model.`));
    if (stream && !sse) return sendError(x, googleError(400, "The emulator streams with alt=sse only."));
    const system = body.systemInstruction as { parts?: unknown } | undefined;
    let inputTokens = countTokens(stripDirectives(googleText(system?.parts), new Map()));
    let lastUser = "";
    for (const c of contents) {
      const text = googleText(c.parts);
      inputTokens += countTokens(stripDirectives(text, new Map()));
      if (c.role !== "model") lastUser = text;
    }
    lastUser = stripDirectives(lastUser, directives);
    const lastParts = Array.isArray(contents.at(-1)!.parts)
      ? (contents.at(-1)!.parts as Array<{ functionResponse?: { id?: unknown; name?: unknown; response?: unknown } }>)
      : [];
    const toolResults: ToolResult[] = lastParts
      .filter((p) => p?.functionResponse)
      .map((p) => {
        const r = p.functionResponse!;
        const resp = r.response as { result?: unknown; output?: unknown } | undefined;
        const value =
          resp && typeof resp === "object" && "result" in resp
            ? resp.result
            : resp && typeof resp === "object" && "output" in resp
              ? resp.output
              : resp;
        return { id: String(r.id ?? r.name ?? ""), content: typeof value === "string" ? value : JSON.stringify(value) };
      });
    const tools = (Array.isArray(body.tools) ? (body.tools as Array<{ functionDeclarations?: Array<{ name?: unknown }> }>) : []).flatMap(
      (t) => (t.functionDeclarations ?? []).map((f) => String(f.name ?? "")),
    );
    const fcc = (body.toolConfig as { functionCallingConfig?: { mode?: unknown; allowedFunctionNames?: unknown } } | undefined)
      ?.functionCallingConfig;
    const allowed = Array.isArray(fcc?.allowedFunctionNames) ? (fcc!.allowedFunctionNames as string[]) : [];
    const forced = fcc?.mode === "ANY" ? (allowed[0] ?? tools[0]) : undefined;
    const planned = planToolCalls(directives, tools, forced, fcc?.mode === "NONE", toolResults.length > 0, "");
    if (typeof planned === "string") return sendError(x, googleError(400, planned));
    const gen = (body.generationConfig ?? {}) as {
      maxOutputTokens?: unknown;
      stopSequences?: unknown;
      responseMimeType?: unknown;
      responseSchema?: unknown;
      responseJsonSchema?: unknown;
    };
    const json =
      gen.responseMimeType === "application/json" ? { schema: gen.responseJsonSchema ?? lowerSchema(gen.responseSchema) } : undefined;
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const upfront = helpers.upfrontFault(x, directives, raw, model);
    if (upfront) return sendError(x, upfront);

    const stops = Array.isArray(gen.stopSequences) ? (gen.stopSequences as string[]) : [];
    const maxTokens = typeof gen.maxOutputTokens === "number" ? gen.maxOutputTokens : undefined;
    const reply = makeReply(lastUser, directives, stops, maxTokens, { toolResults, json, toolCalls: planned });
    const thoughts = num(directives, "reasoning", 0);
    const cached = Math.min(num(directives, "cached", 0), inputTokens);
    // audio=N, image=N: that many of the prompt's tokens are audio or image (promptTokensDetails by modality).
    const audio = Math.min(num(directives, "audio", 0), inputTokens);
    const image = Math.min(num(directives, "image", 0), inputTokens - audio);
    const candidates = reply.tokens + toolCallTokens(planned);
    const usageMetadata = {
      promptTokenCount: inputTokens,
      candidatesTokenCount: candidates,
      totalTokenCount: inputTokens + candidates + thoughts,
      ...(cached ? { cachedContentTokenCount: cached } : {}),
      ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
      promptTokensDetails: [
        { modality: "TEXT", tokenCount: inputTokens - audio - image },
        ...(audio ? [{ modality: "AUDIO", tokenCount: audio }] : []),
        ...(image ? [{ modality: "IMAGE", tokenCount: image }] : []),
      ],
      ...(cached ? { cacheTokensDetails: [{ modality: "TEXT", tokenCount: cached }] } : {}),
    };
    const finishReason = reply.finish === "length" ? "MAX_TOKENS" : "STOP";
    const responseId = id("").slice(0, 22);
    const modelVersion = protocol === "vertex" ? model : model;
    const callPart = (c: PlannedCall) => ({
      functionCall: { ...(protocol === "gemini" ? { id: c.id } : {}), name: c.name, args: JSON.parse(c.args) as unknown },
    });
    const faultKind = directives.get("fault");
    const extra = protocol === "vertex" ? { createTime: new Date().toISOString() } : {};
    if (!stream) {
      const response = {
        candidates: [
          {
            content: { role: "model", parts: [...(reply.text ? [{ text: reply.text }] : []), ...planned.map(callPart)] },
            finishReason,
            index: 0,
          },
        ],
        usageMetadata,
        modelVersion,
        responseId,
        ...extra,
      };
      return sendPlain(x, response, { "x-goog-request-id": responseId }, faultKind);
    }
    startSse(x, { "x-goog-request-id": responseId, "content-disposition": "attachment" });
    const write = (data: unknown) => !x.closed() && x.res.write(`data: ${JSON.stringify(data)}\r\n\r\n`);
    const runningUsage = (n: number) => ({
      promptTokenCount: inputTokens,
      candidatesTokenCount: n,
      totalTokenCount: inputTokens + n,
      promptTokensDetails: usageMetadata.promptTokensDetails,
    });
    let sent = 0;
    const ok = await streamChunks(
      x,
      directives,
      chunksOf(reply.text),
      (text) => {
        sent++;
        write({
          candidates: [{ content: { role: "model", parts: [{ text }] }, index: 0 }],
          usageMetadata: runningUsage(sent),
          modelVersion,
          responseId,
          ...extra,
        });
      },
      () => write({ error: { code: 503, message: "The model is overloaded. Please try again later.", status: "UNAVAILABLE" } }),
      () => x.res.write(`data: {"candidates": [{"content": {"parts": [{"text": \r\n\r\n`),
    );
    if (!ok) return;
    write({
      candidates: [{ content: { role: "model", parts: planned.length ? planned.map(callPart) : [{ text: "" }] }, finishReason, index: 0 }],
      usageMetadata,
      modelVersion,
      responseId,
      ...extra,
    });
    if (!x.closed()) x.res.end();
  }

  async function googleEmbed(
    x: Exchange,
    protocol: "gemini" | "vertex",
    model: string,
    method: string,
    body: BodyMap,
    directives: Directives,
    raw: string,
  ): Promise<void> {
    let texts: string[];
    let dims: number | undefined;
    if (method === "batchEmbedContents") {
      const requests = Array.isArray(body.requests)
        ? (body.requests as Array<{ model?: unknown; content?: { parts?: unknown }; outputDimensionality?: unknown }>)
        : undefined;
      if (!requests || requests.length === 0)
        return sendError(x, googleError(400, "* BatchEmbedContentsRequest.requests: requests is not specified\n"));
      if (requests.length > 100)
        return sendError(x, googleError(400, "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"));
      const wrong = requests.find((r) => r.model !== `models/${model}`);
      if (wrong)
        return sendError(
          x,
          googleError(400, `* BatchEmbedContentsRequest.requests[0].model: model of a request must match the batch's models/${model}\n`),
        );
      texts = requests.map((r) => googleText(r.content?.parts));
      dims = typeof requests[0]!.outputDimensionality === "number" ? (requests[0]!.outputDimensionality as number) : undefined;
    } else if (method === "embedContent") {
      const content = body.content as { parts?: unknown } | undefined;
      if (!content) return sendError(x, googleError(400, "* EmbedContentRequest.content: content is not specified\n"));
      texts = [googleText(content.parts)];
      const cfg = (body.embedContentConfig ?? body) as { outputDimensionality?: unknown };
      dims = typeof cfg.outputDimensionality === "number" ? cfg.outputDimensionality : undefined;
    } else {
      const instances = Array.isArray(body.instances) ? (body.instances as Array<{ content?: unknown }>) : undefined;
      if (!instances || instances.length === 0) return sendError(x, googleError(400, "instances: at least one instance is required"));
      if (instances.length > 250)
        return sendError(x, googleError(400, `The maximum number of instances per request is 250, got ${instances.length}.`));
      texts = instances.map((i) => (typeof i.content === "string" ? i.content : ""));
      const params = body.parameters as { outputDimensionality?: unknown } | undefined;
      dims = typeof params?.outputDimensionality === "number" ? params.outputDimensionality : undefined;
    }
    if (texts.some((t) => t === "")) return sendError(x, googleError(400, "* Request contains an empty text.\n"));
    for (const t of texts) if (t.includes("[[emulator")) stripDirectives(t, directives);
    await delayIfAsked(x, directives);
    if (x.closed()) return;
    const upfront = helpers.upfrontFault(x, directives, raw, model);
    if (upfront) return sendError(x, upfront);
    const full = /text-embedding-00[45]|text-multilingual/.test(model) ? 768 : 3072;
    if (dims !== undefined && (dims < 1 || dims > full))
      return sendError(x, googleError(400, `* output_dimensionality must be between 1 and ${full}.\n`));
    const vector = (t: string) => emulatorEmbedding(t, model, dims ?? full);
    const tokens = texts.map(countTokens);
    const total = tokens.reduce((a, b) => a + b, 0);
    const fault = directives.get("fault");
    if (method === "batchEmbedContents") {
      return sendPlain(
        x,
        { embeddings: texts.map((t) => ({ values: vector(t) })), usageMetadata: { promptTokenCount: total, totalTokenCount: total } },
        {},
        fault,
      );
    }
    if (method === "embedContent") {
      return sendPlain(
        x,
        { embedding: { values: vector(texts[0]!) }, usageMetadata: { promptTokenCount: total, totalTokenCount: total } },
        {},
        fault,
      );
    }
    sendPlain(
      x,
      {
        predictions: texts.map((t, i) => ({ embeddings: { values: vector(t), statistics: { token_count: tokens[i], truncated: false } } })),
        metadata: { billableCharacterCount: texts.reduce((n, t) => n + t.replace(/\s/g, "").length, 0) },
      },
      {},
      fault,
    );
  }

  return {
    handle,
    fault,
    statusFault,
    credentials(url: string): CloudCredentials {
      return {
        azureEndpoint: url,
        azureKey,
        azureToken,
        bedrockEndpoint: url,
        bedrockAccessKeyId: bedrockKeyId,
        bedrockSecretAccessKey: EMULATOR_AWS_SECRET_ACCESS_KEY,
        bedrockSessionToken: options.bedrockSessionToken,
        bedrockRegion,
        googleBaseUrl: url,
        geminiKey,
        vertexProject,
        vertexLocation,
        vertexToken,
        vertexServiceAccount: () => ({ ...makeServiceAccount().json }),
      };
    },
  };
}

/** The text of Bedrock content blocks ({text}, and the text of toolResult content). */
function bedrockText(content: unknown): string {
  if (!Array.isArray(content)) return "";
  return content
    .map((b: { text?: unknown; json?: unknown; toolResult?: { content?: unknown } }) =>
      typeof b?.text === "string"
        ? b.text
        : b?.json !== undefined
          ? JSON.stringify(b.json)
          : b?.toolResult
            ? bedrockText(b.toolResult.content)
            : "",
    )
    .filter(Boolean)
    .join(" ");
}

/** The text of Google content parts ({text}). */
function googleText(parts: unknown): string {
  if (!Array.isArray(parts)) return "";
  return parts
    .map((p: { text?: unknown }) => (typeof p?.text === "string" ? p.text : ""))
    .filter(Boolean)
    .join(" ");
}

/** Google's OpenAPI-subset schema (type: "OBJECT", ...) as JSON Schema enough for the JSON reply. */
function lowerSchema(schema: unknown): unknown {
  if (!schema || typeof schema !== "object") return schema;
  const s = schema as { type?: unknown; properties?: Record<string, unknown> };
  return {
    ...(typeof s.type === "string" ? { type: s.type.toLowerCase() } : {}),
    ...(s.properties ? { properties: Object.fromEntries(Object.entries(s.properties).map(([k, v]) => [k, lowerSchema(v)])) } : {}),
  };
}
