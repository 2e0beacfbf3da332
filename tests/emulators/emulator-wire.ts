// The wire-level pieces every emulated vendor shares: the tokenizer, deterministic embeddings,
// the [[emulator ...]] directives, the reply and tool-call planning, writing an answer or an
// SSE stream, and the faults (delay, malformed or cut answers, stream faults, retry headers).
// provider-emulator.ts (OpenAI, Anthropic) and cloud-emulators.ts (Azure, Bedrock,
// Gemini, Vertex) both build on it.
import { createHash, randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
// A type only (erased at run time): the request log entry an exchange writes to.
import type { EmulatorRequest } from "./provider-emulator.ts";

/** The emulator's tokenizer: one token per whitespace-separated word. */
export function countTokens(text: string): number {
  const words = text.trim().split(/\s+/);
  return words[0] === "" ? 0 : words.length;
}

export const DEFAULT_DIMENSIONS: Record<string, number> = {
  "text-embedding-3-large": 3072,
  "text-embedding-3-small": 1536,
  "text-embedding-ada-002": 1536,
};

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The embedding the emulator returns for `text`: a unit vector seeded by model and text, as float32
 * values. With `dimensions` the full vector is shortened and renormalised, as text-embedding-3 does.
 */
export function emulatorEmbedding(text: string, model: string, dimensions?: number): number[] {
  const full = DEFAULT_DIMENSIONS[model] ?? 1536;
  const seed = createHash("sha256").update(`${model}\0${text}`).digest().readUInt32LE(0);
  const random = mulberry32(seed);
  const size = dimensions ?? full;
  const v = new Array<number>(size);
  for (let i = 0; i < size; i++) v[i] = random() * 2 - 1;
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return Array.from(new Float32Array(v.map((x) => x / norm)));
}

export function toBase64Float32(values: number[]): string {
  const buf = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) buf.writeFloatLE(values[i]!, i * 4);
  return buf.toString("base64");
}

// ---------------------------------------------------------------------------------------------
// Directives

export type Directives = Map<string, string>;

const DIRECTIVE = /\[\[emulator([^\]]*)\]\]/g;

export function parseDirectiveList(text: string, into: Directives): void {
  for (const part of text.trim().split(/\s+/)) {
    if (!part) continue;
    const eq = part.indexOf("=");
    if (eq < 0) into.set(part, "true");
    else into.set(part.slice(0, eq), part.slice(eq + 1));
  }
}

export function stripDirectives(text: string, into: Directives): string {
  return text.replace(DIRECTIVE, (_m, list: string) => {
    parseDirectiveList(list, into);
    return " ";
  });
}

export function num(d: Directives, key: string, fallback: number): number {
  const v = d.get(key);
  if (v === undefined) return fallback;
  const n = Number(v);
  return Number.isFinite(n) ? n : fallback;
}

// ---------------------------------------------------------------------------------------------
// The deterministic reply

const VOCABULARY = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

export type Reply = {
  text: string;
  /** Visible output tokens. */
  tokens: number;
  finish: "stop" | "length";
  /** The stop sequence that ended the reply, if one did. */
  stopSequence: string | null;
};

/** What shapes the reply beyond the echo: tool results to report, a JSON format, planned tool calls. */
export type ReplyShape = { toolResults?: ToolResult[]; json?: { schema?: unknown }; toolCalls?: PlannedCall[] };

export function makeReply(
  lastUser: string,
  directives: Directives,
  stops: string[],
  maxTokens: number | undefined,
  shape: ReplyShape = {},
): Reply {
  const wordsWanted = directives.get("words");
  let text: string;
  if (wordsWanted !== undefined) {
    const n = Math.max(0, Math.floor(Number(wordsWanted) || 0));
    text = Array.from({ length: n }, (_, i) => VOCABULARY[i % VOCABULARY.length]).join(" ");
  } else if (shape.toolCalls?.length) {
    text = "";
  } else if (shape.toolResults?.length) {
    text = shape.toolResults.map((r) => `Tool ${r.id} returned: ${r.content}`).join(" ");
  } else {
    const said = lastUser.trim().split(/\s+/).filter(Boolean).join(" ");
    text = said ? `You said: ${said}` : "You said nothing.";
  }
  if (shape.json) text = JSON.stringify(jsonReply(shape.json.schema, text));
  let stopSequence: string | null = null;
  let cutAt = text.length;
  for (const s of stops) {
    const i = s ? text.indexOf(s) : -1;
    if (i >= 0 && i < cutAt) {
      cutAt = i;
      stopSequence = s;
    }
  }
  text = text.slice(0, cutAt);
  if (maxTokens !== undefined && countTokens(text) > maxTokens) {
    const pieces = chunksOf(text).slice(0, Math.max(0, maxTokens));
    return { text: pieces.join(""), tokens: pieces.length, finish: "length", stopSequence: null };
  }
  return { text, tokens: countTokens(text), finish: "stop", stopSequence };
}

// ---------------------------------------------------------------------------------------------
// Tools and JSON replies

export type ToolResult = { id: string; content: string };
export type PlannedCall = { id: string; name: string; args: string };

/**
 * The tool calls a request gets: those the `tool` directive names, else the one tool_choice forces.
 * A string is the error to answer with 400.
 */
export function planToolCalls(
  directives: Directives,
  offered: string[],
  forced: string | undefined,
  none: boolean,
  endsWithResults: boolean,
  idPrefix: string,
): PlannedCall[] | string {
  if (none || (endsWithResults && !forced)) return [];
  const names = directives.get("tool")?.split(",").filter(Boolean) ?? (forced ? [forced] : []);
  const args = directives.get("args") ?? "{}";
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    parsed = undefined;
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return `emulator: args must be a JSON object, got ${args}`;
  for (const name of names) {
    if (!offered.includes(name)) return `emulator: tool "${name}" is not among the request's tools (${offered.join(", ") || "none"})`;
  }
  return names.map((name) => ({ id: id(idPrefix), name, args: JSON.stringify(parsed) }));
}

export function toolCallTokens(calls: PlannedCall[]): number {
  return calls.reduce((n, c) => n + countTokens(`${c.name} ${c.args}`), 0);
}

/** Pieces of a tool call's arguments as a stream sends them. */
export function argumentPieces(args: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i += 8) out.push(args.slice(i, i + 8));
  return out;
}

export function jsonReply(schema: unknown, text: string): Record<string, unknown> {
  const properties = schema && typeof schema === "object" ? (schema as { properties?: unknown }).properties : undefined;
  if (!properties || typeof properties !== "object") return { reply: text };
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(properties as Record<string, { type?: unknown }>)) {
    const type = Array.isArray(def?.type) ? def.type[0] : def?.type;
    out[key] =
      type === "number" || type === "integer"
        ? countTokens(text)
        : type === "boolean"
          ? true
          : type === "array"
            ? []
            : type === "object"
              ? {}
              : text;
  }
  return out;
}

/** The reply as stream chunks, one word each (with its leading space); they join to the text. */
export function chunksOf(text: string): string[] {
  const pieces: string[] = text.match(/\s*\S+/g) ?? [];
  const rest = text.slice(pieces.join("").length);
  if (rest) {
    if (pieces.length) pieces[pieces.length - 1] += rest;
    else pieces.push(rest);
  }
  return pieces;
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

export function id(prefix: string): string {
  return `${prefix}${randomBytes(12).toString("hex")}`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export type Exchange = {
  req: IncomingMessage;
  res: ServerResponse;
  entry: EmulatorRequest;
  /** The connection is gone (client aborted or we cut it). */
  closed: () => boolean;
};

export function send(x: Exchange, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (x.closed()) return;
  const text = JSON.stringify(body);
  x.entry.status = status;
  x.res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  x.res.end(text);
}

export function startSse(x: Exchange, headers: Record<string, string>): void {
  x.entry.status = 200;
  x.entry.stream = true;
  x.res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    ...headers,
  });
  x.res.flushHeaders();
}

export function cutConnection(x: Exchange): void {
  x.entry.cut = true;
  x.res.socket?.destroy();
}

// ---------------------------------------------------------------------------------------------
// Faults, for every vendor alike (each words its errors in its own ErrorReply)

export function sendError(x: Exchange, e: ErrorReply): void {
  send(x, e.status, e.body, e.headers);
}

/** The fault a fail_first=N status=S directive stands for. */
export function faultOfStatus(status: number): "rate_limit" | "overloaded" | "server_error" {
  return status === 429 ? "rate_limit" : status === 503 || status === 529 ? "overloaded" : "server_error";
}

/** Retry-After (seconds, the retry_after directive) and retry-after-ms (retry_after_ms) of a rate-limit answer. */
export function retryAfterHeaders(directives: Directives): Record<string, string> {
  const headers: Record<string, string> = { "retry-after": String(num(directives, "retry_after", 1)) };
  if (directives.has("retry_after_ms")) headers["retry-after-ms"] = String(num(directives, "retry_after_ms", 0));
  return headers;
}

/** Waits the delay=MS directive asks for, or until the client leaves. */
export async function delayIfAsked(x: Exchange, directives: Directives): Promise<void> {
  const ms = num(directives, "delay", 0);
  // Waits in small steps so that a client that gives up is noticed (logged as aborted) promptly.
  const until = Date.now() + ms;
  while (Date.now() < until && !x.closed()) await sleep(Math.min(20, until - Date.now()));
}

/** A plain JSON answer, honouring fault=malformed and fault=cut. */
export function sendPlain(x: Exchange, response: unknown, headers: Record<string, string>, fault: string | undefined): void {
  if (fault !== "malformed" && fault !== "cut") return send(x, 200, response, headers);
  const text = JSON.stringify(response);
  const half = text.slice(0, Math.floor(text.length / 2));
  x.entry.status = 200;
  if (fault === "malformed") {
    x.res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(half), ...headers });
    x.res.end(half);
    return;
  }
  x.res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  x.res.write(half, () => cutConnection(x));
}

/**
 * Sends the text chunks with the stream faults applied. Returns false when the stream was ended
 * early (cut, error event, malformed line, or the client left).
 */
export async function streamChunks(
  x: Exchange,
  directives: Directives,
  chunks: string[],
  writeChunk: (text: string) => void,
  writeError: () => void,
  writeMalformed: () => void,
): Promise<boolean> {
  const fault = directives.get("fault");
  const after = num(directives, "after", Math.floor(chunks.length / 2));
  const chunkDelay = num(directives, "chunk_delay", 0);
  for (let i = 0; i <= chunks.length; i++) {
    if (x.closed()) return false;
    if (i === after) {
      if (fault === "cut") {
        // Let the chunks already written reach the client, then drop the connection.
        await new Promise<void>((r) => x.res.write("", () => r()));
        cutConnection(x);
        return false;
      }
      if (fault === "stream_error") {
        writeError();
        x.res.end();
        return false;
      }
      if (fault === "malformed") {
        writeMalformed();
        x.res.end();
        return false;
      }
      if (fault === "end_early") {
        x.res.end();
        return false;
      }
    }
    if (i === chunks.length) break;
    if (chunkDelay > 0 && i > 0) await sleep(chunkDelay);
    if (x.closed()) return false;
    writeChunk(chunks[i]!);
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Error shapes

export type ErrorReply = { status: number; body: unknown; headers: Record<string, string> };
