import "server-only";
// The address a request comes from, for limits per client (failed authentication). On the lean
// host it is the socket's peer; behind TRUST_PROXY_HOPS proxies that each append the address they
// saw to X-Forwarded-For, it is the entry that many places from the right (what the first trusted
// proxy saw), so a client cannot choose its address by sending the header itself. Requests that
// come through Next's route files (SERVE_API_THROUGH_NEXT) have no peer address here: unless
// proxies are trusted, they have no address (Next keeps a client's own X-Forwarded-For).
import { loadEnv } from "../env.ts";

export function clientAddressOf(req: Request): string | undefined {
  const hops = loadEnv().TRUST_PROXY_HOPS;
  const peer = (req as { remoteAddress?: string }).remoteAddress;
  if (hops === 0) return peer;
  return forwardedBy(req, hops) ?? peer;
}

/** The n-th address from the right of X-Forwarded-For; the leftmost when there are fewer (the client went straight to a trusted proxy). */
function forwardedBy(req: Request, n: number): string | undefined {
  const header = req.headers.get("x-forwarded-for");
  if (!header) return undefined;
  const list = header.split(",").map((a) => a.trim()).filter(Boolean);
  return list[list.length - n] ?? list[0];
}
