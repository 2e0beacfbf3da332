// The outbound-URL guard: every spelling of a non-public address is refused when a URL is checked
// and when a request connects (a local receiver that must never hear from a refused request), a
// name's answer is checked at connect time (DNS rebinding), redirects are not followed, and every
// request has a deadline. Names are answered by an injected resolver (no DNS here); the guard
// itself is the real one.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  checkOutboundUrl,
  closeOutboundAgents,
  nonPublicReason,
  OutboundPolicy,
  OutboundRefusedError,
  outboundRequest,
  setOutboundResolverForTests,
} from "./outbound.ts";

const PUBLIC = new OutboundPolicy([], "WEBHOOK_ALLOW_PRIVATE");
const LOOPBACK_ALLOWED = new OutboundPolicy(["127.0.0.1/32"], "WEBHOOK_ALLOW_PRIVATE");

/** What the injected resolver answers per name; a function for answers that change. */
const names = new Map<string, string[] | (() => string[])>([
  ["hooks.example.com", ["93.184.215.14"]],
  ["v6.example.com", ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]],
  ["internal.example.com", ["10.0.0.5"]],
  ["mixed.example.com", ["93.184.215.14", "192.168.1.20"]],
  ["local.example.com", ["127.0.0.1"]],
]);
let lookups: string[] = [];

let receiver: Server;
let port = 0;
const heard: string[] = [];
beforeAll(async () => {
  setOutboundResolverForTests(async (host) => {
    lookups.push(host);
    const answer = names.get(host);
    if (!answer) throw new OutboundRefusedError(`${host} does not resolve (ENOTFOUND)`);
    return typeof answer === "function" ? answer() : answer;
  });
  receiver = createServer((req, res) => {
    heard.push(req.url ?? "/");
    if (req.url === "/redirect") res.writeHead(302, { location: `http://127.0.0.1:${port}/redirected` }).end();
    else if (req.url === "/hang")
      return; // never answers
    else res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  port = (receiver.address() as AddressInfo).port;
});
afterEach(() => {
  heard.length = 0;
  lookups = [];
});
afterAll(async () => {
  setOutboundResolverForTests(undefined);
  await closeOutboundAgents();
  receiver.closeAllConnections();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
});

const refusedMessage = async (p: Promise<unknown>) => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OutboundRefusedError);
  return (err as Error).message;
};

describe("checkOutboundUrl", () => {
  const refused: [string, RegExp][] = [
    ["http://127.0.0.1/x", /127\.0\.0\.1 is a loopback address/],
    ["http://[::1]/x", /::1 is a loopback address/],
    ["http://2130706433/x", /127\.0\.0\.1 is a loopback address/],
    ["http://0x7f.1/x", /127\.0\.0\.1 is a loopback address/],
    ["http://0177.0.0.1/x", /127\.0\.0\.1 is a loopback/],
    ["http://127.1/x", /127\.0\.0\.1 is a loopback/],
    ["http://0/x", /0\.0\.0\.0 is a 'this network' address/],
    ["http://10.0.0.1/x", /10\.0\.0\.1 is a private address/],
    ["http://172.16.5.4/x", /private address/],
    ["http://192.168.0.1/x", /private address/],
    ["http://100.64.0.1/x", /shared \(carrier-grade NAT\)/],
    ["http://169.254.169.254/latest/meta-data/", /169\.254\.169\.254 is a cloud metadata address/],
    ["http://169.254.1.1/", /link-local/],
    ["http://metadata.google.internal/computeMetadata/v1/", /metadata\.google\.internal is a cloud metadata host/],
    ["http://METADATA.GOOGLE.INTERNAL./x", /cloud metadata host/],
    ["http://[::ffff:127.0.0.1]/x", /loopback address \(127\.0\.0\.1, inside an IPv6 address\)/],
    ["http://[::ffff:a9fe:a9fe]/x", /cloud metadata/],
    ["http://[64:ff9b::a00:1]/x", /private address \(10\.0\.0\.1, inside an IPv6 address\)/],
    ["http://[2002:7f00:1::]/x", /loopback address \(127\.0\.0\.1/],
    ["http://[fc00::1]/x", /unique local/],
    ["http://[fd12:3456::1]/x", /unique local/],
    ["http://[fe80::1]/x", /link-local/],
    ["http://[fd00:ec2::254]/x", /cloud metadata/],
    ["http://[::]/x", /unspecified/],
    ["http://[ff02::1]/x", /multicast/],
    ["http://224.0.0.1/x", /multicast/],
    ["http://internal.example.com/hook", /internal\.example\.com resolves to 10\.0\.0\.5, which is a private address/],
    ["http://mixed.example.com/hook", /resolves to 192\.168\.1\.20, which is a private address/],
    ["http://nowhere.example.com/hook", /does not resolve/],
    ["https://user:pw@hooks.example.com/hook", /user name or password/],
    ["ftp://hooks.example.com/hook", /not an http\(s\) URL/],
  ];
  it.each(refused)("refuses %s", async (url, message) => {
    expect(await refusedMessage(checkOutboundUrl(url, PUBLIC))).toMatch(message);
  });

  it("accepts public addresses and names that resolve only to them", async () => {
    for (const url of [
      "https://hooks.example.com/budget",
      "https://v6.example.com/x",
      "http://93.184.215.14:8080/x",
      "https://[2606:4700::1111]/x",
      "http://8.8.8.8/",
    ]) {
      await expect(checkOutboundUrl(url, PUBLIC), url).resolves.toBeInstanceOf(URL);
    }
  });

  it("says how an admin allows a private range, and allows what is allowed — never cloud metadata", async () => {
    expect(await refusedMessage(checkOutboundUrl("http://127.0.0.1/x", PUBLIC))).toMatch(/WEBHOOK_ALLOW_PRIVATE/);
    await expect(checkOutboundUrl("http://127.0.0.1:9/x", LOOPBACK_ALLOWED)).resolves.toBeInstanceOf(URL);
    await expect(checkOutboundUrl("http://local.example.com/x", LOOPBACK_ALLOWED)).resolves.toBeInstanceOf(URL);
    expect(await refusedMessage(checkOutboundUrl("http://127.0.0.2/x", LOOPBACK_ALLOWED))).toMatch(/loopback/);
    const linkLocal = new OutboundPolicy(["169.254.0.0/16", "0.0.0.0/0"], "WEBHOOK_ALLOW_PRIVATE");
    await expect(checkOutboundUrl("http://169.254.1.1/x", linkLocal)).resolves.toBeInstanceOf(URL);
    expect(await refusedMessage(checkOutboundUrl("http://169.254.169.254/x", linkLocal))).toMatch(/cloud metadata address$/);
  });
});

describe("nonPublicReason", () => {
  it("knows public addresses from the rest", () => {
    for (const a of ["93.184.215.14", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"])
      expect(nonPublicReason(a), a).toBeNull();
    for (const a of [
      "127.0.0.1",
      "10.1.2.3",
      "::1",
      "fe80::1",
      "fc00::",
      "::ffff:10.0.0.1",
      "::ffff:0a00:0001",
      "198.18.0.1",
      "255.255.255.255",
    ]) {
      expect(nonPublicReason(a), a).not.toBeNull();
    }
  });
});

describe("outboundRequest", () => {
  it("never connects to a refused address, however it is spelled or resolved", async () => {
    for (const url of [
      `http://127.0.0.1:${port}/a`,
      `http://2130706433:${port}/b`,
      `http://0x7f.1:${port}/c`,
      `http://[::ffff:127.0.0.1]:${port}/d`,
      `http://local.example.com:${port}/e`,
    ]) {
      expect(await refusedMessage(outboundRequest(url, { body: "{}", timeoutMs: 2_000 }, PUBLIC)), url).toMatch(
        /127\.0\.0\.1(, which)? is a loopback address/,
      );
    }
    expect(heard).toEqual([]);
  });

  it("connects to the address it checked: a name's answer is checked when connecting (DNS rebinding)", async () => {
    // Public when the URL was saved, loopback by the time it is called.
    let answer = ["93.184.215.14"];
    names.set("rebind.example.com", () => answer);
    await checkOutboundUrl("http://rebind.example.com/hook", PUBLIC);
    answer = ["127.0.0.1"];
    expect(
      await refusedMessage(outboundRequest(`http://rebind.example.com:${port}/rebound`, { body: "{}", timeoutMs: 2_000 }, PUBLIC)),
    ).toMatch(/rebind\.example\.com resolves to 127\.0\.0\.1, which is a loopback address/);
    expect(heard).toEqual([]);
    // Allowed, the same name reaches the receiver through the guard's own lookup (no DNS has that name).
    lookups = [];
    expect(await outboundRequest(`http://rebind.example.com:${port}/allowed`, { body: "{}", timeoutMs: 2_000 }, LOOPBACK_ALLOWED)).toEqual({
      status: 204,
    });
    expect(heard).toEqual(["/allowed"]);
    expect(lookups).toContain("rebind.example.com");
  });

  it("does not follow redirects", async () => {
    const res = await outboundRequest(`http://127.0.0.1:${port}/redirect`, { body: "{}", timeoutMs: 2_000 }, LOOPBACK_ALLOWED);
    expect(res.status).toBe(302);
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toEqual(["/redirect"]);
  });

  it("gives up at its deadline", async () => {
    const started = performance.now();
    await expect(outboundRequest(`http://127.0.0.1:${port}/hang`, { body: "{}", timeoutMs: 300 }, LOOPBACK_ALLOWED)).rejects.toThrow(
      /no answer within 300 ms/,
    );
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
