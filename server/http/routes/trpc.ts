import "server-only";
// /api/trpc/*: the tRPC endpoint (the dashboard's and the typed client's, client/index.ts), served by
// the lean host too, so an --api-only process answers typed clients. The same handler as
// app/api/trpc/[trpc]/route.ts, which answers GET and POST; other methods are 405 there and here.
import { trpcHandler } from "../../trpc/handler.ts";
import { HTTP_METHODS, type HttpMethod, type WebHandler } from "../endpoint.ts";

const notAllowed: WebHandler = async (req) =>
  new Response(JSON.stringify({ error: { code: "method_not_allowed", message: `Method ${req.method} is not allowed here; use GET, POST` } }), {
    status: 405,
    headers: { Allow: "GET, POST", "Content-Type": "application/json; charset=utf-8" },
  });

export const trpc = Object.fromEntries(
  HTTP_METHODS.map((m) => [m, m === "GET" || m === "POST" ? (req: Request) => trpcHandler(req) : notAllowed]),
) as Record<HttpMethod, WebHandler>;
