import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BodyTooLarge, NodeRequest, readBodyWithin } from "./node-request.ts";

// A real node:http server whose handler runs the code under test on each request.
type Probe = (req: NodeRequest, raw: IncomingMessage, res: ServerResponse) => Promise<void>;
let probe: Probe;
let server: Server;
let base: string;
beforeAll(async () => {
  server = createServer((raw, res) => {
    const req = new NodeRequest(raw, new AbortController().signal);
    probe(req, raw, res).catch((err: Error) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const reply = (res: ServerResponse, value: unknown) =>
  void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));

describe("NodeRequest (the lean host's Request)", () => {
  it("has the method, url and headers of the node request", async () => {
    probe = async (req, _raw, res) =>
      reply(res, {
        method: req.method,
        url: req.url,
        auth: req.headers.get("authorization"),
        multi: req.headers.get("x-multi"),
        body: req.body,
      });
    const r = await fetch(`${base}/v1/x?a=1&b=2`, {
      headers: [
        ["authorization", "Bearer k"],
        ["x-multi", "1"],
        ["x-multi", "2"],
      ],
    });
    const seen = await r.json();
    expect(seen).toEqual({ method: "GET", url: "http://localhost/v1/x?a=1&b=2", auth: "Bearer k", multi: "1, 2", body: null });
    expect(new URL(seen.url).searchParams.get("b")).toBe("2");
  });

  it("builds its url from the request's path alone: the Host header cannot change the path, and a malformed one breaks nothing", async () => {
    probe = async (req, _raw, res) => reply(res, { path: new URL(req.url).pathname, search: new URL(req.url).search });
    const send = (host: string, target = "/api/trpc/auth.me") =>
      new Promise<string>((resolve, reject) => {
        const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
        let data = "";
        socket.on("data", (c) => (data += c.toString()));
        // The JSON body (the answer is chunked: the object sits between the chunk framing).
        socket.on("close", () => resolve(data.slice(data.indexOf("{"), data.lastIndexOf("}") + 1)));
        socket.on("error", reject);
        socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
    expect(JSON.parse(await send("x/api/trpc/keys.list?"))).toEqual({ path: "/api/trpc/auth.me", search: "" });
    expect(JSON.parse(await send("a b{}"))).toEqual({ path: "/api/trpc/auth.me", search: "" });
    // An absolute-form target counts by its path too.
    expect(JSON.parse(await send("x", "http://elsewhere/v1/models?q=1"))).toEqual({ path: "/v1/models", search: "?q=1" });
  });

  it("reads a JSON body whole through readBodyWithin, and through text() and json()", async () => {
    probe = async (req, _raw, res) => {
      const bytes = await readBodyWithin(req.asRequest(), 1024);
      reply(res, { got: JSON.parse(bytes!.toString("utf8")), used: req.bodyUsed });
    };
    const r1 = await fetch(`${base}/`, { method: "POST", body: JSON.stringify({ hello: "wörld" }) });
    expect(await r1.json()).toEqual({ got: { hello: "wörld" }, used: true });

    probe = async (req, _raw, res) => reply(res, { got: await req.json() });
    const r2 = await fetch(`${base}/`, { method: "POST", body: '{"n":[1,2,3]}' });
    expect(await r2.json()).toEqual({ got: { n: [1, 2, 3] } });
  });

  it("hands out a Web stream of the body when a handler asks for .body", async () => {
    probe = async (req, _raw, res) => reply(res, { text: await new Response(req.body).text() });
    const r = await fetch(`${base}/`, { method: "PUT", body: "streamed body" });
    expect(await r.json()).toEqual({ text: "streamed body" });
  });

  it("stops reading a body that grows over the limit (the rest is never buffered)", async () => {
    let received = 0;
    probe = async (req, raw, res) => {
      const error = await readBodyWithin(req.asRequest(), 1000).catch((e: unknown) => e);
      received = raw.readableLength;
      res.writeHead(413, { connection: "close" }).end(error instanceof BodyTooLarge ? "too large" : "no error");
    };
    // A chunked body without Content-Length that would be 1 MB: the answer comes after the first KB.
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect((server.address() as AddressInfo).port, "127.0.0.1");
      let data = "";
      socket.on("data", (c) => (data += c.toString()));
      socket.on("close", () => resolve(data));
      socket.on("error", reject);
      socket.write("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n");
      const chunk = "x".repeat(600);
      let sent = 0;
      const send = () => {
        if (socket.destroyed || sent >= 1700) return socket.end();
        sent++;
        socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`, () => setTimeout(send, 1));
      };
      send();
    });
    expect(answer).toMatch(/^HTTP\/1.1 413/);
    expect(answer).toContain("too large");
    expect(received).toBeLessThan(1_000_000);
  });
});
