import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { Writable } from "node:stream";
import { endpoint, HTTP_METHODS, json, route } from "../http/endpoint.ts";
import { leanRoutes } from "../api/routes.ts";
import { onShutdown } from "../kernel/lifecycle.ts";
import { startServerProcess } from "@/tests/support/server-process.ts";
import { request as httpRequest } from "node:http";
import { CLI_ACTOR } from "../access/auth.ts";
import { createApiKey } from "../features/accounts/keys.ts";
import type { LeanRoute } from "../web/handler.ts";
import { startHost, type RunningHost } from "./server.ts";

const dataDir = mkdtempSync(path.join(tmpdir(), "model-service-host-"));
process.env.DATA_DIR = dataDir;
delete process.env.DATABASE_URL;
process.env.LOG_LEVEL = "silent";

let release: () => void = () => {};
const events: string[] = [];
const slow = endpoint({
  GET: route({
    access: "public",
    handler: async () => {
      await new Promise<void>((resolve) => (release = resolve));
      events.push("handled");
      return json({ finished: true });
    },
  }),
});

// A handler that fails outside the REST wrapper (as a bug in the host's own code path would).
const broken: LeanRoute["handlers"] = Object.fromEntries(
  HTTP_METHODS.map((m) => [m, async () => Promise.reject(new Error("host-level failure password=hunter2"))]),
) as unknown as LeanRoute["handlers"];

// The host's log, captured: a 500's log line must carry the id that the answer quotes.
const hostLog: Record<string, unknown>[] = [];
const captured = pino(
  { level: "info" },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) hostLog.push(JSON.parse(line));
      cb();
    },
  }),
);

let host: RunningHost;
beforeAll(async () => {
  host = await startHost({
    port: 0,
    host: "127.0.0.1",
    log: captured,
    routes: [...leanRoutes, { pattern: "/slow", handlers: slow }, { pattern: "/broken", handlers: broken }],
  });
});

/** A raw HTTP/1.1 exchange, for what fetch will not send (a Host header, a method of any name). */
function raw(requestHead: string, body = ""): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(host.url).port), "127.0.0.1");
    let data = "";
    socket.on("data", (c) => (data += c.toString()));
    socket.on("close", () => {
      const at = data.indexOf("\r\n\r\n");
      const head = data.slice(0, at);
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1]), headers: head.toLowerCase(), body: data.slice(at + 4) });
    });
    socket.on("error", reject);
    socket.end(`${requestHead}\r\nConnection: close\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ""}\r\n${body}`);
  });
}
afterAll(async () => {
  await host.shutdown("test end");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the node:http host", () => {
  it("answers /health with each dependency's state", async () => {
    const res = await fetch(`${host.url}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({
      status: "ok",
      dependencies: { database: { status: "ok", backend: "pglite" }, redis: { status: "not_configured" } },
    });
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("answers /ping, and HEAD /ping without a body", async () => {
    expect(await (await fetch(`${host.url}/ping`)).json()).toEqual({ status: "ok", message: "pong" });
    const head = await fetch(`${host.url}/ping`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });

  it("answers a wrong method with 405 and Allow", async () => {
    const res = await fetch(`${host.url}/health`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    expect((await res.json()).error.code).toBe("method_not_allowed");
  });

  it("answers a large body it does not read (401, 413) so that a client sending it all sees the answer", async () => {
    // node:http as a client writes the whole body before it reads: a server that closed the
    // connection after answering early would make it fail with EPIPE or ECONNRESET instead.
    const big = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(11 * 1024 * 1024) }] });
    const post = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          `${host.url}/v1/llm/generate`,
          { method: "POST", headers: { "content-type": "application/json", ...headers } },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on("error", reject);
        req.end(big);
      });
    const anonymous = await post({});
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body).error.code).toBe("unauthorized");
    const key = (await createApiKey(CLI_ACTOR, { name: "large-body" })).key;
    const tooLarge = await post({ authorization: `Bearer ${key}` });
    expect(tooLarge.status).toBe(413);
    expect(JSON.parse(tooLarge.body).error.code).toBe("payload_too_large");
    expect((await fetch(`${host.url}/ping`)).status).toBe(200);
  });

  it("runs no handler for a method a path does not declare: OPTIONS 204 with Allow, any other 405 with Allow", async () => {
    const key = (await createApiKey(CLI_ACTOR, { name: "methods", isAdmin: true })).key;
    const auth = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    // OPTIONS once ran the POST handler: this body would have created the collection.
    const options = await fetch(`${host.url}/v1/vector/collections`, {
      method: "OPTIONS",
      headers: auth,
      body: '{"collection_name":"made-by-options","vector_size":3}',
    });
    expect(options.status).toBe(204);
    expect(options.headers.get("allow")).toBe("POST, GET, HEAD, OPTIONS");
    expect((await fetch(`${host.url}/v1/vector/collections/made-by-options`, { headers: auth })).status).toBe(404);
    // Nor a billed generation, and without a credential it does not even ask for one.
    const generate = await fetch(`${host.url}/v1/llm/generate`, { method: "OPTIONS" });
    expect(generate.status).toBe(204);
    expect(generate.headers.get("allow")).toBe("POST, OPTIONS");
    const propfind = await raw(
      `PROPFIND /v1/vector/collections HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json`,
      '{"collection_name":"made-by-propfind","vector_size":3}',
    );
    expect(propfind.status).toBe(405);
    expect(propfind.headers).toContain("allow: post, get, head, options");
    expect(JSON.parse(propfind.body).error.code).toBe("method_not_allowed");
    expect((await fetch(`${host.url}/v1/vector/collections/made-by-propfind`, { headers: auth })).status).toBe(404);
    // tRPC's endpoint too.
    expect((await fetch(`${host.url}/api/trpc/keys.list`, { method: "PUT", headers: auth })).status).toBe(405);
  });

  it("answers a malformed Host header 400, and never lets the Host choose the path", async () => {
    const key = (await createApiKey(CLI_ACTOR, { name: "host-header", isAdmin: true })).key;
    for (const hostHeader of ["a b", "x/api/trpc/keys.list?", "example.com:80/x", "[::1"]) {
      const res = await raw(`GET /api/trpc/auth.me HTTP/1.1\r\nHost: ${hostHeader}\r\nAuthorization: Bearer ${key}`);
      expect(res.status, hostHeader).toBe(400);
      expect(JSON.parse(res.body).error.message).toMatch(/Host header/);
      expect(res.headers).toContain("x-request-id: ");
    }
    // A well-formed Host of any name is served by the path alone.
    const elsewhere = await raw(`GET /api/trpc/auth.me HTTP/1.1\r\nHost: other.example:9\r\nAuthorization: Bearer ${key}`);
    expect(elsewhere.status).toBe(200);
    expect(elsewhere.body).toContain('"kind":"apiKey"');
  });

  it("answers a path parameter that is not %-encoding 400", async () => {
    const key = (await createApiKey(CLI_ACTOR, { name: "percent", isAdmin: true })).key;
    for (const p of ["/v1/models/%", "/v1/vector/collections/%E0%A4%A", "/api/trpc/%zz"]) {
      const res = await fetch(`${host.url}${p}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status, p).toBe(400);
      expect((await res.json()).error.code).toBe("invalid_request");
    }
  });

  it("answers a failure outside the wrappers 500 with one request id in the body, the X-Request-Id header and the log line", async () => {
    hostLog.length = 0;
    const res = await fetch(`${host.url}/broken`);
    expect(res.status).toBe(500);
    const id = res.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const text = await res.text();
    expect(text).not.toContain("hunter2");
    expect(JSON.parse(text).error.message).toBe(`Internal error. Quote request id ${id} when reporting it.`);
    expect(hostLog.find((l) => l.requestId === id && l.msg === "request failed in the host")).toBeDefined();
    // The caller's own id, when it sends one.
    const given = await fetch(`${host.url}/broken`, { headers: { "x-request-id": "host-500-id" } });
    expect(given.headers.get("x-request-id")).toBe("host-500-id");
  });

  it("answers an unknown path with a JSON 404 when no Next fallback is mounted", async () => {
    const res = await fetch(`${host.url}/v1/nothing-here`);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe("not_found");
  });
});

describe("graceful shutdown", () => {
  it("finishes in-flight requests, refuses new ones, then runs the shutdown hooks", async () => {
    const own = await startHost({
      port: 0,
      host: "127.0.0.1",
      log: pino({ level: "silent" }),
      routes: [{ pattern: "/slow", handlers: slow }],
    });
    events.length = 0;
    onShutdown("test-flush", () => {
      events.push("hook");
    });
    const inFlight = fetch(`${own.url}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
    await new Promise((r) => setTimeout(r, 100)); // the request is now being handled
    const stopping = own.shutdown("test");
    await new Promise((r) => setTimeout(r, 100));
    await expect(fetch(`${own.url}/slow`)).rejects.toThrow(); // no new connections
    expect(events).toEqual([]);
    release();
    expect(await inFlight).toEqual({ status: 200, body: { finished: true } });
    await stopping;
    expect(events).toEqual(["handled", "hook"]);
  });
});

describe("the server process", () => {
  it("exits 0 after SIGTERM, having closed cleanly", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "model-service-proc-"));
    const server = await startServerProcess({ DATA_DIR: dir });
    const url = server.url;
    expect((await fetch(`${url}/ping`)).status).toBe(200);
    expect(await server.stop()).toBe(0);
    expect(server.output()).toContain("shut down cleanly");
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);
});
