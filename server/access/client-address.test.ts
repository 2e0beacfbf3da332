// The client address behind per-client sign-in limits: the TCP peer unless TRUST_PROXY trusts
// that many proxies along X-Forwarded-For; stamped by the lean host so Next sees the same value,
// and a stamp (or X-Forwarded-For) sent by the client itself proves nothing.
import type { IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { resetEnvForTests } from "../kernel/env.ts";
import { CLIENT_ADDRESS_HEADER, clientAddressFrom, clientAddressOf, clientBucket, stampClientAddress } from "./client-address.ts";

function withTrustProxy(hops: number | undefined) {
  if (hops === undefined) delete process.env.TRUST_PROXY;
  else process.env.TRUST_PROXY = String(hops);
  resetEnvForTests();
}
afterEach(() => withTrustProxy(undefined));

/** What the lean host receives: headers as node gives them, and the socket's peer. */
function incoming(remoteAddress: string, headers: Record<string, string>): IncomingMessage {
  return { headers: { ...headers }, socket: { remoteAddress } } as unknown as IncomingMessage;
}
/** What Next's server action (and so next-auth) sees of that request: its headers. */
const asHeaders = (req: IncomingMessage) => new Headers(req.headers as Record<string, string>);

describe("client address", () => {
  it("is the TCP peer by default, whatever the client writes in X-Forwarded-For or in our own header", () => {
    const req = incoming("203.0.113.9", { "x-forwarded-for": "1.2.3.4", [CLIENT_ADDRESS_HEADER]: "forged 5.6.7.8" });
    stampClientAddress(req);
    expect(clientAddressFrom(asHeaders(req))).toBe("203.0.113.9");
  });

  it("a stamp not made by this process is not believed", () => {
    expect(clientAddressFrom(new Headers({ [CLIENT_ADDRESS_HEADER]: "forged 5.6.7.8", "x-forwarded-for": "5.6.7.8" }))).toBeNull();
  });

  it("with TRUST_PROXY, is that many hops back along X-Forwarded-For", () => {
    withTrustProxy(1);
    const req = incoming("10.0.0.2", { "x-forwarded-for": "6.6.6.6, 198.51.100.7" });
    stampClientAddress(req);
    expect(clientAddressFrom(asHeaders(req))).toBe("198.51.100.7");
    withTrustProxy(2);
    const twice = incoming("10.0.0.2", { "x-forwarded-for": "6.6.6.6, 198.51.100.7, 10.0.0.9" });
    stampClientAddress(twice);
    expect(clientAddressFrom(asHeaders(twice))).toBe("198.51.100.7");
    // Fewer entries than trusted hops: the furthest one there is.
    expect(clientAddressOf("10.0.0.2", null, 2)).toBe("10.0.0.2");
    // Served by Next alone (no stamp), the proxies' entries still say who the client is.
    withTrustProxy(1);
    expect(clientAddressFrom(new Headers({ "x-forwarded-for": "6.6.6.6, 198.51.100.8" }))).toBe("198.51.100.8");
  });

  it("counts an IPv6 client by its /64, and an IPv4-mapped one as IPv4", () => {
    expect(clientBucket("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientBucket("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(clientBucket("[2001:db8::5]:443")).toBe("2001:db8:0:0::/64");
    expect(clientBucket("::ffff:203.0.113.5")).toBe("203.0.113.5");
    expect(clientBucket("203.0.113.5:5123")).toBe("203.0.113.5");
    expect(clientBucket("not an address")).toBeNull();
  });
});
