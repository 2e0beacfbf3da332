import "server-only";
import { fetchRequestHandler } from "@trpc/server/adapters/fetch";
import { createContext } from "./init.ts";
import { appRouter } from "./root.ts";

/** The tRPC endpoint as a Web handler, mounted at /api/trpc. */
export function trpcHandler(req: Request): Promise<Response> {
  return fetchRequestHandler({ endpoint: "/api/trpc", req, router: appRouter, createContext });
}
