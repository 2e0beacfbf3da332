import "server-only";
// Which client a request comes from, for limits that count per client (sign-in attempts).
//
// The address is the TCP peer's, unless TRUST_PROXY says how many proxies of our own stand in
// front: then it is that many hops back along X-Forwarded-For (each proxy appends the address it
// heard from; entries further left were written by the client and prove nothing). An IPv6 client
// is counted by its /64, which one subscriber usually holds whole.
//
// The lean host works it out from the socket and stamps it on the request (`x-ms-client-address`,
// marked with this process's random token, any incoming one dropped), so Next's pages and server
// actions, which see only headers, read the same value. Served by Next alone (`node server.js`),
// there is no stamp: the address is known only with TRUST_PROXY, otherwise it is null (unknown).
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import { loadEnv } from "../kernel/env.ts";

export const CLIENT_ADDRESS_HEADER = "x-ms-client-address";

const g = globalThis as unknown as { __modelServiceClientStamp?: string };
/** Per process: a stamp the client cannot forge (the lean host and Next's bundles share globalThis). */
function stampToken(): string {
  return (g.__modelServiceClientStamp ??= randomBytes(16).toString("base64url"));
}

/** An address as one bucket: IPv4 (also when IPv4-mapped) as is, IPv6 by its /64. */
export function clientBucket(address: string): string | null {
  let a = address.trim();
  if (a.startsWith("[") && a.includes("]")) a = a.slice(1, a.indexOf("]"));
  const zone = a.indexOf("%");
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  // "1.2.3.4:5678" as some proxies write it.
  if (isIP(a) === 0 && /^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(":"));
  const family = isIP(a);
  if (family === 4) return a;
  if (family !== 6) return null;
  const [head = "", tail = ""] = a.toLowerCase().split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = a.includes("::")
    ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((x) => parseInt(x, 16).toString(16))
    .join(":")}::/64`;
}

/** The client by the TRUST_PROXY rule, from the peer's address and the X-Forwarded-For header(s). */
export function clientAddressOf(peer: string | undefined, forwardedFor: string | null, trustedHops = loadEnv().TRUST_PROXY): string | null {
  const chain = (forwardedFor ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  // Nearest first: the peer, then what each trusted proxy says it heard from.
  const hops = [peer ?? "", ...chain.reverse()].filter(Boolean);
  const pick = hops[Math.min(trustedHops, hops.length - 1)];
  return pick ? clientBucket(pick) : null;
}

/** The lean host: the request's client, stamped on it for Next (any header the client sent is replaced). */
export function stampClientAddress(req: IncomingMessage): void {
  const forwarded = req.headers["x-forwarded-for"];
  const address = clientAddressOf(req.socket.remoteAddress, Array.isArray(forwarded) ? forwarded.join(",") : (forwarded ?? null));
  req.headers[CLIENT_ADDRESS_HEADER] = address ? `${stampToken()} ${address}` : stampToken();
}

/** The client of a request seen as headers (REST handlers, server actions, next-auth), or null when unknown. */
export function clientAddressFrom(headers: Headers): string | null {
  const stamped = headers.get(CLIENT_ADDRESS_HEADER);
  const token = stampToken();
  if (stamped !== null && (stamped === token || stamped.startsWith(`${token} `))) return stamped.slice(token.length + 1) || null;
  // Not from the lean host: only proxies we were told to trust can say who the client is.
  const hops = loadEnv().TRUST_PROXY;
  if (hops === 0) return null;
  const chain = (headers.get("x-forwarded-for") ?? "")
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  // Without the socket, the last entry is the nearest hop's word (Next fills it in from the socket when absent).
  const pick = chain[Math.max(0, chain.length - hops)];
  return pick ? clientBucket(pick) : null;
}
