import "server-only";
// Server-sent events for every streamed endpoint (/v1/llm/generate, OpenAI, Anthropic). The first
// event is awaited before the response is built, so an error before any output (unknown model,
// provider unavailable, rate limit) keeps its HTTP status; an encoder turns each event
// into the frames of one wire protocol (named events for Anthropic, `data: [DONE]` for OpenAI),
// and an error after the first byte becomes that protocol's error frame.
import type { Logger } from "pino";
import { errorResponse } from "./endpoint.ts";
import { IterableResponse } from "../web/iterable-response.ts";
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
  /** `headers` may be a function: it is called after the first event (e.g. the response cache's status). */
  opts: { requestId: string; log: Logger; errorFormat: ErrorFormat; headers?: Record<string, string> | (() => Record<string, string>) },
): Promise<Response> {
  const first = await events.next(); // throws before any byte is sent: the wrapper maps it to a status
  async function* chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    let finished = false;
    try {
      if (first.done) {
        finished = true;
        yield encodeFrames(streamEncoder.end());
        return;
      }
      yield encodeFrames(streamEncoder.frames(first.value));
      try {
        for (;;) {
          const next = await events.next();
          if (next.done) {
            finished = true;
            yield encodeFrames(streamEncoder.end());
            return;
          }
          // Events that make no frame are skipped.
          const frames = streamEncoder.frames(next.value);
          if (frames.length) yield encodeFrames(frames);
        }
      } catch (err) {
        finished = true;
        const res = errorResponse(err, opts.requestId, opts.log, opts.errorFormat);
        yield encodeFrames(streamEncoder.error(await res.json()));
      }
    } finally {
      // The client left (return() at a yield): stop the events, which aborts the upstream call.
      if (!finished) await events.return(undefined);
    }
  }
  return new IterableResponse(chunks(), {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      "Cache-Control": "no-cache, no-transform",
      Connection: "keep-alive",
      "X-Accel-Buffering": "no",
      ...(typeof opts.headers === "function" ? opts.headers() : opts.headers),
    },
  });
}
