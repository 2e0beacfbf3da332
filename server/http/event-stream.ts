import "server-only";
// Server-sent events for every streamed endpoint (/v1/llm/generate, OpenAI, Anthropic). The first
// event is awaited before the response is built, so an error before any output (unknown model,
// provider unavailable, rate limit) keeps its HTTP status; an encoder turns each event
// into the frames of one wire protocol (named events for Anthropic, `data: [DONE]` for OpenAI),
// and an error after the first byte becomes that protocol's error frame.
import type { Logger } from "pino";
import { errorResponse } from "./endpoint.ts";
import type { ErrorFormat } from "./error-formats.ts";

export type Frame = { event?: string; data: unknown };

/** Turns one protocol's events into frames; it may keep state between calls (open blocks, ids). */
export interface StreamEncoder<T> {
  frames(event: T): Frame[];
  /** After the last event. */
  end(): Frame[];
  /** An error after the first byte, given its body in the endpoint's error format. */
  error(body: unknown): Frame[];
}

const encoder = new TextEncoder();

export function encodeFrames(frames: Frame[]): Uint8Array {
  let text = "";
  for (const f of frames) {
    if (f.event) text += `event: ${f.event}\n`;
    text += `data: ${typeof f.data === "string" ? f.data : JSON.stringify(f.data)}\n\n`;
  }
  return encoder.encode(text);
}

export async function eventStreamResponse<T>(
  events: AsyncGenerator<T, void, undefined>,
  streamEncoder: StreamEncoder<T>,
  opts: { requestId: string; log: Logger; errorFormat: ErrorFormat; headers?: Record<string, string> },
): Promise<Response> {
  const first = await events.next(); // throws before any byte is sent: the wrapper maps it to a status
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (first.done) {
        controller.enqueue(encodeFrames(streamEncoder.end()));
        controller.close();
      } else {
        controller.enqueue(encodeFrames(streamEncoder.frames(first.value)));
      }
    },
    async pull(controller) {
      try {
        // Events that make no frame are skipped here: a pull that enqueues nothing may not be called again.
        for (;;) {
          const next = await events.next();
          if (next.done) {
            controller.enqueue(encodeFrames(streamEncoder.end()));
            controller.close();
            return;
          }
          const frames = streamEncoder.frames(next.value);
          if (frames.length) return controller.enqueue(encodeFrames(frames));
        }
      } catch (err) {
        if (closed) return;
        const res = errorResponse(err, opts.requestId, opts.log, opts.errorFormat);
        controller.enqueue(encodeFrames(streamEncoder.error(await res.json())));
        controller.close();
      }
    },
    async cancel() {
      closed = true;
      await events.return(undefined);
    },
  });
  return new Response(body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
      ...opts.headers,
    },
  });
}
