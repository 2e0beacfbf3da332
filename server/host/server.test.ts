import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { endpoint, json, route } from "../http/endpoint.ts";
import { leanRoutes } from "../http/routes/index.ts";
import { onShutdown } from "../lifecycle.ts";
import { startServerProcess } from "@/tests/support/server-process.ts";
import { request as httpRequest } from "node:http";
import { CLI_ACTOR } from "../services/auth.ts";
import { createApiKey } from "../services/keys.ts";
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

let host: RunningHost;
beforeAll(async () => {
  host = await startHost({
    port: 0,
    host: "127.0.0.1",
    log: pino({ level: "silent" }),
    routes: [...leanRoutes, { pattern: "/slow", handlers: slow }],
  });
});
afterAll(async () => {
  await host.shutdown("test end");
  rmSync(dataDir, { recursive: true, force: true });
});

describe("the node:http host", () => {
  it("answers /health with each dependency's state", async () => {
    const res = await fetch(`${host.url}/health`);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: "ok", dependencies: { database: { status: "ok", backend: "pglite" }, redis: { status: "not_configured" } } });
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
    expect(res.headers.get("allow")).toBe("GET, HEAD");
    expect((await res.json()).error.code).toBe("method_not_allowed");
  });

  it("answers a large body it does not read (401, 413) so that a client sending it all sees the answer", async () => {
    // node:http as a client writes the whole body before it reads: a server that closed the
    // connection after answering early would make it fail with EPIPE or ECONNRESET instead.
    const big = JSON.stringify({ model: "m", messages: [{ role: "user", content: "x".repeat(11 * 1024 * 1024) }] });
    const post = (headers: Record<string, string>) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(`${host.url}/v1/llm/generate`, { method: "POST", headers: { "content-type": "application/json", ...headers } }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => (body += c.toString()));
          res.on("end", () => resolve({ status: res.statusCode!, body }));
        });
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
