import "server-only";
// Server-sent events from an async iterator. The first event is awaited before the response is
// built, so that an error before any output (unknown model, provider unavailable) keeps its HTTP
// status; later errors become an `error` event. The iterator is closed when the client leaves.
import type { Logger } from "pino";
import { errorResponse } from "./endpoint.ts";

const encoder = new TextEncoder();

export function sseFrame(data: unknown): Uint8Array {
  return encoder.encode(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

export async function sseResponse<T>(
  events: AsyncGenerator<T, void, undefined>,
  toData: (event: T) => unknown,
  opts: { requestId: string; log: Logger; done?: string },
): Promise<Response> {
  const first = await events.next(); // throws before any byte is sent: the wrapper maps it to a status
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      if (!first.done) controller.enqueue(sseFrame(toData(first.value)));
    },
    async pull(controller) {
      if (first.done) {
        if (opts.done) controller.enqueue(sseFrame(opts.done));
        return controller.close();
      }
      try {
        const next = await events.next();
        if (next.done) {
          if (opts.done) controller.enqueue(sseFrame(opts.done));
          controller.close();
          return;
        }
        controller.enqueue(sseFrame(toData(next.value)));
      } catch (err) {
        if (closed) return;
        const res = errorResponse(err, opts.requestId, opts.log);
        const payload = (await res.json()) as { error: unknown };
        controller.enqueue(sseFrame({ type: "error", ...payload }));
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
    },
  });
}
