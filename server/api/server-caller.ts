import "server-only";
// tRPC procedures called from a server component, as the person whose request is being rendered
// (their session cookie goes through the same context as /api/trpc).
import { createContext } from "../trpc/init.ts";
import { createCaller } from "./trpc-root.ts";

export async function callerFor(requestHeaders: Headers) {
  return createCaller(await createContext({ req: new Request("http://localhost/", { headers: requestHeaders }) }));
}
