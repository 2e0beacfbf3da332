import "server-only";
// /api/trpc/*: the tRPC endpoint (the dashboard's and the typed client's, client/index.ts), served by
// the lean host too, so an --api-only process answers typed clients. app/api/trpc/[trpc]/route.ts
// re-exports these same handlers: GET and POST, HEAD as GET without a body, OPTIONS 204 with
// Allow, and 405 for the rest, on both hosts.
import { trpcHandler } from "./trpc-handler.ts";
import { webEndpoint } from "../http/endpoint.ts";

export const trpc = webEndpoint({ GET: trpcHandler, POST: trpcHandler });
