// Serves Web-standard handlers `(Request) => Response` from node:http, without Next's pipeline.
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import type { HttpMethod, RouteContext, WebHandler } from "../http/endpoint.ts";

/** Builds a Web Request from a node request; the body streams, nothing is buffered here. */
export function toWebRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const host = req.headers.host ?? "localhost";
  const url = `http://${host}${req.url ?? "/"}`;
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(url, {
    method: req.method,
    headers,
    signal,
    body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
    // Node's fetch needs this to accept a streamed request body.
    ...(hasBody ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** Writes a Web Response to a node response, streaming the body and stopping if the client leaves. */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    if (key !== "set-cookie") headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
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
  const response = await handler(toWebRequest(req, controller.signal), ctx);
  await sendWebResponse(res, response);
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
