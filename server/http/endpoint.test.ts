import pino from "pino";
import { Writable } from "node:stream";
import { beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { AppError } from "../kernel/errors.ts";
import { endpoint, route } from "./endpoint.ts";

// Capture the process logger's output to check what reaches the log.
const logLines: Record<string, unknown>[] = [];
(globalThis as unknown as { __modelServiceLogger: pino.Logger }).__modelServiceLogger = pino(
  { level: "info" },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split("\n").filter(Boolean)) logLines.push(JSON.parse(line));
      cb();
    },
  }),
);
beforeEach(() => {
  logLines.length = 0;
});

const echo = endpoint({
  POST: route({
    access: "public",
    body: z.object({ model: z.string().min(1), messages: z.array(z.object({ role: z.enum(["user", "system"]), content: z.string() })) }),
    query: z.object({ verbose: z.enum(["true", "false"]).optional() }),
    maxBodyBytes: 1024,
    handler: async ({ body, query }) => ({ got: body.model, count: body.messages.length, verbose: query.verbose ?? null }),
  }),
  GET: route({
    access: "public",
    query: z.object({ limit: z.coerce.number().int().min(1).max(100) }),
    handler: async ({ query }) => ({ limit: query.limit }),
  }),
});

const failing = endpoint({
  GET: route({
    access: "public",
    handler: async () => {
      throw new Error("connect ECONNREFUSED 10.0.0.5:5432 password=hunter2");
    },
  }),
  DELETE: route({
    access: "public",
    handler: async () => {
      throw new AppError("conflict", "Collection docs already exists", { collection_name: "docs" });
    },
  }),
});

const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }, url = "http://x/echo") =>
  echo.POST(new Request(url, { method: "POST", body, headers }));

async function errorOf(res: Response) {
  const body = (await res.json()) as { error: { code: string; message: string; details?: unknown } };
  return body.error;
}

describe("REST endpoint wrapper", () => {
  it("parses the body and query with zod and answers JSON", async () => {
    const res = await post(
      JSON.stringify({ model: "gpt-4", messages: [{ role: "user", content: "hi" }] }),
      undefined,
      "http://x/echo?verbose=true",
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(await res.json()).toEqual({ got: "gpt-4", count: 1, verbose: "true" });
  });

  it("answers 400 naming the field when the body breaks the schema", async () => {
    const res = await post(JSON.stringify({ model: "gpt-4", messages: [{ role: "robot", content: "hi" }] }));
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe("invalid_request");
    expect(error.message).toContain("messages[0].role");
    expect(error.details).toEqual({ issues: [expect.objectContaining({ field: "messages[0].role" })] });
  });

  it("answers 400 naming the query parameter", async () => {
    const res = await echo.GET(new Request("http://x/echo?limit=1000"));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/query parameters: limit/);
  });

  it("answers 400 for invalid JSON, saying so", async () => {
    const res = await post("{ not json");
    expect(res.status).toBe(400);
    const error = await errorOf(res);
    expect(error.code).toBe("invalid_request");
    expect(error.message).toMatch(/not valid JSON/);
  });

  it("answers 400 for a missing body", async () => {
    const res = await post("");
    expect(res.status).toBe(400);
    expect((await errorOf(res)).message).toMatch(/body is required/);
  });

  it("answers 415 for a body that is not JSON", async () => {
    const res = await post("model=gpt-4", { "content-type": "application/x-www-form-urlencoded" });
    expect(res.status).toBe(415);
  });

  it("answers 413 when Content-Length is over the limit", async () => {
    const res = await post(JSON.stringify({ model: "x".repeat(2000), messages: [] }));
    expect(res.status).toBe(413);
    const error = await errorOf(res);
    expect(error.code).toBe("payload_too_large");
    expect(error.details).toEqual({ limit_bytes: 1024 });
  });

  it("answers 413 for a streamed body without Content-Length that grows over the limit", async () => {
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 10) return controller.close();
        sent++;
        controller.enqueue(new TextEncoder().encode(" ".repeat(200)));
      },
    });
    const req = new Request("http://x/echo", {
      method: "POST",
      body: stream,
      headers: { "content-type": "application/json" },
      duplex: "half",
    } as RequestInit);
    expect(req.headers.get("content-length")).toBeNull();
    const res = await echo.POST(req);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(10); // stopped reading early
  });

  it("answers 405 with an Allow header for a method the path does not serve", async () => {
    const res = await echo.PUT(new Request("http://x/echo", { method: "PUT" }));
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST, GET, HEAD, OPTIONS");
    expect((await errorOf(res)).code).toBe("method_not_allowed");
  });

  it("answers HEAD like GET without a body", async () => {
    const res = await echo.HEAD(new Request("http://x/echo?limit=3", { method: "HEAD" }));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("");
  });

  it("maps a domain error to its status and shape", async () => {
    const res = await failing.DELETE(new Request("http://x/f", { method: "DELETE" }));
    expect(res.status).toBe(409);
    expect(await errorOf(res)).toEqual({
      code: "conflict",
      message: "Collection docs already exists",
      details: { collection_name: "docs" },
    });
  });

  it("hides an unexpected error's internals behind a request id that leads to the log", async () => {
    const res = await failing.GET(new Request("http://x/f", { headers: { "x-request-id": "req-abc-123" } }));
    expect(res.status).toBe(500);
    expect(res.headers.get("x-request-id")).toBe("req-abc-123");
    const text = await res.text();
    expect(text).not.toMatch(/ECONNREFUSED|hunter2|10\.0\.0\.5|at /);
    const error = JSON.parse(text).error;
    expect(error.code).toBe("internal_error");
    expect(error.message).toContain("req-abc-123");
    const logged = logLines.find((l) => l.requestId === "req-abc-123");
    expect(logged?.msg).toBe("unhandled error");
    expect(JSON.stringify(logged)).toContain("ECONNREFUSED");
  });

  it("refuses text PostgreSQL cannot store, and nesting deeper than any code walks, anywhere in the input: 400 naming the field", async () => {
    const nul = await post(JSON.stringify({ model: "m", messages: [{ role: "user", content: "a\u0000b" }] }));
    expect(nul.status).toBe(400);
    expect((await errorOf(nul)).message).toBe("Invalid request body: messages[0].content: must not contain a NUL character (\\u0000)");
    // In a key the schema does not even know about, and as JSON.parse gives a lone surrogate.
    const key = await post('{"model": "m", "messages": [], "extra": {"k\\ud800": 1}}');
    expect(key.status).toBe(400);
    expect((await errorOf(key)).message).toMatch(/^Invalid request body: extra: a key must not contain a lone UTF-16 surrogate/);
    const deep = await post(`{"model": "m", "messages": [], "extra": ${"[".repeat(400)}${"]".repeat(400)}}`);
    expect(deep.status).toBe(400);
    expect((await errorOf(deep)).message).toMatch(/^Invalid request body: extra\[0\].*: nests deeper than 64 levels$/);
    const query = await echo.GET(new Request("http://x/echo?limit=%00"));
    expect(query.status).toBe(400);
    expect((await errorOf(query)).message).toBe("Invalid query parameters: limit: must not contain a NUL character (\\u0000)");
  });

  it("answers OPTIONS 204 with Allow and runs no handler", async () => {
    const res = await echo.OPTIONS(
      new Request("http://x/echo", {
        method: "OPTIONS",
        body: '{"model":"m","messages":[]}',
        headers: { "content-type": "application/json" },
      }),
    );
    expect(res.status).toBe(204);
    expect(res.headers.get("allow")).toBe("POST, GET, HEAD, OPTIONS");
    expect(res.headers.get("x-request-id")).toBeTruthy();
    expect(await res.text()).toBe("");
  });

  it("makes up a request id when the caller's is unusable", async () => {
    const res = await failing.GET(new Request("http://x/f", { headers: { "x-request-id": "bad id with spaces" } }));
    expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
