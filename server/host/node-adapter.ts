// Serves Web-standard handlers `(Request) => Response` from node:http, without Next's pipeline.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HttpMethod, RouteContext, WebHandler } from "../http/endpoint.ts";
import type { BufferedResponse } from "../web/buffered-response.ts";
import { NodeRequest } from "../web/node-request.ts";

/**
 * Writes a Web Response to a node response, streaming the body and stopping if the client leaves.
 * A body already in memory (BufferedResponse) is written as it is. An answer given before the
 * request's body was read whole (413) closes the connection, so the unread rest is never parsed.
 */
export async function sendWebResponse(res: ServerResponse, response: Response, req?: IncomingMessage): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  if (req && !req.complete) headers.connection = "close";
  const buffered = response as Partial<BufferedResponse>;
  if (typeof buffered.takePayload === "function" && !response.bodyUsed) {
    const payload = buffered.takePayload();
    headers["content-length"] = String(typeof payload === "string" ? Buffer.byteLength(payload) : payload.byteLength);
    res.writeHead(response.status, response.statusText || undefined, headers);
    res.end(req?.method === "HEAD" ? undefined : payload);
    return;
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

export type LeanRoute = { pattern: string; handlers: Record<HttpMethod, WebHandler> };

/** Matches `/v1/vector/collections/:name` style patterns against a path. */
export function matchRoute(
  routes: readonly LeanRoute[],
  pathname: string,
): { route: LeanRoute; params: Record<string, string> } | undefined {
  const parts = pathname.replace(/\/+$/, "").split("/");
  for (const route of routes) {
    const pat = route.pattern.split("/");
    if (pat.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pat.length && ok; i++) {
      const p = pat[i]!;
      const v = parts[i]!;
      if (p.startsWith(":")) {
        if (!v) ok = false;
        else params[p.slice(1)] = decodeURIComponent(v);
      } else if (p !== v) ok = false;
    }
    if (ok) return { route, params };
  }
  return undefined;
}
