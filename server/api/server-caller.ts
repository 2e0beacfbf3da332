import "server-only";
// tRPC procedures called from a server component, as the person whose request is being rendered
// (their session cookie goes through the same context as /api/trpc).
import { TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { createContext } from "../trpc/init.ts";
import { createCaller } from "./trpc-root.ts";

export async function callerFor(requestHeaders: Headers) {
  return createCaller(await createContext({ req: new Request("http://localhost/", { headers: requestHeaders }) }));
}

/** What a page's data calls gave, or the tRPC error code they failed with when it is one of `expected`. */
export type PageData<T, C extends string> = { ok: true; data: T } | { ok: false; code: C; message: string };

/**
 * Runs a page's data calls and hands back the data or an expected failure (UNAUTHORIZED: show the
 * sign-in hint), so that the page builds its JSX outside any try/catch; anything else is thrown.
 */
export async function pageData<T, C extends TRPC_ERROR_CODE_KEY>(load: () => Promise<T>, expected: readonly C[]): Promise<PageData<T, C>> {
  try {
    return { ok: true, data: await load() };
  } catch (error) {
    if (error instanceof TRPCError && (expected as readonly string[]).includes(error.code)) {
      return { ok: false, code: error.code as C, message: error.message };
    }
    throw error;
  }
}
