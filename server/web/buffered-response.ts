// A Response whose body is already in memory (a JSON answer, a provider's whole reply). It is a real
// `Response` (instanceof holds, Next's route pipeline accepts it) built without a body stream:
// on Node 20 constructing a Web ReadableStream costs ~0.1 ms, more than the rest of a proxied call
// (bench/gateway). The stream is made only if someone reads `.body`; text(), json(), arrayBuffer()
// and bytes() read the bytes directly, and the lean node:http host writes them as they are.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class BufferedResponse extends Response {
  #text: string | undefined;
  #bytes: Uint8Array<ArrayBuffer> | undefined;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;
  #used = false;

  constructor(body: string | Uint8Array<ArrayBuffer>, init?: ResponseInit) {
    super(null, init);
    if (typeof body === "string") this.#text = body;
    else this.#bytes = body;
  }

  /** The body, once: for a host that writes it to the socket itself. */
  takePayload(): string | Uint8Array<ArrayBuffer> {
    this.#consume();
    return this.#text ?? this.#bytes!;
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> | null {
    if (!this.#stream) {
      const bytes = this.#used ? new Uint8Array(new ArrayBuffer(0)) : this.#payloadBytes();
      this.#stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
        start(controller) {
          if (bytes.byteLength) controller.enqueue(bytes);
          controller.close();
        },
      });
    }
    return this.#stream;
  }

  override get bodyUsed(): boolean {
    return this.#used || (this.#stream?.locked ?? false);
  }

  override async text(): Promise<string> {
    this.#consume();
    return this.#text ?? decoder.decode(this.#bytes);
  }

  override async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    this.#consume();
    const b = this.#payloadBytes();
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
  }

  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.arrayBuffer());
  }

  override async blob(): Promise<Blob> {
    this.#consume();
    return new Blob([this.#payloadBytes()], { type: this.headers.get("content-type") ?? "" });
  }

  override clone(): Response {
    if (this.bodyUsed) throw new TypeError("Response.clone: Body has already been consumed.");
    return new BufferedResponse(this.#text ?? this.#bytes!, { status: this.status, statusText: this.statusText, headers: this.headers });
  }

  #payloadBytes(): Uint8Array<ArrayBuffer> {
    this.#bytes ??= encoder.encode(this.#text ?? "");
    return this.#bytes;
  }

  #consume(): void {
    if (this.bodyUsed) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
  }
}
