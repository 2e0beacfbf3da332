// Serves Web-standard handlers `(Request) => Response` from node:http, without Next's pipeline.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RouteContext, WebHandler } from "../web/handler.ts";
import type { BufferedResponse } from "../web/buffered-response.ts";
import type { IterableResponse } from "../web/iterable-response.ts";
import { NodeRequest } from "../web/node-request.ts";

/**
 * Writes a Web Response to a node response, streaming the body and stopping if the client leaves.
 * A body already in memory (BufferedResponse) is written as it is. An answer given before the
 * request's body was read whole (a 413, a 401) lets the rest of the body arrive and drops it, so a
 * client that sends its whole body before reading sees the answer (see discardRest).
 */
export async function sendWebResponse(res: ServerResponse, response: Response, req?: IncomingMessage): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  if (req && !req.complete) discardRest(req);
  const buffered = response as Partial<BufferedResponse>;
  if (typeof buffered.takePayload === "function" && !response.bodyUsed) {
    const payload = buffered.takePayload();
    headers["content-length"] = String(typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength);
    res.writeHead(response.status, response.statusText || undefined, headers);
    res.end(req?.method === "HEAD" ? undefined : payload);
    return;
  }
  const iterable = response as Partial<IterableResponse>;
  if (typeof iterable.takeChunks === "function" && !response.bodyUsed) {
    res.writeHead(response.status, response.statusText || undefined, headers);
    return writeChunks(res, iterable.takeChunks());
  }
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = () => void reader.cancel().catch(() => {});
  res.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
      if (res.destroyed) break;
    }
    res.end();
  } catch {
    res.destroy();
  } finally {
    res.off("close", onClose);
  }
}

/** How much of an unread request body is received and dropped after the answer, at most. */
export const DISCARD_LIMIT_BYTES = 64 * 1024 * 1024;

/**
 * Reads and drops what is left of a request body we answered without reading (nothing is kept),
 * so the client can finish sending and read the answer, and the connection stays usable. A body
 * with more than DISCARD_LIMIT_BYTES left is cut off by closing the connection.
 */
function discardRest(req: IncomingMessage): void {
  let dropped = 0;
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DISCARD_LIMIT_BYTES) req.socket.destroy();
  });
  req.resume();
}

/** Writes chunks as they come; when the client leaves, stops the source (which aborts its upstream). */
async function writeChunks(res: ServerResponse, chunks: AsyncGenerator<Uint8Array, void, undefined>): Promise<void> {
  let left = false;
  const onClose = () => {
    if (res.writableFinished) return;
    left = true;
    void chunks.return(undefined).catch(() => {});
  };
  res.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await chunks.next();
      if (done || left || res.destroyed) break;
      if (!res.write(value)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
    }
    if (!left) res.end();
  } catch {
    res.destroy();
  } finally {
    res.off("close", onClose);
  }
}

/** Handles a node request with a Web handler; the request's signal aborts when the client goes away. */
export async function serveWithHandler(
  req: IncomingMessage,
  res: ServerResponse,
  handler: WebHandler,
  params: Record<string, string>,
): Promise<void> {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  const ctx: RouteContext = { params: Promise.resolve(params) };
  const response = await handler(new NodeRequest(req, controller.signal).asRequest(), ctx);
  await sendWebResponse(res, response, req);
}
