// The Request a handler sees on the lean node:http host: the Fetch API's Request surface that
// route handlers use (method, url, headers, signal, body, text/json/arrayBuffer), read straight from
// node's IncomingMessage. Building a real Request with a streamed body costs ~0.2 ms on Node 20
// (two Web streams), more than the rest of a proxied call; here the headers are built on first use
// and a Web stream only if a handler asks for `.body`. Handlers read bodies through `readBodyWithin`,
// which takes the node stream directly on this host and the Web stream anywhere else.
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";

export class NodeRequest {
  readonly method: string;
  readonly signal: AbortSignal;
  readonly #req: IncomingMessage;
  #url: string | undefined;
  #headers: Headers | undefined;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | null | undefined;
  #used = false;

  constructor(req: IncomingMessage, signal: AbortSignal) {
    this.#req = req;
    this.method = (req.method ?? "GET").toUpperCase();
    this.signal = signal;
  }

  /** As a Request, for the handler signature (the members above are the ones handlers use). */
  asRequest(): Request {
    return this as unknown as Request;
  }

  /**
   * The request's path and query on a fixed origin. Never built from the Host header: a Host such
   * as `x/api/trpc/keys.list?` would otherwise choose the path (which tRPC procedure runs), and a
   * malformed one made every `new URL(req.url)` throw.
   */
  get url(): string {
    this.#url ??= `http://localhost${pathOf(this.#req.url)}`;
    return this.#url;
  }

  get headers(): Headers {
    if (!this.#headers) {
      const h = new Headers();
      const raw = this.#req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) h.append(raw[i]!, raw[i + 1]!);
      this.#headers = h;
    }
    return this.#headers;
  }

  /** The peer's address (the client, or the proxy in front of it). */
  get remoteAddress(): string | undefined {
    return this.#req.socket.remoteAddress;
  }

  get hasBody(): boolean {
    return this.method !== "GET" && this.method !== "HEAD";
  }

  get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (this.#stream === undefined) {
      this.#stream = this.hasBody && !this.#used ? (Readable.toWeb(this.#req) as ReadableStream<Uint8Array<ArrayBuffer>>) : null;
      this.#used = true;
    }
    return this.#stream;
  }

  get bodyUsed(): boolean {
    return this.#used;
  }

  /** The node stream of the body (once). */
  nodeStream(): IncomingMessage {
    if (this.#used) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    return this.#req;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    if (!this.hasBody) return new ArrayBuffer(0);
    const b = await readNode(this.nodeStream(), Number.POSITIVE_INFINITY);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
}

/** The path and query of a request target: origin-form as it is, absolute-form (`GET http://h/p`) as its path, anything else `/`. */
export function pathOf(target: string | undefined): string {
  if (!target) return "/";
  if (target.startsWith("/")) return target;
  try {
    const u = new URL(target);
    return `${u.pathname}${u.search}`;
  } catch {
    return "/";
  }
}

/** Why a body was not read whole. */
export class BodyTooLarge extends Error {}

/**
 * Reads a request body whole, stopping as soon as it grows over `limit` bytes (then throws
 * BodyTooLarge; the rest is never buffered): node's stream on the lean host (which then answers with
 * `Connection: close`), the Web stream elsewhere. Null when the request has no body.
 */
export async function readBodyWithin(req: Request, limit: number): Promise<Buffer | null> {
  const r = req as unknown;
  if (r instanceof NodeRequest) return r.hasBody ? readNode(r.nodeStream(), limit) : null;
  if (!req.body) return null;
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size);
}

function readNode(stream: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      stream.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stream.pause();
        done(new BodyTooLarge());
      } else chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error("The client closed the connection before sending the whole body"));
    stream.on("data", onData).once("end", onEnd).once("error", onError).once("close", onClose);
  });
}
